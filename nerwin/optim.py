"""SGD, AdaGrad and Adam. Dense parameters (W, b, u, c) are updated whole; the word
vectors E only in the rows a batch touched, with per-row state (as in CS224d's
sparse updates), so a batch costs O(rows touched), not O(|V|)."""
from __future__ import annotations

import numpy as np

OPTIMIZERS = ("sgd", "adagrad", "adam")


class Optimizer:
    def __init__(self, name: str, params: dict, E: np.ndarray, lr: float, freeze: bool = False,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}")
        self.name, self.lr, self.freeze = name, lr, freeze
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0
        self.state = {k: (np.zeros_like(v), np.zeros_like(v)) for k, v in params.items()}
        # per-row state of E: first and second moments, and each row's own step count
        self.E_m = np.zeros_like(E)
        self.E_v = np.zeros_like(E)
        self.E_t = np.zeros(E.shape[0], dtype=np.int64)

    def _update(self, g, m, v, t):
        """Return the step for gradient g, updating the moments m, v in place."""
        if self.name == "sgd":
            return self.lr * g
        if self.name == "adagrad":
            v += g * g
            return self.lr * g / (np.sqrt(v) + self.eps)
        m *= self.beta1
        m += (1 - self.beta1) * g
        v *= self.beta2
        v += (1 - self.beta2) * g * g
        m_hat = m / (1 - self.beta1 ** t)
        v_hat = v / (1 - self.beta2 ** t)
        return self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def step(self, params: dict, grads: dict, E: np.ndarray, rows: np.ndarray, dE: np.ndarray) -> None:
        self.t += 1
        for k, g in grads.items():
            m, v = self.state[k]
            params[k] -= self._update(g, m, v, self.t).astype(params[k].dtype, copy=False)
        if self.freeze:
            return
        # rows are distinct (np.unique in embed_backward), so fancy-index writes lose nothing
        self.E_t[rows] += 1
        t = self.E_t[rows][:, None]
        m, v = self.E_m[rows], self.E_v[rows]
        E[rows] -= self._update(dE, m, v, t).astype(E.dtype, copy=False)
        self.E_m[rows], self.E_v[rows] = m, v
