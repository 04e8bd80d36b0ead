"""Pieces of a training step, each timed against the code it replaced, in cache and out.

Usage: python scripts/bench/step_pieces.py [--calls 200] [--no-docs]
Needs ../shared/corpora/btc: bench_speed.py's binary LOC model on BTC train gives the real
shapes (X 99,933 x 5 windows, E 11,994 x 50, W 100 x 250). "Out of cache": a pass over 32 MB
runs before each call, as a step's other work runs between two calls of one piece. Each figure
is the median of --calls calls, the two versions taking turns.

- a batch's windows and labels: B rows gathered from all of X and y (before), or a slice of
  them shuffled once an epoch (now; the shuffle's cost, shared by the epoch's steps, is added);
- Adam on W, and on the rows of E a batch touches: the update loop before (one column at a
  time, the optimizer's kind tested inside, m and v in two tables) against kernels.step_rows
  (a loop per kind over a row's contiguous columns, the next rows prefetched, and each row's
  m and v side by side);
- a loop over the rows per optimizer (now) against the optimizer chosen once a row (before),
  whose columns' loops LLVM left slow: on W right after a step's three GEMMs (two BLAS threads,
  batch 256), where the code before wrote W's new values to a scratch row and copied them over
  it (kernels.step_dense), on W in cache, and on a batch's touched rows of E;
- each row's maximum and sum of the softmax's logits (B, K): numpy's along the rows against
  layers.row_max and row_sum, down the columns;
- the softmax head's pass after numpy's exp (kernels.softmax_ce), at K = 7 (BTC) and 13
  (WNUT-17): each row's sum a call on a view of the row, with eight running sums in a heap
  array, and the onehot tested in the division's loop (before), against the sum inlined by
  offset in eight scalars and a division loop without a branch (now), the same bits;
- the compiled loops training runs where numpy made temporaries or a call per row (the numpy
  code, still what predict, explain and the tests' references run, is "before"): the gather of
  x = E[ids], tanh's delta with the bias's sums, the binary head's dh = ds u^T, lam W, and the
  softmax head's column sums of ds;
- the sums of delta_window's word slots into rows: the loop before (a table of |V| int64
  entries filled and scanned each call) against kernels.row_sums (a bitmap of |V|/8 bytes), on
  real batches of BTC's vocabulary and on the same windows with ids spread over 400,000 rows.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

from nerwin.nn.kernels import AHEAD, prefetch

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from bench_speed import blas_info  # noqa: E402  (run as a script: scripts/bench/ is on sys.path)
from doc_section import replace_section  # noqa: E402  (scripts/ is on sys.path when run)
from models import speed_model  # noqa: E402
from timing import pause_probe  # noqa: E402


@njit(error_model="numpy")
def step_rows_before(kind, X, rows, G, m, v, t, lr, b1, b2, eps, bias):
    """kernels.step_rows as it was: the same arithmetic, one column at a time."""
    f = X.dtype.type
    lr_f, eps_f, b1f, a1, b2f, a2 = f(lr), f(eps), f(b1), f(1.0 - b1), f(b2), f(1.0 - b2)
    for i in range(rows.shape[0]):
        r = rows[i]
        t[r] += 1
        c2 = bias[t[r], 0]
        eps_t = eps * c2
        scale = lr * c2 / bias[t[r], 1]
        for j in range(X.shape[1]):
            g = G[i, j]
            if kind == 0:
                X[r, j] -= lr_f * g
            elif kind == 1:
                v[r, j] += g * g
                X[r, j] -= (lr_f * g) / (np.sqrt(v[r, j]) + eps_f)
            else:
                m[r, j] = m[r, j] * b1f + a1 * g
                v[r, j] = v[r, j] * b2f + (g * g) * a2
                denom = f(np.float64(np.sqrt(v[r, j])) + eps_t)
                X[r, j] -= f(np.float64(m[r, j] / denom) * scale)


@njit(error_model="numpy", inline="always")
def _adam_row_to(x, g, m, v, b1f, a1, b2f, a2, eps_t, lr_t, out):
    for j in range(x.shape[0]):
        gj = g[j]
        mj = m[j] * b1f + a1 * gj
        vj = v[j] * b2f + (gj * gj) * a2
        m[j] = mj
        v[j] = vj
        out[j] = x[j] - lr_t * (mj / (np.sqrt(vj) + eps_t))


@njit(error_model="numpy", inline="always")
def _step_row_to(kind, x, g, mv, t, lr, b1, b2, eps, bias, out):
    f = x.dtype.type
    if kind == 0:
        for j in range(x.shape[0]):
            out[j] = x[j] - f(lr) * g[j]
    elif kind == 1:
        for j in range(x.shape[0]):
            mv[1, j] += g[j] * g[j]
            out[j] = x[j] - (f(lr) * g[j]) / (np.sqrt(mv[1, j]) + f(eps))
    else:
        c2 = bias[t, 0]
        _adam_row_to(x, g, mv[0], mv[1], f(b1), f(1.0 - b1), f(b2), f(1.0 - b2), f(eps * c2),
                     f(lr * c2 / bias[t, 1]), out)


@njit(error_model="numpy")
def step_rows_per_row(kind, X, rows, G, mv, t, lr, b1, b2, eps, bias):
    """kernels.step_rows before it had a loop per optimizer: the optimizer chosen for each row,
    and the row handed in twice (to read, and as the place to write), as it was."""
    line = max(1, 64 // X.itemsize)
    for i in range(rows.shape[0]):
        if i + AHEAD < rows.shape[0]:
            q = rows[i + AHEAD]
            for j in range(0, X.shape[1], line):
                prefetch(X, q, j)
                if kind == 2:
                    prefetch(mv[q], 0, j)
                if kind >= 1:
                    prefetch(mv[q], 1, j)
        r = rows[i]
        t[r] += 1
        _step_row_to(kind, X[r], G[i], mv[r], t[r], lr, b1, b2, eps, bias, X[r])


@njit(error_model="numpy")
def step_dense_before(x, g, mv, t, bias, scratch):
    """kernels.step_dense as it was (Adam): the new values to a scratch row, then over x."""
    n = x.shape[0]
    t[0] += 1
    _step_row_to(2, x, g, mv[0], t[0], 1e-3, 0.9, 0.999, 1e-8, bias, scratch[:n])
    x[:] = scratch[:n]


@njit(error_model="numpy")
def pairwise_block_before(a, lo, n):
    """kernels.pairwise_sum as it was for n <= 128, a function of its own: eight running sums in
    an array, allocated at each call."""
    if n < 8:
        total = a.dtype.type(0.0)
        for i in range(lo, lo + n):
            total += a[i]
        return total
    r = a[lo:lo + 8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += a[lo + i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for k in range(i, n):
        total += a[lo + k]
    return total


@njit(error_model="numpy")
def softmax_ce_before(shifted, e, y):
    """kernels.softmax_ce as it was: each row's sum a call on a view of the row, and the onehot
    tested inside the division's loop."""
    B, K = e.shape
    f = e.dtype.type
    one, n = f(1.0), f(B)
    total, picked = np.empty(B, e.dtype), np.empty(B, e.dtype)
    ds = np.empty((B, K), e.dtype)
    for i in range(B):
        t = pairwise_block_before(e[i], 0, K)
        total[i] = t
        picked[i] = shifted[i, y[i]]
        for k in range(K):
            q = e[i, k] / t
            ds[i, k] = (q - one if k == y[i] else q) / n
    return total, picked, ds


@njit(error_model="numpy")
def row_sums_before(flat, g):
    """kernels.row_sums before its bitmap: a table of |V| int64 entries, filled and scanned."""
    S, d = g.shape
    top = flat.max() + 1 if S else 0
    where = np.full(top, -1, np.int64)
    R = 0
    for s in range(S):
        if where[flat[s]] < 0:
            where[flat[s]] = 0
            R += 1
    rows = np.empty(R, np.int64)
    i = 0
    for r in range(top):
        if where[r] == 0:
            where[r] = i
            rows[i] = r
            i += 1
    dE = np.zeros((R, d), g.dtype)
    for s in range(S):
        out = dE[where[flat[s]]]
        src = g[s]
        for j in range(d):
            out[j] += src[j]
    return rows, dE


def pairs(before, now, calls: int, cold: bool, setup=lambda: None) -> tuple[float, float]:
    """Median µs of each, taking turns; setup() runs untimed before each call."""
    junk = np.ones(8 << 20, np.float32)
    got = ([], [])
    for _ in range(calls):
        for k, f in enumerate((before, now)):
            args = setup()
            if cold:
                junk += 1.0
            t0 = time.perf_counter()
            f(args)
            got[k].append(time.perf_counter() - t0)
    return tuple(statistics.median(g) * 1e6 for g in got)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    from nerwin.nn import layers
    from nerwin.nn.kernels import row_sums, shift_rows, softmax_ce, step_rows
    from nerwin.nn.layers import row_max, row_sum
    from nerwin.training.data import window_batches

    m, tr, _ = speed_model(BTC)
    rng = np.random.default_rng(0)
    N, calls, rows = len(tr.y), a.calls, []
    lost = [pause_probe()]

    for B in (256, 2048):
        batches = window_batches(rng, N, B)
        order = np.concatenate([i for i, _ in batches])
        t0 = time.perf_counter()
        for _ in range(5):
            shuffled = tr.take(order)
        share = (time.perf_counter() - t0) / 5 / len(batches) * 1e6      # the epoch's shuffle, a step's share
        k = {"i": 0}

        def pick():
            k["i"] = (k["i"] + 1) % len(batches)
            return batches[k["i"]][0], slice(k["i"] * B, k["i"] * B + len(batches[k["i"]][0]))
        before, now = pairs(lambda c: (tr.X[c[0]], tr.y[c[0]]), lambda c: (shuffled.X[c[1]], shuffled.y[c[1]]),
                            calls, True, pick)
        rows.append((f"a batch's windows and labels, batch {B}, out of cache", before, now + share,
                     f"a slice, plus {share:.1f} µs, a step's share of the epoch's shuffle"))

    bias = np.array([(np.sqrt(1 - 0.999 ** t), 1 - 0.9 ** t) for t in range(2 * calls + 10)])
    W = m.params["W"].reshape(1, -1)
    E = m.E
    for what, table, R, cold in (("W (25,000 entries), in cache", W, None, False),
                                 ("255 touched rows of E, out of cache", E, 255, True),
                                 ("2,337 touched rows of E, out of cache", E, 2337, True)):
        state = [(table.copy(), np.zeros_like(table), np.zeros_like(table), np.zeros(len(table), np.int64)),
                 (table.copy(), np.zeros((*table.shape[:1], 2, table.shape[1]), table.dtype),
                  np.zeros(len(table), np.int64))]      # now: m and v side by side

        def draw():
            r = np.zeros(1, np.int64) if R is None else np.sort(rng.choice(len(table), R, replace=False))
            return r, rng.normal(size=(len(r), table.shape[1])).astype(table.dtype) * 1e-3
        run = [lambda c, f=f, st=st: f(2, st[0], c[0], c[1], *st[1:], 1e-3, 0.9, 0.999, 1e-8, bias)
               for f, st in zip((step_rows_before, step_rows), state)]
        run[0](draw()), run[1](draw())                 # compiled, not timed
        for st in state:
            st[-1][:] = 0
        before, now = pairs(run[0], run[1], calls, cold, draw)
        rows.append((f"Adam on {what}", before, now, "a loop per optimizer over a row's columns, rows prefetched, "
                     "m and v side by side"))

    Wd = m.params["W"].copy()
    x256, d256 = (rng.normal(size=(256, n)).astype(np.float32) for n in Wd.shape[::-1])
    mv, t, scratch = np.zeros((1, 2, W.size), np.float32), np.zeros(1, np.int64), np.empty(W.size, np.float32)

    def gemms():                                        # as a step runs them; dW is Adam's gradient
        x256 @ Wd.T, d256 @ Wd
        t[:] = 0
        return (d256.T @ x256).reshape(1, -1) * 1e-3
    flat = Wd.reshape(1, -1)
    one = np.zeros(1, np.int64)
    step_rows_per_row(2, flat, one, gemms(), mv, t, 1e-3, 0.9, 0.999, 1e-8, bias)     # compiled, not timed
    in_place = "a loop over the rows per optimizer, each row updated in place"
    before, now = pairs(lambda g: step_dense_before(flat[0], g[0], mv, t, bias, scratch),
                        lambda g: step_rows(2, flat, one, g, mv, t, 1e-3, 0.9, 0.999, 1e-8, bias),
                        calls, False, gemms)
    rows.append(("Adam on W, right after the step's three GEMMs (batch 256, two BLAS threads)", before, now,
                 "in place, a loop per optimizer (before: a scratch row, then copied over W)"))
    g_W = rng.normal(size=(1, W.size)).astype(np.float32) * 1e-3
    before, now = pairs(lambda c: step_rows_per_row(2, flat, one, g_W, mv, t, 1e-3, 0.9, 0.999, 1e-8, bias),
                        lambda c: step_rows(2, flat, one, g_W, mv, t, 1e-3, 0.9, 0.999, 1e-8, bias), calls, False)
    rows.append(("Adam on W (25,000 entries), in cache, against the optimizer chosen once a row", before, now,
                 in_place))
    mvE, tE = np.zeros((len(E), 2, E.shape[1]), np.float32), np.zeros(len(E), np.int64)
    batch_rows = np.unique(tr.X[rng.choice(N, 256, replace=False)]).astype(np.int64)    # a batch's touched rows
    g_E = rng.normal(size=(len(batch_rows), E.shape[1])).astype(np.float32) * 1e-3
    E2 = E.copy()
    for cold, where in ((False, "in cache"), (True, "out of cache")):
        tE[:] = 0                                       # bias covers 2 * calls steps
        before, now = pairs(lambda c: step_rows_per_row(2, E2, batch_rows, g_E, mvE, tE, 1e-3, 0.9, 0.999, 1e-8,
                                                        bias),
                            lambda c: step_rows(2, E2, batch_rows, g_E, mvE, tE, 1e-3, 0.9, 0.999, 1e-8, bias),
                            calls, cold)
        rows.append((f"Adam on a batch of 256's {len(batch_rows)} touched rows of E, {where}, against the "
                     "optimizer chosen once a row", before, now, in_place))

    for B in (256, 2048):
        s_ = rng.normal(size=(B, 7)).astype(np.float32)
        before, now = pairs(lambda c: s_.max(axis=1, keepdims=True), lambda c: row_max(s_), calls, False)
        rows.append((f"each row's max of the logits (B, K = 7), batch {B}, in cache", before, now,
                     "down the K columns"))
        e = np.exp(s_)
        before, now = pairs(lambda c: e.sum(axis=1, keepdims=True), lambda c: row_sum(e), calls, False)
        rows.append((f"each row's sum of exp(logits) (B, K = 7), batch {B}, in cache", before, now,
                     "down the K columns, in numpy's order"))

        for K in (7, 13):                               # BTC's classes, WNUT-17's
            s_ = rng.normal(size=(B, K)).astype(np.float32)
            shifted, yK = shift_rows(s_), rng.integers(0, K, B)
            e = np.exp(shifted)
            got = zip(softmax_ce_before(shifted, e, yK), softmax_ce(shifted, e, yK))
            assert all(np.array_equal(a_, b_) for a_, b_ in got), "the same bits, or the row is no comparison"
            before, now = pairs(lambda c: softmax_ce_before(shifted, e, yK), lambda c: softmax_ce(shifted, e, yK),
                                calls, False)
            rows.append((f"the softmax head's J, p and s̄ after numpy's exp (B, K = {K}), batch {B}, in cache",
                         before, now, "each row's sum inlined, by offset; the division's loop without a branch"))

    H, lam = m.params["W"].shape[0], 1e-4
    for B in (256, 2048):
        def windows():                                  # a fresh shuffled batch: its rows as scattered as in training
            return tr.X[rng.choice(N, B, replace=False)]
        for cold, where in ((True, "out of cache"), (False, "in cache")):
            before, now = pairs(lambda ids: layers.embed_forward(E, ids),
                                lambda ids: layers.embed_forward(E, ids, True), calls, cold, windows)
            rows.append((f"x = E[ids], a shuffled batch of {B}, {where}", before, now,
                         "compiled, rows fetched four windows ahead"))
        h, c_act = layers.act_forward(rng.normal(size=(B, H)).astype(np.float32), "tanh")
        dh = rng.normal(size=(B, H)).astype(np.float32)
        before, now = pairs(lambda c: layers.act_backward(c, c_act), lambda c: layers.act_backward(c, c_act, True),
                            calls, False, dh.copy)     # the compiled loop writes delta over its dh
        rows.append((f"tanh's delta = dh (1 − h²) and db = Σ delta, batch {B}, in cache", before, now,
                     "compiled: one pass instead of five"))
        ds, u = dh[:, 0].copy(), m.params["u"]
        before, now = pairs(lambda c: layers.outer(ds, u), lambda c: layers.outer(ds, u, True), calls, False)
        rows.append((f"the binary head's dh = ds uᵀ, batch {B}, in cache", before, now,
                     "compiled: no numpy call per row"))
        ds7 = rng.normal(size=(B, 7)).astype(np.float32)
        before, now = pairs(lambda c: ds7.sum(axis=0), lambda c: layers.column_sum(ds7, True), calls, False)
        rows.append((f"the softmax head's dc = Σ ds (B, K = 7), batch {B}, in cache", before, now,
                     "compiled: row after row, numpy's order"))
        d = E.shape[1]
        for V, spread in ((len(E), "BTC's 11,994-word vocabulary"), (400_000, "ids spread over 400,000 rows")):
            def slots(V=V):                             # a shuffled batch's word slots and their gradients
                ids = windows().ravel().astype(np.int64)
                ids = ids if V == len(E) else ids * (V // len(E))
                return ids, rng.normal(size=(len(ids), d)).astype(np.float32)
            before, now = pairs(lambda c: row_sums_before(*c), lambda c: row_sums(*c), calls, False, slots)
            rows.append((f"δ_window's word slots summed into rows, batch {B}, {spread}, in cache", before, now,
                         "the touched rows marked in a bitmap, not in an int64 entry per word"))
    dW, W = rng.normal(size=m.params["W"].shape).astype(np.float32), m.params["W"]
    before, now = pairs(lambda c: dW.__iadd__(lam * W), lambda c: layers.add_scaled(dW, lam, W, True), calls, False)
    rows.append(("the L2 term dW += λW (W 100 × 250), in cache", before, now, "compiled: one pass, no temporary"))
    lost.append(pause_probe())

    table = "\n".join(["| piece | before (µs) | now (µs) | now ÷ before | what changed |", "|---|---|---|---|---|"] +
                      [f"| {w} | {b:,.1f} | {n:,.1f} | **{n / b:.2f}×** | {how} |" for w, b, n, how in rows])
    threads, kernel = blas_info()
    table += (f"\n\nMedians of {calls} calls each, the two versions taking turns; out of cache: a pass over 32 MB "
              f"before each call. numpy's BLAS: {kernel}, {threads} threads (OPENBLAS_CORETYPE "
              f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}). The pause probe lost {lost[0]:.0%} of its wall time "
              f"before and {lost[1]:.0%} after. `python scripts/bench/step_pieces.py`.")
    print(table)
    if not a.no_docs:
        replace_section("step-pieces", table)


if __name__ == "__main__":
    main()
