"""Confidence that means what it says: exact span marginals against brute force, a temperature that
changes no decision, and precision on demand."""
import itertools
import json

import numpy as np
import pytest

import nerwin
from nerwin.nn.crf import crf_scores, forward_backward, pad
from nerwin.nn.heads import BinaryHead, SentenceHead, SoftmaxHead, span_marginal
from nerwin.text.metrics import calibration
from nerwin.text.schemes import iob2_classes, spans

from conftest import corpus, run

CLASSES = iob2_classes(["PER", "LOC"])


def brute_force_span(F, A, rules, span):
    """P(the path holds exactly this span), by enumerating every path."""
    (typ, a, b) = span
    trans, start, end = crf_scores(A, rules)
    n, K = F.shape
    Z = hit = 0.0
    for y in itertools.product(range(K), repeat=n):
        sc = start[y[0]] + F[np.arange(n), list(y)].sum() + sum(trans[i, j] for i, j in zip(y, y[1:])) + end[y[-1]]
        if not np.isfinite(sc):
            continue
        Z += np.exp(sc)
        tags = [CLASSES[k] for k in y]
        if (typ, a, b) in spans(tags) and tags[a].startswith("B-"):
            hit += np.exp(sc)
    return hit / Z


@pytest.mark.parametrize("seed", range(6))
def test_span_confidence_equals_brute_force_enumeration(seed):
    rng = np.random.default_rng(seed)
    head = SentenceHead("all", CLASSES)
    lengths = np.array([4, 1, 5])
    s = rng.normal(size=(lengths.sum(), len(CLASSES))) * 2
    p = {"A": rng.normal(size=(len(CLASSES) + 1, len(CLASSES) + 1))}
    for T in (1.0, 1.7):
        path, prob, confidence = head.decode(s, lengths, p, T)
        sT, pT = head.temper(s, p, T)
        first, checked = np.cumsum(lengths) - lengths, 0
        for k, n in enumerate(lengths):
            tags = [CLASSES[i] for i in path[first[k]:first[k] + n]]
            for typ, a, b in spans(tags):
                want = brute_force_span(sT[first[k]:first[k] + n], pT["A"], head.rules, (typ, a, b))
                assert confidence[k][(a, b)] == pytest.approx(want, rel=1e-9, abs=1e-12)
                checked += 1
        # every possible PER span of the first sentence, decoded or not
        F, mask = pad(sT[:4], [4])
        trans, start, end = crf_scores(pT["A"], head.rules)
        al, be, lz = forward_backward(F, mask, trans, start, end)
        for a in range(4):
            for b in range(a + 1, 5):
                want = brute_force_span(sT[:4], pT["A"], head.rules, ("PER", a, b))
                got = span_marginal(al[0], be[0], F[0], trans, lz[0], a, b, 4, CLASSES.index("B-PER"),
                                    CLASSES.index("I-PER"))
                assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert checked > 0


def test_window_and_binary_confidences_are_their_stated_products():
    rng = np.random.default_rng(0)
    s = rng.normal(size=6) * 3
    _, _, conf = BinaryHead("LOC", ["LOC"]).decode(s, np.array([6]), {})
    q = 1 / (1 + np.exp(-s))
    labels = ["LOC" if x >= 0.5 else "O" for x in q]
    for _, a, b in spans(labels):
        want = np.prod(q[a:b]) * (1 - q[a - 1] if a else 1) * (1 - q[b] if b < 6 else 1)
        assert conf[0][(a, b)] == pytest.approx(want)
    head = SoftmaxHead("all", CLASSES)
    s = rng.normal(size=(7, len(CLASSES))) * 3
    path, _, conf = head.decode(s, np.array([7]), {})
    e = np.exp(s - s.max(1, keepdims=True))
    qs = e / e.sum(1, keepdims=True)
    tags = [CLASSES[k] for k in path]
    for typ, a, b in spans(tags):
        B, I = CLASSES.index("B-" + typ), CLASSES.index("I-" + typ)
        want = qs[a, B] * np.prod(qs[a + 1:b, I]) * (1 - qs[b, I] if b < 7 else 1)
        assert conf[0][(a, b)] == pytest.approx(want)


@pytest.fixture(scope="module")
def btc_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("conf") / "m"
    r = run("train", "--train", corpus("btc", "train"), "--dev", corpus("btc", "dev"), "--target", "all",
            "--epochs", "2", "--out", out, "--metrics-json", out.parent / "m.json", "-q")
    assert r.returncode == 0, r.stderr
    return out


def test_the_temperature_is_fitted_stored_and_changes_no_label(btc_model):
    tagger = nerwin.load(btc_model)
    T = tagger.temperature
    assert T != 1.0 and json.loads((btc_model / "config.json").read_text())["temperature"] == T
    sents = [" ".join(x.split("\t")[0] for x in b.splitlines())
             for b in corpus("btc", "test").read_text().split("\n\n") if b.strip()][:500]
    toks = [tagger.tag(t).tokens for t in sents]
    s = tagger.logits(toks)
    at_1, at_T, at_3 = tagger.decode(toks, s, 1.0), tagger.decode(toks, s), tagger.decode(toks, s, 3.0)
    assert [d.labels for d in at_1] == [d.labels for d in at_T] == [d.labels for d in at_3]
    assert [d.probs for d in at_1] != [d.probs for d in at_3]
    m1, mT = tagger.evaluate(corpus("btc", "test"), temperature=1.0), tagger.evaluate(corpus("btc", "test"))
    assert m1["f1"] == mT["f1"] and mT["calibration"]["temperature"] == T


def test_min_confidence_buys_precision_and_the_report_says_how_much(btc_model, tmp_path):
    test = corpus("btc", "test")
    ev = json.loads(run("evaluate", test, "--model", btc_model, "--json").stdout)
    at = ev["confidence"]["at"]["0.9"]
    assert at["kept"] > 0 and at["precision"] > ev["precision"]

    def precision(*flags):
        out = run("predict", test, "--model", btc_model, "--input-format", "conll", *flags).stdout
        pred, cur = [], []
        for line in out.split("\n")[:-1]:
            if line:
                cur.append(line.split("\t")[1])
            else:
                pred.append(cur)
                cur = []
        from nerwin.text.corpus import read_conll
        from nerwin.text.metrics import entity_prf
        return entity_prf([x.tags for x in read_conll(test)], pred)["precision"]
    assert precision("--min-confidence", "0.9") > precision() + 0.05
    assert run("report", test, "--model", btc_model, "--html", tmp_path / "r.html").returncode == 0
    page = (tmp_path / "r.html").read_text()
    assert f'data-threshold="0.9" data-precision="{at["precision"]!r}"' in page
    assert "ECE" in page


def test_calibration_bins_and_ece():
    c = [0.05, 0.15, 0.95, 0.95, 0.85]
    ok = [0, 0, 1, 0, 1]
    m = calibration(c, ok)
    assert m["n"] == 5 and sum(b["n"] for b in m["bins"]) == 5
    want = (1 / 5) * 0.05 + (1 / 5) * 0.15 + (2 / 5) * abs(0.5 - 0.95) + (1 / 5) * abs(1 - 0.85)
    assert m["ece"] == pytest.approx(want)


def test_calibration_added_block_by_block_is_calibration_of_the_whole():
    from nerwin.text.metrics import calibration_bins, calibration_of
    rng = np.random.default_rng(0)
    c, ok = rng.random(1000), rng.random(1000) < 0.7
    binned = None
    for a in range(0, 1000, 300):
        binned = calibration_bins(c[a:a + 300], ok[a:a + 300], into=binned)
    whole, parts = calibration(c, ok), calibration_of(binned)
    assert parts["n"] == whole["n"] == 1000 and parts["ece"] == pytest.approx(whole["ece"], abs=1e-12)
    for p, w in zip(parts["bins"], whole["bins"]):
        assert p["n"] == w["n"] and p["accuracy"] == pytest.approx(w["accuracy"], abs=1e-12)
    from nerwin.text.metrics import token_counts, token_prf, token_scores
    y_true, y_pred, n = rng.random(1000) < 0.2, rng.random(1000) < 0.3, None
    for a in range(0, 1000, 300):
        n = token_counts(y_true[a:a + 300], y_pred[a:a + 300], n)
    assert token_scores(n) == token_prf(y_true, y_pred) and n["tokens"] == 1000
    assert n["tp"] == int(np.sum(y_true & y_pred)) and n["fn"] == int(np.sum(y_true & ~y_pred))


@pytest.mark.parametrize("kind", ["binary", "sentence"])
def test_evaluate_holds_no_list_per_token(models, kind):
    import tracemalloc
    t = nerwin.load(models[kind])
    from nerwin.text.corpus import Sentence
    sentence = Sentence(["The", "sky", "is", "blue", "and", "the", "sea", "is", "green", "."], ["O"] * 10, 1)

    def peak(n: int) -> int:
        tracemalloc.start()
        m = t.evaluate(sentence for _ in range(n))
        got = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert m["calibration"]["token"]["n"] == 10 * n and len(m["calibration"]["entity"]["bins"]) == 10
        return got
    peak(2000)                                            # rows and caches of the first use
    small, large = peak(4000), peak(24_000)               # both past one block, whose arrays outlive it
    assert large < small + (1 << 20), (small, large)      # 200,000 more tokens: their lists took ~14 MB


def test_api_min_confidence(btc_model):
    tagger = nerwin.load(btc_model)
    doc = tagger.tag("Barack Obama met Angela Merkel in Berlin .")
    strict = tagger.tag("Barack Obama met Angela Merkel in Berlin .", min_confidence=1.0)
    assert doc.entities and not strict.entities and set(strict.labels) == {"O"}
    with pytest.raises(ValueError, match="min_confidence"):
        tagger.tag("x", min_confidence=2)


@pytest.mark.parametrize("kind", ["binary", "softmax", "sentence"])
def test_a_dropped_entity_prints_its_tokens_probability_of_O(models, kind):
    """--min-confidence 1 drops every entity; each of their tokens then shows P(O), as the help says."""
    from conftest import run
    text = "Angela Merkel visited Paris and Berlin ."
    r = run("predict", "--model", models[kind], "--min-confidence", "1", stdin=text + "\n")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.splitlines() if line]
    dist = nerwin.load(models[kind]).distribution(text)
    doc = nerwin.load(models[kind]).tag(text)
    assert doc.entities                                         # something was dropped
    assert all(label == "O" for _, label, _ in rows)
    for (_, _, p), d in zip(rows, dist):
        assert float(p) == pytest.approx(d["O"], abs=5e-5)


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
    t = nerwin.load(models["binary"])
    assert t.evaluate(one)["support"] == 1
    m = t.evaluate(none)                                   # no entities at all: a count of false positives
    fp = sum(l == "LOC" for d in t.tag_many([["The", "sky", "is", "blue", "."], ["no"]]) for l in d.labels)
    assert (m["support"], m["tp"], m["fp"], m["fn"], m["recall"]) == (0, 0, fp, 0, 0.0)
    r = run("evaluate", none, "--model", models["binary"])
    assert r.returncode == 0 and f"{none}: LOC tokens 0 of 6" in r.stdout, r.stderr
    r = run("report", none, "--model", models["binary"], "--html", tmp_path / "binary-none.html")
    assert r.returncode == 0, r.stderr
