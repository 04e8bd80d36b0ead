"""The one home of tag schemes: parsing, spans (against seqeval), IOB2 conversion, Viterbi."""
import itertools
import random

import numpy as np
import pytest

from nerwin.text.schemes import decode_iob2, iob2_classes, parse, spans, to_iob2, transitions, viterbi
import nerwin
from conftest import run

seqeval_labeling = pytest.importorskip("seqeval.metrics.sequence_labeling")


@pytest.mark.parametrize("tag,expect", [("O", ("O", None)), ("B-LOC", ("B", "LOC")), ("S-PER", ("S", "PER")),
                                        ("U-PER", ("S", "PER")), ("L-PER", ("E", "PER")),
                                        ("LOC", ("I", "LOC")), ("B-geo-loc", ("B", "geo-loc")),
                                        ("geo-loc", ("I", "geo-loc")), ("i-loc", ("I", "loc"))])
def test_parse(tag, expect):
    assert parse(tag) == expect


@pytest.mark.parametrize("bad", ["X-LOC", "B-", " ", ""])
def test_parse_refuses_tags_of_no_scheme(bad):
    with pytest.raises(ValueError):
        parse(bad)


def test_bilou_unit_ends_a_span_like_bioes_single():
    assert spans(["B-LOC", "U-LOC"]) == spans(["B-LOC", "S-LOC"]) == [("LOC", 0, 1), ("LOC", 1, 2)]
    assert spans(["B-LOC", "L-LOC", "I-LOC"]) == spans(["B-LOC", "E-LOC", "I-LOC"]) == [("LOC", 0, 2), ("LOC", 2, 3)]


@pytest.mark.parametrize("scheme,prefixes", [("IOB1", "BI"), ("IOB2", "BI"), ("BIOES", "BIES")])
def test_spans_equal_seqeval_default_mode_on_random_sequences(scheme, prefixes):
    """conlleval's chunking, as seqeval's default mode implements it, on valid and invalid sequences."""
    rng = random.Random(scheme)
    alphabet = ["O"] + [f"{p}-{t}" for p in prefixes for t in ("PER", "LOC", "geo-loc")]
    for _ in range(3000):
        tags = [rng.choice(alphabet) for _ in range(rng.randint(1, 12))]
        ref = [(t, a, b + 1) for t, a, b in seqeval_labeling.get_entities(tags)]
        assert spans(tags) == ref, tags


def test_to_iob2_keeps_the_spans_of_every_scheme():
    rng = random.Random(1)
    alphabet = ["O"] + [f"{p}-{t}" for p in "BIESLU" for t in ("PER", "LOC")] + ["PER"]
    for _ in range(2000):
        tags = [rng.choice(alphabet) for _ in range(rng.randint(1, 10))]
        iob2 = to_iob2(tags)
        assert spans(iob2) == spans(tags)
        assert all(not t.startswith("I-") or (i and iob2[i - 1][2:] == t[2:] and iob2[i - 1] != "O")
                   for i, t in enumerate(iob2))


def valid(classes, path):
    trans, start = transitions(classes)
    return np.isfinite(start[path[0]]) and all(np.isfinite(trans[a, b]) for a, b in zip(path, path[1:]))


def test_viterbi_is_optimal_against_brute_force():
    rng = np.random.default_rng(0)
    classes = iob2_classes(["PER", "LOC"])
    K = len(classes)
    trans, start = transitions(classes)
    for trial in range(200):
        n = int(rng.integers(1, 6))
        emit = rng.normal(size=(n, K))
        A = rng.normal(size=(K, K)) + trans
        end = rng.normal(size=K)
        def score(path):
            return start[path[0]] + emit[np.arange(n), path].sum() + sum(A[a, b] for a, b in zip(path, path[1:])) \
                + end[path[-1]]
        best = max(score(np.array(p)) for p in itertools.product(range(K), repeat=n))
        got = viterbi(emit, A, start, end)
        assert valid(classes, got)
        assert score(got) == pytest.approx(best, abs=1e-12)


def test_decode_iob2_finds_the_most_probable_valid_sequence():
    rng = np.random.default_rng(1)
    classes = iob2_classes(["PER", "LOC"])
    for _ in range(200):
        n = int(rng.integers(1, 6))
        prob = rng.dirichlet(np.ones(len(classes)) * 0.3, size=n)
        tags, q = decode_iob2(classes, prob)
        path = np.array([classes.index(t) for t in tags])
        assert valid(classes, path)
        assert np.array_equal(q, prob[np.arange(n), path])
        best = max(np.log(prob[np.arange(n), list(p)]).sum()
                   for p in itertools.product(range(len(classes)), repeat=n) if valid(classes, list(p)))
        assert np.log(q).sum() == pytest.approx(best, abs=1e-9)


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
