"""The word-feature interface: one object for each part of a word's slot of x beside its row of E.

A word's slot of x is [e; its features' parts], in the order the model lists its features. A
feature says everything the rest of nerwin needs of it, so that a new one is one file:

    name            its key in the model's config (and the setting that switches it on, if any)
    parts()         [(part, width, label)]: its slices of the slot, in order; label names it in explain
    shapes()        {table: shape}: its parameters, drawn by init() in this order
    row_tables      the tables that move only in the rows a batch touched (as E does)
    ids(tokens, w)  what it reads of N windows of tokens: (N, n) id matrices, or an object with
                    take(idx) and batch(idx)
    prepare(p, ids) work done once for all windows of a block (the character CNN), or None
    forward / backward   its parts of x, and its parameters' gradients from its parts of delta_window
    config()        what the model saves of it (word lists, ...); from_config() reads it back
    trace()         its nodes of one window's computation graph (nn/graph.py), from its own backward

The embedding features (casing, affixes) share EmbeddingFeature: a part is a lookup of its id in a
table, and its backward sums each row's slices, as E's does.
"""
from __future__ import annotations

import numpy as np

from nerwin.nn.layers import embed_backward, embed_forward
from nerwin.nn.nodes import Node


class WordFeature:
    name: str
    row_tables: tuple[str, ...] = ()
    from_inputs = False        # switched on by what the user gives training (word lists), not by a setting

    @classmethod
    def enabled(cls, settings, inputs=None) -> bool:
        """Whether a model with these settings (and training inputs) reads this feature."""
        return bool(getattr(settings, cls.name, 0))

    @classmethod
    def build(cls, settings, token_lists, inputs=None) -> "WordFeature":
        """From the training tokens (a feature with word lists counts them here) and the training
        inputs {"gazetteers": ["TYPE=FILE", ...], "types": the corpus's entity types}."""
        return cls(settings)

    @classmethod
    def from_config(cls, settings, d: dict) -> "WordFeature":
        """From config(); raises ValueError when d is not what config() writes."""
        return cls(settings)

    def __init__(self, settings):
        self.settings = settings

    def config(self) -> dict:
        return {}

    def summary(self) -> dict:
        """config() as config.json shows it to people (the model file keeps the whole)."""
        return self.config()

    def parts(self) -> list[tuple[str, int, str]]:
        raise NotImplementedError

    @property
    def width(self) -> int:
        return sum(w for _, w, _ in self.parts())

    def shapes(self) -> dict[str, tuple]:
        return {}

    def init(self, rng: np.random.Generator, dtype) -> dict:
        """Small normal rows for each table, drawn in shapes() order."""
        return {k: rng.normal(0.0, 0.1, size=shape).astype(dtype) for k, shape in self.shapes().items()}

    def ids(self, token_lists: list[list[str]], w: int):
        raise NotImplementedError

    def prepare(self, p, ids):
        return None

    def forward(self, p, ids, state=None) -> list[tuple[np.ndarray, object]]:
        """-> one (x part (B, n*width), cache) per part."""
        raise NotImplementedError

    def backward(self, d_parts: list[np.ndarray], caches: list, p) -> dict:
        """d_parts: its slices of delta_window (B, n, width), one per part -> {table: gradient};
        a row table's gradient is (rows, their sums)."""
        raise NotImplementedError

    def trace(self, p, ids, caches, d_parts, words: list[str]) -> tuple[list[Node], dict[str, list[str]]]:
        """One window's graph (ids and caches of that window alone, words its n words): the nodes
        that feed its parts, in forward order, and {part: the node feeding each slot}; by default
        none (the parts are the graph's leaves)."""
        return [], {}

    def row_name(self, table: str, row: int) -> str:
        """How the graph names a row of one of its tables."""
        return str(row)


class EmbeddingFeature(WordFeature):
    """Parts that are lookups: part k reads ids[k] (N, n) in table k of shapes()."""

    def forward(self, p, ids, state=None):
        return [embed_forward(p[table], m) for table, m in zip(self.shapes(), ids)]

    def backward(self, d_parts, caches, p):
        grads = {}
        for table, d, cache in zip(self.shapes(), d_parts, caches):
            rows, sums = embed_backward(d, cache)
            if table in self.row_tables:
                grads[table] = rows, sums
            else:
                grads[table] = np.zeros_like(p[table])
                grads[table][rows] += sums
        return grads


    def trace(self, p, ids, caches, d_parts, words):
        """One node per distinct row of each table the window reads; a row read by several slots
        gets the sum of their slices (embed_backward's row sums)."""
        nodes, sources = [], {}
        for (part, _, _), table, m, d, cache in zip(self.parts(), self.shapes(), ids, d_parts, caches):
            rows, sums = embed_backward(d, cache)
            slots = m[0].tolist()
            names = {r: f"{table}[{self.row_name(table, r)}]" for r in rows.tolist()}
            w = len(slots) // 2
            for r, g in zip(rows.tolist(), sums):
                used = [f"{part.lower()}̄[{i - w:+d}]" for i, v in enumerate(slots) if v == r]
                nodes.append(Node(names[r], "param", p[table][r], g, note=f"row {r} of {table}",
                                  rule=f"{table}̄ = " + " + ".join(used) + (": a branch, its gradients sum" if len(used) > 1 else "")))
            sources[part] = [names[r] for r in slots]
        return nodes, sources


def cut(a: np.ndarray, idx) -> np.ndarray:
    """a[idx] for a slice or an index array of rows: np.take along the rows copies a (N, n)
    matrix's rows four times as fast as a[idx] does, the same values."""
    return a[idx] if isinstance(idx, slice) else a.take(idx, axis=0)


class Ids(tuple):
    """An EmbeddingFeature's id matrices, one per part, cut together."""

    def take(self, idx) -> "Ids":
        return Ids(cut(m, idx) for m in self)

    batch = take


class FeatureIds(dict):
    """{feature name: what it read of N windows}, cut together."""

    def take(self, idx) -> "FeatureIds":
        """The windows idx (an index array or a slice)."""
        return FeatureIds({k: cut(v, idx) if isinstance(v, np.ndarray) else v.take(idx) for k, v in self.items()})

    def batch(self, idx) -> "FeatureIds":
        """The windows idx, each feature's shared data cut to what they use (a batch's distinct words)."""
        return FeatureIds({k: cut(v, idx) if isinstance(v, np.ndarray) else v.batch(idx) for k, v in self.items()})
