"""The layers of the window classifier, each a forward/backward pair (CS231n's layers.py):
`out, cache = layer_forward(...)`, `grads = layer_backward(dout, cache)`.

Shapes: B windows in a batch, n = 2w+1 words a window, d the word-vector size, c the casing
vector's size, D = n*(d+c+...), H hidden units. The character CNN's: U distinct words, M
windows of k characters in all of them, dc a character vector's size, F filters.
"""
from __future__ import annotations

import importlib
import itertools
import sys

import numpy as np


def kernels():
    """nn.kernels, imported when training first needs it: predict never loads numba. A lookup,
    not an import statement, on every later call (an import costs a microsecond a call)."""
    return sys.modules.get("nerwin.nn.kernels") or importlib.import_module("nerwin.nn.kernels")


# f and f'. f' is computed from z and h = f(z), whichever is cheaper.
ACTIVATIONS = {
    "tanh": (np.tanh, lambda z, h: 1.0 - h * h),
    "relu": (lambda z: np.maximum(z, 0), lambda z, h: (z > 0).astype(z.dtype)),
    "sigmoid": (lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)), lambda z, h: h * (1.0 - h)),
    "hardtanh": (lambda z: np.clip(z, -1, 1), lambda z, h: (np.abs(z) < 1).astype(z.dtype)),
    "leaky-relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z, h: np.where(z > 0, 1.0, 0.01).astype(z.dtype)),
}

FPRIME = {"tanh": "1 − h²", "relu": "[z > 0]", "sigmoid": "h (1 − h)", "hardtanh": "[|z| < 1]",
          "leaky-relu": "1 where z > 0, else 0.01"}


def sigmoid(s):
    return 0.5 * (1.0 + np.tanh(0.5 * s))  # never overflows


def row_max(s):
    """s (B, K) -> (B, 1), each row's largest entry. Reduced down K columns of B, not along B
    rows of K: numpy's loop per short row is 10x slower at K = 7. A max is exact: same bits."""
    return s.T.copy().max(axis=0)[:, None]


def row_sum(e):
    """e (B, K) -> (B, 1), each row's sum, added down K columns of B in numpy's own order for a
    row (its pairwise sum: one by one below 8 entries, else in 8 running sums), so the same
    bits as e.sum(axis=1), at a tenth of its time for short rows."""
    K = e.shape[1]
    if K == 0 or K > 128:                          # past 128 numpy splits the row in halves
        return e.sum(axis=1, keepdims=True)
    c = e.T.copy()
    if K < 8:
        total = c[0].copy()
        for k in range(1, K):
            total += c[k]
    else:
        r, tail = c[:8].copy(), K - K % 8
        for k in range(8, tail, 8):
            r += c[k:k + 8]
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for k in range(tail, K):
            total += c[k]
    return total[:, None]


def mean(a) -> float:
    """np.mean(a) of a float array, the same bits (its sum, divided in float64, rounded to a's
    dtype), without its few microseconds of Python."""
    return float(a.dtype.type(float(a.sum()) / a.size)) if a.size else float("nan")


def softmax(s):
    """Row-wise softmax of s (B, K), shifted so exp never overflows."""
    e = np.exp(s - row_max(s))
    return e / row_sum(e)


def column_sum(a, compiled=False):
    """a (B, K) -> (K,), a.sum(axis=0). compiled (training): kernels.column_sums, the same bits
    at a third of numpy's time for short rows (K = 7)."""
    if compiled and a.ndim == 2 and a.shape[1] > 1 and a.flags.c_contiguous:
        return kernels().column_sums(a)
    return a.sum(axis=0)


def outer(a, b, compiled=False):
    """a (B,), b (H,) -> (B, H), a[i] * b[j]. compiled (training): kernels.outer, the same bits."""
    if compiled and a.dtype == b.dtype:
        return kernels().outer(a, b)
    return np.outer(a, b)


def add_scaled(y, a, x, compiled=False):
    """y += a * x, in place. compiled (training): kernels.add_scaled, one pass, the same bits."""
    if compiled and y.dtype == x.dtype and y.flags.c_contiguous and x.flags.c_contiguous:
        kernels().add_scaled(y, a, x)
    else:
        y += a * x


def xavier(fan_out: int, fan_in: int, rng: np.random.Generator, dtype) -> np.ndarray:
    """Glorot uniform (fan_out, fan_in)."""
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_out, fan_in)).astype(dtype)


def embed_forward(E, ids, compiled=False):
    """E (|V|, d), ids (B, n) -> x (B, n*d). compiled (training): kernels.gather_rows, the same
    copy with each window's rows fetched ahead."""
    B, n = ids.shape                               # explicit sizes: B = 0 (an empty sentence) reshapes too
    if compiled and B:
        return kernels().gather_rows(E, ids), (ids, E.shape[1])
    return E.take(ids, axis=0).reshape(B, n * E.shape[1]), (ids, E.shape[1])


def embed_backward(delta_window, cache):
    """delta_window (B, n*d) or (B, n, d) -> (rows (R,), dE (R, d)) for the R distinct rows touched,
    ascending.

    A word that occurs twice, in one window or across the batch, gets the sum of its
    updates (`dE[ids] += g` would keep only the last). One compiled loop over the B*n word
    slots does what np.add.at would, in its order: each slot added into its row, slot by slot.
    """
    ids, d = cache
    return kernels().row_sums(ids.ravel(), delta_window.reshape(-1, d))    # a view, even of concat_backward's slices


def concat_forward(parts, n):
    """parts: (B, n*w_i) each -> x (B, n*sum(w_i)): each word's slot holds its parts in order
    (its vector, then its casing vector, ...)."""
    B = parts[0].shape[0]
    widths = [a.shape[1] // n for a in parts]
    if len(parts) == 1:                            # the word vectors alone: x is the lookup itself
        return parts[0], (n, widths)
    x = np.concatenate([a.reshape(B, n, w) for a, w in zip(parts, widths)], axis=2)
    return x.reshape(B, n * sum(widths)), (n, widths)


def concat_backward(dx, cache):
    """dx (B, n*sum(w_i)) -> one (B, n, w_i) per part: views of dx, each word's slice of the part."""
    n, widths = cache
    dx = dx.reshape(dx.shape[0], n, sum(widths))
    if len(widths) == 1:
        return [dx]
    cuts = [0, *itertools.accumulate(widths)]
    return [dx[:, :, a:b] for a, b in zip(cuts[:-1], cuts[1:])]


def maxpool_forward(z, starts):
    """z (M, F): the rows of U words' windows, word u's from starts[u] -> r (U, F), each word's
    max over its windows."""
    return np.maximum.reduceat(z, starts, axis=0), (z, starts)


def maxpool_backward(dr, cache):
    """dr (U, F) -> dz (M, F): each filter's gradient goes to its argmax window only (the
    first, if two windows tie)."""
    z, starts = cache
    return kernels().route_max(z, starts.astype(np.int64), dr)


def affine_forward(x, W, b):
    """x (B, D), W (H, D), b (H,) -> z (B, H)."""
    z = x @ W.T
    z += b
    return z, (x, W)


def affine_backward(delta, cache, db=None, reuse=False):
    """delta (B, H) -> dW (H, D), db (H,), delta_window (B, D). db: delta's column sums, when
    act_backward has them. reuse (training): delta_window is written over x, which nothing
    reads once dW is made: one (B, D) array less for the step to pull through the cache."""
    x, W = cache
    dW = delta.T @ x
    if reuse and x.flags.c_contiguous and x.flags.writeable and x.dtype == delta.dtype:
        return dW, delta.sum(axis=0) if db is None else db, np.matmul(delta, W, out=x)
    return dW, delta.sum(axis=0) if db is None else db, delta @ W


def act_forward(z, name, reuse=False):
    """z (B, H) -> h = f(z) (B, H). reuse (training): tanh's h is written over z, since its f'
    reads h alone."""
    f, fprime = ACTIVATIONS[name]
    h = np.tanh(z, out=z) if reuse and name == "tanh" else f(z)
    return h, (z, h, fprime)


def act_backward(dh, cache, compiled=False):
    """dh (B, H) -> delta = dh * f'(z) (B, H), and its column sums (H,): the bias's gradient.
    compiled (training): tanh's in one compiled pass (kernels.tanh_backward) that writes delta
    over dh, the same bits."""
    z, h, fprime = cache
    if (compiled and fprime is ACTIVATIONS["tanh"][1] and dh.dtype == h.dtype and len(h) and h.shape[1] > 1
            and dh.flags.c_contiguous and dh.flags.writeable):      # one column numpy sums pairwise
        return kernels().tanh_backward(dh, h)
    delta = dh * fprime(z, h)
    return delta, delta.sum(axis=0)


def dropout_forward(h, mask):
    """Inverted dropout: mask (B, H) already holds 0 or 1/(1-p), so test time needs nothing."""
    if mask is None:
        return h, None
    return h * mask, mask


def dropout_backward(dh, mask):
    return dh if mask is None else dh * mask
