"""Tagging on a Dask cluster: the same output as predict, byte for byte, even when a worker dies."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("distributed")
from distributed import Client, LocalCluster  # noqa: E402

import nerwin  # noqa: E402
from nerwin.text.corpus import read_conll  # noqa: E402
from nerwin.tools import cluster  # noqa: E402

from conftest import assert_clean_error, corpus, run, trained  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return trained(tmp_path_factory, "cluster", "--target", "all", "--epochs", "2")


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    d = tmp_path_factory.mktemp("texts")
    out = []
    for name in ("btc", "wnut17"):
        f = d / f"{name}.txt"
        f.write_text("\n".join(" ".join(s.tokens) for s in read_conll(corpus(name, "test"))) + "\n\n  \n", encoding="utf-8")
        out.append(f)
    return out


def same_records(a: str, b: str) -> None:
    """The same records, labels and entities; each printed probability and confidence equal or one
    unit of its last printed digit apart: OpenBLAS on some machines rounds a row of a GEMM differently
    inside a batch of another size, and a partition's batches are not predict's."""
    la, lb = a.split("\n"), b.split("\n")
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        if x == y:
            continue
        if x.startswith("{"):
            rx, ry = json.loads(x), json.loads(y)
            assert rx["tokens"] == ry["tokens"] and rx["labels"] == ry["labels"], (x, y)
            assert [(e["start"], e["end"], e["type"]) for e in rx["entities"]] == \
                [(e["start"], e["end"], e["type"]) for e in ry["entities"]], (x, y)
            np.testing.assert_allclose(rx["probs"], ry["probs"], atol=1.5e-4)
            np.testing.assert_allclose([e["confidence"] for e in rx["entities"]],
                                       [e["confidence"] for e in ry["entities"]], atol=1.5e-4)
        else:
            (tx, lx, px), (ty, ly, py) = x.split("\t"), y.split("\t")
            assert (tx, lx) == (ty, ly) and abs(float(px) - float(py)) < 1.5e-4, (x, y)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["conll", "jsonl"])
def test_a_local_cluster_writes_what_predict_writes(model, texts, tmp_path, fmt, monkeypatch):
    r = run("predict", *texts, "--model", model, "--dask", "local:2", "--output-dir", tmp_path / "cli",
            "--output-format", fmt)
    assert r.returncode == 0, r.stderr
    monkeypatch.setattr(cluster, "BLOCK", 64 << 10)                # several partitions a file
    cluster.predict_files(nerwin.load(model), [str(f) for f in texts], tmp_path / "out", "local:2", fmt)
    for f in texts:
        name = f"{f.stem}.{fmt}"
        same_records((tmp_path / "cli" / name).read_text(encoding="utf-8"),
                     (tmp_path / "out" / name).read_text(encoding="utf-8"))
        one = run("predict", f, "--model", model, "--output-format", fmt).stdout
        same_records((tmp_path / "out" / name).read_text(encoding="utf-8"), one)


def test_a_file_compressed_twice_is_refused_on_its_first_line():
    import gzip
    inner = gzip.compress(b"Paris is big .\n" * 100, mtime=0).decode("utf-8", "surrogateescape")   # as Dask reads it
    assert cluster.refusal(inner.split("\n")) == (1, "is compressed twice; decompress it once first (zcat FILE > "
                                                    "ONCE) and give that file")
    assert cluster.refusal(["Paris is big .", inner]) == (2, "binary data (NUL byte); expected UTF-8 text")   # not line 1


@pytest.mark.slow
def test_a_compressed_file_is_tagged_on_a_cluster_as_predict_tags_it(model, texts, tmp_path):
    import lzma
    packed = tmp_path / "btc.txt.xz"                   # a .xz name is not what tells: its bytes are
    packed.write_bytes(lzma.compress(texts[0].read_bytes()))
    fake = tmp_path / "plain.gz"                      # a .gz name on a plain file
    fake.write_bytes(texts[0].read_bytes())
    env = dict(os.environ)
    r = run("predict", packed, fake, "--model", model, "--dask", "local:2", "--output-dir", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert dict(os.environ) == env        # Dask's nanny set OPENBLAS_NUM_THREADS=1 here, for predict --workers to inherit
    one = run("predict", texts[0], "--model", model).stdout
    same_records((tmp_path / "out" / "btc.conll").read_text(encoding="utf-8"), one)
    same_records((tmp_path / "out" / "plain.conll").read_text(encoding="utf-8"), one)


@pytest.mark.slow
def test_bytes_that_are_not_utf8_are_named_by_line_and_tagged_as_predict_tags_them(model, tmp_path, monkeypatch,
                                                                                   capfd):
    lines = [b"Paris is big ."] * 3000 + [b"caf\xe9 in Lima \xe2\x82 ."] + [b"Rome ."] * 10 + [b"x \xff"]
    f = tmp_path / "bad.txt"
    f.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(cluster, "BLOCK", 16 << 10)                # the bad line in the third partition
    cluster.predict_files(nerwin.load(model), [str(f)], tmp_path / "out", "local:1", "jsonl")
    err = capfd.readouterr().err
    assert err.count("warning") == 1 and f"{f}:3001: bytes that are not UTF-8" in err, err
    one = run("predict", f, "--model", model, "--output-format", "jsonl")
    assert f"{f}:3001: bytes that are not UTF-8" in one.stderr
    same_records((tmp_path / "out" / "bad.jsonl").read_text(encoding="utf-8"), one.stdout)


@pytest.mark.slow
def test_what_predict_refuses_the_cluster_refuses_by_file_and_line_and_writes_nothing(model, tmp_path, monkeypatch):
    nul = tmp_path / "nul.txt"
    nul.write_bytes(b"Paris is big .\n" * 3000 + b"Lima\x00 .\n" + b"Rome .\n")
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("Paris is big .\n", encoding="utf-16")
    monkeypatch.setattr(cluster, "BLOCK", 16 << 10)                # the NUL in the third partition
    for f, said in [(nul, f"{nul}:3001: binary data (NUL byte)"), (utf16, f"{utf16}:1: UTF-16 text")]:
        with pytest.raises(nerwin.NerwinError) as e:
            cluster.predict_files(nerwin.load(model), [str(f)], tmp_path / "out" / "deeper", "local:1", "conll")
        assert str(e.value).startswith(said)
        assert run("predict", f, "--model", model).stderr.strip() == f"nerwin: error: {e.value}"   # predict's words
        assert not (tmp_path / "out").exists()                     # the folders it made are gone


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_retried_and_the_output_is_whole(model, texts, tmp_path, monkeypatch):
    big = tmp_path / "big.txt"
    big.write_text(texts[0].read_text(encoding="utf-8") * 10, encoding="utf-8")
    monkeypatch.setattr(cluster, "BLOCK", 16 << 10)                # about 130 tasks
    with cluster.environ_kept(), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc, \
            Client(lc) as client:                                     # the nanny's environment left here
        pids = list(client.run(os.getpid).values())
        killer = threading.Timer(1.0, os.kill, (pids[0], signal.SIGKILL))
        killer.start()
        t0 = time.perf_counter()
        try:
            n = cluster.predict_files(nerwin.load(model), [str(big)], tmp_path / "out", "", "conll", client=client)
        finally:
            killer.cancel()
        assert time.perf_counter() - t0 > 1.0                       # the worker died while the tasks ran
        assert pids[0] not in client.run(os.getpid).values()
    assert n > 20000
    one = run("predict", big, "--model", model).stdout
    same_records((tmp_path / "out" / "big.conll").read_text(encoding="utf-8"), one)


def test_a_partition_refuses_the_lines_predict_refuses(monkeypatch):
    monkeypatch.setattr(cluster, "MAX_LINE", 1 << 20)
    nul, long = "binary data (NUL byte); expected UTF-8 text", "longer than 1 MiB; expected one sentence a line"
    assert cluster.refusal(["Paris .", "Lima ."]) is None
    assert cluster.refusal(["Paris .", "x" * (1 << 20), "a\x00"]) == (3, nul)       # 1 MiB itself is a line
    assert cluster.refusal(["Paris .", "x" * ((1 << 20) + 1), "a\x00"]) == (2, long)
    assert cluster.refusal(["a\x00 b", "x" * ((1 << 20) + 1)]) == (1, nul)
    # no records, and the tagger (None here) is never asked
    assert cluster.tag_checked(["Paris .\n", "a\x00\n"], None, "conll", None) == ([], None, (2, nul))


def test_dask_arguments_are_checked(model, tmp_path):
    r = run("predict", "a.txt", "b.txt", "--model", model)
    assert r.returncode == 2 and "--output-dir" in r.stderr
    r = run("predict", tmp_path / "none.txt", "--model", model, "--dask", "local:2", "--output-dir", tmp_path / "o")
    assert r.returncode == 2 and "none.txt" in r.stderr
    r = run("predict", "-", "--model", model, "--dask", "local:0", "--output-dir", tmp_path / "o")
    assert r.returncode == 2
    f = tmp_path / "t.txt"
    f.write_text("Paris\n")
    for address in ("local", "tcp://host:port", "::::"):            # not addresses: no traceback
        r = run("predict", f, "--model", model, "--dask", address, "--output-dir", tmp_path / "o")
        assert_clean_error(r, f"--dask {address!r} is not a scheduler's address")
    assert not (tmp_path / "o").exists()


def test_without_dask_the_error_says_how_to_install(model, tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("Paris\n")
    code = ("import sys; sys.modules['distributed'] = None; sys.argv = ['nerwin'] + sys.argv[1:]; "
            "from nerwin.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code, "predict", str(f), "--model", str(model), "--dask", "local:1",
                        "--output-dir", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "pip install 'nerwin[dask]'" in r.stderr
