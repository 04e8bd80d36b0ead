"""Scoring a model on a gold CoNLL file, streamed in chunks."""
from __future__ import annotations

import numpy as np

from nerwin.corpus import binary_labels, entity_types, iter_conll, resolve_target
from nerwin.metrics import token_prf
from nerwin.predict import chunks
from nerwin.train import scores
from nerwin.windows import BOS, EOS, window_matrix, with_pretrained


def evaluate_file(params, E, vocab, config, store, path) -> dict:
    target, s = config["target"], config["settings"]
    y_true, y_pred, types = [], [], {}
    for block in chunks(iter_conll(path)):
        for t in entity_types(block):
            types.setdefault(t, None)
        vx, Ex = with_pretrained(vocab, E, store, (t for x in block for t in x.tokens))
        X = window_matrix([vx.ids(x.tokens) for x in block], s["window"], vx.index[BOS], vx.index[EOS])
        y_pred.append(scores(params, Ex, X, s["activation"]) >= 0.5)
        y_true.append(np.fromiter((v for x in block for v in binary_labels(x, target)), dtype=bool))
    if not y_true:
        from nerwin.errors import NerwinError
        raise NerwinError("no sentences found; expected `token<TAB>tag` lines", path)
    resolve_target(target, list(types), path)
    return token_prf(np.concatenate(y_true), np.concatenate(y_pred))
