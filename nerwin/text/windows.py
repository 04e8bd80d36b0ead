"""Vocabulary and the window index matrix.

A token's row is found in this order: the exact string, then its lowercase, then both in
Unicode's composed form (NFC) where the token is not in it ("Krako\u0301w", an o and a
combining accent, finds "kraków"), then the shared <UNK> row. Sentences are padded with w
copies of <s> and </s>, so the window of every token has 2w+1 rows: windows[i] = ids[i-w .. i+w].
"""
from __future__ import annotations

import unicodedata
from functools import lru_cache
from itertools import chain
from typing import Iterable

import numpy as np

UNK, BOS, EOS = "<UNK>", "<s>", "</s>"
SPECIALS = (UNK, BOS, EOS)


class Vocab:
    def __init__(self, words: Iterable[str]):
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    def key(self, token: str) -> str | None:
        return next((k for k in forms(token) if k in self.index), None)

    def ids(self, token_lists: list[list[str]]) -> list[list[int]]:
        """Row ids of each sentence's tokens; each distinct token is looked up once."""
        get, other = self.index.get, self._other_row
        row = {t: i if (i := get(t)) is not None else other(t)
               for t in dict.fromkeys(t for toks in token_lists for t in toks)}
        return [[row[t] for t in toks] for toks in token_lists]

    def _other_row(self, token: str) -> int:
        """The row of a token not found as it is: key()'s order, written out (ids' hot path)."""
        get = self.index.get
        if (i := get(token.lower())) is not None:
            return i
        c = composed(token)
        if c is not token and ((i := get(c)) is not None or (i := get(c.lower())) is not None):
            return i
        return self.index[UNK]


def composed(token: str) -> str:
    """The token in NFC: GloVe and most vectors spell "ó" as one character, not "o" and U+0301."""
    if token.isascii() or unicodedata.is_normalized("NFC", token):      # isascii: a flag, read in O(1)
        return token
    return unicodedata.normalize("NFC", token)


def forms(token: str) -> list[str]:
    """The keys a token's row is looked up by, in order: itself, its lowercase, and (only for a
    token not in NFC) the same two composed."""
    low, c = token.lower(), composed(token)
    if c is token:
        return [token] if low == token else [token, low]
    return list(dict.fromkeys([token, low, c, c.lower()]))


def candidates(tokens: Iterable[str]) -> list[str]:
    """Each token's forms, first-seen order (never a set: order decides rows)."""
    seen: dict[str, None] = {}
    for t in tokens:
        for k in forms(t):
            seen.setdefault(k, None)
    return list(seen)


def build_vocab(token_lists: Iterable[list[str]], found: dict[str, np.ndarray], dim: int,
                rng: np.random.Generator) -> tuple[Vocab, np.ndarray, float]:
    """Rows for the training vocabulary only.

    Returns vocab, E (|V| x d) and the out-of-vocabulary rate (share of tokens that fall to <UNK>).
    The special rows start as small random vectors on the scale of the pretrained ones.
    """
    words: dict[str, None] = {}
    n_tok = n_unk = 0
    for toks in token_lists:
        for t in toks:
            n_tok += 1
            k = t if t in found else next((f for f in forms(t) if f in found), None)
            if k is None:
                n_unk += 1
            else:
                words.setdefault(k, None)
    vocab = Vocab(list(SPECIALS) + list(words))
    E = np.empty((len(vocab), dim), dtype=np.float32)
    scale = float(np.std(np.stack(list(found.values())))) if found else 0.1
    E[: len(SPECIALS)] = rng.normal(0.0, scale, size=(len(SPECIALS), dim))
    for i, w in enumerate(words, len(SPECIALS)):
        E[i] = found[w]
    return vocab, E, (n_unk / n_tok if n_tok else 0.0)


def window_matrix(id_seqs: list[list[int]], w: int, bos: int, eos: int) -> np.ndarray:
    """(N, 2w+1) int32 matrix of row ids, one window per token, N = total tokens."""
    if not id_seqs:
        return np.zeros((0, 2 * w + 1), dtype=np.int32)
    lens = np.array([len(s) for s in id_seqs], dtype=np.int64)
    N = int(lens.sum())
    starts = np.cumsum(lens + 2 * w) - (lens + 2 * w)             # padded start of each sentence
    flat = np.full(N + 2 * w * len(lens), eos, dtype=np.int32)     # each sentence: w <s>, its ids, w </s>
    flat[(starts[:, None] + np.arange(w)).ravel()] = bos
    left = np.repeat(starts - (np.cumsum(lens) - lens), lens) + np.arange(N)   # window's left edge in flat
    flat[left + w] = np.fromiter(chain.from_iterable(id_seqs), dtype=np.int32, count=N)
    return flat[left[:, None] + np.arange(2 * w + 1)]


def windowed(token_lists: list[list[str]], w: int, code, pad: int) -> np.ndarray:
    """(N, 2w+1) matrix of code(token) for every window, pad outside the sentence; code is asked
    once per distinct token."""
    codes = {t: code(t) for t in dict.fromkeys(chain.from_iterable(token_lists))}
    return window_matrix([list(map(codes.__getitem__, toks)) for toks in token_lists], w, pad, pad)


SHAPES = ("lower", "UPPER", "Title", "mixed", "digit", "other", "pad")
PAD_SHAPE = SHAPES.index("pad")


@lru_cache(maxsize=1 << 17)    # tokens repeat (Zipf), and predict asks for every one
def shape(token: str) -> int:
    """The casing class of a token, judged on its letters: GloVe 6B is lowercased, so this
    is the only way the model can see the capital in "Paris"."""
    if any(ch.isdigit() for ch in token):
        return 4
    letters = [ch for ch in token if ch.isalpha()]
    if not letters:
        return 5
    if all(ch.islower() for ch in letters):
        return 0
    if all(ch.isupper() for ch in letters):
        return 1
    if letters[0].isupper() and all(ch.islower() for ch in letters[1:]):
        return 2
    return 3
