"""The tokenizer: linear time on adversarial lines, invisible or undecodable characters with their
offsets right, and @mentions split as the training corpus spelled them (BTC: `@ name`)."""
import json
import time

import pytest

import nerwin
from nerwin.text.tokenize import mention_style, tokenize

from conftest import corpus, load_arrays


ADVERSARIAL = {
    "url and dots": "http://" + "." * 1_000_000 + "a",
    "url and dots to the end": "http://" + "." * 1_000_000,
    "url and an ellipsis": "http://" + "a" * 1_000_000 + "…",
    "apostrophes": "a'" * 500_000,
    "hyphens": "a-" * 500_000,
    "clitics": "can't" * 200_000,
    "commas": "1," * 500_000,
    "emoticons": ":)" * 500_000,
}


def test_the_linear_url_pattern_tokenizes_as_the_backtracking_one_did():
    import random
    import re
    from nerwin.text import tokenize as T
    old = re.compile(T.TOKEN_RE.pattern.replace(
        r"(?:https?://|www\.)\S(?:\S*[^\s.,;:!?)\]}\"'”’…])?",
        r"(?:https?://|www\.)\S+?(?=[.,;:!?)\]}\"'”’…]*(?:\s|$))"))
    assert old.pattern != T.TOKEN_RE.pattern
    rng = random.Random(0)
    alphabet = list("ab.,;:!?)]}\"'”’…/:-@#") + ["http://", "www.", "https://"]
    for _ in range(50_000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        assert T.TOKEN_RE.findall(s) == old.findall(s), s


@pytest.mark.parametrize("name", ADVERSARIAL)
def test_the_tokenizer_is_linear_on_adversarial_megabyte_lines(name):
    t0 = time.perf_counter()
    toks = tokenize(ADVERSARIAL[name])
    assert toks and time.perf_counter() - t0 < 10      # quadratic would take hours


def test_long_chunks_are_tokenized_but_not_remembered():
    # a server tokenizes what anyone sends: remembering a 100 KB chunk per request grew without end
    from nerwin.text import tokenize as T
    long = "b," * 50_000
    assert tokenize("Paris, " + long) == ["Paris", ","] + ["b", ","] * 50_000
    assert "Paris," in T._SEEN and long not in T._SEEN


@pytest.mark.parametrize("text, tokens", [
    ("Paris\u3000is\u00a0big .", ["Paris", "is", "big", "."]),            # ideographic and no-break spaces
    ("Paris is\u200b big", ["Paris", "is", "big"]),                       # a zero-width space is no word
    ("x \x01 Paris \x7f \ufeff .", ["x", "Paris", "."]),                   # control and format characters alone
    ("\u3000 \u200b \u00a0", []),
    ("caf\udce9 Paris", ["caf\ufffd", "Paris"]),                          # surrogateescape'd bytes: U+FFFD
])
def test_invisible_tokens_and_surrogates_keep_the_offsets_right(models, text, tokens):
    for kind in ("binary", "sentence"):
        doc = nerwin.load(models[kind]).tag(text)
        assert doc.tokens == tokens
        d = doc.to_dict()
        clean = doc.text
        assert all(clean[a:b] == t for t, (a, b) in zip(doc.tokens, d["offsets"]))
        json.dumps(d | {"text": clean}, ensure_ascii=False).encode("utf-8")      # printable as UTF-8


def test_split_mentions_and_only_mentions():
    assert tokenize("hi @justinbieber , mail a.b@c.com #tag @", split_mentions=True) == \
        ["hi", "@", "justinbieber", ",", "mail", "a.b@c.com", "#tag", "@"]
    assert tokenize("hi @justinbieber", split_mentions=False) == ["hi", "@justinbieber"]


def test_the_style_is_learned_from_the_training_tokens():
    assert mention_style([["@", "bob", "hi"], ["@", "ann"], ["@carl"]]) == "split"
    assert mention_style([["@bob", "hi"], ["@", "ann"], ["@carl"]]) == "whole"
    assert mention_style([["no", "mentions"]]) == "whole"


def test_a_btc_model_splits_raw_tweets_as_btc_does(tmp_path):
    train = corpus("btc", "train")
    lines = train.read_text(encoding="utf-8").split("\n\n")[:600]         # enough tweets to learn the style
    small = tmp_path / "btc-small.conll"
    small.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    tagger, _ = nerwin.train(train=small, out=tmp_path / "m", target="all", epochs=1, quiet=True, chars=0)
    assert load_arrays(tmp_path / "m")[3]["tokenizer"] == {"mentions": "split"}
    doc = nerwin.load(tmp_path / "m").tag("thanks @justinbieber for the show")
    assert doc.tokens == ["thanks", "@", "justinbieber", "for", "the", "show"]
    assert list(map(list, doc.to_dict()["offsets"][1:3])) == [[7, 8], [8, 20]]             # offsets into the text as typed
    nerwin.train(out=tmp_path / "s", epochs=1, quiet=True)
    sample = nerwin.load(tmp_path / "s")
    assert sample.model.mentions == "whole" and sample.tag("hi @bob").tokens == ["hi", "@bob"]
