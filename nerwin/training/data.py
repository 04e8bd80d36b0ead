"""Training data: corpora read, the vocabulary built from the pretrained vectors, windows encoded,
and the order of each epoch's batches."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nerwin.errors import NerwinError
from nerwin.model import WindowModel
from nerwin.model.window_model import features_for
from nerwin.nn.features import FeatureIds
from nerwin.nn.features.base import cut
from nerwin.nn.heads import choose
from nerwin.settings import Settings
from nerwin.text.corpus import Sentence, entity_types, read_conll, resolve_target
from nerwin.text.tokenize import mention_style
from nerwin.text.windows import BOS, EOS, UNK, build_vocab, candidates, window_matrix
from nerwin.vectors import Bundle

MAX_VALUE = 1e4    # |value| of a pretrained vector; GloVe's and word2vec's are below 10


@dataclass
class Data:
    """Windows (N, 2w+1) of row ids, labels (N,), what the model's features read of them, and
    which rows of E are rare (seen once: word dropout's candidates)."""
    X: np.ndarray
    y: np.ndarray
    sents: list[Sentence]
    feats: FeatureIds = field(default_factory=FeatureIds)
    rare: np.ndarray | None = None
    unk: int = 0
    lengths: np.ndarray | None = None           # (S,) each sentence's tokens: counted once, here

    def __post_init__(self):
        if self.lengths is None:
            self.lengths = np.fromiter((len(x.tokens) for x in self.sents), np.int64, len(self.sents))

    def take(self, order) -> "Data":
        """The windows in this order: shuffled once an epoch, so that each batch is a slice read
        in order, not B rows gathered from all over memory. The sentences stay as they are."""
        return replace(self, X=cut(self.X, order), y=cut(self.y, order), feats=self.feats.take(order))

    def words(self, idx, rng: np.random.Generator, p: float) -> np.ndarray:
        """The windows idx, each rare word's row replaced by <UNK> with probability p."""
        X = self.X[idx]
        if p > 0:
            drop = self.rare[X] & (rng.random(X.shape) < p)
            X = np.where(drop, self.unk, X).astype(X.dtype)
        return X


def encode(sents: list[Sentence], model: WindowModel) -> Data:
    """The training windows of these sentences, as the model reads them."""
    toks = [x.tokens for x in sents]
    vocab, w = model.vocab, model.settings.window
    X = window_matrix(vocab.ids(toks), w, vocab.index[BOS], vocab.index[EOS])
    counts = np.bincount(X[:, w], minlength=len(vocab))
    return Data(X, model.head.gold(x.tags or [] for x in sents), sents, model.feature_ids(toks), counts == 1,
                vocab.index[UNK])


def prepare(train_path, dev_path, store, s: Settings, source=None, record: dict | None = None, gazetteers=()):
    """Read the corpora, build the training vocabulary from the pretrained vectors, then the model
    (its head, its target resolved to the corpus's spelling, its word features counted from train,
    freshly drawn parameters) and its training windows.

    Returns the WindowModel, the train Data, the dev sentences or None, and the OOV rate.
    source names the vectors file in messages; record is open_store's record of it; gazetteers:
    "TYPE=FILE" word lists for the gazetteer feature.
    """
    train_sents = read_conll(train_path)
    types = entity_types(train_sents)
    if not types:
        raise NerwinError("no entity tags at all (every tag is O); there is nothing to learn", train_path)
    target = "all" if s.target == "all" else resolve_target(s.target, types, train_path)
    head = choose(target, types, s.loss)
    rng = np.random.default_rng(s.seed)
    found = store.lookup(candidates(t for x in train_sents for t in x.tokens))
    big = max((float(np.abs(v).max()) for v in found.values()), default=0.0)
    if big > MAX_VALUE:
        raise NerwinError(f"holds values as large as {big:.3g}; word vectors this large overflow the network "
                          "(is it really a vectors file?)", source or "the vectors")
    vocab, E, oov = build_vocab((x.tokens for x in train_sents), found, store.dim, rng)
    gold = head.gold(x.tags or [] for x in train_sents)
    if np.unique(gold).size < 2:
        raise NerwinError(f"every token has the same label ({head.labels[int(gold[0])]}); training needs both "
                          "entities and O", train_path)
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
    s = replace(s, target=head.target, loss=head.loss_name)
    vectors = record or {"source": str(source), "format": None, "limit": None}
    inputs = {"gazetteers": list(gazetteers), "types": types}
    model = WindowModel.new(s, head, features_for(s, (x.tokens for x in train_sents), inputs), vocab, E.astype(s.dtype),
                            vectors, Bundle.build(store, s.bundle_vectors, set(vocab.words)),
                            info={"train_file": str(Path(train_path).resolve()), "oov_rate": oov}, check=check_memory,
                            mentions=mention_style(x.tokens for x in train_sents))
    return model, encode(train_sents, model), dev, oov


def repeated_share(train: list[Sentence], other: list[Sentence], min_tokens: int = 5) -> float:
    """The share of other's sentences of at least min_tokens tokens that train holds word for word
    (shorter ones, "Thanks !", recur in any corpus). 0.0 when other has none that long."""
    count = Counter(tuple(x.tokens) for x in other if len(x.tokens) >= min_tokens)    # the smaller side, held
    found = {t for t in (tuple(x.tokens) for x in train if len(x.tokens) >= min_tokens) if t in count}
    return sum(count[t] for t in found) / sum(count.values()) if count else 0.0


def memory_need(s: Settings, D: int, K: int) -> int:
    """Bytes that training's arrays need at the least: W with its gradient, Adam's two moments
    and the best epoch's copy, and one batch's x, z, h and their gradients."""
    item = np.dtype(s.dtype).itemsize
    return item * (5 * s.hidden * (D + K) + 3 * s.batch_size * (D + 3 * s.hidden + K))


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(model: WindowModel) -> None:
    """Refuse, before any large array is made, settings this machine has no memory for."""
    s = model.settings
    need, have = memory_need(s, model.input_width, model.head.K), available_memory()
    if have is not None and need > have:
        raise NerwinError(f"--hidden {s.hidden} with --batch-size {s.batch_size} needs at least {need / 2**30:,.1f} "
                          f"GiB of memory, and {have / 2**30:,.1f} GiB is available; choose smaller values")


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
