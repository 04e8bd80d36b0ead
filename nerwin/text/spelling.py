"""What the spelling features read of a token (nn/features: affixes and characters): its
clipped characters, its prefix and suffix, the reserved ids, and the lists of known ones
counted from the training tokens."""
from __future__ import annotations

from collections import Counter
from itertools import chain

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


def frequent(token_lists, pieces) -> list[str]:
    """The pieces (pieces(token): its characters, its prefix, ...) of the training tokens that occur
    at least MIN_COUNT times, most frequent first, ties in code-point order."""
    count = Counter()
    for t, n in Counter(chain.from_iterable(token_lists)).items():
        for c in pieces(t):
            if c:                                    # an empty token has no prefix to learn
                count[c] += n
    return [k for k, n in sorted(count.items(), key=lambda kv: (-kv[1], kv[0])) if n >= MIN_COUNT]


def word_list(d: dict, key: str) -> list[str]:
    """d[key] when it is a list of distinct non-empty strings, as frequent() gives; else ValueError."""
    v = d.get(key) if isinstance(d, dict) else None
    if not (isinstance(v, list) and all(isinstance(x, str) and x for x in v) and len(set(v)) == len(v)):
        raise ValueError(f"{key} must be a list of distinct non-empty strings")
    return v
