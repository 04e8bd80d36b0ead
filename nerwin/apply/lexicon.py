"""Rows for the words a model meets: its own vocabulary (exact, then lowercase, then composed), then the vectors
source it was trained with (the lecture's unseen "television"), then the rows bundled in the
model, then <UNK>. Only the safe readers of nerwin.vectors ever open a source."""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np

from nerwin.errors import NerwinError
from nerwin.text.windows import UNK, Vocab, forms
from nerwin.vectors import DEFAULT, open_store

CACHE = 200_000   # pretrained rows kept across chunks; then dropped all at once


class Lexicon:
    def __init__(self, E: np.ndarray, vocab: Vocab, record: dict, dim: int, bundle=None, store=None,
                 vectors: str | None = None, vectors_format: str | None = None, live: bool = False):
        """record: the vectors source the model's config names; `vectors` gives another. store: an
        open store (training passes its own). live: E changes in place (training's dev scores), so
        the extended matrix is built afresh on each call instead of kept."""
        self.E, self.vocab, self.record, self.dim, self.bundle = E, vocab, record, dim, bundle
        self.vectors, self.vectors_format, self.live = vectors, vectors_format, live
        self._store, self._opened = store, store is not None
        self._ext = None
        self._E_all, self._filled = None, 0   # E with the extra rows below it, and room for more
        self.unk_fallbacks = 0        # tokens that fell to <UNK> because the vectors source is gone
        self._said = False
        self._lock = threading.Lock()  # a service's threads share one Tagger: the rows grow under one at a time

    def __getstate__(self):         # no open files, mmaps or locks
        return dict(self.__dict__, _store=None, _opened=False, _ext=None, _E_all=None, _lock=None)

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())

    def store(self):
        """The vectors source, opened once; None when it is gone (then the bundle serves)."""
        if not self._opened:
            self._opened = True
            self._store = self._open_store()
        return self._store

    def prepare(self) -> None:
        """The source opened and its index ready: a lookup of no words builds what one needs."""
        store = self.store()
        if store is not None:
            store.lookup([])

    def _open_store(self):
        rec = self.record
        if self.vectors is not None:
            store, _ = open_store(self.vectors, self.vectors_format, rec.get("limit"))
            where = self.vectors
        else:
            source = rec.get("source")
            if source != DEFAULT and not Path(str(source)).is_file():
                return None                                       # gone: the bundle serves
            store, _ = open_store(source, rec.get("format") if source != DEFAULT else None, rec.get("limit"))
            where = source
        if store.dim != self.dim:
            raise NerwinError(f"vectors have dimension {store.dim}, the model needs {self.dim}", where)
        return store

    def _pretrained(self, words: list[str]) -> dict[str, np.ndarray]:
        store = self.store() if words else None
        found = store.lookup(words) if store is not None else {}
        if self.bundle is not None and len(found) < len(words):
            found.update(self.bundle.lookup([w for w in words if w not in found]))
        return found

    def rows(self, token_lists: list[list[str]]) -> tuple[Vocab, np.ndarray]:
        with self._lock:
            return self._rows(token_lists)

    def _rows(self, token_lists: list[list[str]]) -> tuple[Vocab, np.ndarray]:
        """Vocab and E extended by the pretrained rows of unseen words. The extra rows persist
        across chunks (and words found nowhere are remembered), so a stream looks each word up
        once; past CACHE words they start again. The model's own E is never copied into them:
        during training it changes under the Tagger."""
        if self._ext is None or len(self._ext[1]) > CACHE:
            self._ext = (Vocab(self.vocab.words), self.E[:0].copy(), set())
            self._E_all, self._filled = None, 0
        vocab, extra, absent = self._ext
        index = vocab.index
        unseen = dict.fromkeys(t for toks in token_lists for t in toks if t not in index)
        missing = [w for w in dict.fromkeys([*unseen, *(f for t in unseen for f in forms(t)[1:])])
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
                self._ext = (vocab, extra, absent)
        if not len(extra):
            return vocab, self.E
        if self.live:
            return vocab, np.vstack([self.E, extra])
        n, buf = len(self.E) + len(extra), self._E_all
        if buf is None or len(buf) < n:            # room to grow: E is copied O(log words) times, not per call
            buf = np.empty((len(self.E) + 2 * len(extra) + 1024, self.E.shape[1]), dtype=self.E.dtype)
            buf[:len(self.E)] = self.E
            self._E_all, self._filled = buf, len(self.E)
        if self._filled < n:
            buf[self._filled:n] = extra[self._filled - len(self.E):]
            self._filled = n
        return vocab, buf[:n]

    def ids(self, token_lists: list[list[str]]) -> tuple[Vocab, np.ndarray, list[list[int]]]:
        """-> vocab, E and each sentence's row ids, counting the tokens that fell to <UNK>
        because the vectors source is gone."""
        with self._lock:                # ids read the vocabulary that rows() grew, before another call grows it
            vocab, E = self._rows(token_lists)
            ids = vocab.ids(token_lists)
            if self.store() is None:
                unk = vocab.index[UNK]
                self.unk_fallbacks += sum(i == unk for s in ids for i in s)
        return vocab, E, ids

    def say_fallbacks(self) -> None:
        if self.unk_fallbacks and not self._said:
            self._said = True
            print(f"nerwin: warning: the vectors source {self.record.get('source')} is gone; {self.unk_fallbacks} "
                  "tokens found no row in the model or its bundled vectors and used <UNK> (pass --vectors to "
                  "give one)", file=sys.stderr)
