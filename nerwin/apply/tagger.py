"""The Tagger: the only code that applies a model. predict, evaluate, explain, the report and
training's dev scores all go through it, so they cannot disagree. It holds a WindowModel (what the
model is) and a Lexicon (rows for the words it meets). What differs between kinds of model is the
head's business (nn/heads.py); a Tagger pickles (its vectors source reopens lazily).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from nerwin.apply.doc import Doc
from nerwin.apply.evaluate import evaluate
from nerwin.apply.lexicon import Lexicon
from nerwin.errors import NerwinError, NerwinTypeError, SettingError, SettingTypeError, check_type, plain, plural
from nerwin.model import WindowModel
from nerwin.nn import network
from nerwin.nn.graph import Graph, window_graph
from nerwin.nn.heads import Head
from nerwin.settings import Settings
from nerwin.text.corpus import BATCH, Sentence, chunks
from nerwin.text.tokenize import tokenize
from nerwin.text.windows import BOS, EOS, SPECIALS, window_matrix

WINDOWS = 1024    # windows a forward pass: x (WINDOWS, n*(d+c)) stays in cache for the GEMM


class Tagger:
    """Tags sentences with a trained model: `nerwin.load("model").tag("The museums in Paris are amazing .")`."""

    def __init__(self, model: WindowModel, store=None, vectors: str | None = None,
                 vectors_format: str | None = None, live: bool = False):
        """store: an open vectors store for unseen words (training passes its own); otherwise the
        source the model records, or `vectors` to give another, is opened on first use. live: the
        parameters change in place as training goes."""
        self.model = model
        self._lexicon = Lexicon(model.E, model.vocab, model.vectors, model.dim, model.bundle, store,
                                vectors, vectors_format, live)

    @classmethod
    def load(cls, model_dir, vectors: str | None = None, vectors_format: str | None = None) -> "Tagger":
        check_type("model_dir", model_dir, (str, Path), "a path")
        for name, v in (("vectors", vectors), ("vectors_format", vectors_format)):
            if v is not None:
                check_type(name, v, (str, Path), "a path or None" if name == "vectors" else "a string or None")
        return cls(WindowModel.load(Path(model_dir)), vectors=None if vectors is None else str(vectors),
                   vectors_format=vectors_format)

    def warm_up(self) -> "Tagger":
        """Open the vectors source now and ready its index (a plain file's first pass, a compressed
        file's copy), which the first unseen word would otherwise wait for; a server calls it
        before it answers. Returns the Tagger."""
        self._lexicon.prepare()
        return self

    def save(self, out, history: dict | None = None) -> None:
        """Write the model to the directory out (replaced as one unit)."""
        check_type("out", out, (str, Path), "a path")
        self.model.save(out, history)

    def __repr__(self) -> str:
        cfg = self.settings
        return (f"<nerwin.Tagger {self.head.kind} target={self.target!r} labels={len(self.labels)} "
                f"window={cfg.window} hidden={cfg.hidden} chars={cfg.chars} vocabulary={len(self.vocab):,}>")

    # ---- the model as saved -------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self.model.settings

    @property
    def config(self) -> dict:
        return self.model.config()

    @property
    def head(self) -> Head:
        return self.model.head

    @property
    def labels(self) -> list[str]:
        """Every label the model can give a token."""
        return list(self.head.labels)

    @property
    def target(self) -> str:
        return self.head.target

    @property
    def params(self) -> dict:
        return self.model.params

    @property
    def E(self) -> np.ndarray:
        return self._lexicon.E

    @property
    def vocab(self):
        return self._lexicon.vocab

    @property
    def bundle(self):
        return self._lexicon.bundle

    # ---- applying the model ------------------------------------------------------------
    def _sentence(self, x, name: str, read: bool = False):
        """A sentence as this model reads it: a string is tokenized as its training corpus was."""
        return _sentence(x, name, read, self.model.mentions == "split")

    def tokens(self, text: str) -> list[str]:
        """The tokens this model reads for a string: the built-in tokenizer, with @mentions
        split as its training corpus spelled them."""
        check_type("text", text, str, "a string")
        return self._sentence(text, "text")[1]

    def windows(self, token_lists: list[list[str]]):
        """-> E, the windows' word rows X (N, n) and what each feature reads of them."""
        vocab, E, ids = self._lexicon.ids(token_lists)
        X = window_matrix(ids, self.settings.window, vocab.index[BOS], vocab.index[EOS])
        return E, X, self.model.feature_ids(token_lists)

    def logits(self, token_lists: list[list[str]]) -> np.ndarray:
        """The head's logits s of every token: (N,) binary, (N, K) otherwise. The features' block
        work (the character CNN, once per distinct token) is done first; then each pass takes
        whole sentences, about WINDOWS windows, from x to s: its h stays in cache, and a second
        layer sees whole sentences (a sentence of thousands of words goes a slice at a time, each
        with the w2 words of h1 either side that layer 2 reads)."""
        E, X, feats = self.windows(token_lists)
        m, act, s = self.model, self.settings.activation, []
        states = network.prepare(m.params, m.features, feats)
        lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(lengths)])               # sentence k's first window
        margin = m.reach - self.settings.window                          # layer 2 reads h1 w2 either side
        for a, b in passes(lengths, WINDOWS):
            for q in slices(first[a], first[b], WINDOWS):   # a very long sentence: a slice at a time
                lo, hi = max(q.start - margin, first[a]), min(q.stop + margin, first[b])
                h = network.hidden(m.params, E, X[lo:hi], act, m.features, feats.take(slice(lo, hi)), states)
                inside = np.clip(first[a + 1:b + 1], lo, hi) - np.clip(first[a:b], lo, hi)   # lengths within it
                s.append(network.head_scores(m.params, h, m.head, act, inside, slice(q.start - lo, q.stop - lo)))
        return np.concatenate(s)

    @property
    def temperature(self) -> float:
        """T, fitted on dev after training: every probability and confidence is the model's at T."""
        return self.model.temperature

    def decode(self, token_lists: list[list[str]], s: np.ndarray, T: float | None = None) -> list[Doc]:
        lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
        path, probs, confidences = self.head.decode(s, lengths, self.params, self.temperature if T is None else T)
        labels = np.array(self.head.labels, dtype=object)[path].tolist()
        probs = probs.tolist()
        docs, i = [], 0
        for toks, n, conf in zip(token_lists, lengths.tolist(), confidences):
            docs.append(Doc(list(toks), labels[i:i + n], probs[i:i + n], confidences=conf))
            i += n
        return docs

    def tag_sentences(self, token_lists: list[list[str]]) -> list[Doc]:
        """One chunk of tokenized sentences -> one Doc each."""
        return self.decode(token_lists, self.logits(token_lists))

    def tag(self, text: str | list[str], min_confidence: float | None = None) -> Doc:
        """A sentence: a string (split by the built-in tokenizer; the Doc then has character
        offsets into it) or a list of tokens. min_confidence keeps only the entities at least that
        sure; the others' tokens become O."""
        min_confidence = check_confidence(min_confidence)
        return self._tag_block([self._sentence(text, "text")], min_confidence)[0]

    def tag_many(self, items: Iterable[str | list[str]], batch_size: int = BATCH,
                 min_confidence: float | None = None) -> Iterator[Doc]:
        """Docs for strings or token lists, in order, batch_size sentences at a time."""
        min_confidence = check_confidence(min_confidence)
        if isinstance(items, (str, bytes)):
            raise NerwinTypeError("items must be an iterable of sentences (strings or token lists), not one "
                                  "string; use tag() for one sentence")
        check_type("items", items, Iterable, "an iterable of sentences")
        if (batch_size := check_type("batch_size", batch_size, int, "an integer")) < 1:
            raise NerwinError(f"batch_size must be at least 1, got {batch_size}")
        return self._tag_many(items, batch_size, min_confidence)

    def _tag_many(self, items, batch_size, min_confidence, read: bool = False):
        for block in chunks((self._sentence(x, f"items[{i}]", read) for i, x in enumerate(items)), batch_size):
            yield from self._tag_block(block, min_confidence)
        self._lexicon.say_fallbacks()

    def tag_read(self, items: list, min_confidence: float | None = None) -> list[Doc]:
        """Docs for sentences read from a file (predict): a CoNLL file's tokens are taken as they
        are, an empty one included (BTC test has one), so that every input line has its record."""
        min_confidence = check_confidence(min_confidence)
        return list(self._tag_many(items, BATCH, min_confidence, read=True))

    def _tag_block(self, block: list[tuple[str | None, list[str]]], min_confidence=None) -> list[Doc]:
        token_lists = [toks for _, toks in block]
        s = self.logits(token_lists)
        docs = self.decode(token_lists, s)
        for (text, _), doc in zip(block, docs):
            doc.text = text
        if min_confidence is None:
            return docs
        lengths = np.array([len(t) for t in token_lists], dtype=np.int64)      # a dropped entity's tokens: P(O)
        p_o = self.head.distribution(s, lengths, self.params, self.temperature)[:, self.head.labels.index("O")]
        first = np.cumsum(lengths) - lengths
        return [d.keep(min_confidence, p_o[f:f + n].tolist()) for d, f, n in zip(docs, first, lengths)]

    def distribution(self, text: str | list[str]) -> list[dict[str, float]]:
        """Per token of one sentence, its probability of every label (at the model's temperature)."""
        _, toks = self._sentence(text, "text")
        s = self.logits([toks])
        q = self.head.distribution(s, np.array([len(toks)]), self.params, self.temperature)
        return [dict(zip(self.head.labels, map(float, row))) for row in q]

    def explain(self, text: str | list[str], token: int | None = None, *, read: bool = False) -> list[dict]:
        """Per token (or only token `token`, 0-based): its window, label and probability, and for
        each word i of the window the slice g_i of ds/dx that delta_window gives it (s the score
        of the predicted class), its norm (how far fine-tuning would push that word's vector) and
        g_i . x_i (how much the word's vector pushed the decision); "parts" holds g . x for each
        part of the word's slot (word, casing, prefix, suffix, chars: its character vector's share).
        read: tokens read from a file, taken as they are, an empty one included (as tag_read)."""
        _, toks = self._sentence(text, "text", read)
        if not toks:
            raise NerwinError("text has no tokens to explain")
        if token is not None:
            token = check_type("token", token, int, "an integer or None")
            if not 0 <= token < len(toks):
                raise NerwinError(f"token {token} is out of range; the sentence has {plural(len(toks), 'token')} "
                                  "(0-based)")
        s = self.logits([toks])
        doc = self.decode([toks], s)[0]
        E, X, feats = self.windows([toks])
        m = self.model
        cls = self.head.label_ids(doc.labels)
        score = self.head.class_score(s, cls)
        parts = network.score_gradient(m.params, E, X, m.head, m.settings.activation, cls, m.features, feats,
                                       np.array([len(toks)]))
        return explain_rows(toks, doc, score, parts, m.reach, m.part_labels(),
                            range(len(toks)) if token is None else [token])

    def graph(self, text: str | list[str], token: int, label: str | None = None, step: float | None = None) -> Graph:
        """The computation graph of token `token`'s window (0-based), gate by gate: every node's
        value and v̄ = ∂J/∂v by the model's own backward code, J against `label` (one of
        `labels`) or the predicted label, a numerical check of v̄, and with step=LR what one SGD
        step on this window would do."""
        _, toks = self._sentence(text, "text")
        if not toks:
            raise NerwinError("text has no tokens to draw a graph of")
        token, step = check_type("token", token, int, "an integer"), plain(step)
        if not 0 <= token < len(toks):
            raise SettingError("token", f"{token} is out of range; the sentence has {plural(len(toks), 'token')} "
                                        "(0-based)")
        if self.settings.layers > 1:
            raise NerwinError("graph draws one window layer; this model has two (--layers 2)")
        if label is not None and label not in self.labels:
            raise SettingError("label", f"{label!r} is not a label of this model; it has {', '.join(self.labels)}")
        if step is not None and (isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step < 1e6):
            raise SettingError("step", f"must be a positive learning rate, got {step!r}")
        s = self.logits([toks])
        doc = self.decode([toks], s)[0]
        y = self.head.label_ids(doc.labels)
        if label is not None:
            y[token] = self.head.label_ids([label])[0]
        E, X, feats = self.windows([toks])
        vocab, m = self._lexicon.rows([toks])[0], self.model
        w = m.settings.window
        padded = [BOS] * w + toks + [EOS] * w
        ids = X[token:token + 1]
        names = [vocab.words[r] if r < len(vocab.words) else padded[token + i] for i, r in enumerate(ids[0].tolist())]
        specials, size = len(SPECIALS), len(m.vocab)
        g = window_graph(m.params, E, ids, m.head, m.settings.activation, m.features, feats.batch([token]), y, token,
                         s, np.array([len(toks)]), padded[token:token + 2 * w + 1], names,
                         label or doc.labels[token], "gold" if label is not None else "predicted", step,
                         lambda row: None if row < specials or (m.settings.fine_tune and row < size) else
                         "frozen: --freeze keeps the pretrained rows" if row < size else
                         "not a row of the model: tagging reads it from the vectors")
        if not np.isfinite(g.J):
            raise SettingError("label", f"{label} at token {token} makes no valid tag path with its neighbours' "
                                        f"predicted tags ({' '.join(doc.labels)})")
        return g

    # ---- scoring against gold ----------------------------------------------------------
    def evaluate(self, gold: str | Path | Iterable[Sentence], calibrate: bool = True,
                 temperature: float | None = None, collect: list | Callable | None = None, source=None) -> dict:
        """Token-level P/R/F1 of the target (binary model) or span-exact entity P/R/F1 per type and
        micro-averaged, with the loss of the gold tags by the training loss's formula, and (with
        calibrate) how well the confidences are calibrated: the dict `nerwin evaluate --json`
        prints. temperature overrides the model's, for comparing; collect, a list, gets each
        sentence's Doc, or a function is called with each sentence and its Doc (which holds none
        of them); source names the file that sentences came from, in errors."""
        temperature = plain(temperature)
        if temperature is not None and not (isinstance(temperature, (int, float)) and temperature > 0):
            raise NerwinError(f"temperature must be a positive number, got {temperature!r}")
        if collect is not None and not (isinstance(collect, list) or callable(collect)):
            raise NerwinTypeError(f"collect must be a list, a function or None, got {type(collect).__name__}")
        each = (lambda _, d: collect.append(d)) if isinstance(collect, list) else collect
        return evaluate(self, gold, calibrate, temperature, each, source)

    def dev_loss(self, sents: list[Sentence], s: np.ndarray) -> float:
        """The training loss (without L2) of the gold tags under logits s, per word."""
        lengths = np.array([len(x.tokens) for x in sents if x.tokens], dtype=np.int64)
        return self.head.dev_loss(s, self.head.gold(x.tags or [] for x in sents), lengths, self.params)

    def say_fallbacks(self) -> None:
        self._lexicon.say_fallbacks()


def passes(lengths: np.ndarray, windows: int) -> list[tuple[int, int]]:
    """Sentences [a, b) of each forward pass: whole sentences, a new pass starting at the first
    sentence that starts at or past each multiple of `windows` windows; one pass even when
    there are no sentences, so that the logits have their shape."""
    starts = np.cumsum(lengths) - lengths
    cuts = np.unique(np.searchsorted(starts, np.arange(0, max(int(lengths.sum()), 1), windows)))
    cuts = [0, *[int(c) for c in cuts if 0 < c < len(lengths)], len(lengths)]
    return list(zip(cuts[:-1], cuts[1:])) or [(0, 0)]


def slices(a: int, b: int, n: int) -> list[slice]:
    """[a, b) whole, or in slices of n when longer than 8n: only a sentence of thousands of
    words makes a pass that long, and its x, h (and x2) are then never whole in memory."""
    a, b = int(a), int(b)
    return [slice(i, min(i + n, b)) for i in range(a, b, n)] if b - a > 8 * n else [slice(a, b)]


def explain_rows(toks, doc, score, parts, w: int, labels: dict, which) -> list[dict]:
    """explain's records from the window's gradient parts {part: (g, x)}, each (T, n, width)."""
    g, _ = parts["E"]
    push = {name: np.einsum("bnk,bnk->bn", gp, xp) for name, (gp, xp) in parts.items()}
    padded = [BOS] * w + toks + [EOS] * w
    entity = {t: e for e in doc.entities for t in range(e.start, e.end)}
    out = []
    for t in which:
        words = [{"word": padded[t + i], "offset": i - w, "g": g[t, i].tolist(),
                  "norm": float(np.linalg.norm(g[t, i])), "push": float(push["E"][t, i]),
                  "parts": {labels[name]: float(v[t, i]) for name, v in push.items()}}
                 for i in range(2 * w + 1)]
        e = entity.get(t)
        out.append({"index": t, "token": toks[t], "label": doc.labels[t], "prob": doc.probs[t],
                    "score": float(score[t]), "window": words,
                    "entity": None if e is None else {"text": e.text, "type": e.type, "confidence": e.confidence}})
    return out


def check_confidence(p) -> float | None:
    """min_confidence, a plain number between 0 and 1, or None."""
    p = plain(p)
    if p is None:
        return None
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise SettingTypeError("min_confidence", f"must be a number between 0 and 1, got {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        raise SettingError("min_confidence", f"must be between 0 and 1, got {p}")
    return p


def _sentence(x, name: str, read: bool = False, split_mentions: bool = False) -> tuple[str | None, list[str]]:
    """-> (the text, or None for tokens) and the tokens, or an error naming the argument;
    split_mentions: the model's corpus spelled @name as @ and name."""
    if isinstance(x, str):
        x = SURROGATE.sub("\ufffd", x)         # undecodable bytes (surrogateescape): U+FFFD, as predict reads them
        return x, tokenize(x, split_mentions)
    if isinstance(x, (list, tuple)):
        for i, t in enumerate(x):
            if not isinstance(t, str):
                raise NerwinTypeError(f"{name}[{i}] must be a string token, got {type(t).__name__}")
            if not read and (not t or t.isspace()):
                raise NerwinError(f"{name}[{i}] is an empty token; a token holds at least one visible character")
        return None, [SURROGATE.sub("\ufffd", t) for t in x]
    raise NerwinTypeError(f"{name} must be a string or a list of token strings, got {type(x).__name__}")


SURROGATE = re.compile("[\ud800-\udfff]")
