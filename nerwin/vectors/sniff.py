"""Telling a vectors file's format from its first bytes, not its extension."""
from __future__ import annotations

from pathlib import Path

from nerwin.errors import NerwinError


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
