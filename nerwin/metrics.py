"""Token-level precision, recall and F1 for the target class, with the counts behind them."""
from __future__ import annotations

import numpy as np


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": int(tp), "fp": int(fp), "fn": int(fn)}


def token_prf(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """y_true, y_pred (N,) in {0, 1}: scores of the positive class only."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    out = prf(int(np.sum(y_true & y_pred)), int(np.sum(~y_true & y_pred)), int(np.sum(y_true & ~y_pred)))
    out["support"] = int(y_true.sum())
    out["tokens"] = int(y_true.size)
    return out


def format_prf(m: dict) -> str:
    return (f"P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}  "
            f"(tp {m['tp']}, fp {m['fp']}, fn {m['fn']})")
