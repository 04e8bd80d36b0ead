"""SGD, AdaGrad and Adam. Dense parameters (W, b, u, c, ...) are updated whole; the word
vectors E and the character and affix tables only in the rows a batch touched, with per-row state (as in CS224d's
sparse updates), so a batch costs O(rows touched), not O(|V|). A dense array is one
row that every step touches, so both go through the same compiled row update (kernels.step_rows)."""
from __future__ import annotations

import math

import numpy as np

OPTIMIZERS = ("sgd", "adagrad", "adam")
ONE_ROW = np.zeros(1, dtype=np.int64)


class Optimizer:
    def __init__(self, name: str, params: dict, E: np.ndarray, lr: float, trainable: np.ndarray | None = None,
                 row_tables: tuple[str, ...] = (), beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        """trainable (|V|,) bool: the rows of E that may move (--freeze keeps the pretrained rows
        as loaded and trains only <UNK>, <s>, </s>); None: every row. row_tables: the tables whose
        gradient comes as (rows, their sums), as E's does (the features say which)."""
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}")
        from nerwin.nn.kernels import step_rows     # numba: only once training starts
        self.name, self.kind, self.lr, self.trainable = name, OPTIMIZERS.index(name), lr, trainable
        self.kernel = step_rows
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        # state per array: each row's moments m and v side by side (rows, 2, cols), and its step count
        state = lambda X: (np.zeros((X.shape[0], 2, X.shape[1]), X.dtype), np.zeros(X.shape[0], np.int64))  # noqa: E731
        self.dense = {k: state(params[k].reshape(1, -1)) for k in params if k not in row_tables}
        if not all(params[k].flags.c_contiguous for k in self.dense):    # step() updates views of them
            raise ValueError("dense parameters must be C-contiguous")
        self.tables = {k: state(params[k]) for k in params if k in row_tables}
        self.E_state = state(E)
        self.steps = 0
        self.bias = np.zeros((1, 2))        # Adam's corrections by step count; row 0 unused

    def touch(self) -> None:
        """Write every state array once, so that its pages fault in now rather than in the first
        steps (np.zeros maps them lazily), and run the update loop once on a scratch row of each
        dtype, so that numba loads it now."""
        for mv, t in [*self.dense.values(), *self.tables.values(), self.E_state]:
            mv.fill(0.0)
            t.fill(0)
        for dtype in {mv.dtype for mv, _ in [*self.dense.values(), *self.tables.values(), self.E_state]}:
            X, G = np.zeros((1, 1), dtype), np.zeros((1, 1), dtype)
            self.kernel(self.kind, X, ONE_ROW, G, np.zeros((1, 2, 1), dtype), np.zeros(1, np.int64), self.lr,
                        self.beta1, self.beta2, self.eps, np.ones((2, 2)))

    def _step(self, X, rows, G, state) -> None:
        mv, t = state
        self.kernel(self.kind, X, rows, G, mv, t, self.lr, self.beta1, self.beta2, self.eps, self.bias)

    def _dense_step(self, x, g, state) -> None:
        """A dense array is one row; x.reshape is a view, so the update lands in x."""
        mv, t = state
        self.kernel(self.kind, x.reshape(1, -1), ONE_ROW, g.reshape(1, -1), mv, t, self.lr, self.beta1, self.beta2,
                    self.eps, self.bias)

    def step(self, params: dict, grads: dict, E: np.ndarray, rows: np.ndarray, dE: np.ndarray) -> None:
        self.steps += 1                     # no row has been touched more often than this
        if self.steps >= len(self.bias):
            t = range(len(self.bias), 2 * self.steps)
            more = [(math.sqrt(1.0 - self.beta2 ** k), 1.0 - self.beta1 ** k) for k in t]
            self.bias = np.concatenate([self.bias, np.array(more).reshape(-1, 2)])
        for k, state in self.dense.items():
            self._dense_step(params[k], grads[k], state)
        for k, state in self.tables.items():
            self._step(params[k], *grads[k], state)
        if self.trainable is not None:
            keep = self.trainable[rows]
            rows, dE = rows[keep], dE[keep]
        self._step(E, rows, dE, self.E_state)       # rows are distinct, so no update is lost
