"""Pretrained rows that travel inside a model, and a store cut to its first rows."""
from __future__ import annotations

from typing import Iterable

import numpy as np


class Limited:
    """A store of which only the first `limit` rows count (`--vectors-limit`)."""

    def __init__(self, store, limit: int):
        self.store, self.limit, self.dim = store, limit, store.dim

    def lookup(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        return self.store.lookup(words, limit=self.limit)

    def top(self, n: int) -> tuple[list[str], np.ndarray]:
        return self.store.top(min(n, self.limit))


class Bundle:
    """Pretrained rows kept inside a model (float16), so it predicts where its vectors source is gone."""

    def __init__(self, words: list[str], vectors: np.ndarray):
        self.words, self.vectors, self.dim = words, vectors, vectors.shape[1]
        self.index = None              # built on first use: a model whose source is there never needs it

    def lookup(self, words: Iterable[str]) -> dict[str, np.ndarray]:
        if self.index is None:
            self.index = {w: i for i, w in enumerate(self.words)}
        get = self.index.get
        return {w: self.vectors[i].astype(np.float32) for w in words if (i := get(w)) is not None}

    def to_arrays(self) -> dict[str, np.ndarray]:
        blob = [w.encode("utf-8") for w in self.words]
        offsets = np.zeros(len(blob) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in blob], out=offsets[1:])
        return {"bundle": self.vectors, "bundle_offsets": offsets,
                "bundle_blob": np.frombuffer(b"".join(blob), dtype=np.uint8)}

    @classmethod
    def from_arrays(cls, vectors: np.ndarray, blob: np.ndarray, offsets: np.ndarray) -> "Bundle":
        raw = blob.tobytes()
        words = [raw[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
        if len(words) != len(vectors):
            raise ValueError(f"bundle has {len(words)} words and {len(vectors)} rows")
        return cls(words, vectors)

    @classmethod
    def build(cls, store, n: int, skip) -> "Bundle | None":
        """The n most frequent rows of store, less the words in skip (the model's own rows)."""
        if n <= 0:
            return None
        words, vecs = store.top(n)
        keep = np.fromiter((w not in skip for w in words), bool, len(words))
        vecs = vecs.astype(np.float16)          # before the cut: a float32 copy of 50,000 rows is 60 MB at d=300
        return cls([w for w, k in zip(words, keep) if k], vecs[keep])
