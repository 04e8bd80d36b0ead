"""predict's output lines up with its input, streams, runs in several processes with the same
output, and Docs carry offsets into the text the user gave."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import nerwin
from nerwin.text.corpus import read_conll

from conftest import assert_clean_error, corpus, run, trained


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return trained(tmp_path_factory, "predict", "--target", "all", "--epochs", "2")


def test_one_record_per_input_line_with_its_number(model):
    lines = ["Anna flew to Lisbon .", "", "Paris is big .", "   ", "ok"] + [f"line {i}" for i in range(7)]
    r = run("predict", "--model", model, "--output-format", "jsonl", stdin="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    recs = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(recs) == len(lines) == 12
    assert [x["line"] for x in recs] == list(range(1, 13))
    assert recs[1]["tokens"] == [] and recs[3]["tokens"] == [] and recs[0]["tokens"][0] == "Anna"
    conll = run("predict", "--model", model, stdin="\n".join(lines) + "\n").stdout
    records, cur = [], []                          # each record ends in a blank line; an empty one is only that
    for line in conll.split("\n")[:-1]:
        if line:
            cur.append(line)
        else:
            records.append(cur)
            cur = []
    assert len(records) == 12 and records[1] == [] and records[3] == [] and len(records[0]) == 5


def test_input_from_a_pipe_is_tagged_as_it_arrives(model):
    p = subprocess.Popen([sys.executable, "-m", "nerwin", "predict", "--model", str(model), "--output-format", "jsonl"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        p.stdin.write("Anna flew to Lisbon .\n")
        p.stdin.flush()
        t0 = time.perf_counter()
        first = p.stdout.readline()                     # before stdin is closed
        assert json.loads(first)["tokens"][0] == "Anna" and time.perf_counter() - t0 < 30
        p.stdin.write("Paris\n")
        p.stdin.flush()
        assert json.loads(p.stdout.readline())["line"] == 2
    finally:
        p.stdin.close()
        p.wait(timeout=30)
    assert p.returncode == 0


@pytest.mark.parametrize("fmt", ["text", "conll"])
def test_workers_give_the_same_output_in_the_same_order(model, tmp_path, fmt):
    test = corpus("btc", "test")
    src = test
    if fmt == "text":
        src = tmp_path / "t.txt"
        src.write_text("\n".join(" ".join(s.tokens) for s in read_conll(test)) * 3 + "\n")
    one = run("predict", src, "--model", model, "--input-format", fmt, "--output-format", "jsonl")
    two = run("predict", src, "--model", model, "--input-format", fmt, "--output-format", "jsonl", "--workers", "2")
    assert one.returncode == two.returncode == 0, two.stderr
    assert one.stdout == two.stdout and one.stdout.count("\n") > 2000


def test_worker_processes_let_their_blas_threads_sleep_and_the_callers_environment_is_kept(monkeypatch):
    import multiprocessing
    from nerwin.apply.predict import SPIN, brief_blas_spin
    monkeypatch.delenv(SPIN, raising=False)
    monkeypatch.delenv("GOTO_THREAD_TIMEOUT", raising=False)
    before = dict(os.environ)
    spawn = multiprocessing.get_context("spawn")
    with brief_blas_spin():
        pool = spawn.Pool(1)
    with pool:
        assert pool.apply(os.getenv, (SPIN,)) == "10"           # OpenBLAS's spin: 2^10 cycles, not 2^28
    assert dict(os.environ) == before
    monkeypatch.setenv(SPIN, "20")                                # the user's own value stays
    with brief_blas_spin():
        pool = spawn.Pool(1)
    with pool:
        assert pool.apply(os.getenv, (SPIN,)) == "20"
    assert os.environ[SPIN] == "20"


def test_offsets_round_trip_on_real_tweets(model):
    tagger = nerwin.load(model)
    sents = read_conll(corpus("wnut17", "test")) + read_conll(corpus("btc", "test"))
    texts = []
    for s in sents[:1500]:                               # as people type them: some tokens glued, some spaced twice
        t = " ".join(s.tokens)
        texts.append(t.replace(" n't", "n't").replace(" 's", "'s").replace(" ,", ",").replace(" .", "."))
        texts.append("  " + t.replace(" ", "  ") + " ")
    checked = 0
    for text, doc in zip(texts, tagger.tag_many(texts)):
        assert doc.text == text
        for tok, (a, b) in zip(doc.tokens, doc.offsets):
            assert text[a:b] == tok
        for e in doc.entities:
            assert text[e.start_char:e.end_char] == e.text
            assert "".join(e.text.split()) == "".join(doc.tokens[e.start:e.end])
            checked += 1
    assert checked > 100
    assert any(any(ord(c) > 0xFFFF for c in t) for t in texts)           # emoji were in there
    assert any("http" in t for t in texts) and any("n't" in t for t in texts)


def test_wrong_input_format_and_unknown_types_are_said(model, tmp_path):
    r = run("predict", "--model", model, "--input-format", "conll",
            stdin="The museums in Paris are amazing .\nAnna flew to Lisbon on Monday .\n")
    assert r.returncode == 0 and "--input-format text" in r.stderr
    r = run("predict", "--model", model, stdin="Paris\tB-LOC\nis\tO\n")
    assert "--input-format conll" in r.stderr
    gold = tmp_path / "g.conll"
    gold.write_text("Paris\tB-LOC\nHumbug\tB-GADGET\n")
    r = run("evaluate", gold, "--model", model, "--json")
    assert json.loads(r.stdout)["unknown_types"] == ["GADGET"] and "cannot predict GADGET" in r.stderr


@pytest.mark.slow
def test_a_long_file_shows_progress_on_a_terminal(model, tmp_path):
    import os
    import pty
    big = tmp_path / "big.txt"
    line = "Anna flew to Lisbon on Monday with Paris Hilton and the museums of Berlin .\n"
    big.write_text(line * (9_000_000 // len(line) + 1))           # past the 8 MB a progress line needs
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "nerwin", "predict", str(big), "--model", str(model)],
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    p.wait(timeout=300)
    assert p.returncode == 0
    assert b"records tagged" in err and b"a second" in err, err[-300:]


@pytest.mark.parametrize("fmt,typed", [("text", b"Paris is big\n"), ("conll", b"Paris\nis\nbig\n\n")])
def test_typing_at_a_terminal_gets_what_to_type_and_no_progress_line_over_it(model, fmt, typed):
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, "-m", "nerwin", "predict", "--model", str(model), "--input-format", fmt],
                         stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(slave)
    os.write(master, typed + b"\x04")    # Ctrl-D at a line's start ends it; read with the line, it was lost
    out, err = p.communicate(timeout=30)
    os.close(master)
    assert p.returncode == 0, err
    assert [l.split(b"\t")[0] for l in out.splitlines() if l] == [b"Paris", b"is", b"big"]
    each = b"a sentence a line" if fmt == "text" else b"a token a line, a blank line after each sentence"
    assert err == b"nerwin: reading from the terminal, " + each + b"; Ctrl-D ends\n"


@pytest.mark.parametrize("value", ["nan", "2", "-0.1", "inf"])
def test_min_confidence_out_of_range_is_refused_before_any_output(model, value):
    r = run("predict", "--model", model, "--min-confidence", value, stdin="Paris is big .\n")
    assert r.returncode == 2 and "--min-confidence" in r.stderr and r.stdout == "", r.stderr


def test_progress_says_how_far_through_a_file_of_known_size(tmp_path):
    """The percentage is the share of the file's bytes read, and the time left follows from it."""
    import os
    from nerwin.apply.predict import Progress
    f = tmp_path / "big.txt"
    f.write_bytes(b"x" * 1000)
    fd = os.open(f, os.O_RDONLY)
    try:
        os.read(fd, 250)
        p = Progress(1000, fd)
        line = p.line(50, p.t0 + 10.0)
    finally:
        os.close(fd)
    assert "50 records tagged, 5 a second, 25% of the file, about 30 s left" in line
    assert "%" not in Progress(0, None).line(50, Progress(0, None).t0 + 1.0)     # a stream: no size


def test_predict_empty_long_and_non_utf8(loc_model):
    assert_clean_error(run("predict", "--model", loc_model, stdin=""), "<stdin>", "empty input")
    long_line = " ".join(["Paris", "is", "big", "."] * 50_000)     # ~1 MB, one sentence
    r = run("predict", "--model", loc_model, "--output-format", "jsonl", stdin=long_line + "\n")
    assert r.returncode == 0, r.stderr[-500:]
    assert len(json.loads(r.stdout)["tokens"]) == 200_000
    p = subprocess.run([sys.executable, "-m", "nerwin", "predict", "--model", str(loc_model)],
                       input=b"Caf\xe9 in Paris\n\xff\xfe Berlin\n", capture_output=True)
    assert p.returncode == 0
    assert p.stderr.decode().count("warning") == 1
    assert "Paris\tLOC" in p.stdout.decode()


def test_predict_with_closed_streams_and_an_ascii_locale(loc_model):
    for redirect in ("<&-", ">&-"):
        r = subprocess.run(f"{sys.executable} -m nerwin predict --model {loc_model} {redirect}", shell=True,
                           capture_output=True, text=True)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    env = dict(os.environ, PYTHONIOENCODING="ascii", LC_ALL="C")
    r = subprocess.run([sys.executable, "-m", "nerwin", "predict", "--model", str(loc_model)], input="Zürich 東京 😀\n".encode(),
                       capture_output=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "Zürich" in r.stdout.decode("utf-8")


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


def test_a_file_of_undecodable_bytes_and_control_characters(models, tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes(b"caf\xe9 Paris\n\x01\x02 Rome\n\n")
    r = run("predict", "--model", models["sentence"], "--output-format", "jsonl", f)
    assert r.returncode == 0 and "not UTF-8" in r.stderr
    recs = [json.loads(l) for l in r.stdout.splitlines()]
    assert recs[0]["tokens"] == ["caf\ufffd", "Paris"] and recs[1]["tokens"] == ["Rome"] and recs[2]["tokens"] == []


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_undecodable_bytes_are_warned_of_by_line_even_past_the_first_read(models, tmp_path, newline):
    from nerwin.apply.predict import READ
    head = b"ok" + newline
    head *= (READ - 1) // len(head)
    head += b"x" * (READ - 1 - len(head))             # the first read ends one byte before the last newline
    f = tmp_path / "late.txt"
    f.write_bytes(head + newline + b"fine" + newline + b"caf\xe9 " + newline + b"\xff" + newline)
    want = head.count(newline) + 3
    r = run("predict", "--model", models["binary"], f)
    assert r.returncode == 0 and f"{f}:{want}: bytes that are not UTF-8" in r.stderr and r.stderr.count("warning") == 1


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


def test_conll_output_keeps_each_docstart_line_so_it_lines_up_with_the_input(models, tmp_path):
    # CoNLL-2003's layout: `paste gold pred` (as conlleval users do) needs the lines to match
    gold = corpus("wikigold", "test")
    src = gold.read_text(encoding="utf-8").splitlines()
    r = run("predict", "--model", models["sentence"], "--input-format", "conll", gold)
    out = r.stdout.splitlines()
    assert r.returncode == 0 and len(out) == len(src) and out[0] == "-DOCSTART-\tO\t1.0000"
    assert all((a.split()[0] if a.strip() else "") == (b.split("\t")[0] if b else "") for a, b in zip(src, out))
    assert sum(a.startswith("-DOCSTART-") for a in src) == sum(b.startswith("-DOCSTART-") for b in out) > 1
    r = run("predict", "--model", models["sentence"], "--input-format", "conll", "--output-format", "jsonl", gold)
    recs = [json.loads(l) for l in r.stdout.splitlines()]
    assert recs and not any("-DOCSTART-" in x["tokens"] for x in recs)          # no sentence of its own
    assert len(recs) == len(read_conll(gold))


def test_a_sentence_given_where_a_file_goes_gets_the_way_to_tag_it(models, tmp_path):
    r = run("predict", "--model", models["binary"], "Paris is nice .", cwd=tmp_path)
    assert_clean_error(r, "Paris is nice .: no such file", "echo 'Paris is nice .' | nerwin predict")
    r = run("predict", "--model", models["binary"], tmp_path / "my notes.txt")      # a path: only the path
    assert_clean_error(r, "no such file; check the path")


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
    def names():                                 # /proc's process folders come and go: not ours
        return {n for n in os.listdir(out) if not n.isdigit()}
    before = names()
    r = run("predict", "--model", models["binary"], tmp_path / "a.txt", tmp_path / "b.txt", "--output-dir", out,
            *how)
    assert_clean_error(r, "cannot write here")
    assert str(out) in r.stderr and "--output-dir" in r.stderr
    assert names() == before
    assert (tmp_path / "a.txt").read_text() == "Paris .\n"


def test_a_compressed_input_is_tagged_as_its_plain_text(model, tmp_path):
    import bz2
    import gzip
    text = "\n".join(" ".join(s.tokens) for s in read_conll(corpus("btc", "test"))[:300]) + "\n"
    plain = tmp_path / "tweets.txt"
    plain.write_text(text, encoding="utf-8")
    (tmp_path / "tweets.txt.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "more.txt.bz2").write_bytes(bz2.compress(text.encode()))
    want = run("predict", plain, "--model", model).stdout
    assert run("predict", tmp_path / "tweets.txt.gz", "--model", model).stdout == want
    r = run("predict", tmp_path / "tweets.txt.gz", tmp_path / "more.txt.bz2", "--model", model, "--output-dir",
            tmp_path / "out", "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["more.conll", "tweets.conll"]   # .gz dropped
    assert (tmp_path / "out" / "tweets.conll").read_text(encoding="utf-8") == want
    assert (tmp_path / "out" / "more.conll").read_text(encoding="utf-8") == want
    assert "nerwin: 600 records from 2 files into" in r.stderr
    r = run("predict", tmp_path / "tweets.txt.gz", plain, "--model", model, "--output-dir", tmp_path / "o2")
    assert_clean_error(r, "tweets.conll")                   # both would be o2/tweets.conll
    assert not (tmp_path / "o2").exists()


def test_a_damaged_or_piped_compressed_input_is_one_line(model, tmp_path):
    import gzip
    packed = gzip.compress(("Paris is big .\n" * 20000).encode())
    cut = tmp_path / "cut.txt.gz"
    cut.write_bytes(packed[:len(packed) // 2])
    r = run("predict", cut, "--model", model, "--output-dir", tmp_path / "out")
    assert_clean_error(r, f"{cut}: cannot decompress")
    assert not (tmp_path / "out" / "cut.conll").exists()
    r = subprocess.run([sys.executable, "-m", "nerwin", "predict", "--model", str(model)], input=packed,
                       capture_output=True)
    assert r.returncode == 2 and r.stdout == b"", r.stderr
    assert r.stderr.decode().strip() == ("nerwin: error: <stdin>: is compressed (gzip, bzip2 or xz); give the file's "
                                         "name, or decompress it into the pipe (zcat FILE | nerwin predict)")
    twice = tmp_path / "twice.txt.gz"
    twice.write_bytes(gzip.compress(packed))
    r = run("predict", twice, "--model", model, "--output-dir", tmp_path / "out")
    assert_clean_error(r, f"{twice}: is compressed twice; decompress it once first")
    assert not (tmp_path / "out" / "twice.conll").exists()
    one = tmp_path / "one.txt"
    one.write_text("Paris .\n")
    r = run("predict", one, "--model", model, "--output-dir", tmp_path / "o1")
    assert r.returncode == 0 and "nerwin: 1 record from 1 file into" in r.stderr, r.stderr


def test_predicts_output_reads_back_as_gold_corrected_or_not(model, tmp_path):
    src = tmp_path / "in.conll"
    src.write_text("".join("".join(f"{t}\tO\n" for t in s.tokens) + "\n"
                           for s in read_conll(corpus("wikigold", "test"))[:150]), encoding="utf-8")
    outs = {}
    for fmt in ("conll", "jsonl"):
        outs[fmt] = tmp_path / f"out.{fmt}"
        r = run("predict", src, "--model", model, "--input-format", "conll", "--output-format", fmt)
        assert r.returncode == 0, r.stderr
        outs[fmt].write_text(r.stdout, encoding="utf-8")
    labels = [json.loads(l)["labels"] for l in outs["jsonl"].read_text(encoding="utf-8").splitlines()]
    for fmt, f in outs.items():                       # token, tag, probability; or predict's JSONL records
        back = read_conll(f)
        assert [s.tags for s in back] == labels, fmt
        assert [s.tokens for s in back] == [s.tokens for s in read_conll(src)], fmt
        ev = nerwin.load(model).evaluate(f, calibrate=False)
        assert ev["f1"] == 1.0, (fmt, ev)
    lines = outs["conll"].read_text(encoding="utf-8").splitlines()
    k = next(i for i, l in enumerate(lines) if "\tB-" in l)
    lines[k] = lines[k].split("\t")[0] + "\tO\t0.5"    # a correction by hand
    fixed = tmp_path / "fixed.conll"
    fixed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert nerwin.load(model).evaluate(fixed, calibrate=False)["precision"] < 1.0
