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


# ---- entity level, in conlleval's sense -----------------------------------------------

def _split(tag: str) -> tuple[str, str]:
    if tag == "O" or not tag:
        return "O", ""
    head, sep, rest = tag.partition("-")
    if sep and len(head) == 1:
        return head.upper(), rest
    return "I", tag   # a plain type behaves as IOB1's I-


def spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end exclusive) of each entity, for IOB1, IOB2 and BIOES tags.

    conlleval's rules: a chunk starts at B-/S-, or at I-/E- after O or after another
    type; it ends before O, B-, S-, a type change, or after E-/S-.
    """
    out, start, typ = [], None, None
    prev_p, prev_t = "O", ""
    for i, tag in enumerate(list(tags) + ["O"]):
        p, t = _split(tag)
        end = prev_p != "O" and (p in ("O", "B", "S") or t != prev_t or prev_p in ("E", "S", "U", "L"))
        if end and start is not None:
            out.append((typ, start, i))
            start = None
        begins = p in ("B", "S", "U") or (p in ("I", "E", "L") and (prev_p == "O" or t != prev_t
                                                                     or prev_p in ("E", "S", "U", "L")))
        if p != "O" and (begins or start is None):
            start, typ = i, t
        prev_p, prev_t = p, t
    return out


def entity_prf(gold: list[list[str]], pred: list[list[str]]) -> dict:
    """Span-exact P/R/F1, micro-averaged and per type, with counts."""
    tp, n_gold, n_pred = {}, {}, {}
    for g, p in zip(gold, pred):
        gs, ps = set(spans(g)), set(spans(p))
        for t, *_ in gs:
            n_gold[t] = n_gold.get(t, 0) + 1
        for t, *_ in ps:
            n_pred[t] = n_pred.get(t, 0) + 1
        for t, *_ in gs & ps:
            tp[t] = tp.get(t, 0) + 1
    types = sorted(set(n_gold) | set(n_pred))
    per = {}
    for t in types:
        per[t] = prf(tp.get(t, 0), n_pred.get(t, 0) - tp.get(t, 0), n_gold.get(t, 0) - tp.get(t, 0))
        per[t]["support"] = n_gold.get(t, 0)
    T, G, P = sum(tp.values()), sum(n_gold.values()), sum(n_pred.values())
    out = prf(T, P - T, G - T)
    out.update(support=G, per_type=per)
    return out


def to_iob2(tags: list[str]) -> list[str]:
    """Any scheme (IOB1, IOB2, BIOES, plain types) -> IOB2, through its entity spans."""
    out = ["O"] * len(tags)
    for t, a, b in spans(tags):
        out[a] = "B-" + t
        for i in range(a + 1, b):
            out[i] = "I-" + t
    return out


def iob2_classes(types: list[str]) -> list[str]:
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def decode_iob2(classes: list[str], prob: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Most probable valid IOB2 sequence under the per-token probabilities prob (n, K).

    Viterbi over log-probabilities where I-X may follow only B-X or I-X (and cannot
    start a sentence). Returns the tags and each chosen tag's probability.
    """
    n, K = prob.shape
    logp = np.log(np.maximum(prob, 1e-30))
    allowed = np.ones((K, K), dtype=bool)              # allowed[prev, cur]
    start = np.ones(K, dtype=bool)
    for j, c in enumerate(classes):
        if c.startswith("I-"):
            start[j] = False
            allowed[:, j] = [pc in ("B-" + c[2:], c) for pc in classes]
    penalty = np.where(allowed, 0.0, -np.inf)
    score = np.where(start, logp[0], -np.inf)
    back = np.zeros((n, K), dtype=np.int64)
    for i in range(1, n):
        cand = score[:, None] + penalty                # (prev, cur)
        back[i] = cand.argmax(axis=0)
        score = cand[back[i], np.arange(K)] + logp[i]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return [classes[k] for k in path], prob[np.arange(n), path]


def decode_sentences(classes: list[str], prob: np.ndarray, lengths) -> list[tuple[list[str], np.ndarray]]:
    """Split per-token probabilities (N, K) by sentence and decode each with decode_iob2."""
    out, i = [], 0
    for n in lengths:
        out.append(decode_iob2(classes, prob[i:i + n]))
        i += n
    return out


def format_entity(m: dict) -> str:
    lines = [f"entity-level (micro): {format_prf(m)}"]
    for t, x in m["per_type"].items():
        lines.append(f"  {t:<14} {format_prf(x)}  support {x['support']}")
    return "\n".join(lines)
