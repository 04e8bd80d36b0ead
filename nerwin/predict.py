"""`nerwin predict`: read sentences, tag them with a Tagger, write them; streamed chunk by chunk."""
from __future__ import annotations

import json
from typing import Iterator, TextIO

from nerwin.corpus import iter_conll, open_text, replace_and_warn
from nerwin.errors import NerwinError
from nerwin.tagger import Doc, Tagger

ROW = "{}\t{}\t{:.4f}\n"


def write_doc(out: TextIO, doc: Doc, fmt: str) -> None:
    if fmt == "jsonl":
        out.write(json.dumps({"tokens": doc.tokens, "labels": doc.labels,
                              "probs": [round(q, 4) for q in doc.probs],
                              "entities": [[a, b, t, round(q, 4)] for a, b, t, q in doc.entities]},
                             ensure_ascii=False) + "\n")
    else:
        out.write("".join(map(ROW.format, doc.tokens, doc.labels, doc.probs)) + "\n")


def read_sentences(path: str, input_format: str) -> Iterator[list[str] | str]:
    """Token lists (conll) or lines of text (one sentence a line; blank lines skipped)."""
    name = "<stdin>" if path == "-" else path
    f = open_text(path, errors=replace_and_warn(name))
    if input_format == "conll":
        return (s.tokens for s in iter_conll(path, f, need_tags=False))
    return (line for line in f if line.strip())


def predict(tagger: Tagger, path: str, out: TextIO, input_format: str = "text", output_format: str = "conll") -> int:
    """Tag every sentence of path (or - for stdin) onto out; returns the number of sentences."""
    if input_format not in ("text", "conll"):
        raise NerwinError(f"unknown --input-format {input_format!r}; choose text or conll")
    if output_format not in ("conll", "jsonl"):
        raise NerwinError(f"unknown --output-format {output_format!r}; choose conll or jsonl")
    n = 0
    for doc in tagger.tag_many(read_sentences(path, input_format)):
        if doc.tokens:
            write_doc(out, doc, output_format)
            n += 1
    if n == 0:
        raise NerwinError("empty input: no tokens to label; give one sentence a line",
                          "<stdin>" if path == "-" else path)
    return n
