import pytest

from nerwin.text.corpus import entity_types, read_conll
from nerwin.text.schemes import binary_labels
from nerwin.errors import NerwinError
from nerwin.text.tokenize import tokenize

from conftest import corpus

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
visited VBD B-VP O
BRUSSELS NNP B-NP I-LOC
Paris NNP I-NP B-LOC

-DOCSTART- -X- -X- O

Rome NNP B-NP I-LOC
"""


def test_conll2003_layout(tmp_path):
    f = tmp_path / "c03.txt"
    f.write_text(CONLL2003)
    sents = read_conll(f)
    assert [s.tokens[0] for s in sents] == ["EU", "Peter", "Rome"]
    assert sents[1].tags == ["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]
    assert entity_types(sents) == ["ORG", "MISC", "PER", "LOC"]
    assert binary_labels(sents[1].tags, "loc") == [0, 0, 0, 1, 1]


def test_bom_crlf_whitespace_separators_and_empty_token(tmp_path):
    f = tmp_path / "x.conll"
    f.write_bytes("\ufeffNew\tB-LOC\r\nYork\tI-LOC\r\n\t\r\n\tO\r\nhi\tO\r\n   \r\n".encode())
    sents = read_conll(f)
    assert [s.tokens for s in sents] == [["New", "York"], ["", "hi"]]


def test_unknown_prefix_and_one_column_name_the_line(tmp_path):
    f = tmp_path / "bad.conll"
    f.write_text("a\tO\nb\tX-LOC\n")
    with pytest.raises(NerwinError, match=r"bad.conll:2: unknown tag 'X-LOC'"):
        read_conll(f)
    f.write_text("a\tO\n\nlonely\n")
    with pytest.raises(NerwinError, match=r"bad.conll:3: one column"):
        read_conll(f)


@pytest.mark.parametrize("name,split,sents,tokens", [
    ("btc", "train", 6338, 99933), ("btc", "test", 2001, 35428),
    ("wnut17", "train", 3394, 62730), ("wnut17", "dev", 1009, 15733)])
def test_real_corpora_read_as_documented(name, split, sents, tokens):
    got = read_conll(corpus(name, split))
    assert len(got) == sents
    assert sum(len(s.tokens) for s in got) == tokens


def test_tokenizer_matches_corpus_and_vector_conventions():
    assert tokenize("Hi @bob, see https://t.co/x!") == ["Hi", "@bob", ",", "see", "https://t.co/x", "!"]
    assert tokenize("The museums in Paris are amazing.") == ["The", "museums", "in", "Paris", "are", "amazing", "."]
    assert tokenize("I don't know, it's Mr. Smith of the U.S.") == \
        ["I", "do", "n't", "know", ",", "it", "'s", "Mr.", "Smith", "of", "the", "U.S."]
    assert tokenize("3,000 or 1.5 co-op #tag2 :) (see www.x.org).") == \
        ["3,000", "or", "1.5", "co-op", "#tag2", ":)", "(", "see", "www.x.org", ")", "."]
    assert tokenize("can't won't O'Brien") == ["ca", "n't", "wo", "n't", "O'Brien"]


def test_the_tokenizer_keeps_ellipses_e_mail_addresses_and_latin_1_words_whole():
    assert tokenize("Wait... what?") == ["Wait", "...", "what", "?"]
    assert tokenize("mail anna.b@example.com, or @bob.") == ["mail", "anna.b@example.com", ",", "or", "@bob", "."]
    assert tokenize("caf\ufffd au lait") == ["caf\ufffd", "au", "lait"]          # Latin-1 é read as UTF-8


def test_plain_text_is_not_taken_for_conll(tmp_path):
    from nerwin.errors import NerwinError
    f = tmp_path / "text.conll"
    f.write_text("The cat sat on the mat .\nA dog ran !\n")
    with pytest.raises(NerwinError, match=r"text.conll:1: tag '\.' names no entity type"):
        read_conll(f)
    f.write_text("\n".join(f"a w{i} w{i + 1}" for i in range(300)))           # every last word a "type"
    with pytest.raises(NerwinError, match="looks like text, not CoNLL"):
        read_conll(f)
