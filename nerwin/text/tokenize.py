"""The built-in tokenizer for plain text: the tokens that CoNLL corpora and GloVe/word2vec use.

Penn Treebank clitics (`don't` -> `do n't`, `it's` -> `it 's`), abbreviations that keep their
dot (`U.S.`, `Mr.`), numbers with separators (`3,000`, `1.5`), URLs without the punctuation
that follows them, e-mail addresses, whole `@mentions`, `#hashtags`, emoticons, flag emoji and
`...`; every other punctuation mark is a token of its own. `scripts/studies/tokenizer_table.py` measures it on gold.
"""
from __future__ import annotations

import re
import unicodedata

_MARK = "\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed" \
        "\u0900-\u0903\u093a-\u094f\u0951-\u0957\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u200c\u200d"
W = rf"[\w{_MARK}\ufffd]"        # a word character, combining marks included, and U+FFFD: a byte of
                                 # Latin-1 text read as UTF-8 stays inside its word (caf\ufffd)
CLITIC = r"(?:s|m|re|ve|ll|d)"
TITLES = "Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|Mt|vs|etc|Inc|Ltd|Co|Corp|Gen|Gov|Sen|Rep|Lt|Col|Capt|Sgt|Jan|Feb|Mar|" \
         "Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
TOKEN_RE = re.compile("|".join([
    r"(?:https?://|www\.)\S+?…(?=\s|$)",                           # a URL a tweet cut short
    r"(?:https?://|www\.)\S(?:\S*[^\s.,;:!?)\]}\"'”’…])?",     # URL, not its trailing punctuation
    rf"[@#]{W}+",                                                  # @mention, #hashtag
    r"(?<!\w)(?:[:;=8][-o*'^]?[)\](\[dDpP/\\|}{@3*xX]|<3)(?!\w)",  # emoticon
    r"\b(?:[A-Za-z]\.){2,}",                                      # U.S., e.g.
    rf"\b(?:{TITLES})\.",                                          # Mr., Dr.
    r"\d{1,3}(?:,\d{3})+(?:\.\d+)?",                               # 3,000 and 3,000.5
    rf"{W}+?(?=[nN]['’][tT]\b)",                                   # do|n't, ca|n't
    r"[nN]['’][tT]\b",                                             # n't
    rf"(?i:['’]{CLITIC})\b",                                       # 's 're 'll ...
    r"(?i:['’](?:cause|em|til|\d0s))\b",                           # 'cause, '90s
    rf"{W}+(?:-{W}+)*-(?=\s|$)",                                   # anti- (a hyphen before a space)
    rf"{W}+(?:[-.]{W}+|['’](?!(?i:{CLITIC}|t)\b){W}+)*",           # words, 1.5, co-op, O'Brien
    r"[\U0001F1E6-\U0001F1FF]{2}",                                 # flag emoji
    r"\.{2,}",                                                     # ... (an ellipsis, as corpora spell it)
    r"[^\w\s](?:[\ufe0f\U0001F3FB-\U0001F3FF]|\u200d[^\w\s])*",    # any other symbol, with its modifiers
]))


# an e-mail address at the start of a chunk; tried only on chunks with an @ inside, anchored, so
# that its cost stays linear in the chunk (in TOKEN_RE it would be retried at every position)
EMAIL = re.compile(r"[\w+-]+(?:\.[\w+-]+)*@\w[\w-]*(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w@])")

_SEEN: dict[str, list[str]] = {}    # chunk -> its tokens: punctuation and @, # chunks repeat a lot
SEEN_LONGEST = 64                   # longer chunks are rare, and would let a few texts fill the memory


MENTION = re.compile(rf"@{W}+")


def tokenize(line: str, split_mentions: bool = False) -> list[str]:
    """No token spans whitespace, so each whitespace-separated chunk is tokenized alone: a chunk
    of letters and digits only (most of them) is one token, and the others are remembered.
    split_mentions: `@name` -> `@`, `name`, as corpora that label the lone @ (BTC) spell it."""
    out = _tokenize(line)
    if split_mentions and "@" in line:
        out = [x for t in out for x in ((t[0], t[1:]) if MENTION.fullmatch(t) else (t,))]
    return out


def mention_style(token_lists) -> str:
    """How a corpus spells @mentions: "split" when a lone @ followed by a name is more common than
    a whole @name token, else "whole"."""
    lone = whole = 0
    for toks in token_lists:
        for a, b in zip(toks, toks[1:] + [""]):
            if a == "@" and b[:1].isalnum():
                lone += 1
            elif MENTION.fullmatch(a):
                whole += 1
    return "split" if lone > whole else "whole"


def invisible(token: str) -> bool:
    """Only control and format characters (U+200B, a lone ZWJ, a BOM, U+0001, ...): no word."""
    return all(unicodedata.category(c) in ("Cc", "Cf") for c in token)


def _tokenize(line: str) -> list[str]:
    out: list[str] = []
    for chunk in line.split():
        if chunk.isalnum():
            out.append(chunk)
            continue
        toks = _SEEN.get(chunk)
        if toks is None:
            if len(_SEEN) > 100_000:
                _SEEN.clear()
            mail = EMAIL.match(chunk) if "@" in chunk[1:] else None
            toks = ([mail.group(), *TOKEN_RE.findall(chunk[mail.end():])] if mail else TOKEN_RE.findall(chunk))
            toks = [t for t in toks if not invisible(t)]
            if len(chunk) <= SEEN_LONGEST:
                _SEEN[chunk] = toks
        out += toks
    return out
