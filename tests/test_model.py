"""The hand-derived gradients, checked against central differences on real windows."""
import numpy as np
import pytest

from nerwin.nn import layers, network, heads
from nerwin.nn.heads import BinaryHead
from nerwin.nn.layers import ACTIVATIONS
from nerwin.settings import Settings
from nerwin.nn.gradcheck import check, numeric_grad, rel_error, sample_problem
from nerwin.nn.heads import choose
from nerwin.tools.gradcheck import real_windows
from nerwin.training.data import prepare
from nerwin.vectors import open_store

from conftest import DATA, assert_clean_error, run


@pytest.fixture(scope="module")
def real():
    store, _ = open_store(None)
    s = Settings.of(target="LOC", dtype="float64")
    m, tr, *_ = prepare(DATA / "train.conll", None, store, s)
    return m.E, tr.X, tr.y


@pytest.fixture(scope="module")
def spelled():
    """The sample's windows with every part of a word's spelling, and the hard words for characters."""
    store, _ = open_store(None)
    sents, types, E, X, features, feats, must, words = real_windows(DATA / "train.conll", store, Settings.of(seed=0))
    y = choose(types[0], types, "window").gold(x.tags for x in sents)
    return E, X, y, features, feats, must, words


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_binary_gradients_match_central_differences(real, act):
    E, X, y = real
    p, Es, ids, yy, _, head = sample_problem(E, X, y, hidden=5, K=1, seed=3)
    assert len(set(ids[-1])) < ids.shape[1], "one window must repeat a word"
    ticks = []
    errs = check(p, Es, ids, yy, head, act, lam=1e-2, tick=lambda: ticks.append(1))
    assert max(errs.values()) < 1e-7, errs
    assert len(ticks) == sum(a.size for a in p.values()) + Es.size      # the progress bar's total


@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("spelling", [False, True])
def test_softmax_spelling_and_dropout_gradients(spelled, act, spelling):
    """Casing, prefix, suffix and the character CNN, on real words: one character, longer than a
    filter, clipped at MAX_CHARS and not ASCII."""
    E, X, y, features, feats, must, words = spelled
    assert len(words) == 4 and any("not ASCII" in w for w in words)
    features = features if spelling else []
    p, Es, ids, yk, fs, head = sample_problem(E, X, y, hidden=5, K=4, seed=4, features=features,
                                              feats=feats if spelling else None, must=must if spelling else ())
    assert {"C", "Pre", "Suf", "Ech", "Wch", "bch"} <= set(p) if spelling else set(p) == {"W", "b", "V", "c"}
    mask = (np.random.default_rng(0).random((len(ids), 5)) >= 0.3) / 0.7
    errs = check(p, Es, ids, yk, head, act, lam=1e-2, mask=mask, features=features, feats=fs)
    assert max(errs.values()) < 1e-7, errs


def test_repeated_word_gets_the_sum_of_its_updates():
    rng = np.random.default_rng(1)
    ids = np.array([[3, 1, 3], [1, 3, 0]])
    dwin = rng.normal(size=(2, 3 * 4))
    rows, dE = layers.embed_backward(dwin, (ids, 4))
    pieces = dwin.reshape(2, 3, 4)
    by_hand = {r: sum(pieces[i, j] for i in range(2) for j in range(3) if ids[i, j] == r) for r in (0, 1, 3)}
    assert list(rows) == [0, 1, 3]
    for r, g in zip(rows, dE):
        np.testing.assert_allclose(g, by_hand[r])
    # the pitfall: fancy-index assignment keeps only one of word 3's three updates
    wrong = np.zeros((4, 4))
    wrong[ids.ravel()] += dwin.reshape(-1, 4)
    assert not np.allclose(wrong[3], by_hand[3])


def test_gradcheck_would_catch_a_wrong_gradient(real):
    E, X, y = real
    p, Es, ids, yy, _, head = sample_problem(E, X, y, hidden=5, K=1, seed=5)
    _, grads, rows, dE = network.loss(p, Es, ids, yy, head, "tanh", 0.0)
    J = lambda: network.loss(p, Es, ids, yy, head, "tanh", 0.0)[0]
    num = numeric_grad(J, p["W"])
    assert rel_error(grads["W"], num) < 1e-7
    assert rel_error(grads["W"] * 1.01, num) > 1e-3   # a 1% error is visible


def test_a_parameter_over_the_tolerance_is_differenced_again_with_the_larger_step(real, monkeypatch):
    from nerwin.nn.gradcheck import STEPS
    E, X, y = real
    p, Es, ids, yy, _, head = sample_problem(E, X, y, hidden=5, K=1, seed=5)
    J = lambda: network.objective(p, Es, ids, yy, head, "tanh", 1e-2)        # noqa: E731
    _, grads, rows, dE = network.loss(p, Es, ids, yy, head, "tanh", 1e-2)
    both = {k: [rel_error(grads[k], numeric_grad(J, p[k], h)) for h in STEPS] for k in p}
    steps = {}                          # a tolerance no step meets: every parameter tries both
    errs = check(p, Es, ids, yy, head, "tanh", 1e-2, tolerance=1e-15, steps=steps)
    for k, (first, second) in both.items():
        assert errs[k] == min(first, second), k
        assert (steps.get(k) == STEPS[1]) == (second < first), k
    none = {}                           # no tolerance: the first step alone
    first = check(p, Es, ids, yy, head, "tanh", 1e-2, steps=none)
    assert none == {} and all(first[k] == both[k][0] for k in p)
    loss = network.loss

    def wrong(*a, **kw):                # a 1% error in dW stays visible at both steps
        J, g, rows, dE = loss(*a, **kw)
        return J, {**g, "W": g["W"] * 1.01}, rows, dE
    monkeypatch.setattr(network, "loss", wrong)
    assert check(p, Es, ids, yy, head, "tanh", 1e-2, tolerance=1e-6)["W"] > 1e-3


def test_loss_is_float32_by_default_and_stable_for_large_scores():
    p = {"W": np.eye(2, 4, dtype=np.float32), "b": np.zeros(2, np.float32),
         "u": np.array([500.0, 500.0], np.float32), "c": np.zeros((), np.float32)}
    E = np.ones((3, 2), np.float32)
    J, grads, rows, dE = network.loss(p, E, np.array([[0, 1]]), np.array([0.0], np.float32), BinaryHead("T", ["T"]))
    assert np.isfinite(J) and J > 100            # confidently wrong: large but finite
    assert grads["W"].dtype == np.float32 and dE.dtype == np.float32


def test_cli_gradcheck_refuses_a_problem_that_would_run_for_hours_before_any_work():
    import time
    t0 = time.perf_counter()
    r = run("gradcheck", "--hidden", "100000", "--window", "50")
    assert_clean_error(r, "--hidden 100,000 and --window 50 give W 100,000 x 5,050", "try --hidden 4 or less")
    assert time.perf_counter() - t0 < 30
    assert_clean_error(run("gradcheck", "--hidden", "101"), "try --hidden 100 or less")


def test_cli_gradcheck_passes_for_all_activations():
    r = run("gradcheck")
    assert r.returncode == 0, r.stdout + r.stderr
    for act in ACTIVATIONS:
        assert act in r.stdout
    assert "PASS" in r.stdout


@pytest.mark.parametrize("flags", [dict(), dict(target="all", affixes=4)])
def test_the_warm_up_changes_no_bit_of_the_model(tmp_path, monkeypatch, flags):
    """loop.warm_up runs a forward and backward pass before epoch 1: without it, the same model."""
    import nerwin
    from nerwin.training import loop
    nerwin.train(out=tmp_path / "warm", epochs=2, quiet=True, **flags)
    monkeypatch.setattr(loop, "warm_up", lambda *a, **k: None)
    nerwin.train(out=tmp_path / "cold", epochs=2, quiet=True, **flags)
    a, b = np.load(tmp_path / "warm" / "model.npz"), np.load(tmp_path / "cold" / "model.npz")
    assert set(a.files) == set(b.files)
    for k in a.files:
        if k != "config_json":
            assert np.array_equal(a[k], b[k]), k


def test_softmax_loss_is_finite_for_a_logit_gap_of_200_in_float32():
    h = np.ones((1, 1), np.float32)
    V = np.array([[200.0], [0.0]], np.float32)
    head = heads.SoftmaxHead("all", ["O", "B-X"])
    p = {"V": V, "c": np.zeros(2, np.float32)}
    J, grads, dh = head.loss(h, np.array([1]), None, p, 0.0)
    assert np.isfinite(J) and J == pytest.approx(200.0, rel=1e-6)
    dV, dc = grads["V"], grads["c"]
    assert np.all(np.isfinite(dV)) and dc == pytest.approx([1.0, -1.0])


@pytest.mark.parametrize("K", [1, 2, 7, 9, 13])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_max_is_numpys_row_max_bit_for_bit(K, dtype):
    rng = np.random.default_rng(K)
    s = (rng.normal(size=(300, K)) * 10.0 ** rng.integers(-3, 4, size=(300, K))).astype(dtype)
    s[0, 0], s[1, -1], s[2] = np.nan, np.inf, -np.inf        # NaN wins a row, as in numpy's max
    got, ref = layers.row_max(s), s.max(axis=1, keepdims=True)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    assert np.array_equal(got, ref, equal_nan=True)
    assert layers.row_max(s[:0]).shape == (0, 1)


@pytest.mark.parametrize("K", [1, 2, 7, 8, 9, 13, 16, 17, 41, 128, 129])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_sum_is_numpys_row_sum_bit_for_bit(K, dtype):
    """numpy adds a short row one by one and a longer one in 8 running sums: row_sum keeps both
    orders. Values over 12 orders of magnitude make any other order show in the last bits."""
    rng = np.random.default_rng(K)
    e = (rng.random((300, K)) * 10.0 ** rng.integers(-6, 6, size=(300, K))).astype(dtype)
    got, ref = layers.row_sum(e), e.sum(axis=1, keepdims=True)
    assert got.shape == ref.shape and got.dtype == ref.dtype and np.array_equal(got, ref)
    assert layers.row_sum(e[:0]).shape == (0, 1)


@pytest.mark.parametrize("n", [1, 7, 300, 2048, 100_001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_is_numpys_mean_bit_for_bit(n, dtype):
    a = (np.random.default_rng(n).normal(size=n) * 1e3).astype(dtype)
    assert layers.mean(a) == float(np.mean(a))
    assert np.isnan(layers.mean(a[:0]))


@pytest.mark.parametrize("loss", ["window", "sentence"])
def test_each_step_reads_the_windows_its_batch_names(monkeypatch, loss):
    """fit shuffles the windows once an epoch and reads each batch as a slice: step k still gets
    the windows, labels and feature ids that the epoch's batch k names. No dropout: its draws
    share fit's random stream, and word dropout changes the windows."""
    from nerwin.training import loop
    from nerwin.training.data import sentence_batches, window_batches
    s = Settings.of(target="all", loss=loss, epochs=2, batch_size=40, affixes=3, dropout=0.0, word_dropout=0.0)
    m, tr, *_ = prepare(DATA / "train.conll", None, open_store(None)[0], s)
    s = m.settings
    seen = []
    real = network.loss
    monkeypatch.setattr(network, "loss",
                        lambda p, E, X, y, *a, **k: seen.append((X, y, a[5])) or real(p, E, X, y, *a, **k))
    loop.fit(loop.Run(), m, tr, s)
    rng = np.random.default_rng(s.seed + 1)                  # fit's stream: the same batches
    lengths = np.array([len(x.tokens) for x in tr.sents])
    want = []
    for _ in range(s.epochs):
        want += (sentence_batches(rng, lengths, s.batch_size) if m.whole_sentences
                 else window_batches(rng, len(tr.y), s.batch_size))
    steps = seen[1:]                                          # the first call is the warm-up's
    assert len(steps) == len(want) > 2
    for (X, y, feats), (idx, _) in zip(steps, want):
        assert np.array_equal(X, tr.X[idx]) and np.array_equal(y, tr.y[idx])
        ref = tr.feats.batch(idx)
        assert set(feats) == set(ref)
        for name in feats:
            for a, b in zip(_arrays(feats[name]), _arrays(ref[name]), strict=True):
                assert np.array_equal(a, b), name


def _arrays(ids) -> list:
    """A feature's ids as arrays: an array, a tuple of them (Ids) or an object holding them (CharIds)."""
    if isinstance(ids, np.ndarray):
        return [ids]
    return list(ids) if isinstance(ids, tuple) else list(vars(ids).values())
