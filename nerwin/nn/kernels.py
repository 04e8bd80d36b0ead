"""Compiled loops for the sparse bookkeeping of a training step (numba).

Eleven jobs cost a numpy step dozens of calls or several passes over memory: gathering the
word rows into x, tanh's backward with the bias's sums, the softmax head's column sums of ds
(numpy's reduction down a short row is slow), the binary head's outer product dh = ds u^T,
the two heads' losses and their backward after numpy's exp, tanh and logaddexp (with numpy's
pairwise sums),
the L2 term's lam W, summing delta_window's word slots into word rows, the optimizer's update
of the touched rows, the sentence loss's forward-backward recursions (a loop over t), and
finding each word's argmax window for the character max-pool's backward. Here each is one
loop over the data. numba is imported only when training needs these; predict never loads it
(the Tagger decodes with crf.forward_backward). The first nine do numpy's arithmetic in
numpy's order and precision (layers.py's numpy forms, np.add.at's row sums, a numpy Adam in
float32), bit for bit (tests/test_kernels.py); the recursions run in float64
(tests/test_sentence.py).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

AHEAD = 4       # rows (or windows) prefetched ahead: the rows are scattered over tables of megabytes


@intrinsic
def prefetch(typingctx, a, i, j):
    """Ask the CPU to fetch a[i, j]'s cache line now (llvm.prefetch: a read, kept in every level
    of cache). Only a hint: it changes no result."""
    def codegen(context, builder, sig, args):
        arr = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.bitcast(cgutils.get_item_pointer(context, builder, sig.args[0], arr, [args[1], args[2]]),
                              ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()
    return types.void(a, i, j), codegen


def _bit_count(name):
    """An int64 -> int64 LLVM bit-count intrinsic (llvm.ctpop, llvm.cttz): one instruction."""
    @intrinsic
    def count(typingctx, x):
        def codegen(context, builder, sig, args):
            i64 = ir.IntType(64)
            extra = [ir.IntType(1)(0)] if name == "cttz" else []     # 0: a zero input is defined (64)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, [i64] + [e.type for e in extra]),
                                                f"llvm.{name}.i64")
            return builder.call(fn, [args[0], *extra])
        return types.int64(types.int64), codegen
    return count


popcount, trailing_zeros = _bit_count("ctpop"), _bit_count("cttz")


@njit(cache=True, error_model="numpy")
def gather_rows(E, ids):
    """E (|V|, d), ids (B, n) -> x (B, n*d), E.take(ids)'s copy: window i's rows side by side.
    The rows are scattered over E, so window i+AHEAD's are fetched while window i's are copied."""
    B, n = ids.shape
    d = E.shape[1]
    x = np.empty((B, n * d), E.dtype)
    line = max(1, 64 // E.itemsize)
    for i in range(B):
        if i + AHEAD < B:
            for k in range(n):
                q = np.int64(ids[i + AHEAD, k])
                for j in range(0, d, line):
                    prefetch(E, q, j)
        for k in range(n):
            r = ids[i, k]
            for j in range(d):
                x[i, k * d + j] = E[r, j]
    return x


@njit(cache=True, error_model="numpy")
def tanh_backward(dh, h):
    """dh, h (B, H) -> delta = dh * (1 - h*h) (B, H), written over dh, and db = delta summed
    down the batch (H,), in one pass instead of five: numpy's operations in numpy's order (its
    column sums add row after row), so the same bits as layers.act_backward."""
    B, H = h.shape
    delta = dh
    db = np.zeros(H, h.dtype)
    one = h.dtype.type(1.0)
    for i in range(B):
        for j in range(H):
            delta[i, j] = dh[i, j] * (one - h[i, j] * h[i, j])
        if i == 0:                               # numpy's sum starts from the first row, not from 0
            for j in range(H):
                db[j] = delta[0, j]
        else:
            for j in range(H):
                db[j] += delta[i, j]
    return delta, db


@njit(cache=True, error_model="numpy")
def column_sums(a):
    """a (B, K), C-contiguous, K > 1 -> (K,), a.sum(axis=0) added as numpy adds it: from the
    first row, then row after row (one column numpy would sum pairwise instead)."""
    B, K = a.shape
    out = np.zeros(K, a.dtype)
    if B:
        for k in range(K):
            out[k] = a[0, k]
        for i in range(1, B):
            for k in range(K):
                out[k] += a[i, k]
    return out


@njit(cache=True, error_model="numpy")
def outer(a, b):
    """a (B,), b (H,) of one dtype -> (B, H), a[i] * b[j]: np.outer, without numpy's call per
    row."""
    out = np.empty((a.shape[0], b.shape[0]), b.dtype)
    for i in range(a.shape[0]):
        ai = a[i]
        for j in range(b.shape[0]):
            out[i, j] = ai * b[j]
    return out


@njit(error_model="numpy", inline="always")
def _pairwise_block(a, lo, n):
    """numpy's sum of a[lo:lo+n] for n <= 128: one by one below 8 entries, else in 8 running sums."""
    if n < 8:
        total = a.dtype.type(0.0)
        for i in range(lo, lo + n):
            total += a[i]
        return total
    # eight scalars, not an array of eight: an array is allocated on the heap at every call
    r0, r1, r2, r3, r4, r5, r6, r7 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i, stop = lo + 8, lo + n - n % 8
    while i < stop:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for k in range(i, lo + n):
        total += a[k]
    return total


@njit(cache=True, error_model="numpy")
def pairwise_sum(a, lo, n):
    """a[lo:lo+n].sum() of a 1-D array, added as numpy adds it: blocks of up to 128 entries
    (_pairwise_block), and above that the two halves (cut at a multiple of 8) apart, then
    their sum. numpy recurses; this walks the same tree with a stack (numba's cache cannot
    hold a recursive function)."""
    if n <= 128:
        return _pairwise_block(a, lo, n)
    los, ns, stage = np.empty(64, np.int64), np.empty(64, np.int64), np.zeros(64, np.int64)
    vals = np.empty(64, a.dtype)
    top, nv = 0, 0
    los[0], ns[0] = lo, n
    while top >= 0:
        l, m = los[top], ns[top]
        if m <= 128:
            vals[nv] = _pairwise_block(a, l, m)
            nv += 1
            top -= 1
            continue
        half = m // 2
        half -= half % 8
        if stage[top] < 2:                       # push the left half, then the right one
            off = 0 if stage[top] == 0 else half
            stage[top] += 1
            top += 1
            los[top], ns[top], stage[top] = l + off, half if off == 0 else m - half, 0
        else:                                    # both halves summed: left + right
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
    return vals[0]


@njit(cache=True, error_model="numpy")
def binary_ce(s, t, softplus, y, u):
    """The binary head's loss and backward in one pass, after numpy's tanh and logaddexp:
    s (B,) logits, t = tanh(s/2), softplus = log(1 + e^s), y (B,) in {0, 1}, u (H,), one dtype.
    -> sum of the per-window losses softplus - y s (numpy's pairwise order), s̄ = (σ(s) - y)/B
    with σ(s) = (1 + t)/2, c̄ = Σ s̄ (pairwise) as a (1,) array, and h̄ = s̄ uᵀ (B, H): the same
    bits as heads.sigmoid_ce_forward, sigmoid_ce_backward and BinaryHead.logits_backward."""
    B = s.shape[0]
    f = s.dtype.type
    one, half, n = f(1.0), f(0.5), f(B)
    terms, ds = np.empty(B, s.dtype), np.empty(B, s.dtype)
    for i in range(B):
        terms[i] = softplus[i] - y[i] * s[i]
        ds[i] = (half * (one + t[i]) - y[i]) / n
    dc = np.empty(1, s.dtype)
    dc[0] = pairwise_sum(ds, 0, B)
    return pairwise_sum(terms, 0, B), ds, dc, outer(ds, u)


@njit(cache=True, error_model="numpy")
def shift_rows(s):
    """s (B, K) -> s minus each row's largest entry (NaN, if the row holds one, as numpy's max)."""
    B, K = s.shape
    out = np.empty((B, K), s.dtype)
    for i in range(B):
        m = s[i, 0]
        for k in range(1, K):
            if s[i, k] > m or np.isnan(s[i, k]):
                m = s[i, k]
        for k in range(K):
            out[i, k] = s[i, k] - m
    return out


@njit(cache=True, error_model="numpy")
def softmax_ce(shifted, e, y):
    """The softmax head's loss and backward after numpy's exp: shifted (B, K) logits minus their
    row's max, e = exp(shifted), y (B,) classes -> each row's sum of e (numpy's pairwise order),
    each row's shifted logit of its class, and s̄ = (e / sum - onehot(y)) / B (B, K): the same bits
    as heads.softmax_ce_forward and softmax_ce_backward."""
    B, K = e.shape
    f = e.dtype.type
    one, n = f(1.0), f(B)
    total, picked = np.empty(B, e.dtype), np.empty(B, e.dtype)
    ds = np.empty((B, K), e.dtype)
    flat = e.reshape(-1)        # a row's sum by offset, inlined: a view or a call a row costs more than the adds
    for i in range(B):
        t = _pairwise_block(flat, i * K, K) if K <= 128 else pairwise_sum(flat, i * K, K)
        total[i] = t
        picked[i] = shifted[i, y[i]]
        for k in range(K):                  # no branch in the loop, so LLVM vectorizes its divisions
            ds[i, k] = (e[i, k] / t) / n
        ds[i, y[i]] = (e[i, y[i]] / t - one) / n
    return total, picked, ds


@njit(cache=True, error_model="numpy")
def add_scaled(y, a, x):
    """y += a * x in place, y and x C-contiguous of one dtype: numpy's two roundings (a * x,
    then the sum) in one pass, with no temporary."""
    yf, xf = y.reshape(-1), x.reshape(-1)
    af = x.dtype.type(a)
    for j in range(yf.shape[0]):
        yf[j] += af * xf[j]


@njit(cache=True, error_model="numpy")
def row_sums(flat, g):
    """flat (S,) row ids of the word slots, g (S, d) their gradients -> rows (R,) the distinct
    ids ascending, dE (R, d) each row's sum, added in slot order (what np.add.at computes).
    The touched rows are marked in a bitmap of |V|/8 bytes, whose scan numbers them in
    ascending order: 64x less memory to touch each step than an int64 table of |V| entries.
    One pass then reads g in order and adds each slot into its row's sum, which stays in cache."""
    S, d = g.shape
    top = flat.max() + 1 if S else 0
    bits = np.zeros((top + 63) >> 6, np.int64)
    for s in range(S):
        r = np.int64(flat[s])
        bits[r >> 6] |= np.int64(1) << (r & 63)
    R = 0
    for w in range(bits.shape[0]):
        R += popcount(bits[w])
    rows = np.empty(R, np.int64)
    where = np.empty(top, np.int64)              # row id -> its place in rows; read only where marked
    i = 0
    for w in range(bits.shape[0]):
        x = bits[w]
        while x != 0:
            r = (w << 6) + trailing_zeros(x)
            where[r] = i
            rows[i] = r
            i += 1
            x &= x - 1                           # the lowest set bit cleared
    dE = np.zeros((R, d), g.dtype)
    for s in range(S):
        out = dE[where[flat[s]]]
        src = g[s]
        for j in range(d):
            out[j] += src[j]
    return rows, dE


@njit(cache=True, error_model="numpy")
def route_max(z, starts, dr):
    """The max-pool's backward: z (M, F), word u's rows from starts[u]; dr (U, F) -> dz (M, F),
    each word's dr[u, f] at the row of its first maximum in column f, zeros elsewhere."""
    M, F = z.shape
    U = starts.shape[0]
    dz = np.zeros((M, F), dr.dtype)
    best = np.empty(F, z.dtype)
    at = np.empty(F, np.int64)
    for u in range(U):
        lo = starts[u]
        hi = starts[u + 1] if u + 1 < U else M
        for f in range(F):
            best[f] = z[lo, f]
            at[f] = lo
        for i in range(lo + 1, hi):
            for f in range(F):
                if z[i, f] > best[f]:
                    best[f] = z[i, f]
                    at[f] = i
        for f in range(F):
            dz[at[f], f] = dr[u, f]
    return dz


@njit(error_model="numpy", inline="always")
def _sgd_row(x, g, lr_f):
    for j in range(x.shape[0]):
        x[j] = x[j] - lr_f * g[j]


@njit(error_model="numpy", inline="always")
def _adagrad_row(x, g, v, lr_f, eps_f):
    for j in range(x.shape[0]):
        v[j] += g[j] * g[j]
        x[j] = x[j] - (lr_f * g[j]) / (np.sqrt(v[j]) + eps_f)


@njit(error_model="numpy", inline="always")
def _adam_row(x, g, m, v, b1f, a1, b2f, a2, eps_t, lr_t):
    for j in range(x.shape[0]):
        gj = g[j]
        mj = m[j] * b1f + a1 * gj
        vj = v[j] * b2f + (gj * gj) * a2
        m[j] = mj
        v[j] = vj
        x[j] = x[j] - lr_t * (mj / (np.sqrt(vj) + eps_t))


@njit(cache=True, error_model="numpy")
def step_rows(kind, X, rows, G, mv, t, lr, b1, b2, eps, bias):
    """Update X[rows[i]] by its gradient G[i] (R, cols) in place. kind, the place in
    optim.OPTIMIZERS: 0 sgd, 1 adagrad (mv[:, 1] sums g^2), 2 Adam (moments m = mv[:, 0] and
    v = mv[:, 1], (|rows of X|, 2, cols)); t (|rows of X|,) counts each row's steps. A dense
    array is one row: X (1, size), rows [0].

    Adam in the paper's efficient form, lr_t m / (sqrt(v) + eps_t) with lr_t = lr sqrt(1 - b2^t)
    / (1 - b1^t) and eps_t = eps sqrt(1 - b2^t): the bias corrections are per-row scalars,
    read from bias[t] = (sqrt(1 - b2^t), 1 - b1^t) (two pow calls a row cost more than the row).
    Everything runs in X's precision, as PyTorch's Adam does: lr_t and eps_t are rounded to it
    once a row, so no value is widened and narrowed again per entry.
    Each optimizer has its own loop over the rows, and each row's update is a loop over its
    contiguous columns, which LLVM vectorizes (elementwise IEEE operations: the same bits as
    one column at a time). Choosing the optimizer inside the rows' loop, once a row, took 4.4x
    the time on a batch's 566 rows of 50 in cache (scripts/bench/step_pieces.py). The rows are scattered
    over tables larger than the cache, so each row's lines are fetched AHEAD rows early; a
    row's m and v sit side by side, one run of memory rather than two.
    """
    f = X.dtype.type
    R, line = rows.shape[0], max(1, 64 // X.itemsize)
    if kind == 2:
        b1f, a1, b2f, a2 = f(b1), f(1.0 - b1), f(b2), f(1.0 - b2)
        for i in range(R):
            if i + AHEAD < R:                   # the row AHEAD on, while this one computes
                q = rows[i + AHEAD]
                for j in range(0, X.shape[1], line):
                    prefetch(X, q, j)
                    prefetch(mv[q], 0, j)
                    prefetch(mv[q], 1, j)
            r = rows[i]
            t[r] += 1
            c2 = bias[t[r], 0]
            _adam_row(X[r], G[i], mv[r, 0], mv[r, 1], b1f, a1, b2f, a2, f(eps * c2), f(lr * c2 / bias[t[r], 1]))
    elif kind == 1:
        for i in range(R):
            if i + AHEAD < R:
                q = rows[i + AHEAD]
                for j in range(0, X.shape[1], line):
                    prefetch(X, q, j)
                    prefetch(mv[q], 1, j)
            r = rows[i]
            t[r] += 1
            _adagrad_row(X[r], G[i], mv[r, 1], f(lr), f(eps))
    else:
        for i in range(R):
            if i + AHEAD < R:
                q = rows[i + AHEAD]
                for j in range(0, X.shape[1], line):
                    prefetch(X, q, j)
            r = rows[i]
            t[r] += 1
            _sgd_row(X[r], G[i], f(lr))


@njit(cache=True, error_model="numpy")
def _logsumexp_row(a):
    m = a.max()
    if m == -np.inf:
        return -np.inf
    total = 0.0
    for k in range(a.shape[0]):
        total += np.exp(a[k] - m)
    return m + np.log(total)


@njit(cache=True, error_model="numpy")
def forward_backward(f, lengths, trans, start, end):
    """The recursions of crf.forward_backward, one sentence at a time, with no padding:
    f (N, K) emissions of S sentences laid end to end, lengths (S,) -> log alpha, log beta
    (N, K), log Z (S,), in float64. Each step is shifted by its largest term, as there."""
    N, K = f.shape
    G = np.exp(trans.astype(np.float64))           # forbidden transitions: exactly 0
    alpha, beta = np.empty((N, K)), np.empty((N, K))
    logZ = np.empty(lengths.shape[0])
    e = np.empty(K)
    o = 0
    for s in range(lengths.shape[0]):
        last = o + lengths[s] - 1
        for k in range(K):
            alpha[o, k] = start[k] + f[o, k]
        for t in range(o + 1, last + 1):           # alpha[t, j] = f[t, j] + log sum_i exp(alpha[t-1, i]) G[i, j]
            m = alpha[t - 1].max()
            m = m if m > -np.inf else 0.0
            for i in range(K):
                e[i] = np.exp(alpha[t - 1, i] - m)
            for j in range(K):
                acc = 0.0
                for i in range(K):
                    acc += e[i] * G[i, j]
                alpha[t, j] = np.log(acc) + m + f[t, j]
        for k in range(K):
            beta[last, k] = end[k]
        for t in range(last - 1, o - 1, -1):       # beta[t, i] = log sum_j G[i, j] exp(f[t+1, j] + beta[t+1, j])
            for j in range(K):
                e[j] = f[t + 1, j] + beta[t + 1, j]
            m = e.max()
            m = m if m > -np.inf else 0.0
            for j in range(K):
                e[j] = np.exp(e[j] - m)
            for i in range(K):
                acc = 0.0
                for j in range(K):
                    acc += G[i, j] * e[j]
                beta[t, i] = np.log(acc) + m
        for k in range(K):
            e[k] = alpha[last, k] + end[k]
        logZ[s] = _logsumexp_row(e)
        o = last + 1
    return alpha, beta, logZ


@njit(cache=True, error_model="numpy")
def posteriors(f, lengths, trans, alpha, beta, logZ):
    """-> marg (N, K), P(y_t = k | sentence), and xi (K, K), the expected number of
    transitions i -> j summed over the batch: sum_t P(y_{t-1} = i, y_t = j | sentence)."""
    N, K = f.shape
    marg = np.empty((N, K))
    xi = np.zeros((K, K))
    o = 0
    for s in range(lengths.shape[0]):
        z, end = logZ[s], o + lengths[s]
        for t in range(o, end):
            for k in range(K):
                marg[t, k] = np.exp(alpha[t, k] + beta[t, k] - z)
        for t in range(o + 1, end):
            for i in range(K):
                a = alpha[t - 1, i] - z
                for j in range(K):
                    if trans[i, j] > -np.inf:
                        xi[i, j] += np.exp(a + trans[i, j] + f[t, j] + beta[t, j])
        o = end
    return marg, xi
