"""predict's output lines up with its input, streams, runs in several processes with the same
output, and Docs carry offsets into the text the user gave."""
import json
import subprocess
import sys
import time

import pytest

import nerwin
from nerwin.text.corpus import read_conll

from conftest import corpus, run, trained


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
