"""The window classifier of CS224n lectures 3-4: the whole network, forward and backward by hand.

Shapes: B windows in a batch, n = 2w+1 words a window, d the word-vector size,
c the casing vector's size, D = n*(d+c), H hidden units.

    x = [e_{i-w}; C[shape_{i-w}]; ...; e_{i+w}; C[shape_{i+w}]]   (B, D)
    z = W x + b                                                   (B, H)
    h = f(z)                                                      (B, H)
    s, J from h: the head (heads.py: binary sigma, softmax or sentence loss)
    J += (lam/2)(||W||^2 + ||head weight||^2)                     biases not regularized

Backward, in the lecture's names:
    delta        = dJ/dz = dJ/dh * f'(z)                (B, H)
    dJ/dW        = delta^T x                            (H, D)
    delta_window = delta W = (W^T delta)^T per window   (B, D)
and delta_window is cut into n slots, each split into its word's row of E and its shape's
row of C, with the updates of a row that occurs twice summed.
"""
from __future__ import annotations

import numpy as np

from nerwin.nn.heads import Head
from nerwin.nn.layers import (act_backward, act_forward, affine_backward, affine_forward, concat_backward,
                              concat_forward, dropout_backward, dropout_forward, embed_backward, embed_forward,
                              xavier)


def init_params(D: int, H: int, head: Head, rng: np.random.Generator, dtype=np.float32,
                casing: tuple[int, int] | None = None) -> dict:
    """Xavier/Glorot uniform for W and the head's weights, zero biases.
    casing = (number of shapes, c) adds the casing table C (shapes, c); D must include n*c."""
    p = {"W": xavier(H, D, rng, dtype), "b": np.zeros(H, dtype)}
    p.update(head.init(H, rng, dtype))
    if casing:
        p["C"] = rng.normal(0.0, 0.1, size=casing).astype(dtype)
    return p


def forward(p, E, ids, act, mask=None, shapes=None):
    """Up to the hidden layer. Returns h (B, H) and the caches backward needs.

    With shapes (B, n), each word's shape id, each word's slot in x is [e_word; C[shape]]."""
    x, c_emb = embed_forward(E, ids)
    c_cas = None
    if shapes is not None:
        xc, c_cemb = embed_forward(p["C"], shapes)
        x, c_cat = concat_forward(x, xc, ids.shape[1])
        c_cas = (c_cemb, c_cat)
    z, c_aff = affine_forward(x, p["W"], p["b"])
    h, c_act = act_forward(z, act)
    h, c_drop = dropout_forward(h, mask)
    return h, (c_emb, c_cas, c_aff, c_act, c_drop)


def window_backward(dh, caches, p, lam=0.0, params=True):
    """From dh = dJ/dh (B, H) down to the words: -> delta_window (B, n*d), the word slots'
    part of dJ/dx, and the gradients of W, b (and C). Training and `explain` both run this;
    explain (params=False) needs only delta_window."""
    c_emb, c_cas, c_aff, c_act, c_drop = caches
    dh = dropout_backward(dh, c_drop)
    delta = act_backward(dh, c_act)                     # (B, H)  delta = dJ/dz
    dW, db, delta_window = affine_backward(delta, c_aff)
    grads = {"W": dW + lam * p["W"], "b": db} if params else {}
    if c_cas is not None:
        c_cemb, c_cat = c_cas
        delta_window, d_cas = concat_backward(delta_window, c_cat)
        if not params:
            return delta_window, grads
        c_rows, dC = embed_backward(d_cas, c_cemb)
        grads["C"] = np.zeros_like(p["C"])
        grads["C"][c_rows] += dC
    return delta_window, grads


def loss(p, E, ids, y, head: Head, act="tanh", lam=0.0, mask=None, shapes=None, lengths=None):
    """J and every gradient: a dense grads dict, plus (rows, dE) for the word vectors.
    For the sentence loss, ids are the windows of whole sentences of these lengths."""
    h, caches = forward(p, E, ids, act, mask, shapes)
    J, grads, dh = head.loss(h, y, lengths, p, lam)
    J += 0.5 * lam * float(np.sum(p["W"] ** 2))
    delta_window, more = window_backward(dh, caches, p, lam)
    grads.update(more)
    rows, dE = embed_backward(delta_window, caches[0])  # split delta_window into word rows
    return J, grads, rows, dE


def scores(p, E, ids, head: Head, act="tanh", shapes=None):
    """The head's logits s for each window: (B,) or (B, K)."""
    h, _ = forward(p, E, ids, act, shapes=shapes)
    return head.logits_forward(h, p)[0]


def score_gradient(p, E, ids, head: Head, act, cls, shapes=None):
    """delta_window of s = the score of class cls (B,) for each window: ds/dx per word slot,
    (B, n, d), by the same backward pass as training, and x itself (B, n, d)."""
    h, caches = forward(p, E, ids, act, shapes=shapes)
    delta_window, _ = window_backward(head.score_dh(p, cls).astype(h.dtype), caches, p, params=False)
    B, n = ids.shape
    return delta_window.reshape(B, n, -1), E[ids]
