"""Compiled loops for the sparse bookkeeping of a training step (numba).

Two jobs cost a numpy step several passes over memory and dozens of calls: summing
delta_window's word slots into word rows, and the optimizer's update of the touched rows.
Here each is one loop over the data. numba is imported only when training needs these;
predict never loads it. Both loops do the arithmetic numpy did, in numpy's order and
precision, so a seed gives the same model bits as the numpy code it replaced (tests/test_kernels.py).
"""
from __future__ import annotations

import numpy as np
from numba import njit

KINDS = {"sgd": 0, "adagrad": 1, "adam": 2}


@njit(cache=True, error_model="numpy")
def _pairwise(g, slots, lo, n, out, r):
    """out (d,) = numpy's pairwise sum of the rows g[slots[lo:lo+n]]: 8 running sums in
    blocks of up to 128 rows, halves above (what np.add.reduce does along an axis).
    r (8, d) is scratch."""
    d = g.shape[1]
    if n < 8:
        out[:] = -0.0
        for i in range(lo, lo + n):
            for j in range(d):
                out[j] += g[slots[i], j]
    elif n <= 128:
        for k in range(8):
            for j in range(d):
                r[k, j] = g[slots[lo + k], j]
        i = 8
        while i < n - n % 8:
            for k in range(8):
                for j in range(d):
                    r[k, j] += g[slots[lo + i + k], j]
            i += 8
        for j in range(d):
            out[j] = ((r[0, j] + r[1, j]) + (r[2, j] + r[3, j])) + ((r[4, j] + r[5, j]) + (r[6, j] + r[7, j]))
        for i in range(lo + i, lo + n):
            for j in range(d):
                out[j] += g[slots[i], j]
    else:
        n2 = n // 2
        n2 -= n2 % 8
        _pairwise(g, slots, lo, n2, out, r)
        second = np.empty(d, g.dtype)
        _pairwise(g, slots, lo + n2, n - n2, second, r)
        for j in range(d):
            out[j] += second[j]


@njit(cache=True, error_model="numpy")
def row_sums(flat, g):
    """flat (S,) row ids of the word slots, g (S, d) their gradients -> rows (R,) the distinct
    ids ascending, dE (R, d) each row's sum: its first slot plus numpy's pairwise sum of the
    rest, in slot order (what np.add.reduceat over the stably sorted slots computes)."""
    S, d = g.shape
    seen = np.zeros(flat.max() + 1, np.bool_)
    for s in range(S):
        seen[flat[s]] = True
    rows = np.flatnonzero(seen)                  # the distinct rows, ascending: a scan, not a sort
    R = rows.shape[0]
    where = np.empty(seen.shape[0], np.int64)    # row id -> its place in rows
    for i in range(R):
        where[rows[i]] = i
    start = np.zeros(R + 1, np.int64)            # slots grouped by row, in slot order (a counting sort)
    for s in range(S):
        start[where[flat[s]] + 1] += 1
    for i in range(R):
        start[i + 1] += start[i]
    slots = np.empty(S, np.int64)
    fill = start[:R].copy()
    for s in range(S):
        i = where[flat[s]]
        slots[fill[i]] = s
        fill[i] += 1
    dE = np.empty((R, d), g.dtype)
    rest, scratch = np.empty(d, g.dtype), np.empty((8, d), g.dtype)
    for i in range(R):
        n = start[i + 1] - start[i]
        for j in range(d):
            dE[i, j] = g[slots[start[i]], j]
        if n > 1:
            _pairwise(g, slots, start[i] + 1, n - 1, rest, scratch)
            for j in range(d):
                dE[i, j] += rest[j]
    return rows, dE


@njit(cache=True, error_model="numpy")
def step_rows(kind, X, rows, G, m, v, t, lr, b1, b2, eps):
    """Update X[rows[i]] by its gradient G[i] (R, cols) in place: sgd, adagrad (v sums g^2)
    or Adam (moments m, v and step counts t (|rows of X|,), counted per row).

    Adam in the paper's efficient form, lr_t m / (sqrt(v) + eps_t) with lr_t = lr sqrt(1 - b2^t)
    / (1 - b1^t) and eps_t = eps sqrt(1 - b2^t): the bias corrections are per-row scalars.
    Rounding follows numpy's: the moments in X's precision, the corrections in float64.
    """
    f = X.dtype.type
    lr_f, eps_f, b1f, a1, b2f, a2 = f(lr), f(eps), f(b1), f(1.0 - b1), f(b2), f(1.0 - b2)
    for i in range(rows.shape[0]):
        r = rows[i]
        t[r] += 1
        c2 = np.sqrt(1.0 - b2 ** np.float64(t[r]))
        eps_t = eps * c2
        scale = lr * c2 / (1.0 - b1 ** np.float64(t[r]))
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
