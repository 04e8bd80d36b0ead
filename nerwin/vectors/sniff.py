"""Telling a vectors file's format from its first bytes, not its extension, and opening it:
gzip, bzip2 and xz files are read as streams (fastText publishes its `cc.*.vec.gz` that way)."""
from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from pathlib import Path
from typing import BinaryIO

from nerwin.errors import NerwinError, refuse_utf16

COMPRESSED = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
FASTTEXT_BIN = (793712314).to_bytes(4, "little")     # fastText's model magic number


def compression(path: Path):
    """The opener of a compressed file, or None."""
    with open(path, "rb") as f:
        magic = f.read(6)
    return next((op for m, op in COMPRESSED.items() if magic.startswith(m)), None)


class Decompressing:
    """A compressed file read as a stream; a damaged stream is the file's error, not a crash."""

    def __init__(self, f, path: Path, raw):
        self.f, self.path, self.raw = f, path, raw     # raw: the file on disk, for how far through it is

    def _do(self, fn, *args):
        try:
            return fn(*args)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
            raise NerwinError(f"cannot decompress ({e})", self.path) from None

    def consumed(self) -> int:
        """The compressed bytes read so far: how far through the file on disk the stream is."""
        return self.raw.tell()

    def read(self, n: int = -1) -> bytes:
        return self._do(self.f.read, n)

    def readline(self, n: int = -1) -> bytes:
        return self._do(self.f.readline, n)

    def __iter__(self):
        while line := self.readline():
            yield line

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
        self.raw.close()


def open_vectors(path: Path) -> BinaryIO:
    """The file's bytes, decompressed as they are read when it is compressed."""
    op = compression(path)
    try:
        raw = open(path, "rb", buffering=1 << 20)
    except OSError as e:
        raise NerwinError(f"cannot open ({e.strerror or e})", path) from None
    return Decompressing(op(raw, "rb"), path, raw) if op is not None else raw



def _looks_like_text(sample: bytes) -> bool:
    """Raw float32 bytes hold control bytes within a few rows; text does not, even where a word
    is not valid UTF-8 (such words are read as gensim reads them, with U+FFFD)."""
    return not any(b < 0x20 and b not in (9, 10, 13) for b in sample)


UTF8_BOM = b"\xef\xbb\xbf"      # Windows editors start text files with it; it is no part of the first word
SEPARATORS = ("separates its values with tabs or runs of spaces; word2vec and GloVe text separate them with one "
              "space, as gensim reads them")


def header(first: bytes) -> tuple[int, int] | None:
    """(rows, dim) when the first line is a word2vec header: two integers."""
    fields = first.removeprefix(UTF8_BOM).split()
    if len(fields) != 2:
        return None
    try:
        return int(fields[0]), int(fields[1])
    except ValueError:
        return None


def _numbers_after_a_word(fields: list[bytes]) -> bool:
    try:
        [float(x) for x in fields[1:]]
    except ValueError:
        return False
    return len(fields) >= 2


def sniff_format(path: Path) -> str:
    """Tell the format from the first bytes, not the extension."""
    with open_vectors(path) as f:
        head = f.read(65536)
    if not head:
        raise NerwinError("empty vectors file", path)
    refuse_utf16(head, path)
    if head[:4] == FASTTEXT_BIN:
        raise NerwinError("is a fastText binary model (.bin), which nerwin does not read; use the .vec file "
                          "fastText publishes beside it (word2vec text)", path)
    if head[:1] == b"\x80":
        return "kv"
    first, _, rest = head.removeprefix(UTF8_BOM).partition(b"\n")
    if header(first) is not None:
        return "word2vec-text" if _looks_like_text(rest[:-4]) else "word2vec-bin"
    try:
        parts = first.decode("utf-8", "replace").rstrip().split(" ")
        [float(x) for x in parts[1:]]
        if len(parts) >= 2:
            return "glove"
    except ValueError:
        pass
    if _numbers_after_a_word(first.split()):
        raise NerwinError(SEPARATORS, path, 1)
    raise NerwinError("unknown vectors format; expected word2vec .bin/.txt/.vec, GloVe .txt or gensim .kv "
                      "(or force one with --vectors-format)", path)
