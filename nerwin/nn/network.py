"""The window classifier of CS224n lectures 3-4: the whole network, forward and backward by hand.

Shapes: B windows in a batch, n = 2w+1 words a window, d the word-vector size. A word's slot of
x holds its vector and, when the model has them, its spelling's vectors: casing c, prefix and
suffix a each, characters F. D = n*(d+c+2a+F), H hidden units.

    x = [e_{i-w}; C[shape]; Pre[prefix]; Suf[suffix]; r_{i-w}; ...; e_{i+w}; ...]   (B, D)
    z = W x + b                                                                     (B, H)
    h = f(z)                                                                        (B, H)
    s, J from h: the head (heads.py: binary sigma, softmax or sentence loss)
    J += (lam/2)(||W||^2 + ||head weight||^2)                     biases not regularized

A word's character vector r (dos Santos and Zadrozny 2014), for each of U distinct words, its
characters framed by begin and end markers, M windows of k characters in all:

    q = [Ech[char_j]; ...; Ech[char_{j+k-1}]]                     (M, k*dc)
    z' = Wch q + bch                                              (M, F)
    r = max over each word's windows of z'                        (U, F)

Backward, in the lecture's names:
    delta        = dJ/dz = dJ/dh * f'(z)                (B, H)
    dJ/dW        = delta^T x                            (H, D)
    delta_window = delta W = (W^T delta)^T per window   (B, D)
and delta_window is cut into n slots, each split into its parts: the word's row of E, its
shape's row of C, its affixes' rows, and its character vector r; the updates of a row that occurs
twice are summed. r's gradient goes to each filter's argmax position, back through the
affine layer's two GEMMs (the convolution), onto the character rows (summed the same way).
"""
from __future__ import annotations

import numpy as np

from nerwin.nn.heads import Head
from nerwin.nn.layers import (act_backward, act_forward, affine_backward, affine_forward, concat_backward,
                              concat_forward, dropout_backward, dropout_forward, embed_backward, embed_forward,
                              maxpool_backward, maxpool_forward, xavier)
from nerwin.nn.optim import ROW_TABLES       # tables whose gradient is (rows, their sums), as E's is
from nerwin.text.spelling import Features

def init_params(D: int, H: int, head: Head, rng: np.random.Generator, dtype=np.float32,
                tables: dict | None = None) -> dict:
    """Xavier/Glorot uniform for W, the head's weights and the filters Wch, zero biases, small
    normal rows for the spelling's tables. D must include every part of a slot. tables: the
    spelling's parameter shapes (Settings.table_shapes): C, Pre, Suf, Ech, Wch (F, k*dc), bch."""
    p = {"W": xavier(H, D, rng, dtype), "b": np.zeros(H, dtype)}
    p.update(head.init(H, rng, dtype))
    for name, shape in (tables or {}).items():      # C first: casing-only models draw as before
        if name == "Wch":
            p[name] = xavier(*shape, rng, dtype)
        elif name == "bch":
            p[name] = np.zeros(shape, dtype)
        else:
            p[name] = rng.normal(0.0, 0.1, size=shape).astype(dtype)
    return p


def char_windows(chars, char_len, k: int):
    """chars (U, L) ids, char_len (U,) -> the character ids of every window of k characters
    inside each word (M, k), and where each word's windows start (U,)."""
    positions = char_len - k + 1                         # >= 1: words carry begin/end markers
    starts = np.cumsum(positions) - positions
    word = np.repeat(np.arange(len(chars)), positions)
    j = np.arange(int(positions.sum())) - np.repeat(starts, positions)
    return chars[word[:, None], j[:, None] + np.arange(k)], starts


def char_forward(p, chars, char_len):
    """chars (U, L) character ids, char_len (U,) each word's length with its markers -> r (U, F).
    A window of k characters is to a word what a window of words is to a sentence: its vectors
    are concatenated and go through an affine layer, then each filter keeps its max."""
    k = p["Wch"].shape[1] // p["Ech"].shape[1]
    win, starts = char_windows(chars, char_len, k)
    q, c_emb = embed_forward(p["Ech"], win)                       # (M, k*dc)
    z, c_aff = affine_forward(q, p["Wch"], p["bch"])              # (M, F)
    r, c_max = maxpool_forward(z, starts)                         # (U, F)
    return r, (c_emb, c_aff, c_max)


def char_backward(rows, dr_rows, cache, p) -> dict:
    """dJ/dr of the words rows (R,), (R, F) -> the gradients of Ech (rows, sums), Wch and bch."""
    c_emb, c_aff, c_max = cache
    _, starts = c_max
    dr = np.zeros((len(starts), dr_rows.shape[1]), dr_rows.dtype)   # (U, F); a word no slot uses gets 0
    dr[rows] = dr_rows
    dz = maxpool_backward(dr, c_max)
    dWch, dbch, dq = affine_backward(dz, c_aff)
    return {"Ech": embed_backward(dq, c_emb), "Wch": dWch, "bch": dbch}


def slot_parts(p, E, ids, feats: Features | None, R=None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, table, ids (B, n)) of each part of a word's slot, in order: the word's row of E,
    casing C, prefix Pre, suffix Suf, and R, the character vectors."""
    parts = [("E", E, ids)]
    if feats is not None:
        for name, m in (("C", feats.shapes), ("Pre", feats.prefix), ("Suf", feats.suffix)):
            if m is not None:
                parts.append((name, p[name], m))
        if feats.slots is not None:
            parts.append(("R", R, feats.slots))
    return parts


def forward(p, E, ids, act, mask=None, feats: Features | None = None, R=None):
    """Up to the hidden layer. Returns h (B, H) and the caches backward needs.

    feats: the slots' spelling ids (text/spelling.py); R (U, F): the character vectors of
    feats.chars, when already computed (the Tagger runs the CNN once per block)."""
    c_char = None
    if feats is not None and feats.slots is not None and R is None:
        R, c_char = char_forward(p, feats.chars, feats.char_len)
    parts = slot_parts(p, E, ids, feats, R)
    xs, c_embs = zip(*(embed_forward(table, m) for _, table, m in parts))
    x, c_cat = concat_forward(list(xs), ids.shape[1])
    z, c_aff = affine_forward(x, p["W"], p["b"])
    h, c_act = act_forward(z, act)
    h, c_drop = dropout_forward(h, mask)
    return h, ([name for name, _, _ in parts], c_embs, c_char, c_cat, c_aff, c_act, c_drop)


def window_backward(dh, caches, p, lam=0.0, params=True):
    """From dh = dJ/dh (B, H) down to the words: -> {part: its slice of delta_window (B, n*width)}
    and the gradients of W, b and the spelling's tables (C, Pre, Suf, Ech, Wch, bch; those of
    ROW_TABLES as (rows, their sums)). The word rows' split is the caller's. Training and
    `explain` both run this; explain (params=False) needs only delta_window."""
    names, c_embs, c_char, c_cat, c_aff, c_act, c_drop = caches
    dh = dropout_backward(dh, c_drop)
    delta = act_backward(dh, c_act)                     # (B, H)  delta = dJ/dz
    dW, db, delta_window = affine_backward(delta, c_aff)
    d_parts = dict(zip(names, concat_backward(delta_window, c_cat)))
    if not params:
        return d_parts, {}
    grads = {"W": dW + lam * p["W"], "b": db}
    for name, c_emb in zip(names[1:], c_embs[1:]):
        rows, d = embed_backward(d_parts[name], c_emb)
        if name == "R":
            grads.update(char_backward(rows, d, c_char, p))
        elif name in ROW_TABLES:
            grads[name] = rows, d
        else:
            grads[name] = np.zeros_like(p[name])
            grads[name][rows] += d
    return d_parts, grads


def loss(p, E, ids, y, head: Head, act="tanh", lam=0.0, mask=None, feats: Features | None = None, lengths=None):
    """J and every gradient: a dense grads dict, plus (rows, dE) for the word vectors.
    For the sentence loss, ids are the windows of whole sentences of these lengths."""
    h, caches = forward(p, E, ids, act, mask, feats)
    J, grads, dh = head.loss(h, y, lengths, p, lam)
    J += 0.5 * lam * float(np.sum(p["W"] ** 2))
    d_parts, more = window_backward(dh, caches, p, lam)
    grads.update(more)
    rows, dE = embed_backward(d_parts["E"], caches[1][0])  # split delta_window's word part into rows
    return J, grads, rows, dE


def char_vectors(p, feats: Features | None):
    """r (U, F) of feats.chars, or None when the model reads no characters."""
    if feats is None or feats.slots is None:
        return None
    return char_forward(p, feats.chars, feats.char_len)[0]


def scores(p, E, ids, head: Head, act="tanh", feats: Features | None = None, R=None):
    """The head's logits s for each window: (B,) or (B, K)."""
    h, _ = forward(p, E, ids, act, feats=feats, R=R)
    return head.logits_forward(h, p)[0]


def score_gradient(p, E, ids, head: Head, act, cls, feats: Features | None = None):
    """ds/dx for s = the score of class cls (B,) in each window, by the same backward pass as
    training: {part: (g, x)}, each (B, n, width), g the part's slice of delta_window and x its
    input (the word vectors for "E", the character vectors for "R", ...)."""
    h, caches = forward(p, E, ids, act, feats=feats)
    d_parts, _ = window_backward(head.score_dh(p, cls).astype(h.dtype), caches, p, params=False)
    B, n = ids.shape
    names, c_cat, (x, _) = caches[0], caches[3], caches[4]
    x_parts = concat_backward(x, c_cat)                  # x cut the same way as delta_window
    return {name: (d_parts[name].reshape(B, n, -1), xp.reshape(B, n, -1)) for name, xp in zip(names, x_parts)}
