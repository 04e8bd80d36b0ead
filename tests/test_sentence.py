"""The sentence-level loss (Collobert et al. 2011): log Z against brute force, gradients, training."""
import itertools
import json

import numpy as np
import pytest

from nerwin.nn import crf as model
from nerwin.settings import Settings
from nerwin.nn.gradcheck import check, numeric_grad, rel_error, sentence_problem
from nerwin.text.schemes import iob2_classes, transitions, viterbi
from nerwin.training.data import prepare
from nerwin.vectors import open_store

from conftest import DATA, assert_clean_error, run

CLASSES = iob2_classes(["PER", "LOC"])
RULES = transitions(CLASSES)


def brute_force_log_z(f, A):
    trans, start, end = model.crf_scores(A, RULES)
    n, K = f.shape
    scores = [start[y[0]] + f[np.arange(n), y].sum() + sum(trans[a, b] for a, b in zip(y, y[1:])) + end[y[-1]]
              for y in map(np.array, itertools.product(range(K), repeat=n))]
    scores = np.array(scores)
    m = scores[np.isfinite(scores)].max()
    return m + np.log(np.exp(scores - m).sum())


def test_log_z_equals_brute_force_enumeration_over_a_padded_batch():
    rng = np.random.default_rng(0)
    K = len(CLASSES)
    lengths = np.array([1, 4, 2, 5, 3])
    f = rng.normal(size=(lengths.sum(), K)) * 3
    A = rng.normal(size=(K + 1, K + 1))
    F, mask = model.pad(f, lengths)
    _, _, logZ = model.forward_backward(F, mask, *model.crf_scores(A, RULES))
    starts = np.cumsum(lengths) - lengths
    for s, (a, n) in enumerate(zip(starts, lengths)):
        assert logZ[s] == pytest.approx(brute_force_log_z(f[a:a + n], A), abs=1e-10)


@pytest.mark.parametrize("lengths", [[5] * 300 + [20_000], [0, 3, 0, 1, 7, 2, 60, 9, 1000, 4] * 40,
                                     list(range(1, 700)), [1]])
def test_groups_cover_each_sentence_once_and_padding_at_most_doubles_the_work(lengths):
    """One long sentence among short ones used to share a group with 255 of them, each padded
    to its length: 1.5 GB to decode 28,000 tokens."""
    lengths = np.array(lengths)
    f = np.arange(lengths.sum(), dtype=np.float64)[:, None] * [1.0, -1.0]
    seen = []
    for idx, F, mask, sel in model.groups(f, lengths):
        assert len(sel) <= model.GROUP and F.shape[:2] == mask.shape
        assert mask.size <= 2 * lengths[sel].sum()
        np.testing.assert_array_equal(F[mask], f[idx])
        np.testing.assert_array_equal(mask.sum(axis=1), lengths[sel])
        seen += sel.tolist()
    assert sorted(seen) == [k for k in range(len(lengths)) if lengths[k]]


def test_the_numpy_sentence_loss_by_groups_equals_the_compiled_one():
    """sll_forward's numpy path (evaluation's dev loss) pads each group, not the whole block,
    and gives the compiled path's J."""
    rng = np.random.default_rng(3)
    K = len(CLASSES)
    lengths = np.array([4] * 50 + [3000] + [1, 2, 7])
    f = rng.normal(size=(lengths.sum(), K)).astype(np.float32)
    y = rng.choice([0, 1, 3], size=lengths.sum())               # O and B- tags: a valid path
    A = rng.normal(size=(K + 1, K + 1))
    J, _ = model.sll_forward(f, y, lengths, A, RULES)
    J_numpy, _ = model.sll_forward(f, y, lengths, A, RULES, compiled=False)
    assert np.isfinite(J) and J_numpy == pytest.approx(J, rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_compiled_recursions_equal_the_padded_numpy_ones(seed):
    """Training runs kernels.forward_backward; the Tagger decodes with model.forward_backward."""
    from nerwin.nn.kernels import forward_backward
    rng = np.random.default_rng(seed)
    K = len(CLASSES)
    lengths = rng.integers(1, 30, size=rng.integers(1, 12))
    f = rng.normal(size=(lengths.sum(), K)) * 4
    trans, start, end = model.crf_scores(rng.normal(size=(K + 1, K + 1)) * 2, RULES)
    a, b, z = forward_backward(f, lengths, trans, start, end)
    F, mask = model.pad(f, lengths)
    A, B, Z = model.forward_backward(F, mask, trans, start, end)
    np.testing.assert_allclose(z, Z, rtol=1e-12)
    finite = np.isfinite(A[mask])
    assert np.array_equal(finite, np.isfinite(a)) and np.array_equal(np.isfinite(B[mask]), np.isfinite(b))
    np.testing.assert_allclose(a[finite], A[mask][finite], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b[np.isfinite(b)], B[mask][np.isfinite(b)], rtol=1e-12, atol=1e-12)


def test_marginals_and_transition_gradients_against_central_differences():
    rng = np.random.default_rng(1)
    K = len(CLASSES)
    lengths = np.array([3, 1, 4])
    f = rng.normal(size=(lengths.sum(), K))
    A = rng.normal(size=(K + 1, K + 1))
    y = np.array([1, 2, 0, 3, 0, 1, 2, 2])
    J, cache = model.sll_forward(f, y, lengths, A, RULES)
    df, dA = model.sll_backward(cache)
    assert J > 0
    assert rel_error(df, numeric_grad(lambda: model.sll_forward(f, y, lengths, A, RULES)[0], f)) < 1e-8
    assert rel_error(dA, numeric_grad(lambda: model.sll_forward(f, y, lengths, A, RULES)[0], A)) < 1e-8
    # the rows of df are marginals minus one-hot gold: each sums to 0
    np.testing.assert_allclose(df.sum(axis=1), 0, atol=1e-12)


def test_whole_model_gradients_on_real_sentences_of_1_and_40_words():
    store, _ = open_store(None)
    s = Settings.of(target="all", dtype="float64", casing=2, affixes=2, chars=3, char_dim=2)
    m, tr, _, _ = prepare(DATA / "train.conll", None, store, s)
    features = m.features
    assert [f.name for f in features] == ["casing", "affixes", "chars"]
    p, Es, ids, y, feats, lengths, head = sentence_problem(m.E, tr.X, tr.y, hidden=4, classes=m.head.classes, seed=2,
                                                           features=features, feats=tr.feats)
    tables = {t for f in features for t in f.shapes()}
    assert list(lengths) == [1, 40] and set(head.shapes(4)) <= set(p) and tables <= set(p)
    errs = check(p, Es, ids, y, head, "tanh", 1e-2, None, features, feats, lengths)
    assert max(errs.values()) < 1e-7, errs


def test_viterbi_with_a_decodes_the_best_path_under_the_learned_transitions():
    rng = np.random.default_rng(3)
    K = len(CLASSES)
    f, A = rng.normal(size=(4, K)), rng.normal(size=(K + 1, K + 1)) * 2
    trans, start, end = model.crf_scores(A, RULES)
    path = viterbi(f, trans, start, end)
    best = max(itertools.product(range(K), repeat=4),
               key=lambda y: start[y[0]] + f[np.arange(4), list(y)].sum()
               + sum(trans[a, b] for a, b in zip(y, y[1:])) + end[y[-1]])
    assert list(path) == list(best)
    alpha, beta, logZ = model.forward_backward(f[None], np.ones((1, 4), dtype=bool), trans, start, end)
    marg = np.exp(alpha[0] + beta[0] - logZ[0])
    np.testing.assert_allclose(marg.sum(axis=1), 1.0)


def test_train_and_predict_with_the_sentence_loss(tmp_path):
    r = run("train", "--target", "all", "--loss", "sentence", "--casing", "3", "--epochs", "3", "--out", tmp_path / "m",
            "--metrics-json", tmp_path / "m.json", "-q")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["dev"]["f1"] > 0.6
    ev = json.loads(run("evaluate", DATA / "dev.conll", "--model", tmp_path / "m", "--json").stdout)
    assert ev == m["dev"]
    out = run("predict", "--model", tmp_path / "m", "--output-format", "jsonl",
              stdin="Anna Lindqvist flew to Lisbon .\n")
    doc = json.loads(out.stdout)
    assert len(doc["labels"]) == 6 and all(0 < q <= 1 for q in doc["probs"])
    assert ("LOC" in [e["type"] for e in doc["entities"]]) or ("PER" in [e["type"] for e in doc["entities"]])


def test_sentence_loss_needs_all_types(tmp_path):
    assert_clean_error(run("train", "--loss", "sentence", "--out", tmp_path / "m"), "--target all")
    assert_clean_error(run("train", "--loss", "crf", "--target", "all", "--out", tmp_path / "m"), "--loss")
