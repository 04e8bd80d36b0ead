"""Gazetteers: word lists of entity names that users bring (`--gazetteer LOC=places.txt`), read
safely and matched over a sentence in linear time.

A list has one entry a line, an entry one or more space-separated tokens ("New York City"). A
token is marked B or I of a type's entry by the longest match starting at it, left to right,
case-insensitive; the mark says too whether the entry matched with its exact case. Entries and
tokens are compared in Unicode's composed form (NFC), so "Kraków" matches however it is typed.
Matching looks up each n-gram of at most MAX_TOKENS tokens in a hash: O(n * MAX_TOKENS), never a
regex per entry.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

from nerwin.errors import NerwinError, refuse_utf16
from nerwin.files import DAMAGED, compression, inner
from nerwin.text.windows import composed

MAX_ENTRIES = 1_000_000      # entries over all lists: a bounded refusal, not a bounded hang
MAX_TOKENS = 20              # tokens in one entry (titles of works run long)
MAX_LINE = 1_000             # characters in one entry
LINE_BYTES = 4 * MAX_LINE + 5   # bytes of a line read at most: a BOM, MAX_LINE characters of UTF-8 and CRLF
NONE, PAD = 1, 0             # ids: no match, and the <s>/</s> slots; then 2 + 4k + mark for type k
B, I, B_EXACT, I_EXACT = range(4)
MARKS = ("B", "I", "B, exact case", "I, exact case")
# in a list joined by newlines: an empty entry, a space at an entry's edge, two spaces, other whitespace
BAD_SPACING = re.compile(r"^$|^ | $|  |[^\S \n]", re.MULTILINE)


def parse_spec(spec: str) -> tuple[str, Path]:
    """"TYPE=FILE" -> (TYPE, FILE)."""
    if not isinstance(spec, str) or "=" not in spec:
        raise NerwinError(f"--gazetteer takes TYPE=FILE (for example LOC=places.txt), got {spec!r}")
    t, _, f = spec.partition("=")
    if not t.strip() or not f.strip():
        raise NerwinError(f"--gazetteer takes TYPE=FILE (for example LOC=places.txt), got {spec!r}")
    return t.strip(), Path(f.strip())


def readline(f, n: int, path: Path, line: int) -> bytes:
    """f.readline(n)'s bytes; a damaged compressed file is its error."""
    try:
        return f.readline(n).encode("latin-1")
    except DAMAGED as e:
        raise NerwinError(f"cannot read ({getattr(e, 'strerror', None) or e})", path, line) from None


def read_list(path: Path, budget: int = MAX_ENTRIES) -> list[str]:
    """The entries of one list, each its tokens joined by one space; errors name the file and line."""
    p = Path(path)
    if not p.is_file():
        raise NerwinError("no such gazetteer file" if not p.exists() else "is a pipe, a device or a directory; give "
                          "the gazetteer file itself, one entry a line", p)
    out, seen = [], set()
    # latin-1 gives back every byte as it is (UTF-8 is decoded per line, to name a bad one), and
    # text mode ends a line at LF, CR or CRLF, as the corpus reader does; never more than a line's bound
    op = compression(p)                  # gzip, bzip2 or xz: decompressed as it is read
    with io.TextIOWrapper(inner(op, p, p), encoding="latin-1", newline=None) if op else \
            open(p, encoding="latin-1", newline=None) as f:
        i = 0
        while raw := readline(f, LINE_BYTES, p, i + 1):
            i += 1
            if i == 1:
                refuse_utf16(raw, p)
            if len(raw) == LINE_BYTES and not raw.endswith(b"\n"):
                raise NerwinError(f"a line longer than {LINE_BYTES:,} bytes; an entry has at most {MAX_LINE:,} "
                                  "characters", p, i)
            if b"\0" in raw:
                raise NerwinError("holds a NUL byte; a gazetteer is a text file, one entry a line", p, i)
            try:
                line = raw.decode("utf-8").lstrip("\ufeff")     # a BOM, as the corpus reader drops it
            except UnicodeDecodeError:
                raise NerwinError("is not UTF-8", p, i) from None
            toks = line.split()
            if not toks:
                continue
            entry = " ".join(toks)
            if len(entry) > MAX_LINE:
                raise NerwinError(f"an entry of {len(entry):,} characters; the limit is {MAX_LINE:,}", p, i)
            if len(toks) > MAX_TOKENS:
                raise NerwinError(f"an entry of {len(toks)} tokens; the limit is {MAX_TOKENS}", p, i)
            if entry not in seen:
                if len(out) >= budget:
                    raise NerwinError(f"more than {MAX_ENTRIES:,} entries in all; use shorter lists", p, i)
                seen.add(entry)
                out.append(entry)
    if not out:
        raise NerwinError("is empty; a gazetteer holds one entry a line", p)
    return out


def well_formed(entries) -> bool:
    """A list as the model keeps it: strings, none empty, each its tokens joined by single spaces
    (what read_list writes). One regular expression over the list joined by newlines, not a check
    an entry: a million entries take 0.1 s, not 1.2."""
    if not (isinstance(entries, list) and entries and all(type(e) is str for e in entries)):
        return False
    text = "\n".join(entries)
    return text.count("\n") == len(entries) - 1 and BAD_SPACING.search(text) is None


def read_gazetteers(specs, types: list[str]) -> dict[str, list[str]]:
    """{TYPE: entries} from "TYPE=FILE" specs; TYPE must be an entity type of the training corpus
    (matched case-insensitively, kept as the corpus spells it)."""
    lists: dict[str, list[str]] = {}
    budget = MAX_ENTRIES
    for spec in specs:
        name, path = parse_spec(spec)
        match = [t for t in types if t.lower() == name.lower()]
        if not match:
            raise NerwinError(f"--gazetteer {name}=...: {name} is not an entity type of the training file; "
                              f"it has {', '.join(types)}")
        entries = read_list(path, budget)
        budget -= len(entries)
        have = lists.setdefault(match[0], [])
        known = set(have)
        have += [e for e in entries if e not in known]
    return lists


class Matcher:
    """Longest-match marks of token lists against lists {type: entries}."""

    def __init__(self, lists: dict[str, list[str]]):
        """Keys are strings, an entry's tokens joined by spaces (no token holds one): a tuple of
        token strings took twice the memory (400 MB for a million entries)."""
        self.types = list(lists)
        self.lower: dict[str, int] = {}         # lowercased entry -> its type (the first list that has it)
        self.exact: set[str] = set()            # "type<TAB>entry as spelled"
        self.longest = 1
        for k in reversed(range(len(self.types))):      # an earlier list's type overwrites a later one's
            entries = lists[self.types[k]]
            self.lower.update(dict.fromkeys((composed(e).lower() for e in entries), k))
            self.exact.update(f"{k}\t{composed(e)}" for e in entries)
            self.longest = max(self.longest, 1 + max(e.count(" ") for e in entries))

    def marks(self, tokens: list[str]) -> list[int]:
        """Each token's id: NONE, or 2 + 4k + its mark for type k."""
        tokens = [composed(t) if " " not in t else "\t" for t in tokens]    # no entry's token holds either
        n, out, i = len(tokens), [NONE] * len(tokens), 0
        low = [t.lower() for t in tokens]
        while i < n:
            for L in range(min(self.longest, n - i), 0, -1):
                k = self.lower.get(" ".join(low[i:i + L]))
                if k is not None:
                    exact = f"{k}\t{' '.join(tokens[i:i + L])}" in self.exact
                    base = 2 + 4 * k
                    out[i] = base + (B_EXACT if exact else B)
                    for j in range(i + 1, i + L):
                        out[j] = base + (I_EXACT if exact else I)
                    i += L
                    break
            else:
                i += 1
        return out

    def name(self, mark: int) -> str:
        """How explain and the graph name an id."""
        if mark in (PAD, NONE):
            return "pad" if mark == PAD else "none"
        k, m = divmod(mark - 2, 4)
        return f"{self.types[k]} {MARKS[m]}"
