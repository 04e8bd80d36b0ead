"""A hash index from words to rows, in nerwin's cache folder, memory-mapped.

The first full pass over a vectors file writes a 64-bit hash of each word and the byte offset
of its row, so later lookups seek to the few rows they need instead of reading it again."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from array import array
from pathlib import Path

import numpy as np


def cache_dir() -> Path:
    """NERWIN_CACHE, else $XDG_CACHE_HOME/nerwin, else ~/.cache/nerwin."""
    if os.environ.get("NERWIN_CACHE"):
        return Path(os.environ["NERWIN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nerwin"


# ---- the hash index ---------------------------------------------------------------------

def word_hash(word: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(word, digest_size=8).digest(), "little")


def write_dir_atomically(dest: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write .npy files into a temp dir beside dest, fsync, rename the dir into place.
    If another process got there first, its identical copy is kept."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".tmp-{dest.name}-"))
    try:
        for name, a in arrays.items():
            with open(tmp / f"{name}.npy", "wb") as f:
                np.save(f, a, allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / "keys.npy").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class HashIndex:
    """keys (N,) uint64 sorted, with parallel int64 columns; memory-mapped from a cache dir."""

    def __init__(self, d: Path, *columns: str):
        self.keys = np.load(d / "keys.npy", mmap_mode="r", allow_pickle=False)
        self.cols = [np.load(d / f"{c}.npy", mmap_mode="r", allow_pickle=False) for c in columns]

    @staticmethod
    def build(keys: array, **columns: array) -> dict[str, np.ndarray]:
        k = np.frombuffer(keys, dtype=np.uint64)
        order = np.argsort(k, kind="stable")
        out = {"keys": k[order]}
        out.update({name: np.frombuffer(v, dtype=np.int64)[order] for name, v in columns.items()})
        return out

    def find(self, word: str) -> list[tuple[int, ...]]:
        """Candidate column values for word (hash collisions are resolved by the caller)."""
        return self.find_many([word])[0]

    def find_many(self, words: list[str]) -> list[list[tuple[int, ...]]]:
        """find() for many words with two vectorized binary searches."""
        h = np.fromiter((word_hash(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words))
        lo, hi = np.searchsorted(self.keys, h, "left"), np.searchsorted(self.keys, h, "right")
        out = []
        for a, b in zip(lo.tolist(), hi.tolist()):
            out.append([tuple(int(c[i]) for c in self.cols) for i in range(a, b)])
        return out
