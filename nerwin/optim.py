"""SGD, AdaGrad and Adam. Dense parameters (W, b, u, c) are updated whole; the word
vectors E only in the rows a batch touched, with per-row state (as in CS224d's
sparse updates), so a batch costs O(rows touched), not O(|V|)."""
from __future__ import annotations

import numpy as np

OPTIMIZERS = ("sgd", "adagrad", "adam")


class Optimizer:
    def __init__(self, name: str, params: dict, E: np.ndarray, lr: float, trainable: np.ndarray | None = None,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        """trainable (|V|,) bool: the rows of E that may move (--freeze keeps the pretrained rows
        as loaded and trains only <UNK>, <s>, </s>); None: every row."""
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}")
        self.name, self.lr, self.trainable = name, lr, trainable
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0
        # the dense parameters share one flat moment vector, so Adam runs once a step, not once per array
        self.keys = sorted(params)
        sizes = [params[k].size for k in self.keys]
        ends = np.cumsum(sizes).tolist()
        self.slices = {k: (e - n, e) for k, n, e in zip(self.keys, sizes, ends)}
        self.m = np.zeros(sum(sizes), dtype=E.dtype)
        self.v = np.zeros(sum(sizes), dtype=E.dtype)
        # per-row state of E: both moments side by side (one gather, one scatter a step),
        # and each row's own step count
        self.E_mv = np.zeros((E.shape[0], 2, E.shape[1]), dtype=E.dtype)
        self.E_t = np.zeros(E.shape[0], dtype=np.int64)

    def _update(self, g, m, v, t):
        """Return the step for gradient g, updating the moments m, v in place.

        Adam in the paper's efficient form: lr * m_hat / (sqrt(v_hat) + eps) equals
        lr_t * m / (sqrt(v) + eps_t) with lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) and
        eps_t = eps sqrt(1 - b2^t); the bias corrections then touch scalars (or one
        value per row), not whole arrays.
        """
        if self.name == "sgd":
            return self.lr * g
        if self.name == "adagrad":
            v += g * g
            return self.lr * g / (np.sqrt(v) + self.eps)
        b1, b2 = self.beta1, self.beta2
        m *= b1
        m += (1 - b1) * g
        v *= b2
        g2 = g * g
        g2 *= 1 - b2
        v += g2
        c2 = np.sqrt(1 - b2 ** t)
        denom = np.sqrt(v)
        denom += self.eps * c2
        step = m / denom
        step *= self.lr * c2 / (1 - b1 ** t)
        return step

    def step(self, params: dict, grads: dict, E: np.ndarray, rows: np.ndarray, dE: np.ndarray) -> None:
        self.t += 1
        g = np.concatenate([grads[k].ravel() for k in self.keys])
        step = self._update(g, self.m, self.v, self.t).astype(g.dtype, copy=False)
        for k in self.keys:
            a, b = self.slices[k]
            params[k] -= step[a:b].reshape(params[k].shape)
        if self.trainable is not None:
            keep = self.trainable[rows]
            rows, dE = rows[keep], dE[keep]
            if not len(rows):
                return
        # rows are distinct (np.unique in embed_backward), so fancy-index writes lose nothing
        self.E_t[rows] += 1
        t = self.E_t[rows][:, None]
        mv = self.E_mv[rows]                      # (R, 2, d) copy; _update changes it in place
        E[rows] -= self._update(dE, mv[:, 0], mv[:, 1], t).astype(E.dtype, copy=False)
        self.E_mv[rows] = mv
