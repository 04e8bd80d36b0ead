"""The compiled loops against numpy, bit for bit.

The row sums are np.add.at's: each row's slots added in slot order. ReferenceAdam is Adam in
numpy, in the arrays' precision throughout (lr_t and eps_t rounded to it), kept here only as the
definition of the bits a seed must keep producing."""
import numpy as np
import pytest

from nerwin.nn import layers as model
from nerwin.nn.optim import Optimizer


class ReferenceAdam:
    """Adam as numpy wrote it: one flat vector for the dense arrays, a gathered (R, 2, d)
    block of moments for the touched rows."""

    def __init__(self, params, E, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps, self.t = lr, b1, b2, eps, 0
        self.keys = sorted(params)
        n = sum(params[k].size for k in self.keys)
        self.m, self.v = np.zeros(n, E.dtype), np.zeros(n, E.dtype)
        self.E_mv = np.zeros((E.shape[0], 2, E.shape[1]), E.dtype)
        self.E_t = np.zeros(E.shape[0], np.int64)

    def _update(self, g, m, v, t):
        b1, b2 = self.b1, self.b2
        m *= b1
        m += (1 - b1) * g
        v *= b2
        g2 = g * g
        g2 *= 1 - b2
        v += g2
        c2 = np.sqrt(1 - b2 ** t)
        eps_t = np.asarray(self.eps * c2).astype(g.dtype)        # both in the arrays' precision
        lr_t = np.asarray(self.lr * c2 / (1 - b1 ** t)).astype(g.dtype)
        denom = np.sqrt(v)
        denom += eps_t
        step = m / denom
        step *= lr_t
        return step

    def step(self, params, grads, E, rows, dE):
        self.t += 1
        g = np.concatenate([grads[k].ravel() for k in self.keys])
        step = self._update(g, self.m, self.v, self.t).astype(g.dtype, copy=False)
        at = 0
        for k in self.keys:
            params[k] -= step[at:at + params[k].size].reshape(params[k].shape)
            at += params[k].size
        self.E_t[rows] += 1
        t = self.E_t[rows][:, None]
        mv = self.E_mv[rows]
        E[rows] -= self._update(dE, mv[:, 0], mv[:, 1], t).astype(E.dtype, copy=False)
        self.E_mv[rows] = mv


def bits(a):
    a = np.asarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_gather_is_numpys_take(seed, dtype):
    rng = np.random.default_rng(seed)
    B, n, d = [(1, 1, 1), (3, 5, 50), (256, 5, 50), (2048, 7, 17)][seed % 4]
    E = rng.normal(size=(3000, d)).astype(dtype)
    ids = rng.integers(0, 3000, (B, n)).astype([np.int32, np.int64][seed % 2])
    x, cache = model.embed_forward(E, ids, compiled=True)
    ref, _ = model.embed_forward(E, ids)
    assert x.shape == ref.shape == (B, n * d) and np.array_equal(bits(x), bits(ref))
    assert model.embed_forward(E, ids[:0], compiled=True)[0].shape == (0, n * d)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_tanh_backward_is_numpys(seed, dtype):
    """delta = dh * (1 - h^2) and db = delta.sum(axis=0), both bit for bit; delta is written
    over dh, and training's forward writes h over z."""
    rng = np.random.default_rng(seed)
    B, H = [(1, 1), (2, 3), (256, 100), (2048, 100)][seed % 4]
    z = (rng.normal(size=(B, H)) * 3).astype(dtype)
    want_h = np.tanh(z)
    h, cache = model.act_forward(z, "tanh", reuse=True)
    assert h is z and np.array_equal(bits(h), bits(want_h))
    dh = rng.normal(size=(B, H)).astype(dtype)
    ref = dh * (1.0 - h * h)
    delta, db = model.act_backward(dh, cache, compiled=True)
    assert np.array_equal(bits(delta), bits(ref)) and np.array_equal(bits(db), bits(ref.sum(axis=0)))
    assert delta.dtype == db.dtype == dtype and (delta is dh) == (H > 1)     # one column: numpy's own sum


@pytest.mark.parametrize("B", [1, 256, 2048])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_delta_window_written_over_x_is_the_same_product(B, dtype):
    rng = np.random.default_rng(B)
    x, W = rng.normal(size=(B, 250)).astype(dtype), rng.normal(size=(100, 250)).astype(dtype)
    delta = rng.normal(size=(B, 100)).astype(dtype)
    dW, db, dwin = model.affine_backward(delta, (x.copy(), W))
    dW2, db2, dwin2 = model.affine_backward(delta, (x, W), reuse=True)
    assert np.shares_memory(dwin2, x)
    assert all(np.array_equal(bits(a), bits(b)) for a, b in ((dW, dW2), (db, db2), (dwin, dwin2)))


@pytest.mark.parametrize("B", [0, 1, 2, 9, 256, 2048])
@pytest.mark.parametrize("K", [1, 2, 3, 7, 8, 9, 17, 100, 129])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_column_sums_are_numpys(B, K, dtype):
    """Values over 12 orders of magnitude, so that another order of additions shows."""
    rng = np.random.default_rng(B * 1000 + K)
    a = (rng.normal(size=(B, K)) * 10.0 ** rng.integers(-6, 6, size=(B, K))).astype(dtype)
    got = model.column_sum(a, compiled=True)
    assert got.dtype == dtype and np.array_equal(bits(got), bits(a.sum(axis=0)))
    f = np.asfortranarray(a)
    assert np.array_equal(bits(model.column_sum(f, compiled=True)), bits(f.sum(axis=0)))


@pytest.mark.parametrize("B", [9, 300])
def test_tanhs_bias_gradient_of_one_hidden_unit_is_numpys(B):
    """One column numpy sums pairwise, not row after row."""
    rng = np.random.default_rng(B)
    h, cache = model.act_forward(rng.normal(size=(B, 1)).astype(np.float32), "tanh")
    dh = (rng.normal(size=(B, 1)) * 10.0 ** rng.integers(-6, 6, size=(B, 1))).astype(np.float32)
    ref = dh * (1.0 - h * h)
    delta, db = model.act_backward(dh, cache, compiled=True)
    assert np.array_equal(bits(delta), bits(ref)) and np.array_equal(bits(db), bits(ref.sum(axis=0)))


@pytest.mark.parametrize("B", [0, 1, 256, 2048])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_outer_product_is_numpys(B, dtype):
    rng = np.random.default_rng(B)
    a, b = rng.normal(size=B).astype(dtype), (rng.normal(size=100) * 1e-3).astype(dtype)
    got = model.outer(a, b, compiled=True)
    assert got.dtype == dtype and np.array_equal(bits(got), bits(np.outer(a, b)))


@pytest.mark.parametrize("shape", [(1,), (100, 250), (7, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_l2_term_is_numpys(shape, dtype):
    rng = np.random.default_rng(len(shape))
    y, x = rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)
    ref = y.copy()
    ref += 1.7e-4 * x
    model.add_scaled(y, 1.7e-4, x, compiled=True)
    assert np.array_equal(bits(y), bits(ref))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_sums_equal_np_add_at_bit_for_bit(seed, dtype):
    rng = np.random.default_rng(seed)
    B = [1, 7, 64, 256, 2048, 900][seed % 6]
    vocab = [1, 3, 50, 3000][seed % 4]           # 1: every slot the same row (a run of up to 10,240)
    ids = rng.zipf(1.3, size=(B, 5)) % vocab
    g = rng.normal(size=(B, 5 * 8)).astype(dtype)
    rows, dE = model.embed_backward(g, (ids, 8))
    ref = np.zeros((vocab, 8), dtype)
    np.add.at(ref, ids.ravel(), g.reshape(-1, 8))
    assert np.array_equal(rows, np.unique(ids))
    assert dE.dtype == dtype and np.array_equal(bits(dE), bits(ref[rows]))


@pytest.mark.parametrize("ids", [
    [[0, 63, 64, 127, 128]],                        # the edges of the bitmap's 64-bit words
    [[399_999, 5, 399_999, 64 * 6249, 0], [1, 2, 3, 4, 399_999]],     # a large vocabulary's last rows
    [[7] * 5] * 3,
    np.zeros((0, 5), int).tolist(),                 # an empty batch: no rows
])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_row_sums_find_every_row_at_the_bitmaps_edges(ids, dtype):
    ids = np.array(ids, dtype).reshape(-1, 5)
    g = np.random.default_rng(0).normal(size=(len(ids), 5 * 3)).astype(np.float32)
    rows, dE = model.embed_backward(g, (ids, 3))
    want = np.unique(ids)
    ref = np.zeros((len(want), 3), np.float32)
    np.add.at(ref, np.searchsorted(want, ids.ravel()), g.reshape(-1, 3))
    assert rows.tolist() == want.tolist() and np.array_equal(bits(dE), bits(ref))


@pytest.mark.parametrize("seed", range(6))
def test_adam_equals_numpy_adam_bit_for_bit(seed):
    """Small arrays run the vectorized loop's remainder; seeds 4 and 5 have the real shapes
    (W 100 x 250, d = 50), whose rows run its vector body."""
    rng = np.random.default_rng(seed)
    (V, d), (H, D) = ((300, 6), (4, 5)) if seed < 4 else ((3000, 50), (100, 250))
    p0 = {"W": rng.normal(size=(H, D)).astype(np.float32), "b": rng.normal(size=H).astype(np.float32),
          "c": np.zeros((), np.float32)}
    E0 = rng.normal(size=(V, d)).astype(np.float32)
    pa, pb = {k: v.copy() for k, v in p0.items()}, {k: v.copy() for k, v in p0.items()}
    Ea, Eb = E0.copy(), E0.copy()
    ours, ref = Optimizer("adam", pa, Ea, 1e-2), ReferenceAdam(pb, Eb, 1e-2)
    for _ in range(300):                          # up to t = 300 for the dense arrays
        grads = {k: (rng.normal(size=v.shape) * 10.0 ** rng.integers(-6, 2)).astype(np.float32)
                 for k, v in p0.items()}
        rows = np.unique(rng.zipf(1.5, size=40) % V)
        dE = rng.normal(size=(len(rows), d)).astype(np.float32)
        ours.step(pa, grads, Ea, rows, dE)
        ref.step(pb, grads, Eb, rows, dE)
    for k in p0:
        assert np.array_equal(bits(pa[k]), bits(pb[k])), k
    assert np.array_equal(bits(Ea), bits(Eb))
    assert not np.array_equal(Ea, E0)


def numpy_row_update(kind, x, g, mv, t, lr, b1, b2, eps, bias):
    """One row's update as numpy computes it, in x's precision: SGD, AdaGrad, or Adam with its
    corrections rounded once (kernels.step_rows' arithmetic). Returns the new x; mv in place."""
    f = x.dtype.type
    if kind == 0:
        return x - f(lr) * g
    if kind == 1:
        mv[1] += g * g
        return x - (f(lr) * g) / (np.sqrt(mv[1]) + f(eps))
    c2 = bias[t, 0]
    eps_t, lr_t = f(eps * c2), f(lr * c2 / bias[t, 1])
    mv[0] = mv[0] * f(b1) + f(1.0 - b1) * g
    mv[1] = mv[1] * f(b2) + (g * g) * f(1.0 - b2)
    return x - lr_t * (mv[0] / (np.sqrt(mv[1]) + eps_t))


@pytest.mark.parametrize("kind", [0, 1, 2])
@pytest.mark.parametrize("n", [1, 7, 50, 100, 25_000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_optimizers_in_place_row_update_equals_numpy(kind, n, dtype):
    """step_rows updates rows of a table in place (a dense array is one row); each optimizer's
    row, at widths that run the vector body, its remainder or both, equals numpy's arithmetic
    bit for bit over 30 steps, and rows not touched keep their bits."""
    from nerwin.nn.kernels import step_rows
    rng = np.random.default_rng(n + kind)
    V = 1 if n == 25_000 else 9
    X0 = rng.normal(size=(V, n)).astype(dtype)
    X, mv, t = X0.copy(), np.zeros((V, 2, n), dtype), np.zeros(V, np.int64)
    ref, ref_mv = X0.copy(), np.zeros((V, 2, n), dtype)
    bias = np.array([(np.sqrt(1 - 0.999 ** k), 1 - 0.9 ** k) for k in range(40)])
    for _ in range(30):
        rows = np.array([0]) if V == 1 else np.sort(rng.choice(V - 1, 4, replace=False))    # row V-1 never
        G = (rng.normal(size=(len(rows), n)) * 10.0 ** rng.integers(-6, 2)).astype(dtype)
        step_rows(kind, X, rows, G, mv, t, 1e-2, 0.9, 0.999, 1e-8, bias)
        for i, r in enumerate(rows):
            ref[r] = numpy_row_update(kind, ref[r], G[i], ref_mv[r], t[r], 1e-2, 0.9, 0.999, 1e-8, bias)
    assert np.array_equal(bits(X), bits(ref)) and np.array_equal(bits(mv), bits(ref_mv))
    assert not np.array_equal(X[0], X0[0])
    if V > 1:
        assert np.array_equal(bits(X[-1]), bits(X0[-1])) and t[-1] == 0


@pytest.mark.parametrize("seed", range(20))
def test_embed_backward_equals_np_add_at(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    B = int(rng.integers(1, 30))
    vocab = [1, 2, 50][seed % 3]                  # 1: every id equal
    ids = rng.integers(0, vocab, size=(B, n))
    if seed == 0:
        ids, B, n = np.array([[7]]), 1, 1         # a single slot
    dwin = rng.normal(size=(B, n * d))
    rows, dE = model.embed_backward(dwin, (ids, d))
    ref = np.zeros((ids.max() + 1, d))
    np.add.at(ref, ids.ravel(), dwin.reshape(-1, d))
    assert list(rows) == sorted(set(ids.ravel().tolist()))
    np.testing.assert_allclose(dE, ref[rows], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_the_scatter_of_large_batches_equals_np_add_at(seed):
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.3, size=(900, 5)) % [7, 3000, 3000, 50, 3000][seed % 5]
    dwin = rng.normal(size=(900, 5 * 4))
    rows, dE = model.embed_backward(dwin, (ids, 4))
    ref = np.zeros((ids.max() + 1, 4))
    np.add.at(ref, ids.ravel(), dwin.reshape(-1, 4))
    assert list(rows) == sorted(set(ids.ravel().tolist()))
    np.testing.assert_allclose(dE, ref[rows], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [*range(0, 20), 127, 128, 129, 136, 255, 256, 257, 1000, 2048, 4099, 100003])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_compiled_pairwise_sum_is_numpys(n, dtype):
    """Values over 12 orders of magnitude, so that another order of additions shows."""
    from nerwin.nn.kernels import pairwise_sum
    rng = np.random.default_rng(n)
    a = (rng.normal(size=n + 3) * 10.0 ** rng.integers(-6, 6, size=n + 3)).astype(dtype)
    assert np.array_equal(bits(dtype(pairwise_sum(a, 3, n))), bits(a[3:].sum()))


@pytest.mark.parametrize("B", [1, 7, 8, 9, 129, 256, 1629, 2048])
def test_the_binary_heads_compiled_loss_is_the_generic_ones(B):
    """BinaryHead.loss (kernels.binary_ce) against Head.loss's numpy forms: J, every gradient
    and dh, bit for bit; confident logits too, where the softplus and sigma saturate."""
    from nerwin.nn.heads import BinaryHead, Head
    rng = np.random.default_rng(B)
    head, H = BinaryHead("LOC", ["LOC"]), 100
    p = head.init(H, rng, np.float32)
    p["u"] *= 1.0 + 20.0 * (rng.random(H) < 0.1)                # some windows far past 0.5
    p["c"] = np.float32(rng.normal())
    h = np.tanh(rng.normal(size=(B, H)) * 2).astype(np.float32)
    y = (rng.random(B) < 0.2).astype(np.float32)
    J, grads, dh = head.loss(h, y, None, p, 1e-5)
    J0, grads0, dh0 = Head.loss(head, h, y, None, p, 1e-5)
    assert J == J0 and sorted(grads) == sorted(grads0) == ["c", "u"]
    for k in grads:
        assert np.asarray(grads[k]).dtype == np.float32 and np.array_equal(bits(grads[k]), bits(grads0[k]))
    assert dh.dtype == np.float32 and np.array_equal(bits(dh), bits(dh0))


@pytest.mark.parametrize("B", [1, 7, 9, 256, 1629, 2048])
@pytest.mark.parametrize("K", [2, 7, 9, 17, 130])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_softmax_heads_compiled_loss_is_numpys(B, K, dtype):
    """softmax_ce_forward's compiled pass against its numpy form: J and dJ/ds, bit for bit, and
    the head's loss with them; logits far apart too, where exp underflows to 0."""
    from nerwin.nn.heads import SoftmaxHead, softmax_ce_backward, softmax_ce_forward
    rng = np.random.default_rng(B * 100 + K)
    s = (rng.normal(size=(B, K)) * 10.0 ** rng.integers(-2, 3, size=(B, 1))).astype(dtype)
    y = rng.integers(0, K, B)
    J, cache = softmax_ce_forward(s, y, compiled=True)
    J0, cache0 = softmax_ce_forward(s, y)
    ds, ds0 = softmax_ce_backward(cache), softmax_ce_backward(cache0)
    assert J == J0 and ds.dtype == ds0.dtype == dtype and np.array_equal(bits(ds), bits(ds0))
    head = SoftmaxHead("all", ["O"] + [f"{bi}-T{k}" for k in range(K) for bi in "BI"][:K - 1])
    p, lam = head.init(12, rng, dtype), 1e-5
    h = np.tanh(rng.normal(size=(B, 12))).astype(dtype)
    J, grads, dh = head.loss(h, y, None, p, lam)
    s, c_out = head.logits_forward(h, p)
    J0, cache0 = softmax_ce_forward(s, y)
    grads0, dh0 = head.logits_backward(softmax_ce_backward(cache0), c_out, p, compiled=True)
    grads0["V"] += lam * p["V"]
    assert J == J0 + 0.5 * lam * float(np.vdot(p["V"], p["V"])) and np.array_equal(bits(dh), bits(dh0))
    assert all(np.array_equal(bits(grads[k]), bits(grads0[k])) for k in ("V", "c"))
