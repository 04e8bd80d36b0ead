"""`nerwin gradcheck`: the hand-derived gradients against central differences, on real windows."""
from __future__ import annotations

import numpy as np

from nerwin import sample
from nerwin.nn.gradcheck import check, sample_problem, sentence_problem
from nerwin.nn.heads import Head
from nerwin.nn.layers import ACTIVATIONS
from nerwin.settings import Settings
from nerwin.text.corpus import entity_types, read_conll
from nerwin.text.windows import BOS, EOS, build_vocab, candidates, window_matrix
from nerwin.vectors import open_store


def real_windows(train_file, store, s: Settings):
    """-> sentences, their entity types, E (float64) and the windows (N, 2w+1) of the corpus."""
    sents = read_conll(train_file)
    found = store.lookup(candidates(t for x in sents for t in x.tokens))
    vocab, E, _ = build_vocab((x.tokens for x in sents), found, store.dim, np.random.default_rng(s.seed))
    X = window_matrix(vocab.ids([x.tokens for x in sents]), s.window, vocab.index[BOS], vocab.index[EOS])
    return sents, entity_types(sents), E.astype(np.float64), X


def run_all(s: Settings, train_file=None, vectors=None, vectors_format=None, activation: str | None = None,
            tolerance: float = 1e-6, say=print) -> bool:
    """Every activation on the lecture's binary model, then softmax with casing and dropout, then
    the sentence loss, on real windows; says each parameter's error and returns whether all pass.
    A corpus without entity tags is checked with random labels on its real windows."""
    acts = [activation] if activation else list(ACTIVATIONS)
    train_file = train_file or sample.path("train.conll")
    store, _ = open_store(vectors, vectors_format)
    sents, types, E, X = real_windows(train_file, store, s)
    rng = np.random.default_rng(s.seed)
    if not types:
        say(f"{train_file}: no entity tags; checking with random labels on its real windows")
    tags = [x.tags for x in sents]
    y = Head.new(types[0], types, "window").gold(tags) if types else rng.integers(0, 2, len(X)).astype(np.float64)
    worst = 0.0
    cases = [(a, a, 1, 0, 0.0) for a in acts] + [(f"{a} + softmax, casing, dropout", a, 4, 3, 0.3) for a in acts[:1]]
    for name, a, K, casing, drop in cases:
        p, Es, ids, yy, shapes, head = sample_problem(E, X, y, s.hidden, K, s.seed, casing=casing)
        mask = None
        if drop:  # a fixed mask: dropout is then a deterministic function to differentiate
            mask = (np.random.default_rng(s.seed).random((len(ids), s.hidden)) >= drop) / (1 - drop)
        errs = check(p, Es, ids, yy, head, a, s.l2, mask, shapes)
        worst = max(worst, *errs.values())
        say(f"{name}\n    " + "  ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    # the sentence loss: A, the emissions and everything below, on real sentences of 1 and 40 words
    head = Head.new("all", types or ["X"], "sentence")
    y = head.gold(tags) if types else rng.integers(0, 2, len(X))          # O and B-X: always a valid path
    lengths = (1, min(40, len(X) - 1)) if len(X) > 1 else (1,)        # real sentences of 1 and 40 words
    p, Es, ids, yy, shapes, lengths, head = sentence_problem(E, X, y, s.hidden, head.classes, s.seed, lengths,
                                                             casing=3)
    errs = check(p, Es, ids, yy, head, acts[0], s.l2, None, shapes, lengths)
    worst = max(worst, *errs.values())
    say(f"{acts[0]} + sentence loss (A), casing; sentences of {' and '.join(map(str, lengths))} words\n    "
        + "  ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    ok = worst <= tolerance
    say(f"largest relative error {worst:.2e}: {'PASS' if ok else 'FAIL'} (tolerance {tolerance:g})")
    return ok
