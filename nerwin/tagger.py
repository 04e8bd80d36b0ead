"""The Tagger: the only code that applies a model. predict, evaluate and training's dev
scores all go through `Tagger.tag_sentences`, so they cannot disagree.

A token's row: the model's own vocabulary (exact, then lowercase), then the vectors
source the model was trained with (the lecture's unseen "television"), then the rows
bundled in the model, then <UNK>. A Tagger pickles: the vectors source is reopened lazily.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from nerwin import model
from nerwin.corpus import Sentence, binary_labels, entity_types, iter_conll, resolve_target
from nerwin.errors import NerwinError
from nerwin.metrics import entity_prf, token_prf
from nerwin.schemes import class_ids, spans, transitions, viterbi_batch
from nerwin.text import tokenize
from nerwin.windows import BOS, EOS, UNK, Vocab, shape_matrix, window_matrix

BATCH = 2000      # sentences per chunk: memory is bounded by this, not by the input
CACHE = 200_000   # pretrained rows kept across chunks; then dropped all at once
WINDOWS = 1024    # windows a forward pass: x (WINDOWS, n*(d+c)) stays in cache for the GEMM


@dataclass
class Doc:
    """One tagged sentence: per token, its label and the probability of that label."""
    tokens: list[str]
    labels: list[str]
    probs: list[float]

    @property
    def entities(self) -> list[tuple[int, int, str, float]]:
        """(start, end exclusive, type, mean probability of its tokens' labels), from the decoded tags."""
        return [(a, b, t, float(np.mean(self.probs[a:b]))) for t, a, b in spans(self.labels)]


def chunks(it: Iterable, n: int = BATCH) -> Iterator[list]:
    it = iter(it)
    while block := list(islice(it, n)):
        yield block


class Tagger:
    def __init__(self, params: dict, E: np.ndarray, vocab: Vocab, config: dict, bundle=None, store=None,
                 vectors: str | None = None, vectors_format: str | None = None):
        """store: an open vectors store for unseen words (training passes its own); otherwise the
        source recorded in config, or `vectors` to give another, is opened on first use."""
        self.params, self.E, self.vocab, self.config, self.bundle = params, E, vocab, config, bundle
        self.vectors, self.vectors_format = vectors, vectors_format
        self._store, self._opened = store, store is not None
        self.unk_fallbacks = 0        # tokens that fell to <UNK> because the vectors source is gone
        self._said = False

    @classmethod
    def load(cls, model_dir, vectors: str | None = None, vectors_format: str | None = None) -> "Tagger":
        from nerwin import checkpoint
        params, E, vocab, config, bundle = checkpoint.load(Path(model_dir))
        return cls(params, E, vocab, config, bundle, vectors=vectors, vectors_format=vectors_format)

    # ---- the model as saved -------------------------------------------------------------
    @property
    def settings(self) -> dict:
        return self.config["settings"]

    @property
    def classes(self) -> list[str] | None:
        return self.config.get("classes")

    @property
    def target(self) -> str:
        return self.config["target"]

    def __getstate__(self):
        state = dict(self.__dict__, _store=None, _opened=False, _ext=None)   # no open files or mmaps
        return state

    # ---- vectors for words the model has no row of --------------------------------------
    def store(self):
        """The vectors source, opened once; None when it is gone (then the bundle serves)."""
        if not self._opened:
            self._opened = True
            self._store = self._open_store()
        return self._store

    def _open_store(self):
        from nerwin.vectors import DEFAULT, open_store
        rec = self.config.get("vectors", {})
        if self.vectors is not None:
            store, _ = open_store(self.vectors, self.vectors_format, rec.get("limit"))
        else:
            source = rec.get("source")
            if source != DEFAULT and not Path(str(source)).is_file():
                return None
            try:
                store, _ = open_store(source, rec.get("format") if source != DEFAULT else None, rec.get("limit"))
            except NerwinError:
                if self.bundle is None:
                    raise
                return None
        if store.dim != self.config["dim"]:
            raise NerwinError(f"vectors have dimension {store.dim}, the model needs {self.config['dim']}",
                              self.vectors)
        return store

    def _pretrained(self, words: list[str]) -> dict[str, np.ndarray]:
        store = self.store() if words else None
        found = store.lookup(words) if store is not None else {}
        if self.bundle is not None and len(found) < len(words):
            found.update(self.bundle.lookup([w for w in words if w not in found]))
        return found

    def rows(self, token_lists: list[list[str]]) -> tuple[Vocab, np.ndarray]:
        """Vocab and E extended by the pretrained rows of unseen words. The extra rows persist
        across chunks (and words found nowhere are remembered), so a stream looks each word up
        once; past CACHE words they start again. The model's own E is never copied into them:
        during training it changes under the Tagger."""
        ext = self.__dict__.get("_ext")
        if ext is None or len(ext[1]) > CACHE:
            ext = self.__dict__["_ext"] = (Vocab(self.vocab.words), self.E[:0].copy(), set())
        vocab, extra, absent = ext
        index = vocab.index
        unseen = dict.fromkeys(t for toks in token_lists for t in toks if t not in index)
        missing = [w for w in dict.fromkeys([*unseen, *(t.lower() for t in unseen)])
                   if w not in index and w not in absent]
        if missing:
            found = self._pretrained(missing)
            new = [w for w in missing if w in found]
            absent.update(w for w in missing if w not in found)
            if new:
                for w in new:
                    index[w] = len(vocab.words)
                    vocab.words.append(w)
                extra = np.vstack([extra, np.stack([found[w] for w in new]).astype(extra.dtype)])
                self.__dict__["_ext"] = (vocab, extra, absent)
        return vocab, (np.vstack([self.E, extra]) if len(extra) else self.E)

    # ---- applying the model ------------------------------------------------------------
    def scores(self, token_lists: list[list[str]]) -> np.ndarray:
        """Per token: P(target) (N,) for a binary model, class probabilities (N, K) for a
        window-loss model, emission scores f (N, K) for a sentence-loss model."""
        vocab, E = self.rows(token_lists)
        ids = vocab.ids(token_lists)
        if self.store() is None:
            unk = vocab.index[UNK]
            self.unk_fallbacks += sum(i == unk for s in ids for i in s)
        w, act = self.settings["window"], self.settings["activation"]
        X = window_matrix(ids, w, vocab.index[BOS], vocab.index[EOS])
        S = shape_matrix(token_lists, w) if "C" in self.params else None
        out = []
        for i in range(0, len(X), WINDOWS):
            s = None if S is None else S[i:i + WINDOWS]
            if "A" in self.params:
                h, _ = model.forward(self.params, E, X[i:i + WINDOWS], act, shapes=s)
                out.append(h @ self.params["V"].T + self.params["c"])
            else:
                out.append(model.predict_proba(self.params, E, X[i:i + WINDOWS], act, shapes=s))
        return np.concatenate(out) if out else np.zeros(0, dtype=E.dtype)

    def tag_sentences(self, token_lists: list[list[str]]) -> list[Doc]:
        """One chunk of tokenized sentences -> one Doc each."""
        return self.decode(token_lists, self.scores(token_lists))

    def decode(self, token_lists: list[list[str]], q: np.ndarray) -> list[Doc]:
        """Scores q of a chunk's tokens -> Docs: a threshold (binary), or the best valid IOB2 path
        of each sentence by Viterbi, run over batches of sentences of similar length."""
        lengths = np.array([len(t) for t in token_lists], dtype=np.int64)
        if self.classes is None:
            pos = q >= 0.5
            labels = np.where(pos, self.target, "O").tolist()
            probs = np.where(pos, q, 1 - q).tolist()
        else:
            path, probs = self._paths(q, lengths)
            labels = np.array(self.classes, dtype=object)[path].tolist()
            probs = probs.tolist()
        docs, i = [], 0
        for toks, n in zip(token_lists, lengths.tolist()):
            docs.append(Doc(list(toks), labels[i:i + n], probs[i:i + n]))
            i += n
        return docs

    def _paths(self, q: np.ndarray, lengths: np.ndarray, group: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """-> each token's class on its sentence's best valid path (N,), and that class's
        probability: the softmax's (window loss) or the path marginal (sentence loss)."""
        rules = transitions(self.classes)
        if "A" in self.params:
            emit = q.astype(np.float64)
            trans, start, end = model.crf_scores(self.params["A"].astype(np.float64), rules)
        else:
            emit = np.log(np.maximum(q, 1e-30))
            (trans, start), end = rules, None
        first = np.cumsum(lengths) - lengths
        path, prob = np.zeros(len(q), dtype=np.int64), np.zeros(len(q))
        order = [j for j in np.argsort(lengths, kind="stable") if lengths[j]]
        for k in range(0, len(order), group):                  # similar lengths: little padding
            sel = np.array(order[k:k + group])
            L = lengths[sel]
            idx = np.repeat(first[sel] - (np.cumsum(L) - L), L) + np.arange(L.sum())
            F, mask = model.pad(emit[idx], L)
            best = viterbi_batch(F, mask, trans, start, end)
            path[idx] = best[mask]
            if "A" in self.params:
                alpha, beta, logZ = model.forward_backward(F, mask, trans, start, end)
                marg = np.exp(alpha + beta - logZ[:, None, None])
                prob[idx] = np.take_along_axis(marg, best[:, :, None], axis=2)[:, :, 0][mask]
            else:
                prob[idx] = q[idx, path[idx]]
        return path, prob

    def tag(self, text: str | list[str]) -> Doc:
        """A sentence: a string (split by the built-in tokenizer) or a list of tokens."""
        return self.tag_sentences([tokenize(text) if isinstance(text, str) else list(text)])[0]

    def tag_many(self, items: Iterable[str | list[str]], batch_size: int = BATCH) -> Iterator[Doc]:
        """Stream Docs for strings or token lists, batch_size sentences at a time."""
        lists = (tokenize(x) if isinstance(x, str) else list(x) for x in items)
        for block in chunks(lists, batch_size):
            yield from self.tag_sentences(block)
        self.say_fallbacks()

    def say_fallbacks(self) -> None:
        if self.unk_fallbacks and not self._said:
            self._said = True
            src = self.config.get("vectors", {}).get("source")
            print(f"nerwin: warning: the vectors source {src} is gone; {self.unk_fallbacks} tokens found "
                  "no row in the model or its bundled vectors and used <UNK> (pass --vectors to give one)",
                  file=sys.stderr)

    def explain(self, text: str | list[str]) -> list[dict]:
        """Per token: its window, label and probability, and for each word i of the window the
        slice g_i of ds/dx that delta_window gives it (s the score of the predicted class), its
        norm (how far fine-tuning would push that word's vector) and g_i . x_i (how much the
        word's vector pushed the decision)."""
        doc = self.tag(text)
        toks = doc.tokens
        vocab, E = self.rows([toks])
        w = self.settings["window"]
        X = window_matrix(vocab.ids([toks]), w, vocab.index[BOS], vocab.index[EOS])
        S = shape_matrix([toks], w) if "C" in self.params else None
        if self.classes is None:
            cls = np.array([int(l == self.target) for l in doc.labels])
        else:
            cls = np.array([self.classes.index(l) for l in doc.labels])
        g, x = model.score_gradient(self.params, E, X, self.settings["activation"], cls, S)
        padded = [BOS] * w + toks + [EOS] * w
        out = []
        for t in range(len(toks)):
            words = [{"word": padded[t + i], "offset": i - w, "g": g[t, i].tolist(),
                      "norm": float(np.linalg.norm(g[t, i])), "push": float(g[t, i] @ x[t, i])}
                     for i in range(2 * w + 1)]
            out.append({"index": t, "token": toks[t], "label": doc.labels[t], "prob": doc.probs[t], "window": words})
        return out

    # ---- scoring against gold ----------------------------------------------------------
    def evaluate(self, gold: str | Path | Iterable[Sentence]) -> dict:
        """Token-level P/R/F1 of the target (binary model) or span-exact entity P/R/F1 per type
        and micro-averaged: the dict `nerwin evaluate --json` prints."""
        path = gold if isinstance(gold, (str, Path)) else "gold sentences"
        sents = iter_conll(gold) if isinstance(gold, (str, Path)) else gold
        y_true, y_pred, g_tags, p_tags, types = [], [], [], [], {}
        loss, words = 0.0, 0
        for block in chunks(sents):
            for t in entity_types(block):
                types.setdefault(t, None)
            toks = [s.tokens for s in block]
            q = self.scores(toks)
            docs = self.decode(toks, q)
            loss += self.gold_loss(block, q) * len(q)
            words += len(q)
            if self.classes is None:
                y_true += [v for s in block for v in binary_labels(s, self.target)]
                y_pred += [l == self.target for d in docs for l in d.labels]
            else:
                g_tags += [s.tags for s in block]
                p_tags += [d.labels for d in docs]
        self.say_fallbacks()
        if not types and not y_true and not g_tags:
            raise NerwinError("no sentences found; expected `token<TAB>tag` lines", path)
        if self.classes is None:
            resolve_target(self.target, list(types), path)
            m = token_prf(np.array(y_true, dtype=bool), np.array(y_pred, dtype=bool))
        else:
            m = entity_prf(g_tags, p_tags)
        m["loss"] = loss / max(words, 1)
        return m

    def gold_loss(self, sents: list[Sentence], q: np.ndarray) -> float:
        """The training loss (without L2) of gold tags under scores q, per word."""
        if self.classes is None:
            y = np.array([v for s in sents for v in binary_labels(s, self.target)], dtype=np.float64)
            q = np.clip(q.astype(np.float64), 1e-12, 1 - 1e-12)
            return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))) if len(y) else 0.0
        y = np.array([v for s in sents for v in class_ids(s.tags or [], self.classes)], dtype=np.int64)
        if not len(y):
            return 0.0
        if "A" in self.params:
            lengths = np.array([len(s.tokens) for s in sents if s.tokens])
            return model.sll_forward(q.astype(np.float64), y, lengths, self.params["A"].astype(np.float64),
                                     transitions(self.classes))[0]
        return float(-np.mean(np.log(np.maximum(q[np.arange(len(y)), y].astype(np.float64), 1e-300))))
