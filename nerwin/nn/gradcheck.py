"""Numerical check of the hand-derived gradients: central differences, float64."""
from __future__ import annotations

import numpy as np

from nerwin.nn import model
from nerwin.nn.heads import BinaryHead, Head, SentenceHead, SoftmaxHead
from nerwin.text.windows import SHAPES


def rel_error(a: np.ndarray, n: np.ndarray) -> float:
    """||a - n|| / (||a|| + ||n||) over a whole parameter.

    Per parameter, not per element: an element whose gradient is ~1e-9 would
    otherwise turn the finite-difference roundoff (~1e-11) into a large ratio.
    """
    a, n = np.asarray(a, np.float64).ravel(), np.asarray(n, np.float64).ravel()
    scale = np.linalg.norm(a) + np.linalg.norm(n)
    return float(np.linalg.norm(a - n) / scale) if scale > 0 else 0.0


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dJ/dx by central differences, one element at a time (x is changed and restored in place)."""
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        jp = f()
        flat[i] = old - eps
        jm = f()
        flat[i] = old
        gflat[i] = (jp - jm) / (2 * eps)
    return g


def check(p: dict, E: np.ndarray, ids: np.ndarray, y: np.ndarray, head: Head, act: str, lam: float,
          mask: np.ndarray | None = None, shapes: np.ndarray | None = None, lengths=None) -> dict[str, float]:
    """Relative error of each parameter's gradient (C and A too) and of the touched
    word-vector rows; "E untouched" is the largest numerical gradient of rows no window uses."""
    _, grads, rows, dE = model.loss(p, E, ids, y, head, act, lam, mask, shapes, lengths)

    def J():
        return model.loss(p, E, ids, y, head, act, lam, mask, shapes, lengths)[0]

    errors = {k: rel_error(grads[k], numeric_grad(J, p[k])) for k in p}
    num_E = numeric_grad(J, E)
    errors["E rows"] = rel_error(dE, num_E[rows])
    untouched = np.setdiff1d(np.arange(E.shape[0]), rows)
    errors["E untouched"] = float(np.max(np.abs(num_E[untouched]))) if untouched.size else 0.0
    return errors


def sentence_problem(E: np.ndarray, X: np.ndarray, y: np.ndarray, hidden: int, classes: list[str], seed: int,
                     lengths=(1, 40), casing: int = 0):
    """Real windows and IOB2 tags of consecutive words, cut into sentences of these lengths, with
    random transition scores A: the sentence loss's problem in float64. -> p, E, ids, y, shapes,
    lengths and the head."""
    rng = np.random.default_rng(seed)
    ids, yy = X[:sum(lengths)].copy(), y[:sum(lengths)].copy()
    rows, inv = np.unique(ids, return_inverse=True)
    E_small = np.vstack([E[rows], E[:1]]).astype(np.float64)
    ids = inv.reshape(ids.shape)
    head = SentenceHead("all", classes)
    p = model.init_params(ids.shape[1] * (E.shape[1] + casing), hidden, head, rng, np.float64,
                          casing=(len(SHAPES), casing) if casing else None)
    for k in p:
        p[k] += rng.normal(0, 0.1, size=p[k].shape)
    shapes = rng.integers(0, len(SHAPES), size=ids.shape) if casing else None
    return p, E_small, ids, yy, shapes, np.array(lengths), head


def sample_problem(E: np.ndarray, X: np.ndarray, y: np.ndarray, hidden: int, K: int, seed: int, n: int = 8,
                   casing: int = 0):
    """A small float64 problem on real windows: n windows, plus one that repeats a word,
    and the embedding cut to just the rows they use (plus one unused row).
    K > 1 draws class labels for a softmax head; casing > 0 adds a casing table and random shape
    ids. -> p, E, ids, y, shapes and the head."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(X), size=min(n, len(X)), replace=False)
    ids, yy = X[pick].copy(), y[pick].copy()
    rep = ids[0].copy()
    rep[-1] = rep[0]              # one window with a repeated word
    ids, yy = np.vstack([ids, rep]), np.concatenate([yy, yy[:1]])
    rows, inv = np.unique(ids, return_inverse=True)
    E_small = np.vstack([E[rows], E[:1]]).astype(np.float64)   # last row is never used
    ids = inv.reshape(ids.shape)
    n_words = ids.shape[1]
    head = BinaryHead("T", ["T"]) if K == 1 else SoftmaxHead("all", ["O"] + [f"B-T{k}" for k in range(1, K)])
    p = model.init_params(n_words * (E.shape[1] + casing), hidden, head, rng, np.float64,
                          casing=(len(SHAPES), casing) if casing else None)
    for k in p:  # non-zero biases, so their gradients are exercised at a generic point
        p[k] += rng.normal(0, 0.1, size=p[k].shape)
    if K > 1:
        yy = rng.integers(0, K, size=len(ids))
    shapes = rng.integers(0, len(SHAPES), size=ids.shape) if casing else None
    return p, E_small, ids, yy, shapes, head
