"""A word's spelling, as the network sees it beside the word's pretrained vector: its casing shape,
its prefix and suffix, and its characters (the character CNN's input).

The shape, prefix and suffix are (N, 2w+1) id matrices aligned with window_matrix, like the word
rows. The characters are one row of ids per distinct token ("slots" point each window slot at
its token), so a batch runs the CNN once per distinct word, not once per slot.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from itertools import chain

import numpy as np

from nerwin.text.windows import PAD_SHAPE, shape, window_matrix

MAX_CHARS = 24     # a longer word keeps its first and last 12 characters: its affixes, not a URL's middle
AFFIX = 3          # letters in a prefix or suffix
MIN_COUNT = 2      # a character or affix seen less often in train is "unseen", so that row is trained too
# character ids: filler past a word's end, the begin and end markers, an unseen character, and the
# one character of the <s>/</s> padding slots
FILL, BEGIN, END, UNSEEN, EDGE = range(5)
RESERVED = 5
# affix ids: the padding slots, then an unseen affix
AFFIX_PAD, AFFIX_UNSEEN = 0, 1


def margin(k: int) -> int:
    """Begin/end markers on each side, so that a filter of width k fits every word at least once."""
    return max(1, k // 2)


def clip(token: str) -> str:
    return token if len(token) <= MAX_CHARS else token[:MAX_CHARS // 2] + token[-(MAX_CHARS // 2):]


def prefix(token: str) -> str:
    return token[:AFFIX].lower()


def suffix(token: str) -> str:
    return token[-AFFIX:].lower()


@dataclass
class Features:
    """What the network reads of each word besides its row of E, for N windows of n words. Each
    matrix is (N, n) or None (that part is off). slots index the rows of chars (U, L): the
    character ids of the distinct tokens, FILL after each one's char_len (U,) ids."""
    shapes: np.ndarray | None = None
    prefix: np.ndarray | None = None
    suffix: np.ndarray | None = None
    slots: np.ndarray | None = None
    chars: np.ndarray | None = None
    char_len: np.ndarray | None = None

    def take(self, idx) -> "Features":
        """The rows idx (an index array or a slice) of every per-window matrix; chars stay whole."""
        pick = lambda m: None if m is None else m[idx]    # noqa: E731
        return replace(self, shapes=pick(self.shapes), prefix=pick(self.prefix), suffix=pick(self.suffix),
                       slots=pick(self.slots))

    def batch(self, idx) -> "Features":
        """take(idx), with chars cut to the distinct tokens those windows hold."""
        f = self.take(idx)
        if f.slots is None:
            return f
        seen = np.zeros(len(self.chars), bool)         # a scan, not np.unique's sort
        seen[f.slots] = True
        used = np.flatnonzero(seen)
        where = np.cumsum(seen, dtype=np.int32) - 1
        n = self.char_len[used]
        return replace(f, slots=where[f.slots], chars=self.chars[used, :int(n.max())], char_len=n)


class Spelling:
    """The characters and affixes a model knows, and the Features of token lists.

    chars, prefixes, suffixes: the known ones, in id order after the reserved ids."""

    def __init__(self, chars: list[str], prefixes: list[str], suffixes: list[str]):
        self.chars, self.prefixes, self.suffixes = list(chars), list(prefixes), list(suffixes)
        self.char_index = {c: i for i, c in enumerate(self.chars, RESERVED)}
        self.prefix_index = {a: i for i, a in enumerate(self.prefixes, AFFIX_UNSEEN + 1)}
        self.suffix_index = {a: i for i, a in enumerate(self.suffixes, AFFIX_UNSEEN + 1)}

    @classmethod
    def build(cls, token_lists) -> "Spelling":
        """From the training tokens: what occurs at least MIN_COUNT times, most frequent first."""
        tokens = Counter(chain.from_iterable(token_lists))
        chars, pre, suf = Counter(), Counter(), Counter()
        for t, n in tokens.items():
            for c in clip(t):
                chars[c] += n
            pre[prefix(t)] += n
            suf[suffix(t)] += n
        keep = lambda c: [k for k, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0])) if n >= MIN_COUNT]  # noqa
        return cls(keep(chars), keep(pre), keep(suf))

    @classmethod
    def from_config(cls, d: dict) -> "Spelling":
        """Raises ValueError when the lists are not what build() writes."""
        if not isinstance(d, dict):
            raise ValueError("spelling must be an object")
        lists = [d.get(k) for k in ("chars", "prefixes", "suffixes")]
        for k, v in zip(("chars", "prefixes", "suffixes"), lists):
            if not (isinstance(v, list) and all(isinstance(x, str) and x for x in v) and len(set(v)) == len(v)):
                raise ValueError(f"spelling.{k} must be a list of distinct non-empty strings")
        if any(len(c) != 1 for c in lists[0]):
            raise ValueError("spelling.chars must hold single characters")
        return cls(*lists)

    def config(self) -> dict:
        return {"chars": self.chars, "prefixes": self.prefixes, "suffixes": self.suffixes}

    @property
    def sizes(self) -> tuple[int, int, int]:
        """Rows of the character, prefix and suffix tables."""
        return RESERVED + len(self.chars), AFFIX_UNSEEN + 1 + len(self.prefixes), AFFIX_UNSEEN + 1 + len(self.suffixes)

    def char_matrix(self, tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Character ids (U, L) of these tokens, each [BEGIN]*m + chars + [END]*m (m = margin(k)),
        FILL after; and each row's length (U,). An empty token reads as one unseen character."""
        m, get = margin(k), self.char_index.get
        rows = [[get(c, UNSEEN) for c in clip(t)] or [UNSEEN] for t in tokens]
        lens = np.array([len(r) + 2 * m for r in rows], dtype=np.int64)
        out = np.full((len(rows), int(lens.max(initial=2 * m + 1))), FILL, dtype=np.int32)
        out[:, :m] = BEGIN
        for i, r in enumerate(rows):
            out[i, m:m + len(r)] = r
            out[i, m + len(r):lens[i]] = END
        return out, lens

    def features(self, token_lists: list[list[str]], w: int, casing: bool, affixes: bool,
                 chars_width: int | None) -> Features:
        """The Features of every window of these sentences; chars_width: the filter width k, or
        None when the model has no character CNN."""
        distinct = list(dict.fromkeys(chain.from_iterable(token_lists)))

        def windowed(code: dict, pad: int) -> np.ndarray:
            return window_matrix([list(map(code.__getitem__, toks)) for toks in token_lists], w, pad, pad)
        f = Features()
        if casing:
            f.shapes = windowed({t: shape(t) for t in distinct}, PAD_SHAPE)
        if affixes:
            pi, si = self.prefix_index, self.suffix_index
            f.prefix = windowed({t: pi.get(prefix(t), AFFIX_UNSEEN) for t in distinct}, AFFIX_PAD)
            f.suffix = windowed({t: si.get(suffix(t), AFFIX_UNSEEN) for t in distinct}, AFFIX_PAD)
        if chars_width is not None:
            f.slots = windowed({t: i for i, t in enumerate(distinct, 1)}, 0)    # slot 0: <s> and </s>
            edge = np.full((1, 2 * margin(chars_width) + 1), BEGIN, dtype=np.int32)
            edge[0, margin(chars_width)] = EDGE
            edge[0, margin(chars_width) + 1:] = END
            ch, n = self.char_matrix(distinct, chars_width) if distinct else (edge[:0], np.zeros(0, np.int64))
            L = max(ch.shape[1], edge.shape[1])
            f.chars = np.full((len(distinct) + 1, L), FILL, dtype=np.int32)
            f.chars[0, :edge.shape[1]] = edge[0]
            f.chars[1:, :ch.shape[1]] = ch
            f.char_len = np.concatenate([[edge.shape[1]], n]).astype(np.int64)
        return f
