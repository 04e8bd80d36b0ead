"""Scoring a model on a gold CoNLL file, streamed in chunks."""
from __future__ import annotations

import numpy as np

from nerwin.corpus import entity_types, iter_conll, resolve_target
from nerwin.errors import NerwinError
from nerwin.metrics import decode_sentences, entity_prf, token_prf
from nerwin.predict import chunks
from nerwin.train import encode, scores
from nerwin.windows import with_pretrained


def evaluate_file(params, E, vocab, config, store, path) -> dict:
    """Token-level P/R/F1 of the target (binary model), or entity-level (all types)."""
    target, s, classes = config["target"], config["settings"], config.get("classes")
    y_true, y_pred, gold, pred, types = [], [], [], [], {}
    for block in chunks(iter_conll(path)):
        for t in entity_types(block):
            types.setdefault(t, None)
        vx, Ex = with_pretrained(vocab, E, store, (t for x in block for t in x.tokens))
        d = encode(block, vx, s["window"], target, classes, "C" in params)
        prob = scores(params, Ex, d.X, s["activation"], d.S)
        if classes is None:
            y_true.append(d.y.astype(bool))
            y_pred.append(prob >= 0.5)
            continue
        pred += [tags for tags, _ in decode_sentences(classes, prob, (len(x.tokens) for x in block))]
        gold += [x.tags for x in block]
    if not types and not y_true and not gold:
        raise NerwinError("no sentences found; expected `token<TAB>tag` lines", path)
    if classes is None:
        resolve_target(target, list(types), path)
        return token_prf(np.concatenate(y_true), np.concatenate(y_pred))
    return entity_prf(gold, pred)
