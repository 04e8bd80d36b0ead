"""Tag schemes, in one place: IOB1, IOB2, BIOES/BILOU and bare types.

One parser reads every tag: `parse('B-LOC') == ('B', 'LOC')`, `parse('O') == ('O', None)`.
BILOU's U- and L- read as S- and E-. A bare type (`LOC`, `geo-loc`) reads as I-, IOB1's
inside tag, which is what conlleval does with it. Spans follow conlleval's chunk rules, so
every scheme gives the same entities that seqeval's default mode gives. The model's classes
are IOB2 tags, decoded by Viterbi over the transitions IOB2 allows.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

PREFIXES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S"}
LINE_BREAKS = "\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"    # a tab, and what str.splitlines breaks at


def breaks_line(s: str) -> bool:
    """s holds a tab or a line break: as a CoNLL token or tag it would break its line (a space
    would not: columns are split at tabs first)."""
    return any(c in LINE_BREAKS for c in s)


@lru_cache(maxsize=4096)              # a corpus and a model hold a few dozen tags, read millions of times
def parse(tag: str) -> tuple[str, str | None]:
    """-> (prefix in O/B/I/E/S, type). Raises ValueError for a tag no scheme has."""
    if tag == "O" or tag == "o":
        return "O", None
    head, sep, rest = tag.partition("-")
    if sep and len(head) == 1 and head.isalpha():
        p = PREFIXES.get(head.upper())
        if p is None or not rest:
            raise ValueError(f"unknown tag {tag!r}: expected O, a type, or B-/I-/E-/S-/L-/U- and a type")
        return p, rest
    if not tag.strip():
        raise ValueError("empty tag")
    return "I", tag


def spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end exclusive) of each entity, by conlleval's rules.

    A chunk starts at B-/S-, or at I-/E- after O, after E-/S-, or after another type;
    it ends before O, B-, S- or a type change, and after E-/S-.
    """
    out, start = [], None
    prev_p, prev_t = "O", None
    for i, tag in enumerate(list(tags) + ["O"]):
        p, t = parse(tag)
        if start is not None and (p in ("O", "B", "S") or t != prev_t or prev_p in ("E", "S")):
            out.append((prev_t, start, i))
            start = None
        if p != "O" and start is None:
            start = i
        prev_p, prev_t = p, t
    return out


def types(tags) -> list[str]:
    """Entity types in first-seen order (never a set: order decides the classes)."""
    seen: dict[str, None] = {}
    for tag in tags:
        t = parse(tag)[1]
        if t is not None:
            seen.setdefault(t, None)
    return list(seen)


def to_iob2(tags: list[str]) -> list[str]:
    """Any scheme -> IOB2, through its entity spans."""
    out = ["O"] * len(tags)
    for t, a, b in spans(tags):
        out[a] = "B-" + t
        for i in range(a + 1, b):
            out[i] = "I-" + t
    return out


def iob2_classes(entity_types: list[str]) -> list[str]:
    return ["O"] + [f"{p}-{t}" for t in entity_types for p in ("B", "I")]


def class_ids(tags: list[str], classes: list[str]) -> list[int]:
    """Index into classes of each tag's IOB2 form; a type not in classes counts as O."""
    index = {c: i for i, c in enumerate(classes)}
    return [index.get(t, 0) for t in to_iob2(tags)]


def transitions(classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """IOB2's rules as additive scores: trans (K, K) [prev, cur] and start (K,), 0 or -inf.
    I-X may follow only B-X or I-X, and cannot start a sentence."""
    K = len(classes)
    trans, start = np.zeros((K, K)), np.zeros(K)
    for j, c in enumerate(classes):
        if c.startswith("I-"):
            start[j] = -np.inf
            trans[:, j] = [0.0 if pc in ("B-" + c[2:], c) else -np.inf for pc in classes]
    return trans, start


def viterbi(emit: np.ndarray, trans: np.ndarray, start: np.ndarray, end: np.ndarray | None = None) -> np.ndarray:
    """The path y (n,) that maximises start[y0] + sum_t emit[t, y_t] + sum_t trans[y_{t-1}, y_t] + end[y_n-1].
    emit (n, K); ties go to the lowest class index."""
    n, K = emit.shape
    score = start + emit[0]
    back = np.zeros((n, K), dtype=np.int64)
    for i in range(1, n):
        cand = score[:, None] + trans                  # (prev, cur)
        back[i] = cand.argmax(axis=0)
        score = cand[back[i], np.arange(K)] + emit[i]
    if end is not None:
        score = score + end
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(score.argmax())
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


def viterbi_batch(emit: np.ndarray, mask: np.ndarray, trans: np.ndarray, start: np.ndarray,
                  end: np.ndarray | None = None) -> np.ndarray:
    """viterbi() for S padded sentences at once: emit (S, L, K), mask (S, L) -> paths (S, L).
    Past a sentence's end its scores are carried unchanged (back-pointer: stay), so each path
    equals viterbi() of that sentence alone; entries past the end are meaningless."""
    S, L, K = emit.shape
    score = start + emit[:, 0]
    back = np.empty((S, L, K), dtype=np.int64)
    back[:, 0] = np.arange(K)
    stay = np.arange(K)
    full = bool(mask.all())                              # no padding: nothing to carry
    rows, cols = np.arange(S)[:, None], stay[None, :]
    for i in range(1, L):
        cand = score[:, :, None] + trans                 # (S, prev, cur)
        b = cand.argmax(axis=1)
        new = cand[rows, b, cols] + emit[:, i]           # the value at b
        if full:
            score, back[:, i] = new, b
            continue
        live = mask[:, i, None]
        score = np.where(live, new, score)
        back[:, i] = np.where(live, b, stay)
    if end is not None:
        score = score + end
    path = np.empty((S, L), dtype=np.int64)
    path[:, -1] = score.argmax(axis=1)
    rows = np.arange(S)
    for i in range(L - 1, 0, -1):
        path[:, i - 1] = back[rows, i, path[:, i]]
    return path


def decode_iob2(classes: list[str], prob: np.ndarray, rules=None) -> tuple[list[str], np.ndarray]:
    """The most probable valid IOB2 sequence under per-token probabilities prob (n, K);
    returns the tags and each chosen tag's probability."""
    trans, start = rules if rules is not None else transitions(classes)
    path = viterbi(np.log(np.maximum(prob, 1e-30)), trans, start)
    return [classes[k] for k in path], prob[np.arange(len(path)), path]


def binary_labels(tags: list[str], target: str) -> list[int]:
    """1 where the token's entity type is `target` (any prefix), else 0."""
    t = target.lower()
    out = []
    for tag in tags:
        typ = parse(tag)[1]
        out.append(1 if typ is not None and typ.lower() == t else 0)
    return out
