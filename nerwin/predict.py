"""Tagging new text with a saved model, streamed chunk by chunk.

Plain text is one sentence a line, split by TOKEN_RE: URLs, @mentions and
#hashtags stay whole, a word keeps inner hyphens, apostrophes and dots
("don't", "U.S", "co-op"), and every other punctuation mark is its own token.
"""
from __future__ import annotations

import json
import re
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, TextIO


from nerwin.errors import NerwinError
from nerwin.metrics import decode_sentences
from nerwin.windows import BOS, EOS, shape_matrix, window_matrix, with_pretrained

TOKEN_RE = re.compile(r"https?://\S+|[@#]\w+|\w+(?:[-'’.]\w+)*|[^\w\s]")
CHUNK = 2000  # sentences per chunk: memory is bounded by this, not by the input


def tokenize(line: str) -> list[str]:
    return TOKEN_RE.findall(line)


def open_vectors(config: dict, override: str | None = None, fmt: str | None = None):
    """The store that gives unseen words their pretrained vectors, as the model recorded it."""
    from nerwin.vectors import DEFAULT, open_store
    rec = config.get("vectors", {})
    source = override or rec.get("source")
    if source != DEFAULT and not override and not Path(str(source)).exists():
        raise NerwinError(f"the model's vectors source is gone: {source}; pass --vectors PATH to the same vectors")
    store, _ = open_store(source, fmt or (None if override else rec.get("format")), rec.get("limit"))
    if store.dim != config["dim"]:
        raise NerwinError(f"vectors have dimension {store.dim}, the model needs {config['dim']}", source)
    return store


def label_chunk(params, E, vocab, config, store, token_lists: list[list[str]]):
    """-> per sentence, a list of (label, probability of that label)."""
    from nerwin.train import scores
    w, target = config["settings"]["window"], config["target"]
    vx, Ex = with_pretrained(vocab, E, store, (t for toks in token_lists for t in toks))
    X = window_matrix([vx.ids(t) for t in token_lists], w, vx.index[BOS], vx.index[EOS])
    S = shape_matrix(token_lists, w) if "C" in params else None
    prob = scores(params, Ex, X, config["settings"]["activation"], S)
    classes = config.get("classes")
    if classes is not None:
        return [list(zip(tags, map(float, q))) for tags, q in decode_sentences(classes, prob, map(len, token_lists))]
    out, i = [], 0
    for toks in token_lists:
        out.append([(target, float(q)) if q >= 0.5 else ("O", float(1 - q)) for q in prob[i:i + len(toks)]])
        i += len(toks)
    return out


def chunks(it: Iterable, n: int = CHUNK) -> Iterator[list]:
    it = iter(it)
    while True:
        block = list(islice(it, n))
        if not block:
            return
        yield block


def write_sentence(out: TextIO, tokens: list[str], labels, fmt: str) -> None:
    if fmt == "jsonl":
        out.write(json.dumps({"tokens": tokens, "labels": [l for l, _ in labels],
                              "probs": [round(q, 4) for _, q in labels]}, ensure_ascii=False) + "\n")
    else:
        for t, (l, q) in zip(tokens, labels):
            out.write(f"{t}\t{l}\t{q:.4f}\n")
        out.write("\n")


def token_lists_from_text(f: TextIO) -> Iterator[list[str]]:
    for line in f:
        toks = tokenize(line)
        if toks:
            yield toks
