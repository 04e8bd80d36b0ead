"""Text in Unicode's decomposed form ("o" and a combining accent, as macOS file names and some web
pages spell it) finds the same word vectors and gazetteer entries as the composed form (NFC) that
GloVe and most lists use, and keeps its own spelling in the output."""
import unicodedata

import numpy as np

import nerwin
from nerwin.text.gazetteer import Matcher
from nerwin.text.windows import UNK, Vocab, build_vocab, candidates, forms

NFD = "Krako\u0301w"                     # o + COMBINING ACUTE ACCENT
NFC = unicodedata.normalize("NFC", NFD)   # ó


def test_a_decomposed_token_finds_the_composed_row_exactly_then_lowercase():
    assert NFD != NFC and len(NFD) == len(NFC) + 1                         # two strings, one word
    v = Vocab([UNK, "<s>", "</s>", "kraków", NFD.upper()])
    assert v.ids([[NFD, NFC, NFD.upper(), "Krakow"]]) == [[3, 3, 4, 0]]     # its own row first, if it has one
    assert v.key(NFD) == "kraków" and v.key("Krakow") is None
    assert forms("Paris") == ["Paris", "paris"]                            # composed text: no extra keys


def test_training_looks_the_composed_form_up_and_keeps_composed_text_unchanged():
    toks = [["Paris", NFD, "paris"]]
    assert candidates(t for s in toks for t in s) == ["Paris", "paris", NFD, NFD.lower(), NFC, NFC.lower()]
    found = {"paris": np.ones(4), "kraków": np.full(4, 2.0)}
    vocab, E, oov = build_vocab(toks, found, 4, np.random.default_rng(0))
    assert oov == 0.0 and vocab.ids(toks) == [[3, 4, 3]] and E[4, 0] == 2.0


def test_the_tagger_reads_both_spellings_alike_and_prints_the_input(loc_model):
    t = nerwin.load(loc_model)
    composed = "Anna moved to Kraków and then to São Paulo ."
    decomposed = unicodedata.normalize("NFD", composed)
    a, b = t.tag(composed), t.tag(decomposed)
    assert a.labels == b.labels and np.allclose(a.probs, b.probs)
    assert b.tokens[3] == unicodedata.normalize("NFD", "Kraków")             # the input's own spelling
    assert [decomposed[e.start_char:e.end_char] for e in b.entities] == [e.text for e in b.entities]
    E1, X1, _ = t.windows([composed.split()])
    E2, X2, _ = t.windows([decomposed.split()])
    assert np.array_equal(E1[X1], E2[X2])                                    # the same word vectors


def test_gazetteer_entries_match_in_either_spelling():
    for entry, text in ((NFC, NFD), (NFD, NFC)):
        m = Matcher({"LOC": [entry + " City"]})
        assert [m.name(k) for k in m.marks(["in", text, "City"])] == ["none", "LOC B, exact case", "LOC I, exact case"]
