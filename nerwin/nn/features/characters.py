"""Characters: a CNN over each word's letters (dos Santos and Zadrozny 2014), so that a word no
vector table holds still gets a vector of its own. For U distinct words, their characters framed
by begin and end markers, M windows of k characters in all:

    q  = [Ech[c_j]; ...; Ech[c_{j+k-1}]]     (M, k*dc)   a window of characters, as of words
    z' = Wch q + bch                         (M, F)
    r  = max over each word's windows of z'  (U, F)      its part of the word's slot

Backward: the max routes each filter's gradient to its argmax window, the affine layer's two
GEMMs take it to Wch, bch and q, and q's slices are summed into the character rows. The CNN runs
once per distinct word of a batch (training) or of a block (prepare, when tagging).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from nerwin.nn.features.base import WordFeature, cut
from nerwin.nn.layers import (affine_backward, affine_forward, embed_backward, embed_forward, maxpool_backward,
                              maxpool_forward, xavier)
from nerwin.nn.nodes import Node
from nerwin.text.spelling import BEGIN, EDGE, END, FILL, RESERVED, UNSEEN, clip, frequent, margin, word_list
from nerwin.text.windows import window_matrix


@dataclass
class CharIds:
    """slots (N, n) index the rows of chars (U, L): the character ids of the distinct tokens,
    FILL after each one's char_len (U,) ids; row 0 is the <s>/</s> padding's."""
    slots: np.ndarray
    chars: np.ndarray
    char_len: np.ndarray

    def take(self, idx) -> "CharIds":
        """The windows idx; chars stay whole."""
        return CharIds(cut(self.slots, idx), self.chars, self.char_len)

    def batch(self, idx) -> "CharIds":
        """The windows idx, with chars cut to the distinct tokens they hold."""
        slots = cut(self.slots, idx)
        seen = np.zeros(len(self.chars), bool)          # a scan, not np.unique's sort
        seen[slots] = True
        used = np.flatnonzero(seen)
        where = np.cumsum(seen, dtype=np.int32) - 1
        n = self.char_len[used]
        return CharIds(where[slots], self.chars[used, :int(n.max())], n)


def char_windows(chars, char_len, k: int):
    """chars (U, L) ids, char_len (U,) -> the character ids of every window of k characters
    inside each word (M, k), and where each word's windows start (U,)."""
    positions = char_len - k + 1                         # >= 1: words carry begin/end markers
    starts = np.cumsum(positions) - positions
    word = np.repeat(np.arange(len(chars)), positions)
    j = np.arange(int(positions.sum())) - np.repeat(starts, positions)
    return chars[word[:, None], j[:, None] + np.arange(k)], starts


@dataclass
class CharCache:
    embed: tuple
    affine: tuple
    max: tuple


def char_forward(p, chars, char_len):
    """chars (U, L) character ids, char_len (U,) each word's length with its markers -> r (U, F)."""
    k = p["Wch"].shape[1] // p["Ech"].shape[1]
    win, starts = char_windows(chars, char_len, k)
    q, c_emb = embed_forward(p["Ech"], win)                       # (M, k*dc)
    z, c_aff = affine_forward(q, p["Wch"], p["bch"])              # (M, F)
    r, c_max = maxpool_forward(z, starts)                         # (U, F)
    return r, CharCache(c_emb, c_aff, c_max)


def char_backward(rows, dr_rows, cache: CharCache, trace: dict | None = None) -> dict:
    """dJ/dr of the words rows (R,), (R, F) -> the gradients of Ech (rows, sums), Wch and bch;
    trace keeps dr, dz and dq (the graph shows them)."""
    _, starts = cache.max
    dr = np.zeros((len(starts), dr_rows.shape[1]), dr_rows.dtype)   # (U, F); a word no slot uses gets 0
    dr[rows] = dr_rows
    dz = maxpool_backward(dr, cache.max)
    dWch, dbch, dq = affine_backward(dz, cache.affine)
    if trace is not None:
        trace.update(dr=dr, dz=dz, dq=dq)
    return {"Ech": embed_backward(dq, cache.embed), "Wch": dWch, "bch": dbch}


class Characters(WordFeature):
    name = "chars"
    row_tables = ("Ech",)

    def __init__(self, settings, chars: list[str] = ()):
        super().__init__(settings)
        self.chars = list(chars)
        self.index = {c: i for i, c in enumerate(self.chars, RESERVED)}

    @classmethod
    def build(cls, settings, token_lists, inputs=None):
        return cls(settings, frequent(token_lists, clip))

    @classmethod
    def from_config(cls, settings, d):
        chars = word_list(d, "chars")
        if any(len(c) != 1 for c in chars):
            raise ValueError("chars must hold single characters")
        return cls(settings, chars)

    def config(self):
        return {"chars": self.chars}

    def parts(self):
        return [("R", self.settings.chars, "chars")]

    def shapes(self):
        s = self.settings
        return {"Ech": (RESERVED + len(self.chars), s.char_dim), "Wch": (s.chars, s.char_width * s.char_dim),
                "bch": (s.chars,)}

    def init(self, rng, dtype):
        ech, wch, bch = self.shapes().values()
        return {"Ech": rng.normal(0.0, 0.1, size=ech).astype(dtype), "Wch": xavier(*wch, rng, dtype),
                "bch": np.zeros(bch, dtype)}

    def char_matrix(self, tokens: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Character ids (U, L) of these tokens, each [BEGIN]*m + chars + [END]*m (m = margin(k)),
        FILL after; and each row's length (U,). An empty token reads as one unseen character."""
        m, get = margin(self.settings.char_width), self.index.get
        rows = [[get(c, UNSEEN) for c in clip(t)] or [UNSEEN] for t in tokens]
        lens = np.array([len(r) + 2 * m for r in rows], dtype=np.int64)
        out = np.full((len(rows), int(lens.max(initial=2 * m + 1))), FILL, dtype=np.int32)
        out[:, :m] = BEGIN
        for i, r in enumerate(rows):
            out[i, m:m + len(r)] = r
            out[i, m + len(r):lens[i]] = END
        return out, lens

    def ids(self, token_lists, w):
        distinct = list(dict.fromkeys(chain.from_iterable(token_lists)))
        row = {t: i for i, t in enumerate(distinct, 1)}                   # row 0: <s> and </s>
        slots = window_matrix([[row[t] for t in toks] for toks in token_lists], w, 0, 0)
        m = margin(self.settings.char_width)
        edge = np.full((1, 2 * m + 1), BEGIN, dtype=np.int32)
        edge[0, m] = EDGE
        edge[0, m + 1:] = END
        ch, n = self.char_matrix(distinct) if distinct else (edge[:0], np.zeros(0, np.int64))
        L = max(ch.shape[1], edge.shape[1])
        chars = np.full((len(distinct) + 1, L), FILL, dtype=np.int32)
        chars[0, :edge.shape[1]] = edge[0]
        chars[1:, :ch.shape[1]] = ch
        return CharIds(slots, chars, np.concatenate([[edge.shape[1]], n]).astype(np.int64))

    def prepare(self, p, ids: CharIds):
        """r of every distinct token of a block, so the windows' passes share one CNN."""
        return char_forward(p, ids.chars, ids.char_len)[0]

    def forward(self, p, ids: CharIds, state=None):
        c_char = None
        R = state
        if R is None:
            R, c_char = char_forward(p, ids.chars, ids.char_len)
        x, c_emb = embed_forward(R, ids.slots)
        return [(x, (c_emb, c_char))]

    def backward(self, d_parts, caches, p):
        c_emb, c_char = caches[0]
        rows, d = embed_backward(d_parts[0], c_emb)
        return char_backward(rows, d, c_char)

    def vectors(self, p, ids: CharIds) -> np.ndarray:
        """r (U, F): each distinct token's character vector (explain shows its share)."""
        return self.prepare(p, ids)

    def trace(self, p, ids: CharIds, caches, d_parts, words):
        """The CNN of each distinct word of the window: q (its character windows), z' = Wch q + bch,
        and r = the max over its windows, which routes each filter's gradient to one window."""
        c_emb, c_char = caches[0]
        rows, dr_rows = embed_backward(d_parts[0], c_emb)
        back = {}
        grads = char_backward(rows, dr_rows, c_char, back)
        (q, _), (z, starts) = c_char.affine, c_char.max
        R = maxpool_forward(z, starts)[0]
        slots = ids.slots[0].tolist()
        pads = ("<s>", "</s>")                        # both read the padding's one row of characters
        names = {u: f"r[{'pad' if words[slots.index(u)] in pads else words[slots.index(u)]}]" for u in rows.tolist()}
        ends = [*starts[1:].tolist(), len(z)]
        dEch = np.zeros_like(p["Ech"])
        dEch[grads["Ech"][0]] = grads["Ech"][1]
        nodes = [Node("Ech", "param", p["Ech"], dEch, rule="Ēch[c] = the sum of q̄'s slices that read character c",
                      note="character vectors"),
                 Node("Wch", "param", p["Wch"], grads["Wch"], rule="W̄ch = Σ z̄′ᵀ q", note="the filters"),
                 Node("bch", "param", p["bch"], grads["bch"], rule="b̄ch = Σ z̄′", note="the filters' biases")]
        for u in rows.tolist():
            a, b, word = int(starts[u]), ends[u], names[u][2:-1]
            dz, dq = back["dz"][a:b], back["dq"][a:b]
            nodes += [
                Node(f"q[{word}]", "lookup", q[a:b], dq, {"Ech": float(np.linalg.norm(dq))}, "q̄ = z̄′ Wch",
                     local_note="1 at the characters it reads", note=f"{b - a} window{'s' if b - a > 1 else ''} of {self.settings.char_width} characters"),
                Node(f"z'[{word}]", "affine", z[a:b], dz,
                     {f"q[{word}]": float(np.linalg.norm(dz @ p["Wch"])), "Wch": float(np.linalg.norm(dz.T @ q[a:b])),
                      "bch": float(np.linalg.norm(dz.sum(axis=0)))},
                     "z̄′[j, f] = r̄[f] at f's argmax window j, 0 at the others", local_note="Wch (to q), q (to Wch), 1 (to bch)",
                     note="z′ = Wch q + bch, one row a window"),
                Node(names[u], "max", R[u], back["dr"][u], {f"z'[{word}]": float(np.linalg.norm(dz))},
                     "r̄ = the sum of its slots' slices" if slots.count(u) > 1 else "r̄ = its slot's slice",
                     local=np.argmax(z[a:b], axis=0), local_note="1 at each filter's argmax window (local), 0 elsewhere",
                     note="the max over the windows, per filter"),
            ]
        return nodes, {"R": [names[u] for u in slots]}
