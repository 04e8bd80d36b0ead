"""Telling a vectors file's format from its first bytes, not its extension, and opening it:
gzip, bzip2 and xz files are read as streams (fastText publishes its `cc.*.vec.gz` that way;
files.open_bytes)."""
from __future__ import annotations

from pathlib import Path

from nerwin.errors import NerwinError, refuse_utf16
from nerwin.files import open_bytes

FASTTEXT_BIN = (793712314).to_bytes(4, "little")     # fastText's model magic number


open_vectors = open_bytes          # its name here: the vectors' readers open files through it


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
