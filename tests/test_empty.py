"""An empty or whitespace-only sentence is an empty Doc on every path: the API, predict (a file and a
stream), the server and Dask, for every kind of model."""
import json
import subprocess
import sys
import time

import pytest

import nerwin

from conftest import KINDS, run


@pytest.mark.parametrize("kind", KINDS)
def test_the_api_gives_an_empty_doc(models, kind):
    tagger = nerwin.load(models[kind])
    for empty in ("", "   ", "\t\u3000", [], ()):
        doc = tagger.tag(empty)
        assert doc.tokens == [] and doc.labels == [] and doc.entities == [] and len(doc) == 0
    docs = list(tagger.tag_many(["", "Anna flew to Paris .", "  ", []]))
    assert [len(d) for d in docs] == [0, 5, 0, 0]
    assert docs[1].labels == tagger.tag("Anna flew to Paris .").labels
    assert tagger.distribution("") == []
    assert tagger.tag("", min_confidence=0.5).tokens == []


def test_predict_keeps_a_blank_record_for_each_blank_line(models):
    r = run("predict", "--model", models["sentence"], stdin="\n   \n")
    assert r.returncode == 0 and r.stdout == "\n\n", r.stderr
    r = run("predict", "--model", models["sentence"], "--output-format", "jsonl", stdin="\nParis .\n")
    recs = [json.loads(l) for l in r.stdout.splitlines()]
    assert [x["tokens"] for x in recs] == [[], ["Paris", "."]]


def test_a_stream_survives_a_blank_line_that_arrives_alone(models):
    p = subprocess.Popen([sys.executable, "-m", "nerwin", "predict", "--model", str(models["binary"])],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"Paris .\n")
    p.stdin.flush()
    first = [p.stdout.readline() for _ in range(3)]                  # two tokens and the blank line
    p.stdin.write(b"\n")                                             # a blank line on its own
    p.stdin.flush()
    time.sleep(0.3)
    p.stdin.write(b"Lima .\n")
    p.stdin.close()
    rest = p.stdout.read().decode()
    assert p.wait(timeout=60) == 0, p.stderr.read().decode()
    assert first[0].startswith(b"Paris\t") and first[2] == b"\n"
    assert rest.startswith("\nLima\t")


def test_the_server_tags_an_empty_text(models):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from nerwin.tools.serve import create_app
    client = TestClient(create_app(nerwin.load(models["sentence"]), models["sentence"]))
    for body in ({"text": ""}, {"text": "  "}, {"tokens": []}):
        r = client.post("/v1/tag", json=body)
        assert r.status_code == 200 and r.json()["tokens"] == [] and r.json()["entities"] == [], r.text
    r = client.post("/v1/tag", json={"texts": ["", "Paris ."]})
    assert r.status_code == 200 and [len(d["tokens"]) for d in r.json()["docs"]] == [0, 2]
    r = client.post("/v1/explain", json={"text": ""})
    assert r.status_code == 422 and "error" in r.json()


@pytest.mark.slow
def test_dask_tags_a_file_of_blank_lines(models, tmp_path):
    pytest.importorskip("distributed")
    f = tmp_path / "blank.txt"
    f.write_text("\n  \n\n")
    r = run("predict", f, "--model", models["binary"], "--dask", "local:1", "--output-dir", tmp_path / "o")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "o" / "blank.conll").read_text() == "\n\n\n"
