"""Scoring a Tagger against gold tags: the figures `nerwin evaluate` prints."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from nerwin.errors import NerwinError, NerwinTypeError
from nerwin.text.corpus import Sentence, chunks, entity_types, iter_conll, resolve_target
from nerwin.text.metrics import entity_prf, token_prf


def evaluate(tagger, gold: str | Path | Iterable[Sentence]) -> dict:
    """Token-level P/R/F1 of the target (binary model) or span-exact entity P/R/F1 per type and
    micro-averaged; `loss` is the training loss of the gold tags, per word; `unknown_types`
    lists gold types the model cannot predict (they count as misses)."""
    if isinstance(gold, (str, Path)):
        path, sents = gold, iter_conll(gold)
    elif isinstance(gold, Iterable) and not isinstance(gold, (bytes, dict)):
        path, sents = "gold sentences", gold
    else:
        raise NerwinTypeError(f"gold must be a CoNLL file path or sentences, got {type(gold).__name__}")
    head = tagger.head
    y_true, y_pred, g_tags, p_tags, types = [], [], [], [], {}
    loss, words = 0.0, 0
    for block in chunks(sents):
        if not all(isinstance(s, Sentence) and s.tags is not None for s in block):
            raise NerwinTypeError("gold sentences must be Sentence objects with tags")
        for t in entity_types(block):
            types.setdefault(t, None)
        toks = [s.tokens for s in block]
        s = tagger.logits(toks)
        docs = tagger.decode(toks, s)
        loss += tagger.dev_loss(block, s) * len(s)
        words += len(s)
        if head.entity_level:
            g_tags += [x.tags for x in block]
            p_tags += [d.labels for d in docs]
        else:
            y_true += head.gold(x.tags for x in block).astype(bool).tolist()
            y_pred += [l == head.target for d in docs for l in d.labels]
    tagger.say_fallbacks()
    if not words and not g_tags:
        raise NerwinError("no sentences found; expected `token<TAB>tag` lines", path)
    if head.entity_level:
        m = entity_prf(g_tags, p_tags)
        known = {c[2:] for c in head.labels if c != "O"}
        m["unknown_types"] = [t for t in types if t not in known]
    else:
        resolve_target(head.target, list(types), path)
        m = token_prf(np.array(y_true, dtype=bool), np.array(y_pred, dtype=bool))
    m["loss"] = loss / max(words, 1)
    return m
