"""CoNLL in and out: the token is the first column, the tag the last (the one before it when the
last is a probability, as predict writes them).

Columns are split on tabs when the line has one (so a token may be empty, as in
BTC's `\tO`), else on runs of spaces. A whitespace-only line ends a sentence and
`-DOCSTART-` lines are skipped. Tags may be in any scheme that schemes.parse reads.
"""
from __future__ import annotations

import codecs
import io
import json
import sys
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, TextIO

from nerwin.errors import NerwinError, refuse_utf16
from nerwin.files import DAMAGED, PIPED, compressed, compression, inner, plain_name
from nerwin.text.schemes import breaks_line, parse, types

BATCH = 2000      # sentences per chunk: memory is bounded by this, not by the input
MAX_LINE = 1 << 24   # characters: a longer line is not CoNLL (say, /dev/zero)

@dataclass
class Sentence:
    tokens: list[str]
    tags: list[str] | None  # None when the input has no tag column
    line: int               # line number of the first token, for messages


def open_text(path: str | Path, errors: str = "strict") -> TextIO:
    """Open a UTF-8 file (BOM and CRLF accepted; gzip, bzip2 or xz compressed, decompressed as
    it is read) or `-` for stdin, with clear errors."""
    if str(path) == "-":
        if sys.stdin is None:
            raise NerwinError("standard input is closed; give a file")
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", errors=errors, newline=None)
    p = Path(path)
    if not p.exists():
        raise NerwinError("no such file; check the path", path)
    if p.is_dir():
        raise NerwinError("is a directory, expected a text file", path)
    try:
        op = compression(p)
        if op is not None:
            return io.TextIOWrapper(inner(op, p, path), encoding="utf-8-sig", errors=errors, newline=None)
        return open(p, encoding="utf-8-sig", errors=errors, newline=None)
    except OSError as e:
        raise NerwinError(f"cannot open: {e.strerror}", path) from None


def replace_bad_bytes(first: list) -> str:
    """A codec error handler that puts U+FFFD for bytes that are not UTF-8; the first time, it
    appends to `first` the bytes its read held before them, so that the caller can name the line.
    -> the handler's name (one name, registered again by each call: the registry keeps one)."""
    handler_name = "nerwin-replace"

    def handler(err):
        if not first:
            first.append(bytes(err.object[:err.start]))
        return "\ufffd", err.end

    codecs.register_error(handler_name, handler)
    return handler_name


def bounded_lines(f, path) -> Iterator[str]:
    """The lines of a file, refusing a NUL byte, an endless line or bytes that are not UTF-8 as
    soon as they are read."""
    readline = getattr(f, "readline", None)
    if readline is None:                  # already lines (predict's reader bounds its own)
        yield from f
        return
    n = 0
    try:
        while line := readline(1 << 16):
            while not line.endswith("\n"):
                if "\x00" in line or len(line) > MAX_LINE:
                    break
                more = readline(1 << 16)
                if not more:
                    break
                line += more
            n += 1
            if "\x00" in line:
                raise NerwinError("binary data (NUL byte); expected a UTF-8 text file", path, n)
            if len(line) > MAX_LINE:
                raise NerwinError(f"a line longer than {MAX_LINE:,} characters; expected a text file", path, n)
            yield line
    except UnicodeDecodeError as e:       # decoded a block at a time: the line is near, not exact
        if n == 0 and e.start <= 1:
            refuse_utf16(e.object, path)
            if compressed(e.object[:6]):      # standard input: a file is decompressed as it is read
                raise NerwinError(PIPED.format("..."), path) from None
        raise NerwinError(f"not valid UTF-8 near line {n + 1} (byte {e.start}); save the file as UTF-8",
                          path) from None
    except DAMAGED as e:
        raise NerwinError(f"cannot read near line {n + 1} ({getattr(e, 'strerror', None) or e})", path) from None


DOCSTART = "-DOCSTART-"


class Comment(str):
    """A comment line of CoNLL-U (`# sent_id = 1`, `# text = ...`) or MultiCoNER (`# id 3c1f...
    domain=en`) input: no sentence, and predict writes it back where it stood."""


def is_json(line: str) -> bool:
    """A JSON object or array on one line (a Label Studio or Doccano export read as CoNLL gave
    the type `"LOC"]]}]`); a CoNLL line with a `{` token is not one."""
    s = line.strip()
    if s in ("[", "{"):                # pretty-printed JSON's first line
        return True
    if not (s[:1] in "{[" and s[-1:] in "}],"):
        return False
    try:
        return isinstance(json.loads(s.rstrip(",")), (dict, list))
    except ValueError:
        return False


HEADER_TOKENS = {"token", "tokens", "word", "words", "form", "text"}
HEADER_TAGS = {"tag", "tags", "label", "labels", "ner", "ner_tag", "ner_tags", "entity", "iob", "bio"}


def columns(line: str) -> list[str]:
    """A non-blank CoNLL line's columns: split at tabs, or else at spaces, as conlleval splits them
    (a no-break space inside a token, "5 000" in French text, is part of it), without a
    spreadsheet's empty last columns."""
    if "\t" in line:
        cols = line.split("\t")
    else:
        cols = line.split(" ")
        if "" in cols:
            cols = [c for c in cols if c] or [line]
    if line[-1] in "\t ":
        while len(cols) > 1 and not cols[-1].strip():
            cols.pop()
    return cols


def header(line: str) -> bool:
    """A spreadsheet's header row (`word<TAB>tag`, `Token Label`): it read as a token tagged with
    an entity type `tag`."""
    cols = columns(line)
    return len(cols) >= 2 and cols[0].strip().lower() in HEADER_TOKENS and cols[-1].strip().lower() in HEADER_TAGS


def probability(col: str) -> bool:
    """A number from 0 to 1: the last column of predict's CoNLL output (token, tag, probability),
    whose tag is then the column before it; no tag is a number."""
    try:
        return 0.0 <= float(col) <= 1.0
    except ValueError:
        return False


def comment(line: str) -> bool:
    """A Comment's line; a token `#` in column one is still a token (`#<TAB>O`, `# O`: wikigold
    has them)."""
    return line.startswith("# ") and (" = " in line or line.startswith("# id "))


def iter_conll(path: str | Path, f: TextIO | None = None, need_tags: bool = True,
               documents: bool = False) -> Iterator[Sentence]:
    """Yield sentences one by one; memory does not grow with the file. A byte-order mark is
    dropped wherever it stands (files with BOMs are often concatenated). documents: each
    `-DOCSTART-` line comes as a sentence of that one token, and each comment line as a sentence
    of one Comment (predict writes both back, so that its output lines up with the input);
    otherwise they are skipped."""
    f = f or open_text(path)
    tokens: list[str] = []
    tags: list[str] = []
    start = 0
    n = 0
    seen = False                       # a line with content
    for n, raw in enumerate(bounded_lines(f, path), 1):
        line = raw.rstrip("\r\n").lstrip("\ufeff")
        if "\x00" in line:
            raise NerwinError("binary data (NUL byte); expected a UTF-8 CoNLL text file", path, n)
        if not line.strip():
            if tokens:
                yield Sentence(tokens, tags if need_tags else None, start)
                tokens, tags = [], []
            continue
        if not seen:
            seen = True
            if need_tags and is_json(line):        # gold files; predict's input sniffs its own
                raise NerwinError("is JSON, not CoNLL (a token and its tag a line); nerwin reads spaCy's and Hugging "
                                  "Face's JSONL from a file named .jsonl, one example a line", path, n)
            if need_tags and header(line):
                continue
        if line[0] == "#" and comment(line):
            if documents:
                if tokens:
                    yield Sentence(tokens, tags if need_tags else None, start)
                    tokens, tags = [], []
                yield Sentence([Comment(line)], None, n)
            continue
        cols = columns(line)
        if cols[0] == DOCSTART:
            if documents:
                if tokens:
                    yield Sentence(tokens, tags if need_tags else None, start)
                    tokens, tags = [], []
                yield Sentence([DOCSTART], None, n)
            continue
        if need_tags:
            if len(cols) < 2:
                csv = "," in cols[0] or ";" in cols[0]
                raise NerwinError(f"one column ({cols[0][:40]!r}); expected `token<TAB>tag`"
                                  + ("; columns are split at tabs or spaces, not commas (a CSV file?)" if csv else ""),
                                  path, n)
            tag = (cols[-2] if len(cols) >= 3 and probability(cols[-1]) else cols[-1]).strip()
            try:
                _, typ = parse(tag)
            except ValueError as e:
                raise NerwinError(str(e), path, n) from None
            if typ is not None and not any(c.isalpha() for c in typ):
                raise NerwinError(f"tag {tag[:40]!r} names no entity type; the last column must be "
                                  "a tag such as O, B-PER or I-LOC (is this text rather than CoNLL?)", path, n)
            tags.append(tag)
        if not tokens:
            start = n
        tokens.append(cols[0].strip())
    if tokens:
        yield Sentence(tokens, tags if need_tags else None, start)


MAX_TYPES = 100      # OntoNotes has 18; hundreds of "types" are the words of a text file


def spacy_format(path: str | Path) -> bool:
    """Whether the file is a `.spacy` DocBin or a `.jsonl` (a.jsonl.gz too), by its name."""
    return (plain_name(Path(path)) if Path(path).is_file() else Path(path)).suffix in (".spacy", ".jsonl")


def read_conll(path: str | Path) -> list[Sentence]:
    """A CoNLL file's sentences; a `.spacy` DocBin or a `.jsonl` is read as spaCy (or Hugging
    Face datasets, docbin.tagged_tokens) writes it."""
    if spacy_format(path):
        from nerwin.text.docbin import read_docbin, read_spacy_jsonl     # docbin reads corpus's Sentence
        sents = read_docbin(path) if plain_name(Path(path)).suffix == ".spacy" else read_spacy_jsonl(path)
    else:
        sents = list(iter_conll(path))
    if not sents:
        raise NerwinError("no sentences found; expected `token<TAB>tag` lines", path)
    found = entity_types(sents)
    if len(found) > MAX_TYPES:
        raise NerwinError(f"the last column holds {len(found):,} entity types ({', '.join(found[:4])}, ...); this "
                          "looks like text, not CoNLL (a token and its tag a line)", path)
    broken = next((t for t in found if breaks_line(t)), None)
    if broken is not None:                 # a model could not write it as a tag: refused before training
        line = next(s.line + k for s in sents for k, t in enumerate(s.tags or ()) if broken in t)
        raise NerwinError(f"entity type {broken!r} holds a line break or a tab, which no CoNLL tag can", path, line)
    return sents


def entity_types(sents: Iterable[Sentence]) -> list[str]:
    """The entity types in the tags, in first-seen order (deterministic)."""
    return types(t for s in sents for t in s.tags or ())


def resolve_target(target: str, types: list[str], path) -> str:
    """Match `--target` case-insensitively to the corpus's own spelling of a type."""
    for t in types:
        if t.lower() == target.lower():
            return t
    raise NerwinError(f"target type {target!r} not in the file; types found: {', '.join(types) or 'none'}", path)


def chunks(it: Iterable, n: int = BATCH) -> Iterator[list]:
    """Lists of n items at a time."""
    it = iter(it)
    while block := list(islice(it, n)):
        yield block
