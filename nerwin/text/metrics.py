"""Precision, recall and F1 with the counts behind them: token level for a binary target,
span-exact entity level (conlleval's spans, see schemes.py) for all types."""
from __future__ import annotations

import numpy as np

from nerwin.text.schemes import spans


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "tp": int(tp), "fp": int(fp), "fn": int(fn)}


def token_counts(y_true: np.ndarray, y_pred: np.ndarray, into: dict | None = None) -> dict:
    """y_true, y_pred (N,) in {0, 1}: the positive class's tp, fp, fn, support and tokens, added
    into `into` (a stream's blocks one by one)."""
    y_true, y_pred = np.asarray(y_true).astype(bool), np.asarray(y_pred).astype(bool)
    n = into if into is not None else dict.fromkeys(("tp", "fp", "fn", "support", "tokens"), 0)
    n["tp"] += int(np.sum(y_true & y_pred))
    n["fp"] += int(np.sum(~y_true & y_pred))
    n["fn"] += int(np.sum(y_true & ~y_pred))
    n["support"] += int(y_true.sum())
    n["tokens"] += int(y_true.size)
    return n


def token_scores(n: dict) -> dict:
    """P/R/F1 of the positive class, with counts, from token_counts."""
    return dict(prf(n["tp"], n["fp"], n["fn"]), support=n["support"], tokens=n["tokens"])


def token_prf(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """y_true, y_pred (N,) in {0, 1}: scores of the positive class only."""
    return token_scores(token_counts(y_true, y_pred))


def format_prf(m: dict) -> str:
    return (f"P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}  "
            f"(tp {m['tp']}, fp {m['fp']}, fn {m['fn']})")


# ---- entity level, in conlleval's sense -----------------------------------------------

def entity_counts(gold: list[list[str]], pred: list[list[str]], into: dict | None = None) -> dict:
    """Each type's gold, predicted and matching spans, added into `into` (a stream's blocks one by one)."""
    n = into if into is not None else {"tp": {}, "gold": {}, "pred": {}}
    tp, n_gold, n_pred = n["tp"], n["gold"], n["pred"]
    for gold_tags, pred_tags in zip(gold, pred):
        gs, ps = set(spans(gold_tags)), set(spans(pred_tags))
        for t, *_ in gs:
            n_gold[t] = n_gold.get(t, 0) + 1
        for t, *_ in ps:
            n_pred[t] = n_pred.get(t, 0) + 1
        for t, *_ in gs & ps:
            tp[t] = tp.get(t, 0) + 1
    return n


def entity_scores(n: dict) -> dict:
    """Span-exact P/R/F1, micro-averaged and per type, with counts, from entity_counts."""
    tp, n_gold, n_pred = n["tp"], n["gold"], n["pred"]
    per = {}
    for t in sorted(set(n_gold) | set(n_pred)):
        per[t] = prf(tp.get(t, 0), n_pred.get(t, 0) - tp.get(t, 0), n_gold.get(t, 0) - tp.get(t, 0))
        per[t]["support"] = n_gold.get(t, 0)
    T, G, P = sum(tp.values()), sum(n_gold.values()), sum(n_pred.values())
    out = prf(T, P - T, G - T)
    out.update(support=G, per_type=per)
    return out


def entity_prf(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """Span-exact P/R/F1, micro-averaged and per type, with counts."""
    return entity_scores(entity_counts(gold, pred))


def format_entity(m: dict) -> str:
    lines = [f"entity-level (micro): {format_prf(m)}"]
    for t, x in m["per_type"].items():
        lines.append(f"  {t:<14} {format_prf(x)}  support {x['support']}")
    return "\n".join(lines)


def calibration_bins(confidence, correct, bins: int = 10, into: np.ndarray | None = None) -> np.ndarray:
    """(bins, 3): each equal-width bin of confidence's count, sum of confidences and sum of correct,
    added into `into` (a stream's blocks one by one)."""
    c, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    which = np.minimum((c * bins).astype(int), bins - 1)
    out = into if into is not None else np.zeros((bins, 3))
    out[:, 0] += np.bincount(which, minlength=bins)
    out[:, 1] += np.bincount(which, weights=c, minlength=bins)
    out[:, 2] += np.bincount(which, weights=ok, minlength=bins)
    return out


def calibration_of(binned: np.ndarray) -> dict:
    """Expected calibration error and each bin's figures, from calibration_bins: is a prediction
    made with confidence 0.8 right 80% of the time?"""
    bins, total = len(binned), int(binned[:, 0].sum())
    out, ece = [], 0.0
    for b, (n, conf, ok) in enumerate(binned):
        n = int(n)
        conf, acc = (float(conf / n), float(ok / n)) if n else (None, None)
        if n:
            ece += n / total * abs(acc - conf)
        out.append({"lo": b / bins, "hi": (b + 1) / bins, "n": n, "confidence": conf, "accuracy": acc})
    return {"ece": ece, "n": total, "bins": out}


def calibration(confidence, correct, bins: int = 10) -> dict:
    """Expected calibration error over equal-width bins of confidence, and each bin's figures."""
    return calibration_of(calibration_bins(confidence, correct, bins))


def precision_recall(confidence, correct, n_gold: int, thresholds=(0.5, 0.8, 0.9)) -> dict:
    """Precision and recall of the entities kept at each confidence threshold, and the curve as the
    threshold falls (at most 200 points, highest threshold first)."""
    c, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=bool)
    order = np.argsort(-c, kind="stable")
    tp = np.cumsum(ok[order])
    kept = np.arange(1, len(c) + 1)
    points = np.unique(np.linspace(0, len(c) - 1, min(len(c), 200)).astype(int)) if len(c) else []
    curve = [{"threshold": float(c[order][i]), "precision": float(tp[i] / kept[i]),
              "recall": float(tp[i] / n_gold) if n_gold else 0.0} for i in points]
    at = {}
    for t in thresholds:
        sel = c >= t
        k, good = int(sel.sum()), int(ok[sel].sum())
        at[f"{t:g}"] = {"precision": good / k if k else 0.0, "recall": good / n_gold if n_gold else 0.0, "kept": k}
    return {"at": at, "curve": curve}
