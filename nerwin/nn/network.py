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
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nerwin.nn.features import WordFeature
from nerwin.nn.heads import Head
from nerwin.nn.layers import (act_backward, act_forward, affine_backward, affine_forward, concat_backward,
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
                features: list[WordFeature] = ()) -> dict:
    """Xavier/Glorot uniform for W and the head's weights, zero biases, then each feature's
    tables, drawn in that order. D must include every part of a slot."""
    p = {"W": xavier(H, D, rng, dtype), "b": np.zeros(H, dtype)}
    p.update(head.init(H, rng, dtype))
    for f in features:
        p.update(f.init(rng, dtype))
    return p


def prepare(p, features, feats) -> dict:
    """Each feature's work for all windows of a block (the character CNN), done once."""
    return {f.name: f.prepare(p, feats[f.name]) for f in features}


def forward(p, E, ids, act, mask=None, features: list[WordFeature] = (), feats=None, states=None):
    """Up to the hidden layer: ids (B, n) word rows, feats {feature: its ids of these windows},
    states: prepare()'s, when already done. Returns h (B, H) and a WindowCache."""
    x_E, c_E = embed_forward(E, ids)
    xs, names, c_feats = [x_E], ["E"], []
    for f in features:
        out = f.forward(p, feats[f.name], (states or {}).get(f.name))
        xs += [x for x, _ in out]
        names += [part for part, _, _ in f.parts()]
        c_feats.append([c for _, c in out])
    x, c_cat = concat_forward(xs, ids.shape[1])
    z, c_aff = affine_forward(x, p["W"], p["b"])
    h, c_act = act_forward(z, act)
    h, c_drop = dropout_forward(h, mask)
    return h, WindowCache(names, c_E, c_feats, c_cat, c_aff, c_act, c_drop)


def window_backward(dh, cache: WindowCache, p, lam=0.0, features: list[WordFeature] = (), params=True,
                    trace: dict | None = None):
    """From dh = dJ/dh (B, H) down to the words: -> {part: its slice of delta_window (B, n*width)}
    and the gradients of W, b and the features' tables (row tables as (rows, their sums)). The
    word rows' split is the caller's. Training, `explain` and `graph` all run this; explain
    (params=False) needs only delta_window, and graph (trace) keeps delta and delta_window too."""
    dh = dropout_backward(dh, cache.dropout)
    delta = act_backward(dh, cache.act)                 # (B, H)  delta = dJ/dz
    dW, db, delta_window = affine_backward(delta, cache.affine)
    if trace is not None:
        trace.update(dh=dh, delta=delta, delta_window=delta_window)
    d_parts = dict(zip(cache.parts, concat_backward(delta_window, cache.concat)))
    if not params:
        return d_parts, {}
    grads = {"W": dW + lam * p["W"], "b": db}
    for f, caches in zip(features, cache.features):
        grads.update(f.backward([d_parts[part] for part, _, _ in f.parts()], caches, p))
    return d_parts, grads


def loss(p, E, ids, y, head: Head, act="tanh", lam=0.0, mask=None, features=(), feats=None, lengths=None):
    """J and every gradient: a dense grads dict, plus (rows, dE) for the word vectors.
    For the sentence loss, ids are the windows of whole sentences of these lengths."""
    h, cache = forward(p, E, ids, act, mask, features, feats)
    J, grads, dh = head.loss(h, y, lengths, p, lam)
    J += 0.5 * lam * float(np.sum(p["W"] ** 2))
    d_parts, more = window_backward(dh, cache, p, lam, features)
    grads.update(more)
    rows, dE = embed_backward(d_parts["E"], cache.embed)   # split delta_window's word part into rows
    return J, grads, rows, dE


def scores(p, E, ids, head: Head, act="tanh", features=(), feats=None, states=None):
    """The head's logits s for each window: (B,) or (B, K)."""
    h, _ = forward(p, E, ids, act, None, features, feats, states)
    return head.logits_forward(h, p)[0]


def score_gradient(p, E, ids, head: Head, act, cls, features=(), feats=None):
    """ds/dx for s = the score of class cls (B,) in each window, by the same backward pass as
    training: {part: (g, x)}, each (B, n, width), g the part's slice of delta_window and x its
    input (the word vectors for "E", the character vectors for "R", ...)."""
    h, cache = forward(p, E, ids, act, None, features, feats)
    d_parts, _ = window_backward(head.score_dh(p, cls).astype(h.dtype), cache, p, params=False)
    B, n = ids.shape
    x = cache.affine[0]
    x_parts = concat_backward(x, cache.concat)              # x cut the same way as delta_window
    return {name: (d_parts[name].reshape(B, n, -1), xp.reshape(B, n, -1)) for name, xp in zip(cache.parts, x_parts)}
