"""No output is ever opened over an input, and no two outputs over each other: every writer
(predict to stdout, --output-dir with and without --dask, report, train's --log and
--metrics-json) is checked by file identity before anything is written, through the real CLI."""
import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA, assert_clean_error, load_arrays, run, train_into
from nerwin.model import checkpoint
from nerwin.errors import NerwinError
import nerwin


def digest(*paths):
    return [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]


@pytest.fixture
def texts(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("Anna flew to Paris .\n\n", encoding="utf-8")
    (d / "b.txt").write_text("Lima is far .\n", encoding="utf-8")
    return d


def test_an_output_dir_that_is_the_input_dir_keeps_the_inputs(models, texts):
    a, b = texts / "a.txt", texts / "b.txt"
    (texts / "a.conll").write_text("an output of an earlier run\n")
    before = digest(a, b)
    r = run("predict", a, b, "--output-dir", texts, "--model", models["binary"])
    assert r.returncode == 0, r.stderr
    assert digest(a, b) == before
    assert (texts / "a.conll").read_text().startswith("Anna\tO\t")        # outputs take the format's suffix
    assert (texts / "b.conll").read_text().startswith("Lima\t")


def test_an_input_whose_output_name_is_itself_is_refused_before_anything_is_written(models, texts):
    c = texts / "c.conll"
    c.write_text("Paris\tO\n\nLima\tO\n", encoding="utf-8")
    before = digest(c, texts / "a.txt")
    r = run("predict", texts / "a.txt", c, "--input-format", "conll", "--output-dir", texts, "--model",
            models["binary"])
    assert_clean_error(r, "c.conll", "overwrite the input")
    assert digest(c, texts / "a.txt") == before
    assert not (texts / "a.conll").exists()                                # nothing written, not even the first


def test_a_symlink_or_hard_link_to_an_input_is_the_input(models, texts, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    os.symlink(texts / "a.txt", out / "a.conll")
    os.link(texts / "b.txt", out / "b.conll")
    before = digest(texts / "a.txt", texts / "b.txt")
    r = run("predict", texts / "a.txt", texts / "b.txt", "--output-dir", out, "--model", models["binary"])
    assert_clean_error(r, "overwrite the input")
    assert digest(texts / "a.txt", texts / "b.txt") == before


def test_two_inputs_with_one_name_in_two_folders_are_refused(models, texts, tmp_path):
    e = tmp_path / "e"
    e.mkdir()
    (e / "a.txt").write_text("Rome .\n")
    r = run("predict", texts / "a.txt", e / "a.txt", "--output-dir", tmp_path / "o", "--model", models["binary"])
    assert_clean_error(r, "would both write")
    assert not (tmp_path / "o").exists()


def test_stdout_appended_to_the_input_is_refused(models, texts):
    a = texts / "a.txt"
    before = digest(a)
    with open(a, "ab") as f:
        r = __import__("subprocess").run([__import__("sys").executable, "-m", "nerwin", "predict", str(a), "--model",
                                          str(models["binary"])], stdout=f, stderr=-1, text=True)
    assert r.returncode == 2 and "the output is the input" in r.stderr
    assert digest(a) == before


def test_several_inputs_need_an_output_dir_and_stdin_has_no_name(models, texts, tmp_path):
    r = run("predict", texts / "a.txt", texts / "b.txt", "--model", models["binary"])
    assert_clean_error(r, "--output-dir")
    r = run("predict", "-", "--output-dir", tmp_path / "o", "--model", models["binary"], stdin="Paris\n")
    assert_clean_error(r, "standard input")
    r = run("predict", texts, "--output-dir", tmp_path / "o", "--model", models["binary"])
    assert_clean_error(r, "is a directory")


def test_train_outputs_that_are_inputs_or_each_other_are_refused(tmp_path):
    train = tmp_path / "train.conll"
    train.write_bytes((DATA / "train.conll").read_bytes())
    before = digest(train)
    for flags, words in ((["--log", train], "overwrite the input"),
                         (["--metrics-json", train], "overwrite the input"),
                         (["--log", tmp_path / "x.json", "--metrics-json", tmp_path / "x.json"], "both write")):
        r = run("train", "--train", train, "--dev", DATA / "dev.conll", "--out", tmp_path / "m", "-q", *flags)
        assert_clean_error(r, words)
        assert digest(train) == before and not (tmp_path / "m").exists()
    (tmp_path / "m").mkdir()
    r = run("train", "--train", train, "--out", tmp_path / "m", "--log", tmp_path / "m" / "log.jsonl", "-q")
    assert_clean_error(r, "inside the model directory")


def test_report_over_its_gold_file_is_refused(models, tmp_path):
    gold = tmp_path / "gold.conll"
    gold.write_bytes((DATA / "test.conll").read_bytes())
    before = digest(gold)
    r = run("report", gold, "--html", gold, "--model", models["sentence"])
    assert_clean_error(r, "overwrite the input")
    assert digest(gold) == before


def test_predict_into_a_pipe_that_closes_ends_quietly(models, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("Paris is big .\n" * 50_000)
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-m", "nerwin", "predict", str(big), "--model", str(models["binary"])],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()                                                   # as `| head -1` does
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 0 and err == "", err


@pytest.mark.parametrize("flag", ["--metrics-json", "--log"])
def test_train_outputs_in_a_missing_folder_or_a_directory(tmp_path, flag):
    assert_clean_error(run("train", "--out", tmp_path / "m", flag, tmp_path / "no" / "x.json"), "no/x.json", flag)
    assert_clean_error(run("train", "--out", tmp_path / "m", flag, tmp_path), str(tmp_path), flag)
    assert not (tmp_path / "m").exists()


def test_a_full_disk_while_saving_is_one_error_and_leaves_the_old_model(tmp_path, monkeypatch):
    from test_fuzz import tiny_model
    tiny_model(str(tmp_path), True)
    before = (tmp_path / "model.npz").read_bytes()
    from nerwin.model import WindowModel
    m = WindowModel.load(tmp_path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(NerwinError, match="No space left on device.*unchanged"):
        m.with_weights(m.params, m.E * 2).save(tmp_path)
    assert (tmp_path / "model.npz").read_bytes() == before
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_unwritable_out(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_clean_error(train_into(tmp_path / "file" / "m"), str(tmp_path / "file" / "m"), "--out")


@pytest.mark.slow
def test_sigkill_during_the_save_leaves_old_or_new_model(tmp_path):
    """Each run is killed a random moment after its save has begun (its staging folder appears
    beside the model), not at a guessed fraction of the run, which a slow first run skews."""
    out = tmp_path / "m"
    assert run("train", "--out", out, "--epochs", "1", "--seed", "100", "-q").returncode == 0
    def staging():
        return {f.name for f in tmp_path.iterdir() if f.name.startswith(".m.")}
    rng = random.Random(0)
    present, during = 100, 0
    for trial in range(10):
        left = staging()                                # what killed saves left behind
        p = subprocess.Popen([sys.executable, "-m", "nerwin", "train", "--out", str(out), "--epochs", "1",
                              "--seed", str(trial), "-q"], env=os.environ.copy(), stderr=subprocess.DEVNULL)
        while p.poll() is None and not staging() - left:
            time.sleep(0.0002)
        time.sleep(rng.uniform(0, 0.01))
        saving = p.poll() is None and bool(staging() - left)
        p.kill()
        p.wait()
        during += saving and p.returncode == -signal.SIGKILL
        params, E, vocab, config, _ = load_arrays(out)   # complete: loads and shapes agree
        assert config["training"]["seed"] in (present, trial)    # the old model or the new one
        present = config["training"]["seed"]
        json.loads((out / "config.json").read_text())
    assert during > 0, "no kill fell inside a save; the test saw nothing"
    assert any(n.endswith(".tmp") for n in staging()), "no kill left a staging folder to sweep"
    assert run("train", "--out", out, "--epochs", "1", "-q").returncode == 0
    assert not [n for n in staging() if n.endswith(".tmp")]     # the next save swept what the kills left


def test_a_save_sweeps_the_staging_folders_of_dead_writers_only(tmp_path):
    out = tmp_path / "m"
    checkpoint.write_files(out, {"a.txt": b"1"})
    dead = subprocess.Popen([sys.executable, "-c", ""])
    dead.wait()
    host = checkpoint.host()
    left = [tmp_path / f".m.{host}-{dead.pid}.x1.tmp",           # a killed save of m
            tmp_path / f".m.{host}-{os.getppid()}.x2.tmp",       # a live writer's
            tmp_path / f".m.other-host-{dead.pid}.x3.tmp",       # another machine's, on a shared disk
            tmp_path / f".mm.{host}-{dead.pid}.x4.tmp",          # another model's
            tmp_path / f".m.{host}-{dead.pid}.x5.old"]           # may hold the only old model
    for d in left:
        d.mkdir()
        (d / "model.npz").write_bytes(b"partial")
    checkpoint.write_files(out, {"a.txt": b"2"})
    assert [d.exists() for d in left] == [False, True, True, True, True]
    assert (out / "a.txt").read_bytes() == b"2"
    shutil.rmtree(out)                                          # no whole model: nothing is swept
    left[1].rename(left[0])
    checkpoint.write_files(out, {"a.txt": b"3"})
    assert left[0].exists()


def test_outputs_that_are_not_regular_files_are_written_not_replaced(tmp_path, loc_model):
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    r = run("report", DATA / "dev.conll", "--model", loc_model, "--html", link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and "<html" in target.read_text()
    r = run("report", DATA / "dev.conll", "--model", loc_model, "--html", "/dev/stdout")
    assert r.returncode == 0 and r.stdout.startswith("<!doctype html>")
    r = run("evaluate", DATA / "dev.conll", "--model", loc_model, "--json")
    assert json.loads(r.stdout)["tokens"] > 0


def test_a_full_device_names_the_output(tmp_path, loc_model):
    r = subprocess.run(f"echo Paris | {sys.executable} -m nerwin predict --model {loc_model} > /dev/full", shell=True,
                       capture_output=True, text=True)
    assert_clean_error(r, "<stdout>", "No space left")
    r = run("train", "--epochs", "1", "--out", tmp_path / "m", "--log", "/dev/full", "-q")
    assert_clean_error(r, "/dev/full")


def test_a_failed_first_save_leaves_the_old_model_whole(tmp_path, loc_model, monkeypatch):
    import shutil
    from nerwin import files
    out = tmp_path / "m"
    shutil.copytree(loc_model, out)
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    real = files.atomic_write

    def full(path, data):
        if Path(path).name == "model.npz":
            raise OSError(28, "No space left on device")
        return real(path, data)
    monkeypatch.setattr(checkpoint, "atomic_write", full)
    with pytest.raises(NerwinError) as e:
        nerwin.train(out=out, epochs=1, seed=5, quiet=True)
    assert "unchanged" in str(e.value) and "last good model" not in str(e.value)
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_run_removes_the_output_folders_it_made_and_only_those(tmp_path):
    from nerwin.files import output_folder
    kept = tmp_path / "kept"
    kept.mkdir()
    for target, gone, stays in [(tmp_path / "a" / "b" / "c", tmp_path / "a", tmp_path),
                                (kept / "new", kept / "new", kept)]:
        with pytest.raises(KeyError):
            with output_folder(target) as d:
                assert d.is_dir()
                raise KeyError("the work failed")
        assert not gone.exists() and stays.is_dir()
    with pytest.raises(KeyError):
        with output_folder(kept / "full") as d:
            (d / "one.conll").write_text("done\n")              # an output already finished stays
            raise KeyError("the second failed")
    assert (kept / "full" / "one.conll").read_text() == "done\n"
    with output_folder(tmp_path / "ok") as d:
        pass
    assert d.is_dir()
