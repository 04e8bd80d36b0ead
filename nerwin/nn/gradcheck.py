"""Numerical check of the hand-derived gradients: central differences, float64."""
from __future__ import annotations

import numpy as np

from nerwin.nn import network
from nerwin.nn.features import FeatureIds, WordFeature
from nerwin.nn.heads import BinaryHead, Head, SentenceHead, SoftmaxHead


def rel_error(a: np.ndarray, n: np.ndarray) -> float:
    """||a - n|| / (||a|| + ||n||) over a whole parameter.

    Per parameter, not per element: an element whose gradient is ~1e-9 would
    otherwise turn the finite-difference roundoff (~1e-11) into a large ratio.
    """
    a, n = np.asarray(a, np.float64).ravel(), np.asarray(n, np.float64).ravel()
    scale = np.linalg.norm(a) + np.linalg.norm(n)
    return float(np.linalg.norm(a - n) / scale) if scale > 0 else 0.0


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6, tick=None) -> np.ndarray:
    """dJ/dx by central differences, one element at a time (x is changed and restored in place);
    tick(), if given, after each element."""
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
        if tick is not None:
            tick()
    return g


STEPS = (1e-6, 1e-5)    # central differences' step h: the first, then the second where the first fails


def check(p: dict, E: np.ndarray, ids: np.ndarray, y: np.ndarray, head: Head, act: str, lam: float,
          mask: np.ndarray | None = None, features: list[WordFeature] = (), feats: FeatureIds | None = None,
          lengths=None, tick=None, tolerance: float | None = None, steps: dict | None = None) -> dict[str, float]:
    """Relative error of each parameter's gradient (the features' tables and A too) and of the
    touched word-vector rows; "E untouched" is the largest numerical gradient of rows no window uses.
    tick() after each of the size(p) + size(E) elements (two losses each).

    With tolerance, a parameter whose error is above it is differenced again with the larger step
    of STEPS, and keeps the smaller error; steps, a dict, gets the step each such parameter kept.
    Roundoff in J(x + h) - J(x - h) grows as 1/h, and where the gradients are tiny (one saturated
    hidden unit, --hidden 1) it passes 1e-6 at h = 1e-6 and falls tenfold at 1e-5; a larger h
    first would cross the kinks of a max or a ReLU. A wrong gradient is wrong at both steps."""
    _, grads, rows, dE = network.loss(p, E, ids, y, head, act, lam, mask, features, feats, lengths)
    for k in (t for f in features for t in f.row_tables):     # (rows, sums) -> the whole table's gradient
        dense = np.zeros_like(p[k])
        dense[grads[k][0]] = grads[k][1]
        grads[k] = dense

    def J():
        return network.objective(p, E, ids, y, head, act, lam, mask, features, feats, lengths)

    def error(k: str, x: np.ndarray, analytic, rows=None) -> tuple[float, np.ndarray]:
        """k's relative error, and x's numerical gradient at the first step (for E's untouched rows)."""
        num = numeric_grad(J, x, STEPS[0], tick)
        err = rel_error(analytic, num if rows is None else num[rows])
        if tolerance is not None and err > tolerance:
            again = numeric_grad(J, x, STEPS[1])
            again = rel_error(analytic, again if rows is None else again[rows])
            if again < err:
                err = again
                if steps is not None:
                    steps[k] = STEPS[1]
        return err, num

    errors = {k: error(k, p[k], grads[k])[0] for k in p}
    errors["E rows"], num_E = error("E rows", E, dE, rows)
    untouched = np.setdiff1d(np.arange(E.shape[0]), rows)
    errors["E untouched"] = float(np.max(np.abs(num_E[untouched]))) if untouched.size else 0.0
    return errors


def _params(D: int, hidden: int, head: Head, rng, features, window2=None) -> dict:
    p = network.init_params(D, hidden, head, rng, np.float64, features, window2)
    for k in p:  # non-zero biases, so their gradients are exercised at a generic point
        p[k] += rng.normal(0, 0.1, size=p[k].shape)
    return p


def _cut(E: np.ndarray, ids: np.ndarray):
    """E cut to the rows ids use, plus one unused row (its gradient must stay 0); ids renumbered."""
    rows, inv = np.unique(ids, return_inverse=True)
    return np.vstack([E[rows], E[:1]]).astype(np.float64), inv.reshape(ids.shape)


def width(E: np.ndarray, ids: np.ndarray, features) -> int:
    """D for windows of ids over E with these features."""
    return ids.shape[1] * (E.shape[1] + sum(f.width for f in features))


def sentence_problem(E: np.ndarray, X: np.ndarray, y: np.ndarray, hidden: int, classes: list[str], seed: int,
                     lengths=(1, 40), features: list[WordFeature] = (), feats: FeatureIds | None = None,
                     window2: int | None = None, head: Head | None = None):
    """Real windows and IOB2 tags of consecutive words, cut into sentences of these lengths, with
    random transition scores A: the sentence loss's problem in float64 (or head's, on whole
    sentences). feats: what the features read of the corpus's windows; window2: a second layer.
    -> p, E, ids, y, feats, lengths and the head."""
    rng = np.random.default_rng(seed)
    pick = np.arange(sum(lengths))
    E_small, ids = _cut(E, X[pick])
    head = head or SentenceHead("all", classes)
    p = _params(width(E, ids, features), hidden, head, rng, features, window2)
    return p, E_small, ids, y[pick].copy(), (feats or FeatureIds()).batch(pick), np.array(lengths), head


def repeat_last_slot(feats: FeatureIds) -> None:
    """The last window's last slot reads what its first slot reads, in every id matrix."""
    for v in feats.values():
        for m in (v if isinstance(v, tuple) else [getattr(v, "slots", v)]):
            m[-1, -1] = m[-1, 0]


def sample_problem(E: np.ndarray, X: np.ndarray, y: np.ndarray, hidden: int, K: int, seed: int, n: int = 8,
                   features: list[WordFeature] = (), feats: FeatureIds | None = None, must=()):
    """A small float64 problem on real windows: n random windows, the windows `must` (indices),
    plus one that repeats a word, and the embedding cut to just the rows they use (plus one
    unused row). K > 1 draws class labels for a softmax head. features, feats: as
    sentence_problem. -> p, E, ids, y, feats and the head."""
    rng = np.random.default_rng(seed)
    pick = np.concatenate([rng.choice(len(X), size=min(n, len(X)), replace=False), np.asarray(must, np.int64)])
    pick = np.concatenate([pick, pick[:1]])           # the first window again, with a repeated word
    ids = X[pick].copy()
    ids[-1, -1] = ids[-1, 0]
    feats = (feats or FeatureIds()).take(pick)
    repeat_last_slot(feats)
    feats = feats.batch(np.arange(len(pick)))
    E_small, ids = _cut(E, ids)
    head = BinaryHead("T", ["T"]) if K == 1 else SoftmaxHead("all", ["O"] + [f"B-T{k}" for k in range(1, K)])
    p = _params(width(E, ids, features), hidden, head, rng, features)
    yy = rng.integers(0, K, size=len(ids)) if K > 1 else y[pick].copy()
    return p, E_small, ids, yy, feats, head
