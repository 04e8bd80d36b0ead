"""Training data: corpora read, the vocabulary built from the pretrained vectors, windows encoded,
and the order of each epoch's batches."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nerwin.errors import NerwinError
from nerwin.nn.heads import Head
from nerwin.settings import Settings
from nerwin.text.corpus import Sentence, entity_types, read_conll, resolve_target
from nerwin.text.spelling import Features, Spelling
from nerwin.text.windows import BOS, EOS, UNK, Vocab, build_vocab, candidates, window_matrix

MAX_VALUE = 1e4    # |value| of a pretrained vector; GloVe's and word2vec's are below 10


@dataclass
class Data:
    """Windows (N, 2w+1) of row ids, labels (N,), the Spelling (the characters and affixes train
    holds) and its Features when the model reads any, and which rows of E are rare (seen once:
    word dropout's candidates)."""
    X: np.ndarray
    y: np.ndarray
    sents: list[Sentence]
    spelling: Spelling | None = None
    F: Features | None = None
    rare: np.ndarray | None = None
    unk: int = 0

    def words(self, idx, rng: np.random.Generator, p: float) -> np.ndarray:
        """The windows idx, each rare word's row replaced by <UNK> with probability p."""
        X = self.X[idx]
        if p > 0:
            drop = self.rare[X] & (rng.random(X.shape) < p)
            X = np.where(drop, self.unk, X).astype(X.dtype)
        return X


def encode(sents: list[Sentence], vocab: Vocab, head: Head, s: Settings, spelling: Spelling) -> Data:
    toks = [x.tokens for x in sents]
    X = window_matrix(vocab.ids(toks), s.window, vocab.index[BOS], vocab.index[EOS])
    F = spelling.features(toks, s.window, s.casing > 0, s.affixes > 0, s.char_width if s.chars else None)
    counts = np.bincount(X[:, s.window], minlength=len(vocab))
    return Data(X, head.gold(x.tags or [] for x in sents), sents, spelling, F if s.spelling_width() else None,
                counts == 1, vocab.index[UNK])


def prepare(train_path, dev_path, store, s: Settings, source=None):
    """Read the corpora, build the training vocabulary from the pretrained vectors, encode windows.

    Returns vocab, E (training rows only), train Data, dev sentences or None, the head (its
    target resolved to the corpus's spelling) and the OOV rate. source names the vectors file
    in messages.
    """
    train_sents = read_conll(train_path)
    types = entity_types(train_sents)
    if not types:
        raise NerwinError("no entity tags at all (every tag is O); there is nothing to learn", train_path)
    target = "all" if s.target == "all" else resolve_target(s.target, types, train_path)
    head = Head.new(target, types, s.loss)
    rng = np.random.default_rng(s.seed)
    found = store.lookup(candidates(t for x in train_sents for t in x.tokens))
    big = max((float(np.abs(v).max()) for v in found.values()), default=0.0)
    if big > MAX_VALUE:
        raise NerwinError(f"holds values as large as {big:.3g}; word vectors this large overflow the network "
                          "(is it really a vectors file?)", source or "the vectors")
    vocab, E, oov = build_vocab((x.tokens for x in train_sents), found, store.dim, rng)
    spelling = Spelling.build(x.tokens for x in train_sents)
    train = encode(train_sents, vocab, head, s, spelling)
    if np.unique(train.y).size < 2:
        raise NerwinError(f"every token has the same label ({target}); training needs both entities and O",
                          train_path)
    dev = None
    if dev_path is not None:
        dev = read_conll(dev_path)
        dev_types = entity_types(dev)
        extra = [t for t in dev_types if t not in types]
        if target == "all" and extra:
            raise NerwinError(f"dev has entity types that train lacks ({', '.join(extra)}); the model could "
                              f"never predict them. Train has: {', '.join(types)}", dev_path)
        if target != "all" and target not in dev_types:
            raise NerwinError(f"dev has no {target} entities, so its F1 could not choose an epoch", dev_path)
    return vocab, E.astype(s.dtype), train, dev, head, oov


def window_batches(rng, N: int, B: int):
    """Shuffled windows, B a batch: (indices, None)."""
    perm = rng.permutation(N)
    return [(perm[k:k + B], None) for k in range(0, N, B)]


def sentence_batches(rng, lengths: np.ndarray, B: int):
    """Shuffled whole sentences, about B words a batch: (window indices, sentence lengths)."""
    starts = np.cumsum(lengths) - lengths
    order = rng.permutation(len(lengths))
    group = (np.cumsum(lengths[order]) - 1) // B           # a sentence joins the batch it ends in
    out = []
    for b in np.split(order, np.flatnonzero(np.diff(group)) + 1):
        L = lengths[b]
        out.append((np.repeat(starts[b] - (np.cumsum(L) - L), L) + np.arange(L.sum()), L))
    return out
