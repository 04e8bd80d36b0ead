"""gensim KeyedVectors (`.kv`) read without gensim and without running anything the file names.

A `.kv` file is a pickle, and a pickle can call any function it names. It is not unpickled here:
unpickle.py reads its opcodes with a small machine of its own that builds only what gensim writes
(gensim's classes as plain records, numpy arrays of numbers from the file's own bytes) and
refuses the rest by name. gensim's own loader would then open the sidecar files the pickle lists
(`__numpys`, `__scipys`, `__recursive_saveloads`) with pickle allowed. Here a file that lists
scipy or nested objects is refused, and the one sidecar array nerwin needs, the vectors, is read
with allow_pickle=False, from a regular file only.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Iterable

import numpy as np

from nerwin.errors import NerwinError
from nerwin.vectors import unpickle

KEYED = {("gensim.models.keyedvectors", n) for n in ("KeyedVectors", "Word2VecKeyedVectors",
                                                      "EuclideanKeyedVectors")} | \
        {("gensim.models.fasttext", "FastTextKeyedVectors")}
VECTORS = ("vectors", "syn0")            # gensim 4 and 3.x names of the matrix
KEYS = ("index_to_key", "index2word", "index2entity")
LOADS_MORE = ("__scipys", "__recursive_saveloads")


def read_kv(path: Path) -> tuple[list[str], np.ndarray]:
    """-> the words and their vectors (N, d), the vectors memory-mapped when they are a sidecar."""
    try:
        with open(path, "rb") as f:
            obj = unpickle.load(f.read())
    except unpickle.Refused as e:
        raise NerwinError(f"refusing to load: {e}", path) from None
    except OSError as e:
        raise NerwinError(f"cannot read ({e.strerror})", path) from None
    except Exception as e:  # pickletools raises many types for a damaged pickle
        raise NerwinError(f"cannot read as gensim KeyedVectors ({type(e).__name__}); check --vectors-format",
                          path) from None
    if not isinstance(obj, unpickle.Record) or getattr(obj, "gensim_class", None) not in KEYED:
        what = getattr(obj, "gensim_class", (None, type(obj).__name__))[1]
        raise NerwinError(f"holds a {what}, not gensim KeyedVectors", path)
    state = obj.__dict__
    for attr in LOADS_MORE:
        if state.get(attr):
            raise NerwinError(f"refusing to load: the file asks to load more objects ({attr}), which could run code",
                              path)
    sidecars = state.get("__numpys") or []
    if not (isinstance(sidecars, (list, tuple)) and all(isinstance(n, str) for n in sidecars)):
        raise NerwinError("its list of separate arrays (__numpys) is not a list of names", path)
    name = next((n for n in VECTORS if n in sidecars or isinstance(state.get(n), np.ndarray)), None)
    if name is None:
        raise NerwinError("has no vectors array", path)
    vectors = state.get(name)
    if name in sidecars:
        side = Path(f"{path}.{name}.npy")       # name is one of VECTORS: never a path the file chose
        if side.exists() and not stat.S_ISREG(os.stat(side).st_mode):
            raise NerwinError(f"its vectors file {side.name} is not a regular file (a pipe or a device?)", path)
        try:
            vectors = np.load(side, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise NerwinError(f"its vectors are in {side.name}, which is missing; copy it beside the .kv", path) from None
        except ValueError as e:
            raise NerwinError(f"refusing to load {side.name} ({e})", path) from None
        except (OSError, EOFError) as e:
            raise NerwinError(f"cannot read {side.name} ({e})", path) from None
    words = keys_of(state, path)
    if not (isinstance(vectors, np.ndarray) and vectors.ndim == 2 and vectors.dtype.kind == "f"
            and len(vectors) >= len(words) and vectors.shape[1] >= 1):
        raise NerwinError("its vectors are not a float matrix with a row for every word", path)
    return words, vectors


def keys_of(state: dict, path) -> list[str]:
    keys = next((state[k] for k in KEYS if isinstance(state.get(k), list)), None)
    if keys is None and isinstance(state.get("vocab"), dict):     # gensim 3.x: a Vocab record per word
        vocab = state["vocab"]
        keys = [None] * len(vocab)
        for w, rec in vocab.items():
            i = getattr(rec, "index", None)
            if type(i) is not int or not 0 <= i < len(keys):
                raise NerwinError("its vocabulary has a bad row index", path)
            keys[i] = w
    if keys is None or not all(isinstance(k, (str, int)) for k in keys):
        raise NerwinError("has no list of words", path)
    return [str(k) for k in keys]


class KVStore:
    def __init__(self, path: Path):
        self.words, self.vectors = read_kv(path)
        self.dim = int(self.vectors.shape[1])
        self.index = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)

    def top(self, n: int) -> tuple[list[str], np.ndarray]:
        return self.words[:n], np.array(self.vectors[:n], dtype=np.float32)

    def lookup(self, words: Iterable[str], limit: int | None = None) -> dict[str, np.ndarray]:
        out = {}
        for w in words:
            i = self.index.get(w)
            if i is not None and (limit is None or i < limit):
                out[w] = np.array(self.vectors[i], dtype=np.float32)
        return out
