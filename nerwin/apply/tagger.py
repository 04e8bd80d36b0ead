"""The Tagger: the only code that applies a model. predict, evaluate, explain, the report and
training's dev scores all go through it, so they cannot disagree. What differs between kinds of
model is the head's business (nn/heads.py); a Tagger pickles (its vectors source reopens lazily).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from nerwin.apply import checkpoint
from nerwin.apply.doc import Doc
from nerwin.apply.evaluate import evaluate
from nerwin.apply.lexicon import Lexicon
from nerwin.errors import NerwinError, NerwinTypeError, SettingError, SettingTypeError, check_type
from nerwin.nn import model
from nerwin.nn.heads import Head
from nerwin.settings import BEFORE, Settings
from nerwin.text.corpus import BATCH, Sentence, chunks
from nerwin.text.tokenize import tokenize
from nerwin.text.windows import BOS, EOS, window_matrix

PART_NAMES = {"E": "word", "C": "casing", "Pre": "prefix", "Suf": "suffix", "R": "chars"}
WINDOWS = 1024    # windows a forward pass: x (WINDOWS, n*(d+c)) stays in cache for the GEMM


class Tagger:
    """Tags sentences with a trained model: `nerwin.load("model").tag("The museums in Paris are amazing .")`."""

    def __init__(self, params: dict, E: np.ndarray, vocab, config: dict, bundle=None, store=None,
                 vectors: str | None = None, vectors_format: str | None = None, live: bool = False):
        """store: an open vectors store for unseen words (training passes its own); otherwise the
        source recorded in config, or `vectors` to give another, is opened on first use. live: the
        parameters change in place as training goes."""
        self._params, self._config = params, config
        self._head = Head.from_config(config)
        self._settings = Settings.of(**{**BEFORE, **config["settings"]})
        self._spelling = checkpoint.spelling_of(config)
        self._lexicon = Lexicon(E, vocab, config.get("vectors", {}), config["dim"], bundle, store,
                                vectors, vectors_format, live)

    @classmethod
    def load(cls, model_dir, vectors: str | None = None, vectors_format: str | None = None) -> "Tagger":
        check_type("model_dir", model_dir, (str, Path), "a path")
        for name, v in (("vectors", vectors), ("vectors_format", vectors_format)):
            if v is not None:
                check_type(name, v, (str, Path), "a path or None" if name == "vectors" else "a string or None")
        params, E, vocab, config, bundle = checkpoint.load(Path(model_dir))
        return cls(params, E, vocab, config, bundle, vectors=None if vectors is None else str(vectors),
                   vectors_format=vectors_format)

    def __repr__(self) -> str:
        s = self._settings
        return (f"<nerwin.Tagger {self._head.kind} target={self.target!r} labels={len(self.labels)} "
                f"window={s.window} hidden={s.hidden} chars={s.chars} vocabulary={len(self._lexicon.vocab):,}>")

    # ---- the model as saved -------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def config(self) -> dict:
        return self._config

    @property
    def head(self) -> Head:
        return self._head

    @property
    def labels(self) -> list[str]:
        """Every label the model can give a token."""
        return list(self._head.labels)

    @property
    def target(self) -> str:
        return self._head.target

    @property
    def params(self) -> dict:
        return self._params

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
    def _windows(self, token_lists: list[list[str]]):
        """-> E, the windows' word rows X (N, n) and the spelling's Features (or None)."""
        vocab, E, ids = self._lexicon.ids(token_lists)
        s = self._settings
        X = window_matrix(ids, s.window, vocab.index[BOS], vocab.index[EOS])
        F = None
        if s.spelling_width():
            F = self._spelling.features(token_lists, s.window, s.casing > 0, s.affixes > 0,
                                        s.char_width if s.chars else None)
        return E, X, F

    def logits(self, token_lists: list[list[str]]) -> np.ndarray:
        """The head's logits s of every token: (N,) binary, (N, K) otherwise. The character CNN
        runs once per distinct token of the block, before the windows are cut into passes."""
        E, X, F = self._windows(token_lists)
        act, out = self._settings.activation, []
        R = model.char_vectors(self._params, F)
        for i in range(0, max(len(X), 1), WINDOWS):           # one pass even when empty: the right shape
            part = slice(i, i + WINDOWS)
            out.append(model.scores(self._params, E, X[part], self._head, act, None if F is None else F.take(part), R))
        return np.concatenate(out)

    @property
    def temperature(self) -> float:
        """T, fitted on dev after training: every probability and confidence is the model's at T."""
        return float(self._config.get("temperature", 1.0))

    def decode(self, token_lists: list[list[str]], s: np.ndarray, T: float | None = None) -> list[Doc]:
        lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
        path, probs, confidence = self._head.decode(s, lengths, self._params, self.temperature if T is None else T)
        labels = np.array(self._head.labels, dtype=object)[path].tolist()
        probs = probs.tolist()
        docs, i = [], 0
        for k, (toks, n) in enumerate(zip(token_lists, lengths.tolist())):
            docs.append(Doc(list(toks), labels[i:i + n], probs[i:i + n],
                            confidence=lambda a, b, k=k: confidence(k, a, b)))
            i += n
        return docs

    def tag_sentences(self, token_lists: list[list[str]]) -> list[Doc]:
        """One chunk of tokenized sentences -> one Doc each."""
        return self.decode(token_lists, self.logits(token_lists))

    def tag(self, text: str | list[str], min_confidence: float | None = None) -> Doc:
        """A sentence: a string (split by the built-in tokenizer; the Doc then has character
        offsets into it) or a list of tokens. min_confidence keeps only the entities at least that
        sure; the others' tokens become O."""
        _check_confidence(min_confidence)
        return self._tag_block([_sentence(text, "text")], min_confidence)[0]

    def tag_many(self, items: Iterable[str | list[str]], batch_size: int = BATCH,
                 min_confidence: float | None = None) -> Iterator[Doc]:
        """Docs for strings or token lists, in order, batch_size sentences at a time."""
        _check_confidence(min_confidence)
        if isinstance(items, (str, bytes)):
            raise NerwinTypeError("items must be an iterable of sentences (strings or token lists), not one "
                                  "string; use tag() for one sentence")
        check_type("items", items, Iterable, "an iterable of sentences")
        if check_type("batch_size", batch_size, int, "an integer") < 1:
            raise NerwinError(f"batch_size must be at least 1, got {batch_size}")
        return self._tag_many(items, batch_size, min_confidence)

    def _tag_many(self, items, batch_size, min_confidence):
        for block in chunks((_sentence(x, f"items[{i}]") for i, x in enumerate(items)), batch_size):
            yield from self._tag_block(block, min_confidence)
        self._lexicon.say_fallbacks()

    def _tag_block(self, block: list[tuple[str | None, list[str]]], min_confidence=None) -> list[Doc]:
        docs = self.tag_sentences([toks for _, toks in block])
        for (text, _), doc in zip(block, docs):
            doc.text = text
        return docs if min_confidence is None else [d.keep(min_confidence) for d in docs]

    def distribution(self, text: str | list[str]) -> list[dict[str, float]]:
        """Per token of one sentence, its probability of every label (at the model's temperature)."""
        _, toks = _sentence(text, "text")
        s = self.logits([toks])
        q = self._head.distribution(s, np.array([len(toks)]), self._params, self.temperature)
        return [dict(zip(self._head.labels, map(float, row))) for row in q]

    def explain(self, text: str | list[str]) -> list[dict]:
        """Per token: its window, label and probability, and for each word i of the window the
        slice g_i of ds/dx that delta_window gives it (s the score of the predicted class), its
        norm (how far fine-tuning would push that word's vector) and g_i . x_i (how much the
        word's vector pushed the decision); "parts" holds g . x for each part of the word's slot
        (word, casing, prefix, suffix, chars: its character vector's share)."""
        _, toks = _sentence(text, "text")
        if not toks:
            raise NerwinError("text has no tokens to explain")
        s = self.logits([toks])
        doc = self.decode([toks], s)[0]
        E, X, F = self._windows([toks])
        cls = self._head.label_ids(doc.labels)
        score = self._head.class_score(s, cls)
        parts = model.score_gradient(self._params, E, X, self._head, self._settings.activation, cls, F)
        g, x = parts["E"]
        push = {name: np.einsum("bnk,bnk->bn", gp, xp) for name, (gp, xp) in parts.items()}
        w = self._settings.window
        padded = [BOS] * w + toks + [EOS] * w
        entity = {t: e for e in doc.entities for t in range(e.start, e.end)}
        out = []
        for t in range(len(toks)):
            words = [{"word": padded[t + i], "offset": i - w, "g": g[t, i].tolist(),
                      "norm": float(np.linalg.norm(g[t, i])), "push": float(push["E"][t, i]),
                      "parts": {PART_NAMES[name]: float(v[t, i]) for name, v in push.items()}}
                     for i in range(2 * w + 1)]
            e = entity.get(t)
            out.append({"index": t, "token": toks[t], "label": doc.labels[t], "prob": doc.probs[t],
                        "score": float(score[t]), "window": words,
                        "entity": None if e is None else {"text": e.text, "type": e.type, "confidence": e.confidence}})
        return out

    # ---- scoring against gold ----------------------------------------------------------
    def evaluate(self, gold: str | Path | Iterable[Sentence], calibrate: bool = True,
                 temperature: float | None = None) -> dict:
        """Token-level P/R/F1 of the target (binary model) or span-exact entity P/R/F1 per type and
        micro-averaged, with the loss of the gold tags by the training loss's formula, and (with
        calibrate) how well the confidences are calibrated: the dict `nerwin evaluate --json`
        prints. temperature overrides the model's, for comparing."""
        if temperature is not None and not (isinstance(temperature, (int, float)) and temperature > 0):
            raise NerwinError(f"temperature must be a positive number, got {temperature!r}")
        return evaluate(self, gold, calibrate, temperature)

    def fit_temperature(self, sents: list[Sentence]) -> float:
        """The T that minimizes the dev loss of gold tags (the training loss's own formula, at T),
        by golden-section search on log T in [0.05, 20]: one scalar, fitted after training."""
        toks = [x.tokens for x in sents]
        s = self.logits(toks)
        y = self._head.gold(x.tags or [] for x in sents)
        lengths = np.array([len(t) for t in toks if t], dtype=np.int64)

        def nll(log_t: float) -> float:
            sT, pT = self._head.temper(s, self._params, float(np.exp(log_t)))
            return self._head.dev_loss(sT, y, lengths, pT)
        lo, hi = np.log(0.05), np.log(20.0)
        g = (np.sqrt(5) - 1) / 2
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        fa, fb = nll(a), nll(b)
        for _ in range(40):
            if fa < fb:
                hi, b, fb = b, a, fa
                a = hi - g * (hi - lo)
                fa = nll(a)
            else:
                lo, a, fa = a, b, fb
                b = lo + g * (hi - lo)
                fb = nll(b)
        return float(np.exp((lo + hi) / 2))

    def dev_loss(self, sents: list[Sentence], s: np.ndarray) -> float:
        """The training loss (without L2) of the gold tags under logits s, per word."""
        lengths = np.array([len(x.tokens) for x in sents if x.tokens], dtype=np.int64)
        return self._head.dev_loss(s, self._head.gold(x.tags or [] for x in sents), lengths, self._params)

    def say_fallbacks(self) -> None:
        self._lexicon.say_fallbacks()


def _check_confidence(p) -> None:
    if p is None:
        return
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise SettingTypeError("min_confidence", f"must be a number between 0 and 1, got {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        raise SettingError("min_confidence", f"must be between 0 and 1, got {p}")


def _sentence(x, name: str) -> tuple[str | None, list[str]]:
    """-> (the text, or None for tokens) and the tokens, or an error naming the argument."""
    if isinstance(x, str):
        return x, tokenize(x)
    if isinstance(x, (list, tuple)):
        for i, t in enumerate(x):
            if not isinstance(t, str):
                raise NerwinTypeError(f"{name}[{i}] must be a string token, got {type(t).__name__}")
        return None, list(x)
    raise NerwinTypeError(f"{name} must be a string or a list of token strings, got {type(x).__name__}")
