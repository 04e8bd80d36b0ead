"""Scoring a Tagger against gold tags: the figures `nerwin evaluate` prints."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from nerwin.errors import NerwinError, NerwinTypeError
from nerwin.text.corpus import Sentence, chunks, entity_types, iter_conll, read_conll, resolve_target, spacy_format
from nerwin.text.metrics import (calibration, calibration_bins, calibration_of, entity_counts, entity_scores,
                                 precision_recall, token_counts, token_scores)
from nerwin.text.schemes import spans


def check_gold(head, sents: list[Sentence], path) -> None:
    """Refuse, before any work, gold sentences that evaluate() would refuse at its end: a binary
    model's target must be among their types, if they have any (train reads --test before its
    first epoch). Gold without entities is a test of false positives."""
    check_target(head, entity_types(sents), path)


def check_target(head, types: list[str], path) -> None:
    """A binary model's target among the gold's types, if it has any: other types and not this
    one mean the wrong file or model."""
    if not head.entity_level and types:
        resolve_target(head.target, types, path)


def evaluate(tagger, gold: str | Path | Iterable[Sentence], calibrate: bool = True, T: float | None = None,
             collect: Callable | None = None, source=None) -> dict:
    """Token-level P/R/F1 of the target (binary model) or span-exact entity P/R/F1 per type and
    micro-averaged; `loss` is the training loss of the gold tags, per word; `unknown_types`
    lists gold types the model cannot predict (they count as misses). With calibrate, also the
    calibration of entity confidences and token probabilities (ECE, 10 bins) and precision and
    recall as the confidence threshold moves; T overrides the model's temperature. collect: called
    with each sentence and its Doc, in order (the report reads them instead of tagging again).
    source: the file sentences came from, for errors to name."""
    if isinstance(gold, (str, Path)):
        path, sents = gold, read_conll(gold) if spacy_format(gold) else iter_conll(gold)    # CoNLL streams
    elif isinstance(gold, Iterable) and not isinstance(gold, (bytes, dict)):
        path, sents = source or "gold sentences", gold
    else:
        raise NerwinTypeError(f"gold must be a CoNLL file path or sentences, got {type(gold).__name__}")
    head = tagger.head
    types, n_sents, loss, words = {}, 0, 0.0, 0
    counts = None                                  # the scores' counts, block by block: memory stays flat
    ent_conf, ent_ok, tok_bins, n_gold = [], [], None, 0       # entities are kept; tokens only binned
    for block in chunks(sents):
        if not all(isinstance(x, Sentence) and x.tags is not None for x in block):
            raise NerwinTypeError("gold sentences must be Sentence objects with tags")
        for t in entity_types(block):
            types.setdefault(t, None)
        n_sents += len(block)
        toks = [x.tokens for x in block]
        s = tagger.logits(toks)
        docs = tagger.decode(toks, s, T)
        for x, d in zip(block, docs if collect is not None else ()):
            collect(x, d)
        loss += tagger.dev_loss(block, s) * len(s)
        words += len(s)
        tok_conf, tok_ok = [], []
        for x, d in zip(block, docs if calibrate else ()):     # calibration: entities and tokens, against gold
            gold = [head.labels[int(i)] for i in head.gold([x.tags])]
            G = set(spans(gold))
            n_gold += len(G)
            for e in d.entities:
                ent_conf.append(e.confidence)
                ent_ok.append((e.type, e.start, e.end) in G)
            tok_conf += d.probs
            tok_ok += [a == b for a, b in zip(d.labels, gold)]
        if calibrate:
            tok_bins = calibration_bins(tok_conf, tok_ok, into=tok_bins)
        if head.entity_level:
            counts = entity_counts([x.tags for x in block], [d.labels for d in docs], into=counts)
        else:
            counts = token_counts(head.gold(x.tags for x in block).astype(bool),
                                  np.array([l == head.target for d in docs for l in d.labels], dtype=bool), counts)
    tagger.say_fallbacks()
    if not n_sents:
        raise NerwinError("no sentences found; expected `token<TAB>tag` lines", path)
    if head.entity_level:
        m = entity_scores(counts)
        known = {c[2:] for c in head.labels if c != "O"}
        m["unknown_types"] = [t for t in types if t not in known]
    else:
        check_target(head, list(types), path)
        m = token_scores(counts)
    m["loss"] = loss / max(words, 1)
    if calibrate:
        m["calibration"] = {"temperature": tagger.temperature if T is None else T,
                            "entity": calibration(ent_conf, ent_ok),
                            "token": calibration_of(tok_bins)}
        m["confidence"] = precision_recall(ent_conf, ent_ok, n_gold)
    return m
