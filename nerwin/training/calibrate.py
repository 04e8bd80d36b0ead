"""Calibration after training: one temperature T, fitted on dev, that makes the model's
probabilities and confidences mean what they say. It scales every probability and no decision."""
from __future__ import annotations

import numpy as np

from nerwin.apply.tagger import Tagger
from nerwin.text.corpus import Sentence

LOG_T = (np.log(0.05), np.log(20.0))
STEPS = 40


def fit_temperature(tagger: Tagger, sents: list[Sentence]) -> float:
    """The T that minimizes the dev loss of gold tags (the training loss's own formula, at T),
    by golden-section search on log T in [0.05, 20]."""
    head, params = tagger.head, tagger.params
    toks = [x.tokens for x in sents]
    s = tagger.logits(toks)
    y = head.gold(x.tags or [] for x in sents)
    lengths = np.array([len(t) for t in toks if t], dtype=np.int64)

    def nll(log_t: float) -> float:
        sT, pT = head.temper(s, params, float(np.exp(log_t)))
        return head.dev_loss(sT, y, lengths, pT)
    lo, hi = LOG_T
    g = (np.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(STEPS):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))
