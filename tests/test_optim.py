"""The optimizers against textbook SGD, AdaGrad and Adam, per row and dense, and what --freeze
and the trainable mask let move."""
import numpy as np
import pytest

from nerwin.nn.optim import Optimizer

from conftest import DATA, load_arrays, run


def textbook(name, lr, steps, b1=0.9, b2=0.999, eps=1e-8):
    """Per-row state, updated only on the steps that touch the row (lazy), as the papers write it."""
    def run(x0, grads):
        x, m, v, t, G = x0.copy(), np.zeros_like(x0), np.zeros_like(x0), 0, np.zeros_like(x0)
        for g in grads:
            if g is None:
                continue
            if name == "sgd":
                x -= lr * g
            elif name == "adagrad":
                G += g * g
                x -= lr * g / (np.sqrt(G) + eps)
            else:
                t += 1
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                x -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        return x
    return run


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
def test_optimizer_matches_textbook_per_row_and_dense(name):
    rng = np.random.default_rng(0)
    E = rng.normal(size=(5, 3))
    p = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    E0, p0 = E.copy(), {k: v.copy() for k, v in p.items()}
    opt = Optimizer(name, p, E, lr=0.05)
    touched = [[0, 1], [1], [1, 3], [0, 1]]         # row 1 every step, row 2 and 4 never
    row_grads = {r: [] for r in range(5)}
    dense = []
    for rows in touched:
        g = {k: rng.normal(size=v.shape) for k, v in p.items()}
        dE = rng.normal(size=(len(rows), 3))
        for r in range(5):
            row_grads[r].append(dE[rows.index(r)] if r in rows else None)
        dense.append(g)
        opt.step(p, g, E, np.array(rows), dE)
    book = textbook(name, 0.05, len(touched))
    for r in range(5):
        np.testing.assert_allclose(E[r], book(E0[r], row_grads[r]), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(E[[2, 4]], E0[[2, 4]])
    for k in p:
        np.testing.assert_allclose(p[k], book(p0[k], [g[k] for g in dense]), rtol=1e-10, atol=1e-12)


def test_a_dense_parameter_that_is_not_contiguous_is_refused():
    """step() updates a reshaped view of each dense parameter; a copy would drop the update."""
    rng = np.random.default_rng(2)
    W = rng.normal(size=(3, 4)).T                  # a transposed view: not C-contiguous
    with pytest.raises(ValueError, match="contiguous"):
        Optimizer("adam", {"W": W}, rng.normal(size=(5, 2)), 0.1)
    p = {"W": np.ascontiguousarray(W)}
    opt = Optimizer("adam", p, rng.normal(size=(5, 2)), 0.1)
    before = p["W"].copy()
    opt.step(p, {"W": np.ones_like(p["W"])}, np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros((0, 2)))
    assert np.all(p["W"] < before)                 # the update landed in the caller's array


def test_trainable_mask_moves_only_the_allowed_rows():
    rng = np.random.default_rng(1)
    E = rng.normal(size=(6, 2))
    E0 = E.copy()
    p = {"W": rng.normal(size=(1, 2))}
    opt = Optimizer("adam", p, E, 0.1, trainable=np.arange(6) < 3)
    opt.step(p, {"W": np.ones((1, 2))}, E, np.array([0, 2, 4, 5]), np.ones((4, 2)))
    assert not np.allclose(E[[0, 2]], E0[[0, 2]])
    np.testing.assert_array_equal(E[3:], E0[3:])
    np.testing.assert_array_equal(E[1], E0[1])


def test_freeze_keeps_every_pretrained_row_and_trains_the_special_rows(tmp_path):
    train = tmp_path / "t.conll"       # the sample, plus a word GloVe lacks, so <UNK> is used
    train.write_text((DATA / "train.conll").read_text() + "Xqzzyplk\tB-LOC\nis\tO\nbig\tO\n\n")
    r = run("train", "--train", train, "--epochs", "2", "--freeze", "--out", tmp_path / "f", "-q", "--seed", "3")
    assert r.returncode == 0, r.stderr
    _, E, vocab, *_ = load_arrays(tmp_path / "f")
    from nerwin.settings import Settings
    from nerwin.training.data import prepare
    from nerwin.vectors import open_store
    E0 = prepare(train, None, open_store(None)[0], Settings.of(seed=3))[0].E
    assert E.shape == E0.shape
    np.testing.assert_array_equal(E[3:], E0[3:])        # every pretrained row, bit for bit
    assert np.all(np.abs(E[:3] - E0[:3]).sum(axis=1) > 0)  # <UNK>, <s>, </s> moved
