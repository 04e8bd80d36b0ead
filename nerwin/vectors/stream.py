"""word2vec (text and binary) and GloVe files, streamed: only the rows a corpus needs are parsed
and kept, and the first full pass writes the hash index that later lookups seek through.

A word's bytes are read as gensim reads them, UTF-8 with U+FFFD for invalid bytes, and the index
hashes that same string, so a word is found the same way on every read. A compressed file cannot
seek: its first whole read keeps a decompressed copy (plain.py), which is indexed in its place."""
from __future__ import annotations

import hashlib
from array import array
from functools import cached_property
from pathlib import Path
from typing import Iterable

import numpy as np

from nerwin.errors import NerwinError
from nerwin.files import compression
from nerwin.progress import ProgressLine
from nerwin.vectors.index import HashIndex, cache_dir, word_hash, write_dir_atomically
from nerwin.vectors.plain import decompressed_copy, existing_copy
from nerwin.vectors.sniff import SEPARATORS, UTF8_BOM, header, open_vectors

MAX_DIM = 100_000
MAX_WORD = 10_000  # bytes: a longer "word" means the header's dimension is wrong
MAX_NUMBER = 64    # bytes a text value may take with its space ("-1.2345678901234567e-300" is 24)


def _check_row(vec: np.ndarray, path, row: int, word: str) -> np.ndarray:
    if not np.all(np.isfinite(vec)):
        raise NerwinError(f"row {row} ({word[:40]!r}) holds NaN or inf", path)
    return vec


class FileStore:
    """A word2vec or GloVe file, streamed once, then looked up through its offset index.

    Subclasses give `rows(f, limit)`, yielding (row, line or None, byte offset, word bytes,
    payload), and `parse(payload, row, line, word) -> vector`. source is the user's file, which
    messages name; path is the file read: source, or its decompressed copy.
    """
    source: Path
    path: Path
    dim: int
    uncopied = False

    @cached_property
    def compressed(self) -> bool:
        return compression(self.source) is not None

    def seekable(self, limit: int | None) -> bool:
        """Whether path can seek; a compressed source's first whole read makes its copy (a read of
        the first `limit` rows only uses one that is there)."""
        if self.path != self.source or not self.compressed:
            return True
        if limit is None and not self.uncopied:
            copy = decompressed_copy(self.source)
            self.uncopied = copy is None             # the cache cannot hold it: stream, and say so once
        else:
            copy = existing_copy(self.source)
        if copy is not None:
            self.path = copy
        return copy is not None

    def index_dir(self) -> Path:
        if self.path != self.source:                  # beside the copy: replaced with it when the source changes
            return self.path.with_name(f"{self.path.name}.{type(self).__name__}-{self.dim}.index")
        st = self.path.stat()
        key = f"{self.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{type(self).__name__}|{self.dim}"
        return cache_dir() / "index" / hashlib.blake2b(key.encode(), digest_size=10).hexdigest()

    def lookup(self, words: Iterable[str], limit: int | None = None) -> dict[str, np.ndarray]:
        compressed = not self.seekable(limit)
        d = None if compressed else self.index_dir()
        if d is not None and (d / "keys.npy").exists():
            return self.seek_lookup(HashIndex(d, "offsets", "rows"), words, limit)
        need, out = set(words), {}
        keys, offsets, rows = array("Q"), array("q"), array("q")
        build = limit is None and d is not None
        if not need and not build:
            return out                                              # nothing to find, no index to write
        whole = build or (compressed and limit is None)             # a pass over the whole file: seconds
        progress, name = ProgressLine(self.path.stat().st_size if whole else 0), self.source.name
        doing = f"indexing {name} on its first use" if build else f"reading {name}"
        with open_vectors(self.path) as f:
            for row, line, start, wb, payload in self.rows(f, limit):
                word = wb.decode("utf-8", "replace")
                if build:
                    keys.append(word_hash(word.encode("utf-8")))
                    offsets.append(start)
                    rows.append(row)
                if whole and row & 0xFFF == 0:
                    at = f.consumed() if compressed else start                 # bytes of the file on disk
                    progress.rewrite(lambda now: f"nerwin: {doing}, {progress.through(at, now)}")
                if word in need and word not in out:
                    out[word] = self.parse(payload, row, line, word)
        end = ("indexed {name} in {secs:,.1f} s; later runs read only the rows they need" if build else
               "read {name} in {secs:,.1f} s; a compressed file cannot be indexed and nerwin's cache could not "
               "hold its copy, so each lookup reads it whole: decompress it once, and nerwin indexes it")
        progress.finish(lambda secs: "nerwin: " + end.format(name=name, secs=secs))
        if build:
            try:
                write_dir_atomically(d, HashIndex.build(keys, offsets=offsets, rows=rows))
            except OSError:
                pass  # no cache is no error: the next lookup streams again
        return out

    def top(self, n: int) -> tuple[list[str], np.ndarray]:
        """The first n rows: word2vec and GloVe files are ordered by frequency. Each row goes
        straight into one array: a list of rows, then stacked, held the rows twice."""
        words, vecs = [], np.empty((max(n, 0), self.dim), np.float32)
        with open_vectors(self.path) as f:
            for row, line, _, wb, payload in self.rows(f, n):
                words.append(wb.decode("utf-8", "replace"))
                vecs[len(words) - 1] = self.parse(payload, row, line, words[-1])
        return words, vecs[:len(words)]

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
                if got is not None and got[0].decode("utf-8", "replace") == w:
                    out[w] = self.parse(got[1], row, None, w)
        return out


class TextStore(FileStore):
    """word2vec text (header) or GloVe text (no header)."""

    def __init__(self, path: Path, has_header: bool):
        self.source = self.path = path
        self.header = has_header
        with open_vectors(path) as f:
            first = f.readline(1 << 20).removeprefix(UTF8_BOM)
        if has_header:
            counts = header(first)
            if counts is None or counts[0] < 1:
                raise NerwinError("bad word2vec header; expected `ROWS DIM`, two positive integers", path, 1)
            self.count, self.dim = counts
        else:
            self.count, self.dim = None, len(first.decode("utf-8", "replace").rstrip().split(" ")) - 1
        if self.dim <= 0 or self.dim > MAX_DIM:
            raise NerwinError(f"cannot use vector dimension {self.dim} (from the first line)", path, 1)

    def split(self, line: bytes, row: int, lineno) -> bytes:
        """The word of a row; GloVe 840B has words with spaces, a word2vec header fixes the count."""
        n, d = line.count(b" "), self.dim
        if n < d or (self.header and n != d):
            if len(line.split()) == d + 1:
                raise NerwinError(f"row {row} {SEPARATORS}", self.source, lineno)
            raise NerwinError(f"row {row} has {n} values, expected {d}", self.source, lineno)
        return line[:line.index(b" ")] if n == d else line.rsplit(b" ", d)[0]

    def longest(self) -> int:
        """Bytes a row's line can take: reading no further, a line of gigabytes (a decompression
        bomb's) is an error, not all of memory."""
        return MAX_WORD + MAX_NUMBER * self.dim + 2

    def rows(self, f, limit):
        lineno, off, row = 0, 0, 0
        if self.header:
            off = len(f.readline())
            lineno = 1
        most = self.longest()
        while raw := f.readline(most + 1):
            if len(raw) > most:
                raise NerwinError(f"line longer than {most:,} bytes, more than any row of dimension {self.dim} "
                                  "needs; is it a vectors file?", self.source, lineno + 1)
            lineno += 1
            start, off = off, off + len(raw)
            if start == 0 and raw.startswith(UTF8_BOM):
                raw, start = raw[len(UTF8_BOM):], len(UTF8_BOM)
            line = raw.rstrip(b"\r\n ")
            if not line:
                continue
            row += 1
            if limit is not None and row > limit:
                return
            yield row, lineno, start, self.split(line, row, lineno), line
        if self.count is not None and limit is None and row != self.count:
            raise NerwinError(f"header says {self.count} rows but the file has {row}", self.source, 1)

    def read_row(self, f, row):
        line = f.readline(self.longest()).rstrip(b"\r\n ")
        return (self.split(line, row, None), line) if line else None

    def parse(self, line: bytes, row: int, lineno, word: str) -> np.ndarray:
        try:
            vec = np.array(line.rsplit(b" ", self.dim)[1:], dtype=np.float32)
        except ValueError:
            raise NerwinError(f"row {row} ({word[:40]!r}) has a value that is not a number",
                              self.source, lineno) from None
        return _check_row(vec, self.source, row, word)


class BinStore(FileStore):
    """word2vec binary: `N D\\n` then, per row, `word ` and D little-endian float32."""

    def __init__(self, path: Path):
        self.source = self.path = path
        with open_vectors(path) as f:
            counts = header(f.readline(1 << 20))
        if counts is None:
            raise NerwinError("bad word2vec header; expected `ROWS DIM`", path, 1)
        self.count, self.dim = counts
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
                                      "is the header's dimension right?", self.source)
                more = f.read(1 << 22)
                if not more:
                    where = "at" if sp == -1 and not buf[pos:].strip() else "inside"
                    raise NerwinError(f"file ends {where} row {row}, but the header says {self.count} rows "
                                      "(truncated download? fetch the file again)", self.source)
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
                              f"({self.count} {self.dim}) is wrong", self.source)

    def read_row(self, f, row):
        buf = f.read(MAX_WORD + 4 * self.dim + 1)
        sp = buf.find(b" ")
        if sp == -1 or len(buf) < sp + 1 + 4 * self.dim:
            return None
        return buf[:sp], buf[sp + 1:sp + 1 + 4 * self.dim]

    def parse(self, payload: bytes, row: int, lineno, word: str) -> np.ndarray:
        return _check_row(np.frombuffer(payload, dtype="<f4").astype(np.float32), self.source, row, word)
