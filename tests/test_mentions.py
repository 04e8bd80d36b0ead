"""@mentions: a model tokenizes raw text as its training corpus spelled mentions (BTC: `@ name`)."""
import nerwin
from nerwin.text.tokenize import mention_style, tokenize

from conftest import corpus, load_arrays


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
