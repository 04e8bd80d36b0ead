"""Odd and hostile input on the newer surfaces: worker counts, FIFOs and folders, huge and odd
words at training and predict time, degenerate corpora for calibration and the report, and many
or slow clients of the server."""
import json
import os
import socket
import subprocess
import threading
import time
import urllib.request

import pytest

import nerwin

from conftest import DATA, assert_clean_error, run, start_server


@pytest.mark.parametrize("workers", ["-1", "1000000", "2.5", "x"])
def test_bad_worker_counts_are_refused(models, tmp_path, workers):
    (tmp_path / "in.txt").write_text("Paris is big .\n")
    r = run("predict", "--model", models["binary"], "--workers", workers, tmp_path / "in.txt")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--workers" in r.stderr, r.stderr


def test_workers_0_is_one_per_core(models, tmp_path):
    (tmp_path / "in.txt").write_text("Paris is big .\nAnna flew to Lima .\n")
    r = run("predict", "--model", models["binary"], "--workers", "0", tmp_path / "in.txt")
    one = run("predict", "--model", models["binary"], tmp_path / "in.txt")
    assert r.returncode == 0 and r.stdout == one.stdout


def test_a_fifo_is_read_and_a_folder_or_a_file_for_a_folder_is_refused(models, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("Paris is big .\n\nRome\n"))
    writer.start()
    r = run("predict", "--model", models["binary"], fifo)
    writer.join(10)
    assert r.returncode == 0 and [l.split("\t")[0] for l in r.stdout.splitlines() if l] == ["Paris", "is", "big", ".", "Rome"]
    assert_clean_error(run("predict", "--model", models["binary"], tmp_path), str(tmp_path), "directory")
    (tmp_path / "in.txt").write_text("Paris\n")
    (tmp_path / "afile").write_text("")
    r = run("predict", "--model", models["binary"], tmp_path / "in.txt", "--output-dir", tmp_path / "afile")
    assert r.returncode == 2 and "Traceback" not in r.stderr and "afile" in r.stderr


WEIRD = ["x" * 1_000_000, "é" * 300, "\u202eevil", "a\u0301\u0301\u0301", "👩\u200d👩\u200d👧", "\ufeffBOM", "٣٤٥",
         "\U0010ffff", "Ǆ"]


def test_huge_and_odd_words_at_predict_and_train_time(models, tmp_path):
    text = " ".join(WEIRD) + " Paris ."
    for kind in ("binary", "sentence"):
        doc = nerwin.load(models[kind]).tag(text)
        assert doc.tokens[0] == "x" * 1_000_000 and len(doc.labels) == len(doc.tokens)
        assert all(0 <= p <= 1 for p in doc.probs)
    (tmp_path / "in.txt").write_text(text + "\n", encoding="utf-8")
    r = run("predict", "--model", models["sentence"], "--output-format", "jsonl", tmp_path / "in.txt")
    assert r.returncode == 0 and json.loads(r.stdout)["tokens"][0] == "x" * 1_000_000
    train = tmp_path / "odd.conll"
    lines = DATA.joinpath("train.conll").read_text(encoding="utf-8").strip().split("\n\n")[:200]
    odd = "\n".join(f"{w}\t{'B-LOC' if i == 2 else 'O'}" for i, w in enumerate(WEIRD))
    train.write_text("\n\n".join([odd, *lines]) + "\n", encoding="utf-8")
    tagger, _ = nerwin.train(train=train, out=tmp_path / "m", target="all", epochs=1, quiet=True, chars=8)
    assert nerwin.load(tmp_path / "m").tag(WEIRD[:3]).tokens == WEIRD[:3]


def test_calibration_and_the_report_on_degenerate_gold(models, tmp_path):
    """Gold without entities, and a file of one one-word sentence: figures, never a crash."""
    none = tmp_path / "none.conll"
    none.write_text("The\tO\nsky\tO\nis\tO\nblue\tO\n.\tO\n\nno\tO\n", encoding="utf-8")
    one = tmp_path / "one.conll"
    one.write_text("Paris\tB-LOC\n", encoding="utf-8")
    for kind in ("softmax", "sentence"):
        t = nerwin.load(models[kind])
        for f in (none, one):
            m = t.evaluate(f)
            assert 0 <= m["calibration"]["entity"]["ece"] <= 1 and 0 <= m["calibration"]["token"]["ece"] <= 1
            r = run("report", f, "--model", models[kind], "--html", tmp_path / f"{kind}-{f.stem}.html")
            assert r.returncode == 0, r.stderr
    m = nerwin.load(models["binary"]).evaluate(one)
    assert m["support"] == 1
    assert_clean_error(run("evaluate", none, "--model", models["binary"]), str(none), "'LOC' not in the file")


@pytest.fixture(scope="module")
def server(models):
    """-> (the server process, its port)."""
    p, port = start_server(models["binary"])
    yield p, port
    if p.poll() is None:
        p.terminate()
        p.wait(timeout=20)


def test_200_concurrent_clients_all_get_their_own_answer(server):
    _, port = server
    out, errors = {}, []

    def client(i):
        try:
            body = json.dumps({"text": f"Client {i} visited Paris ."}).encode()
            r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/tag", data=body),
                                       timeout=60)
            out[i] = json.loads(r.read())["tokens"]
        except Exception as e:                       # noqa: BLE001 - collected and reported below
            errors.append(repr(e))
    threads = [threading.Thread(target=client, args=(i,)) for i in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert len(out) == 200 and all(out[i][1] == str(i) for i in out)


def test_slow_clients_do_not_stall_the_others(server):
    """Clients that send their body a byte at a time leave /healthz and /v1/tag answering, and
    SIGTERM still stops the server promptly while some of them hold their connections."""
    proc, port = server
    slow = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"POST /v1/tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 30\r\n\r\n{")
        slow.append(s)
    try:
        t0 = time.perf_counter()
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
        r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/v1/tag",
                                                          data=b'{"text": "Paris ."}'), timeout=10)
        assert json.loads(r.read())["tokens"] == ["Paris", "."]
        assert time.perf_counter() - t0 < 5
        for s in slow[:10]:                          # the others stay open: stopping must not wait for them
            s.close()
    finally:
        t0 = time.perf_counter()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        for s in slow:
            s.close()
    assert proc.poll() is not None and time.perf_counter() - t0 < 10     # SIGTERM stops it promptly


@pytest.mark.parametrize("text, tokens", [
    ("Paris\u3000is\u00a0big .", ["Paris", "is", "big", "."]),            # ideographic and no-break spaces
    ("Paris is\u200b big", ["Paris", "is", "big"]),                       # a zero-width space is no word
    ("x \x01 Paris \x7f \ufeff .", ["x", "Paris", "."]),                   # control and format characters alone
    ("\u3000 \u200b \u00a0", []),
    ("caf\udce9 Paris", ["caf\ufffd", "Paris"]),                          # surrogateescape'd bytes: U+FFFD
])
def test_invisible_tokens_and_surrogates_keep_the_offsets_right(models, text, tokens):
    for kind in ("binary", "sentence"):
        doc = nerwin.load(models[kind]).tag(text)
        assert doc.tokens == tokens
        d = doc.to_dict()
        clean = doc.text
        assert all(clean[a:b] == t for t, (a, b) in zip(doc.tokens, d["offsets"]))
        json.dumps(d | {"text": clean}, ensure_ascii=False).encode("utf-8")      # printable as UTF-8


def test_a_file_of_undecodable_bytes_and_control_characters(models, tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes(b"caf\xe9 Paris\n\x01\x02 Rome\n\n")
    r = run("predict", "--model", models["sentence"], "--output-format", "jsonl", f)
    assert r.returncode == 0 and "not UTF-8" in r.stderr
    recs = [json.loads(l) for l in r.stdout.splitlines()]
    assert recs[0]["tokens"] == ["caf\ufffd", "Paris"] and recs[1]["tokens"] == ["Rome"] and recs[2]["tokens"] == []


@pytest.mark.parametrize("tags, n", [(["B-LOC", "I-LOC", "B-PER", "B-ORG"], 3), (["I-LOC", "I-LOC", "O", "I-PER"], 2)])
def test_every_token_an_entity_or_only_I_tags(models, tmp_path, tags, n):
    f = tmp_path / "gold.conll"
    f.write_text("".join(f"{w}\t{t}\n" for w, t in zip(["Paris", "Rome", "Anna", "Acme"], tags)), encoding="utf-8")
    for kind in ("softmax", "sentence"):
        m = nerwin.load(models[kind]).evaluate(f)
        assert m["support"] == n                            # I- after O starts an entity, as conlleval reads it
        assert 0 <= m["calibration"]["entity"]["ece"] <= 1
        r = run("report", f, "--model", models[kind], "--html", tmp_path / f"{kind}.html")
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("value", ["nan", "-0.1", "1.5", "inf"])
def test_min_confidence_out_of_range_or_nan(models, tmp_path, value):
    (tmp_path / "in.txt").write_text("Paris .\n")
    assert_clean_error(run("predict", "--model", models["binary"], "--min-confidence", value, tmp_path / "in.txt"),
                       "--min-confidence")
    with pytest.raises(ValueError, match="min_confidence"):
        nerwin.load(models["binary"]).tag("Paris", min_confidence=float(value))


def test_a_missing_file_among_several_leaves_no_output(models, tmp_path):
    (tmp_path / "a.txt").write_text("Paris .\n")
    (tmp_path / "out").mkdir()
    r = run("predict", "--model", models["binary"], tmp_path / "a.txt", tmp_path / "nope.txt", "--output-dir",
            tmp_path / "out")
    assert_clean_error(r, "nope.txt")
    assert not list((tmp_path / "out").iterdir())


def unwritable_folder(tmp_path):
    """A folder no file can be made in: without write permission, or (root ignores permissions) /proc."""
    if os.geteuid() != 0:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o500)
        return d
    if not os.path.isdir("/proc/self"):
        pytest.skip("no folder is unwritable for root here")
    return "/proc"


@pytest.mark.parametrize("how", [[], ["--workers", "2"], ["--dask", "local:1"]], ids=["one", "workers", "dask"])
def test_an_unwritable_output_dir_is_refused_before_any_work(models, tmp_path, how):
    (tmp_path / "a.txt").write_text("Paris .\n")
    (tmp_path / "b.txt").write_text("Rome .\n")
    out = unwritable_folder(tmp_path)
    before = set(os.listdir(out))
    r = run("predict", "--model", models["binary"], tmp_path / "a.txt", tmp_path / "b.txt", "--output-dir", out,
            *how)
    assert_clean_error(r, "cannot write here")
    assert str(out) in r.stderr and "--output-dir" in r.stderr
    assert set(os.listdir(out)) == before
    assert (tmp_path / "a.txt").read_text() == "Paris .\n"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024


@pytest.fixture
def own_server(models):
    """A server of its own: the slow-clients test stops the module's one."""
    p, port = start_server(models["binary"])
    yield p, port
    p.terminate()
    p.wait(timeout=20)


def test_100k_tokens_get_a_413_the_largest_allowed_batch_is_tagged_and_memory_stays_bounded(own_server):
    p, port = own_server

    def post(body):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/tag", data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    status, answer = post({"tokens": ["Paris"] * 100_000})
    assert status == 413 and "limit" in answer["error"]
    full = {"texts": [" ".join(["Paris"] * 512)] * 256}          # the default limits' largest batch
    status, answer = post(full)
    assert status == 200 and len(answer["docs"]) == 256 and len(answer["docs"][0]["tokens"]) == 512
    after_one = rss_mb(p.pid)
    for _ in range(4):
        assert post(full)[0] == 200
    assert rss_mb(p.pid) < after_one + 100                        # no growth from request to request
    assert post({"text": "Anna flew to Lima ."})[0] == 200
