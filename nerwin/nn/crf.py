"""Collobert et al.'s (2011, section 3.3.2) sentence-level log-likelihood: the forward algorithm
in log space, its hand-derived backward pass, and the marginals that decoding reports.

The window network's logits f[t, k] score tag k for word t. A (K+1, K+1) scores tag
transitions: A[i, j] for i -> j, row K from the sentence start, column K to its end.
rules = (trans (K, K), start (K,)) add -inf where IOB2 forbids a transition, 0 elsewhere.
A path's score is start[y0] + sum_t f[t, y_t] + sum_t A[y_{t-1}, y_t] + end[y_{n-1}], and
    J = sum over sentences (log Z - score(gold)) / N,   Z = sum over all paths of exp(score),
N the words in the batch, so J is on the per-word scale of the window loss.
"""
from __future__ import annotations

import numpy as np

GROUP = 256    # sentences padded together, at most


def logsumexp(a, axis):
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)           # a row of -inf stays -inf, not nan
    return np.log(np.exp(a - m).sum(axis=axis)) + np.squeeze(m, axis)


def crf_scores(A, rules):
    """-> trans (K, K), start (K,), end (K,) from A (K+1, K+1) and the IOB2 rules."""
    K = A.shape[0] - 1
    return A[:K, :K] + rules[0], A[K, :K] + rules[1], A[:K, K]


def forward_backward(F, mask, trans, start, end):
    """F (S, L, K) padded emissions, mask (S, L) -> log alpha, log beta (S, L, K), log Z (S,).

    alpha[s, t, k] = log of the summed scores of all paths of words 0..t that end in k, and
    beta[s, t, k] of all continuations from k at t to the end. Past a sentence's end, alpha
    is carried and beta is `end`, so padding changes nothing. The Tagger decodes with this,
    vectorized over many sentences, so applying a model never loads numba; training runs
    the same recursions compiled, one sentence at a time (kernels.forward_backward: in numpy
    each step of a short batch was eight calls on tiny arrays), and a test holds the two equal.
    """
    S, L, K = F.shape
    alpha, beta = np.empty_like(F), np.empty_like(F)
    # log sum_i exp(a_i + trans_ij) = m + log sum_i exp(a_i - m) exp(trans_ij), m = max_i a_i:
    # still log space (every exp is at most 1 times a transition factor), with one small
    # matrix product per step instead of an (S, K, K) temporary
    G = np.exp(trans)                                     # forbidden transitions: exactly 0
    full = bool(mask.all())                               # no padding (one sentence, or equal lengths)
    alpha[:, 0] = start + F[:, 0]
    beta[:, L - 1] = end
    with np.errstate(divide="ignore"):                    # log 0 = -inf is meant
        for t in range(1, L):                             # the forward algorithm
            a = alpha[:, t - 1]
            m = a.max(axis=1, keepdims=True)
            nxt = np.log(np.exp(a - m) @ G) + m + F[:, t]
            alpha[:, t] = nxt if full else np.where(mask[:, t, None], nxt, a)
        for t in range(L - 2, -1, -1):                    # and backward
            b = F[:, t + 1] + beta[:, t + 1]
            m = b.max(axis=1, keepdims=True)
            nxt = np.log(np.exp(b - m) @ G.T) + m
            beta[:, t] = nxt if full else np.where(mask[:, t + 1, None], nxt, end)
    logZ = logsumexp(alpha[:, L - 1] + end, axis=1)
    return alpha, beta, logZ


def pad(f, lengths):
    """f (N, K), S sentences one after another -> F (S, L, K) and mask (S, L), L the longest."""
    mask = np.arange(max(lengths))[None, :] < np.asarray(lengths)[:, None]
    F = np.zeros(mask.shape + f.shape[1:], dtype=f.dtype)
    F[mask] = f                                           # row-major order is sentence order
    return F, mask


def groups(emit: np.ndarray, lengths: np.ndarray):
    """(token indices, padded emissions (S, L, K), mask (S, L), the sentences (S,)) for groups of
    sentences of similar length, empty ones left out. In order of length, a group ends at GROUP
    sentences or before a sentence more than twice as long as its first: padding at most
    doubles the work, however the lengths mix (one long sentence among short ones)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    first = np.cumsum(lengths) - lengths
    order = [int(j) for j in np.argsort(lengths, kind="stable") if lengths[j]]
    k = 0
    while k < len(order):
        end = k + 1
        while end < min(len(order), k + GROUP) and lengths[order[end]] <= 2 * lengths[order[k]]:
            end += 1
        sel = np.array(order[k:end])
        L = lengths[sel]
        idx = np.repeat(first[sel] - (np.cumsum(L) - L), L) + np.arange(L.sum())
        F, mask = pad(emit[idx], L)
        yield idx, F, mask, sel
        k = end


def sll_forward(f, y, lengths, A, rules, compiled: bool = True):
    """f (N, K) emissions, y (N,) gold tags, lengths (S,) -> J, cache. J is the sentence
    log-likelihood loss above, by the forward algorithm. compiled=False gives the same J from
    the numpy recursions (no cache for a backward pass): evaluation never loads numba."""
    N, K = f.shape
    trans, start, end = crf_scores(A, rules)
    # the recursions run in float64: one compiled version serves every dtype, and the
    # backward pass reuses these arrays
    f64, trans64, L = f.astype(np.float64), trans.astype(np.float64), np.asarray(lengths, dtype=np.int64)
    if compiled:
        from nerwin.nn.kernels import forward_backward as recursions   # numba: training only
        alpha, beta, logZ = recursions(f64, L, trans64, start.astype(np.float64), end.astype(np.float64))
    else:
        alpha = beta = None
        logZ = np.zeros(len(L))
        for _, F, mask, sel in groups(f64, L):
            logZ[sel] = forward_backward(F, mask, trans64, start.astype(np.float64), end.astype(np.float64))[2]
    first = np.cumsum(lengths) - lengths                  # index of each sentence's first word
    last = first + np.asarray(lengths) - 1
    inner = np.ones(N, dtype=bool)                        # word i -> i+1 inside one sentence
    inner[last] = False
    inner = np.flatnonzero(inner[:-1])
    gold = (f[np.arange(N), y].sum() + trans[y[inner], y[inner + 1]].sum() + start[y[first]].sum()
            + end[y[last]].sum())
    J = float((logZ.sum() - gold) / N)
    return J, (f.dtype, f64, L, alpha, beta, logZ, trans64, y, first, last, inner)


def sll_backward(cache):
    """-> df (N, K), dA (K+1, K+1).

    dJ/df[t, k] = (P(y_t = k | sentence) - [y_t = k]) / N, the marginals of forward-backward;
    dJ/dA[i, j] = (expected count of i -> j - its gold count) / N, row K and column K
    counting the starts and ends.
    """
    from nerwin.nn.kernels import posteriors     # numba: training only
    dtype, f64, L, alpha, beta, logZ, trans64, y, first, last, inner = cache
    N, K = f64.shape
    marg, xi = posteriors(f64, L, trans64, alpha, beta, logZ)
    df = marg.astype(dtype)
    df[np.arange(N), y] -= 1.0
    dA = np.zeros((K + 1, K + 1), dtype=dtype)
    dA[:K, :K] = xi
    np.add.at(dA, (y[inner], y[inner + 1]), -1.0)
    dA[K, :K] = marg[first].sum(axis=0)
    np.add.at(dA[K], y[first], -1.0)
    dA[:K, K] = marg[last].sum(axis=0)
    np.add.at(dA[:, K], y[last], -1.0)
    return df / N, dA / N
