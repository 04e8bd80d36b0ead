"""Pretrained word vectors. A store answers one question, `lookup(words) -> {word: vector}`, for
the words a corpus needs; the full table is never copied into a model. Formats:
  kv             gensim KeyedVectors (`.kv`), read without gensim (kv.py)
  word2vec-bin   word2vec binary with an `N D` header (GoogleNews)
  word2vec-text  word2vec text with an `N D` header (`.txt`, fastText `.vec`)
  glove          GloVe text, no header
and the default, GloVe 6B 50d in nerwin's own cache (glove.py).
"""
from __future__ import annotations

from pathlib import Path

from nerwin.errors import NerwinError, SettingError
from nerwin.files import compression
from nerwin.vectors.bundle import Bundle, Limited
from nerwin.vectors.glove import DEFAULT, NpyStore, default_cache, ensure_default_cache
from nerwin.vectors.index import cache_dir
from nerwin.vectors.kv import KVStore
from nerwin.vectors.sniff import sniff_format
from nerwin.vectors.stream import BinStore, TextStore

FORMATS = ("kv", "word2vec-bin", "word2vec-text", "glove")
DEFAULT_FORMAT = "nerwin-cache"        # the format a model records for DEFAULT's vectors
__all__ = ["DEFAULT", "DEFAULT_FORMAT", "FORMATS", "Bundle", "cache_dir", "default_cache", "open_store"]


def open_store(source: str | None, fmt: str | None = None, limit: int | None = None):
    """Return (store, record); record goes into config.json so predict can find unseen words."""
    if limit is not None and limit < 1:
        raise SettingError("vectors_limit", f"must be at least 1, got {limit}")
    store, record = _open(source, fmt)
    record["limit"] = limit
    return (store if limit is None else Limited(store, limit)), record


def _open(source: str | None, fmt: str | None):
    if source in (None, "", DEFAULT):
        return NpyStore(ensure_default_cache()), {"source": DEFAULT, "format": DEFAULT_FORMAT}
    path = Path(source).expanduser()
    if not path.exists():
        raise NerwinError("vectors file not found; pass --vectors FILE with an existing file", path)
    if path.is_dir():
        raise NerwinError("is a directory, expected a vectors file", path)
    if not path.is_file():                      # <(zcat v.gz): the second read would start mid-stream
        raise NerwinError("is a pipe or a device, not a file; vectors are read more than once, so give the file "
                          "itself (a gzip, bzip2 or xz file is read as it is)", path)
    if fmt is not None and fmt not in FORMATS:
        raise NerwinError(f"unknown --vectors-format {fmt!r}; choose one of {', '.join(FORMATS)}")
    fmt = fmt or sniff_format(path)
    if fmt == "kv" and compression(path) is not None:
        raise NerwinError("is a compressed gensim .kv file, which nerwin reads only as it is saved; decompress it "
                          "first (gensim writes .kv files uncompressed)", path)
    store = {"kv": lambda: KVStore(path),
             "word2vec-bin": lambda: BinStore(path),
             "word2vec-text": lambda: TextStore(path, has_header=True),
             "glove": lambda: TextStore(path, has_header=False)}[fmt]()
    return store, {"source": str(path.resolve()), "format": fmt}
