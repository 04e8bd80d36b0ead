"""The window classifier of CS224n lectures 3-4, forward and backward by hand.

Shapes: B windows in a batch, n = 2w+1 words a window, d the word-vector size,
D = n*d, H hidden units, K classes (K = 1 is the binary sigmoid case).

    x = [e_{i-w}; ...; e_{i+w}]       (B, D)   concatenated word vectors
    z = W x + b                       (B, H)
    h = f(z)                          (B, H)
    s = u^T h + c,  y_hat = sigma(s)  (B,)     binary: "is the centre word of type T"
    s = V h + c,    p = softmax(s)    (B, K)   multi-class extension
    J = mean cross-entropy + (lam/2)(||W||^2 + ||u||^2)   biases not regularized

Backward, in the lecture's names:
    delta        = dJ/dz = (y_hat - y) u * f'(z)        (B, H)
    dJ/dW        = delta^T x                            (H, D)
    delta_window = delta W = (W^T delta)^T per window   (B, D)
and delta_window is cut into n d-vectors, each added into its word's row.

Each layer is a pair: `out, cache = layer_forward(...)`, `grads = layer_backward(dout, cache)`.
The sentence-level loss (Collobert et al. 2011) replaces the per-window softmax with a
log-likelihood over whole tag paths; its df feeds the same backward pass as the softmax's.
"""
from __future__ import annotations

import numpy as np

# f and f'. f' is computed from z and h = f(z), whichever is cheaper.
ACTIVATIONS = {
    "tanh": (np.tanh, lambda z, h: 1.0 - h * h),
    "relu": (lambda z: np.maximum(z, 0), lambda z, h: (z > 0).astype(z.dtype)),
    "sigmoid": (lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)), lambda z, h: h * (1.0 - h)),
    "hardtanh": (lambda z: np.clip(z, -1, 1), lambda z, h: (np.abs(z) < 1).astype(z.dtype)),
    "leaky-relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z, h: np.where(z > 0, 1.0, 0.01).astype(z.dtype)),
}


def sigmoid(s):
    return 0.5 * (1.0 + np.tanh(0.5 * s))  # never overflows


def softmax(s):
    """Row-wise softmax of s (B, K), shifted so exp never overflows."""
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def init_params(D: int, H: int, K: int, rng: np.random.Generator, dtype=np.float32,
                casing: tuple[int, int] | None = None, sentence: bool = False) -> dict:
    """Xavier/Glorot uniform for W and the output weights, zero biases.
    casing = (number of shapes, c) adds the casing table C (shapes, c); D must include n*c.
    sentence adds the transition scores A (K+1, K+1), starting at 0."""
    def xavier(fan_out, fan_in):
        a = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-a, a, size=(fan_out, fan_in)).astype(dtype)

    p = {"W": xavier(H, D), "b": np.zeros(H, dtype)}
    if K == 1:
        p["u"], p["c"] = xavier(1, H)[0], np.zeros((), dtype)
    else:
        p["V"], p["c"] = xavier(K, H), np.zeros(K, dtype)
    if casing:
        p["C"] = rng.normal(0.0, 0.1, size=casing).astype(dtype)
    if sentence:
        p["A"] = np.zeros((K + 1, K + 1), dtype)
    return p


# ---- layers -------------------------------------------------------------------------

def embed_forward(E, ids):
    """E (|V|, d), ids (B, n) -> x (B, n*d)."""
    return E.take(ids, axis=0).reshape(ids.shape[0], -1), (ids, E.shape[1])


def concat_forward(a, b, n):
    """a (B, n*d), b (B, n*c) -> (B, n*(d+c)): each word's vector followed by its casing vector."""
    B = a.shape[0]
    return np.concatenate([a.reshape(B, n, -1), b.reshape(B, n, -1)], axis=2).reshape(B, -1), (n, a.shape[1] // n)


def concat_backward(dx, cache):
    """dx (B, n*(d+c)) -> da (B, n*d), db (B, n*c)."""
    n, d = cache
    B = dx.shape[0]
    dx = dx.reshape(B, n, -1)
    return dx[:, :, :d].reshape(B, -1), dx[:, :, d:].reshape(B, -1)


def embed_backward(delta_window, cache):
    """delta_window (B, n*d) -> (rows (R,), dE (R, d)) for the R distinct rows touched, ascending.

    A word that occurs twice, in one window or across the batch, gets the sum of its
    updates (`dE[ids] += g` would keep only the last). One compiled loop over the B*n word
    slots does what np.add.at would, in the order numpy's segmented sum adds them.
    """
    from nerwin.kernels import row_sums
    ids, d = cache
    return row_sums(ids.ravel(), np.ascontiguousarray(delta_window).reshape(-1, d))


def affine_forward(x, W, b):
    """x (B, D), W (H, D), b (H,) -> z (B, H)."""
    z = x @ W.T
    z += b
    return z, (x, W)


def affine_backward(delta, cache):
    """delta (B, H) -> dW (H, D), db (H,), delta_window (B, D)."""
    x, W = cache
    return delta.T @ x, delta.sum(axis=0), delta @ W


def act_forward(z, name):
    f, fprime = ACTIVATIONS[name]
    h = f(z)
    return h, (z, h, fprime)


def act_backward(dh, cache):
    """dh (B, H) -> delta = dh * f'(z), (B, H)."""
    z, h, fprime = cache
    return dh * fprime(z, h)


def dropout_forward(h, mask):
    """Inverted dropout: mask (B, H) already holds 0 or 1/(1-p), so test time needs nothing."""
    if mask is None:
        return h, None
    return h * mask, mask


def dropout_backward(dh, mask):
    return dh if mask is None else dh * mask


def sigmoid_ce_forward(h, u, c, y):
    """h (B, H), u (H,), c (), y (B,) in {0,1} -> J, y_hat (B,). J = mean BCE, computed stably."""
    s = h @ u + c
    y_hat = sigmoid(s)
    J = float(np.mean(np.logaddexp(0.0, s) - y * s))
    return J, y_hat, (h, u, y_hat, y)


def sigmoid_ce_backward(cache):
    """-> du (H,), dc (), dh (B, H). dJ/ds = (y_hat - y) / B."""
    h, u, y_hat, y = cache
    ds = (y_hat - y) / y.shape[0]
    return h.T @ ds, ds.sum(), np.outer(ds, u)


def softmax_ce_forward(h, V, c, y):
    """h (B, H), V (K, H), c (K,), y (B,) int -> J, p (B, K).
    J uses log p = shifted s - log sum exp(shifted s): finite for any logit gap, even in float32."""
    s = h @ V.T + c
    shifted = s - s.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    rows = np.arange(y.shape[0])
    J = float(-np.mean(shifted[rows, y] - np.log(total[:, 0])))
    p = e / total
    return J, p, (h, V, p, y)


def softmax_ce_backward(cache):
    """-> dV (K, H), dc (K,), dh (B, H). dJ/ds = (p - onehot(y)) / B."""
    h, V, p, y = cache
    ds = p.copy()
    ds[np.arange(y.shape[0]), y] -= 1.0
    ds /= y.shape[0]
    return ds.T @ h, ds.sum(axis=0), ds @ V


# ---- sentence level: Collobert et al. (2011), section 3.3.2 ----------------------------
#
# The window network's logits f[t, k] score tag k for word t. A (K+1, K+1) scores tag
# transitions: A[i, j] for i -> j, row K from the sentence start, column K to its end.
# rules = (trans (K, K), start (K,)) add -inf where IOB2 forbids a transition, 0 elsewhere.
# A path's score is start[y0] + sum_t f[t, y_t] + sum_t A[y_{t-1}, y_t] + end[y_{n-1}], and
#     J = sum over sentences (log Z - score(gold)) / N,   Z = sum over all paths of exp(score),
# N the words in the batch, so J is on the per-word scale of the window loss.

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
    vectorized over many sentences, so predict never loads numba; training runs the same
    recursions compiled, one sentence at a time (kernels.forward_backward: in numpy each step
    of a short batch was eight calls on tiny arrays), and a test holds the two equal.
    """
    S, L, K = F.shape
    alpha, beta = np.empty_like(F), np.empty_like(F)
    # log sum_i exp(a_i + trans_ij) = m + log sum_i exp(a_i - m) exp(trans_ij), m = max_i a_i:
    # still log space (every exp is at most 1 times a transition factor), with one small
    # matrix product per step instead of an (S, K, K) temporary
    G = np.exp(trans)                                     # forbidden transitions: exactly 0
    alpha[:, 0] = start + F[:, 0]
    beta[:, L - 1] = end
    with np.errstate(divide="ignore"):                    # log 0 = -inf is meant
        for t in range(1, L):                             # the forward algorithm
            a = alpha[:, t - 1]
            m = a.max(axis=1, keepdims=True)
            nxt = np.log(np.exp(a - m) @ G) + m + F[:, t]
            alpha[:, t] = np.where(mask[:, t, None], nxt, a)
        for t in range(L - 2, -1, -1):                    # and backward
            b = F[:, t + 1] + beta[:, t + 1]
            m = b.max(axis=1, keepdims=True)
            nxt = np.log(np.exp(b - m) @ G.T) + m
            beta[:, t] = np.where(mask[:, t + 1, None], nxt, end)
    logZ = logsumexp(alpha[:, L - 1] + end, axis=1)
    return alpha, beta, logZ


def pad(f, lengths):
    """f (N, K), S sentences one after another -> F (S, L, K) and mask (S, L), L the longest."""
    mask = np.arange(max(lengths))[None, :] < np.asarray(lengths)[:, None]
    F = np.zeros(mask.shape + f.shape[1:], dtype=f.dtype)
    F[mask] = f                                           # row-major order is sentence order
    return F, mask


def sll_forward(f, y, lengths, A, rules):
    """f (N, K) emissions, y (N,) gold tags, lengths (S,) -> J, cache. J is the sentence
    log-likelihood loss above, by the forward algorithm."""
    from nerwin.kernels import forward_backward as recursions
    N, K = f.shape
    trans, start, end = crf_scores(A, rules)
    # forward_backward's recursions, compiled and per sentence (no padding), in float64:
    # one compiled version serves every dtype, and the backward pass reuses these arrays
    f64, trans64, L = f.astype(np.float64), trans.astype(np.float64), np.asarray(lengths, dtype=np.int64)
    alpha, beta, logZ = recursions(f64, L, trans64, start.astype(np.float64), end.astype(np.float64))
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
    from nerwin.kernels import posteriors
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


# ---- the whole model ----------------------------------------------------------------

def forward(p, E, ids, act, mask=None, shapes=None):
    """Up to the hidden layer. Returns h (B, H) and the caches backward needs.

    With casing (p holds C, shapes (B, n) gives each word's shape id), each word's
    slot in x is [e_word; C[shape]]: x (B, n*(d+c)).
    """
    x, c_emb = embed_forward(E, ids)
    c_cas = None
    if "C" in p:
        xc, c_cemb = embed_forward(p["C"], shapes)
        x, c_cat = concat_forward(x, xc, ids.shape[1])
        c_cas = (c_cemb, c_cat)
    z, c_aff = affine_forward(x, p["W"], p["b"])
    h, c_act = act_forward(z, act)
    h, c_drop = dropout_forward(h, mask)
    return h, (c_emb, c_cas, c_aff, c_act, c_drop)


def loss(p, E, ids, y, act="tanh", lam=0.0, mask=None, shapes=None, lengths=None, rules=None):
    """J and every gradient: dense grads dict, plus (rows, dE) for the word vectors.
    With A in p (the sentence loss), ids are the windows of whole sentences of these lengths."""
    h, (c_emb, c_cas, c_aff, c_act, c_drop) = forward(p, E, ids, act, mask, shapes)
    if "A" in p:
        f, c_out = affine_forward(h, p["V"], p["c"])       # emissions f = V h + c  (B, K)
        J, c_sll = sll_forward(f, y, lengths, p["A"], rules)
        df, dA = sll_backward(c_sll)
        dV, dc, dh = affine_backward(df, c_out)
        grads = {"V": dV + lam * p["V"], "c": dc, "A": dA}
        J += 0.5 * lam * float(np.sum(p["V"] ** 2))
    elif "u" in p:
        J, _, c_out = sigmoid_ce_forward(h, p["u"], p["c"], y)
        du, dc, dh = sigmoid_ce_backward(c_out)
        grads = {"u": du + lam * p["u"], "c": dc}
        J += 0.5 * lam * float(np.sum(p["u"] ** 2))
    else:
        J, _, c_out = softmax_ce_forward(h, p["V"], p["c"], y)
        dV, dc, dh = softmax_ce_backward(c_out)
        grads = {"V": dV + lam * p["V"], "c": dc}
        J += 0.5 * lam * float(np.sum(p["V"] ** 2))
    J += 0.5 * lam * float(np.sum(p["W"] ** 2))
    delta_window, more = window_backward(dh, (c_emb, c_cas, c_aff, c_act, c_drop), p, lam)
    grads.update(more)
    rows, dE = embed_backward(delta_window, c_emb)      # split delta_window into word rows
    return J, grads, rows, dE


def window_backward(dh, caches, p, lam=0.0):
    """From dh = dJ/dh (B, H) down to the words: -> delta_window (B, n*d), the word slots'
    part of dJ/dx, and the gradients of W, b (and C). Training and `explain` both run this."""
    c_emb, c_cas, c_aff, c_act, c_drop = caches
    dh = dropout_backward(dh, c_drop)
    delta = act_backward(dh, c_act)                     # (B, H)  delta = dJ/dz
    dW, db, delta_window = affine_backward(delta, c_aff)
    grads = {"W": dW + lam * p["W"], "b": db}
    if c_cas is not None:
        c_cemb, c_cat = c_cas
        delta_window, d_cas = concat_backward(delta_window, c_cat)
        c_rows, dC = embed_backward(d_cas, c_cemb)
        grads["C"] = np.zeros_like(p["C"])
        grads["C"][c_rows] += dC
    return delta_window, grads


def score_gradient(p, E, ids, act, cls, shapes=None):
    """delta_window of s = the score of class cls (B,) for each window: ds/dx per word slot,
    (B, n, d), by the same backward pass as training, and x itself (B, n, d)."""
    h, caches = forward(p, E, ids, act, shapes=shapes)
    if "u" in p:                                        # binary: s is u.h + c for the target, -(u.h + c) for O
        dh = np.where(cls == 1, 1.0, -1.0)[:, None] * p["u"][None, :]
    else:
        dh = p["V"][cls]                                # ds/dh of s = V[cls] h + c[cls]
    delta_window, _ = window_backward(dh.astype(h.dtype), caches, p)
    B, n = ids.shape
    return delta_window.reshape(B, n, -1), E[ids]


def predict_proba(p, E, ids, act="tanh", shapes=None):
    """(B,) P(positive) for the binary model, (B, K) class probabilities otherwise."""
    h, _ = forward(p, E, ids, act, shapes=shapes)
    if "u" in p:
        return sigmoid(h @ p["u"] + p["c"])
    return softmax(h @ p["V"].T + p["c"])
