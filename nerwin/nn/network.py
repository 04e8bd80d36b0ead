"""The window classifier of CS224n lectures 3-4: the whole network, forward and backward by hand.

Shapes: B windows in a batch, n = 2w+1 words a window, d the word-vector size. A word's slot of
x holds its vector e and then its features' parts (nn/features: casing c, prefix and suffix a
each, characters F, ...). D = n*(d + the features' widths), H hidden units.

    x = [e_{i-w}; C[shape]; Pre[prefix]; Suf[suffix]; r_{i-w}; ...; e_{i+w}; ...]   (B, D)
    z = W x + b                                                                     (B, H)
    h = f(z)                                                                        (B, H)
    s, J from h: the head (heads.py: binary sigma, softmax or sentence loss)
    J += (lam/2)(||W||^2 + ||head weight||^2)                     biases not regularized

Backward, in the lecture's names:
    delta        = dJ/dz = dJ/dh * f'(z)                (B, H)
    dJ/dW        = delta^T x                            (H, D)
    delta_window = delta W = (W^T delta)^T per window   (B, D)
and delta_window is cut into n slots, each split into its parts: the word's row of E, and each
feature's parts, which the feature takes back to its own tables; the updates of a row that
occurs twice are summed.

A second window layer (--layers 2, when p holds W2) is the lecture's window applied again, to
layer 1's vectors h1 of whole sentences (N positions of S sentences, n2 = 2w2+1):

    x2_t = [h1_{t-w2}; ...; h1_{t+w2}]      (N, n2*H)   P pads positions past a sentence's edges
    z2 = W2 x2 + b2,  h2 = f(z2)            (N, H)      then the head reads h2
    delta2 = dJ/dz2,  dJ/dW2 = delta2^T x2,  delta2_window = delta2 W2
and delta2_window's slices are summed into each position's dJ/dh1 (and P's) as word slices are
into rows of E: the same lookup, with positions for rows.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nerwin.nn.features import WordFeature
from nerwin.nn.heads import Head
from nerwin.nn.layers import (act_backward, act_forward, add_scaled, affine_backward, affine_forward, concat_backward,
                              concat_forward, dropout_backward, dropout_forward, embed_backward, embed_forward,
                              xavier)


class WindowCache(NamedTuple):
    """What backward needs of a forward pass."""
    parts: list[str]           # each part of a slot, in order: "E", then the features' parts
    embed: tuple               # E's lookup
    features: list             # per feature: its parts' caches
    concat: tuple
    affine: tuple              # (x, W)
    act: tuple
    dropout: np.ndarray | None


def init_params(D: int, H: int, head: Head, rng: np.random.Generator, dtype=np.float32,
                features: list[WordFeature] = (), window2: int | None = None) -> dict:
    """Xavier/Glorot uniform for W and the head's weights, zero biases, then each feature's
    tables, then (window2: a second layer) W2, b2 and the padding vector P, drawn in that order.
    D must include every part of a slot."""
    p = {"W": xavier(H, D, rng, dtype), "b": np.zeros(H, dtype)}
    p.update(head.init(H, rng, dtype))
    for f in features:
        p.update(f.init(rng, dtype))
    if window2 is not None:
        p.update(W2=xavier(H, (2 * window2 + 1) * H, rng, dtype), b2=np.zeros(H, dtype),
                 P=rng.normal(0.0, 0.1, size=H).astype(dtype))
    return p


def context_shapes(H: int, window2: int) -> dict:
    """The second layer's parameters."""
    return {"W2": (H, (2 * window2 + 1) * H), "b2": (H,), "P": (H,)}


def positions(lengths: np.ndarray, w2: int, part: slice = slice(None)) -> np.ndarray:
    """(N, 2w2+1): for each position of sentences of these lengths (those in `part`, a slice of
    them), the positions of its layer-2 window; N (one past the last) where the window passes
    its sentence's edge (P's row)."""
    ends = np.cumsum(np.asarray(lengths, np.int64))
    N = int(ends[-1]) if len(ends) else 0
    t = np.arange(N)[part]
    k = np.searchsorted(ends, t, side="right")             # the sentence of each position
    j = t[:, None] + np.arange(-w2, w2 + 1)[None, :]
    inside = (j >= (ends - np.asarray(lengths))[k][:, None]) & (j < ends[k][:, None])
    return np.where(inside, j, N)


def context_forward(h1, lengths, p, act, mask=None, compiled=False, part: slice = slice(None)):
    """h1 (N, H) of whole sentences -> h2 (N, H) and a cache. The window's lookup is embed_forward
    over [h1; P]: a position is a row. compiled: training's (act_forward may reuse z). part: only
    these positions' h2 (a slice; the Tagger's, for a sentence of thousands of words), whose
    windows read h1 no further than w2 either side of it; forward only, as the cache then
    counts rows from the slice's reach, not from position 0."""
    n2 = p["W2"].shape[1] // p["W2"].shape[0]
    N = len(h1)
    a, b, _ = part.indices(N)
    lo, hi = max(a - n2 // 2, 0), min(b + n2 // 2, N)
    j = positions(lengths, n2 // 2, part)
    rows = np.vstack([h1[lo:hi], p["P"][None, :].astype(h1.dtype)])
    x2, c_look = embed_forward(rows, np.where(j == N, hi - lo, j - lo))  # (b-a, n2*H)
    z2, c_aff = affine_forward(x2, p["W2"], p["b2"])
    h2, c_act = act_forward(z2, act, reuse=compiled)
    h2, c_drop = dropout_forward(h2, mask)
    return h2, (c_look, c_aff, c_act, c_drop, N)


def context_backward(dh2, cache, p, lam=0.0, compiled=False):
    """dh2 (N, H) -> dJ/dh1 (N, H) and the gradients of W2, b2 and P: each position's dJ/dh1 is the
    sum of delta2_window's slices for the windows it sits in (embed_backward's row sums).
    compiled: training's (act_backward's, and affine_backward may reuse x2)."""
    c_look, c_aff, c_act, c_drop, N = cache
    delta2, db2 = act_backward(dropout_backward(dh2, c_drop), c_act, compiled)     # (N, H)
    dW2, db2, delta2_window = affine_backward(delta2, c_aff, db2, reuse=compiled)
    rows, sums = embed_backward(delta2_window, c_look)                # rows ascending: N (P) last
    dh1 = np.zeros((N, dh2.shape[1]), dh2.dtype)
    inside = rows < N
    dh1[rows[inside]] = sums[inside]
    dP = sums[~inside].sum(axis=0) if (~inside).any() else np.zeros(dh2.shape[1], dh2.dtype)
    add_scaled(dW2, lam, p["W2"], compiled)                           # in place: dW2 is new
    return dh1, {"W2": dW2, "b2": db2, "P": dP.astype(dh2.dtype)}


def prepare(p, features, feats) -> dict:
    """Each feature's work for all windows of a block (the character CNN), done once."""
    return {f.name: f.prepare(p, feats[f.name]) for f in features}


def forward(p, E, ids, act, mask=None, features: list[WordFeature] = (), feats=None, states=None,
            compiled=False):
    """Up to the hidden layer: ids (B, n) word rows, feats {feature: its ids of these windows},
    states: prepare()'s, when already done; compiled: training's lookup (embed_forward's), and
    h may be written over z (act_forward's reuse).
    Returns h (B, H) and a WindowCache."""
    x_E, c_E = embed_forward(E, ids, compiled)
    xs, names, c_feats = [x_E], ["E"], []
    for f in features:
        out = f.forward(p, feats[f.name], (states or {}).get(f.name))
        xs += [x for x, _ in out]
        names += [part for part, _, _ in f.parts()]
        c_feats.append([c for _, c in out])
    x, c_cat = concat_forward(xs, ids.shape[1])
    z, c_aff = affine_forward(x, p["W"], p["b"])
    h, c_act = act_forward(z, act, reuse=compiled)
    h, c_drop = dropout_forward(h, mask)
    return h, WindowCache(names, c_E, c_feats, c_cat, c_aff, c_act, c_drop)


def window_backward(dh, cache: WindowCache, p, lam=0.0, features: list[WordFeature] = (), params=True,
                    trace: dict | None = None, compiled=False):
    """From dh = dJ/dh (B, H) down to the words: -> {part: its slice of delta_window (B, n, width)}
    and the gradients of W, b and the features' tables (row tables as (rows, their sums)). The
    word rows' split is the caller's. Training, `explain` and `graph` all run this; explain
    (params=False) needs only delta_window, and graph (trace) keeps delta and delta_window too;
    training passes compiled (act_backward's; delta_window may be written over x)."""
    dh = dropout_backward(dh, cache.dropout)
    delta, db = act_backward(dh, cache.act, compiled)   # (B, H)  delta = dJ/dz
    dW, db, delta_window = affine_backward(delta, cache.affine, db, reuse=compiled)
    if trace is not None:
        trace.update(dh=dh, delta=delta, delta_window=delta_window)
    d_parts = dict(zip(cache.parts, concat_backward(delta_window, cache.concat)))
    if not params:
        return d_parts, {}
    add_scaled(dW, lam, p["W"], compiled)               # in place: dW is new
    grads = {"W": dW, "b": db}
    for f, caches in zip(features, cache.features):
        grads.update(f.backward([d_parts[part] for part, _, _ in f.parts()], caches, p))
    return d_parts, grads


def loss(p, E, ids, y, head: Head, act="tanh", lam=0.0, mask=None, features=(), feats=None, lengths=None):
    """J and every gradient: a dense grads dict, plus (rows, dE) for the word vectors.
    For the sentence loss and a second layer, ids are the windows of whole sentences of these
    lengths; dropout's mask is on the layer below the head."""
    h, cache, c_two = _to_head(p, E, ids, act, mask, features, feats, lengths, compiled=True)
    J, grads, dh = head.loss(h, y, lengths, p, lam)
    J = _plus_l2(J, p, lam)
    if c_two is not None:
        dh, more = context_backward(dh, c_two, p, lam, compiled=True)
        grads.update(more)
    d_parts, more = window_backward(dh, cache, p, lam, features, compiled=True)
    grads.update(more)
    rows, dE = embed_backward(d_parts["E"], cache.embed)   # split delta_window's word part into rows
    return J, grads, rows, dE


def objective(p, E, ids, y, head: Head, act="tanh", lam=0.0, mask=None, features=(), feats=None, lengths=None):
    """J alone, as loss() computes it, without the backward pass below the head: central
    differences call this twice per parameter entry."""
    h = _to_head(p, E, ids, act, mask, features, feats, lengths)[0]
    return _plus_l2(head.loss(h, y, lengths, p, lam)[0], p, lam)


def _to_head(p, E, ids, act, mask, features, feats, lengths, compiled=False):
    """-> the head's input h, layer 1's cache, layer 2's cache (None with one layer); dropout's
    mask is on the layer below the head."""
    two = "W2" in p
    h, cache = forward(p, E, ids, act, None if two else mask, features, feats, compiled=compiled)
    c_two = None
    if two:
        h, c_two = context_forward(h, lengths, p, act, mask, compiled)
    return h, cache, c_two


def _plus_l2(J, p, lam):
    """J + lam/2 ||W||^2 (+ lam/2 ||W2||^2), added in that order, as the saved losses were."""
    for k in ("W", "W2"):
        if k in p:
            J += 0.5 * lam * float(np.vdot(p[k], p[k]))     # a dot product: no (H, D) temporary
    return J


def hidden(p, E, ids, act="tanh", features=(), feats=None, states=None):
    """Layer 1's h for each window (B, H), as the head or layer 2 reads it."""
    return forward(p, E, ids, act, None, features, feats, states)[0]


def head_scores(p, h, head: Head, act="tanh", lengths=None, part: slice = slice(None)):
    """The head's logits s (B,) or (B, K) from layer 1's h of whole sentences of these lengths
    (through layer 2, when p has one); part: of these positions only."""
    h = context_forward(h, lengths, p, act, part=part)[0] if "W2" in p else h[part]
    return head.logits_forward(h, p)[0]


def scores(p, E, ids, head: Head, act="tanh", features=(), feats=None, states=None, lengths=None):
    """The head's logits s for each window: (B,) or (B, K); lengths: of the whole sentences the
    windows are, for a second layer."""
    return head_scores(p, hidden(p, E, ids, act, features, feats, states), head, act, lengths)


def score_gradient(p, E, ids, head: Head, act, cls, features=(), feats=None, lengths=None):
    """ds/dx for s = the score of class cls (B,) in each window, by the same backward pass as
    training: {part: (g, x)}, each (B, 2R+1, width) for the words R = w (+ w2, with a second
    layer) either side of the token; g the part's slice of delta_window (with two layers, summed
    over the windows of layer 1 that hold the word) and x its input (the word vectors for "E",
    the character vectors for "R", ...). ids: whole sentences of these lengths."""
    h, cache = forward(p, E, ids, act, None, features, feats)
    B, n = ids.shape
    x = cache.affine[0]
    x_parts = concat_backward(x, cache.concat)              # x cut the same way as delta_window
    dh = head.score_dh(p, cls).astype(h.dtype)
    if "W2" not in p:
        d_parts, _ = window_backward(dh, cache, p, params=False)
        return {name: (d_parts[name], xp) for name, xp in zip(cache.parts, x_parts)}
    _, c_two = context_forward(h, lengths, p, act)
    w, w2 = n // 2, p["W2"].shape[1] // p["W2"].shape[0] // 2
    R = w + w2
    out = {name: (np.zeros((B, 2 * R + 1, xp.shape[2]), h.dtype), np.zeros((B, 2 * R + 1, xp.shape[2]), h.dtype))
           for name, xp in zip(cache.parts, x_parts)}
    near = positions(lengths, w2)                           # the windows of layer 1 each token's h2 reads
    for r in range(min(2 * w2 + 1, B)):     # tokens 2w2+1 apart read no window in common: one backward
        ts = np.arange(r, B, 2 * w2 + 1)    # pass takes each one's score alone (B passes took minutes)
        dh2 = np.zeros_like(dh)
        dh2[ts] = dh[ts]
        dh1, _ = context_backward(dh2, c_two, p)
        d_parts, _ = window_backward(dh1, cache, p, params=False)
        for t in ts:
            for k in near[t][near[t] < B]:                  # window k's slot i is the word at k + i - w
                offsets = k - t + np.arange(n) + R - w
                for name, xp in zip(cache.parts, x_parts):
                    g, xx = out[name]
                    g[t, offsets] += d_parts[name][k]
                    xx[t, offsets] = xp[k]
    return out
