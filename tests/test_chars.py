"""A word's spelling: the character CNN, affixes and word dropout, each piece against an
independent computation, and a model that reads them saved, loaded and explained."""

import json

import numpy as np
import pytest

import nerwin
from nerwin.errors import NerwinError
from nerwin.model import WindowModel
from nerwin.nn import network
from nerwin.nn.features.affixes import Affixes
from nerwin.nn.features.characters import Characters, char_forward, char_windows
from nerwin.nn.heads import choose
from nerwin.nn.layers import maxpool_backward, maxpool_forward
from nerwin.settings import Settings
from nerwin.text.corpus import read_conll
from nerwin.text.spelling import BEGIN, EDGE, END, FILL, MAX_CHARS, UNSEEN, margin
from nerwin.training.data import encode
from nerwin.text.windows import Vocab, SPECIALS

from conftest import DATA, rewrite_config, run, trained

UNSEEN_NAMES = ["Zqxvburg", "Mcfloogle"]       # in no vocabulary and no vectors file


def test_char_windows_are_every_window_inside_each_word():
    rng = np.random.default_rng(0)
    chars = rng.integers(5, 40, size=(6, 11)).astype(np.int32)
    lens = np.array([5, 11, 6, 7, 5, 9])         # framed words: never shorter than a filter
    for k in (1, 3, 5):
        win, starts = char_windows(chars, lens, k)
        by_hand = [chars[u, j:j + k] for u in range(6) for j in range(lens[u] - k + 1)]
        np.testing.assert_array_equal(win, np.array(by_hand))
        assert list(starts) == list(np.cumsum(lens - k + 1) - (lens - k + 1))


def test_char_cnn_is_a_max_over_each_words_convolution():
    """r against a loop over words and positions, written out from the paper's formula."""
    rng = np.random.default_rng(1)
    p = {"Ech": rng.normal(size=(30, 4)), "Wch": rng.normal(size=(6, 3 * 4)), "bch": rng.normal(size=6)}
    sp = Characters.build(Settings.of(chars=6, char_dim=4, char_width=3), [["Paris", "a", "Zürich", "x" * 40]])
    chars, lens = sp.char_matrix(["Paris", "a", "Zürich", "x" * 40, ""])
    chars = np.minimum(chars, 29)
    r, _ = char_forward(p, chars, lens)
    for u in range(len(chars)):
        q = p["Ech"][chars[u, :lens[u]]]
        z = [p["Wch"] @ q[j:j + 3].ravel() + p["bch"] for j in range(lens[u] - 2)]
        np.testing.assert_allclose(r[u], np.max(z, axis=0))


def test_maxpool_sends_each_filters_gradient_to_its_first_argmax_only():
    z = np.array([[1., 5.], [3., 5.], [3., 0.], [-1., 2.], [7., 2.]])     # word 0: rows 0-2, word 1: rows 3-4
    r, cache = maxpool_forward(z, np.array([0, 3]))
    np.testing.assert_array_equal(r, [[3., 5.], [7., 2.]])
    dz = maxpool_backward(np.array([[10., 20.], [30., 40.]]), cache)
    np.testing.assert_array_equal(dz, [[0, 20], [10, 0], [0, 0], [0, 40], [30, 0]])


def test_spelling_frames_clips_and_marks_unseen_characters():
    k3 = Settings.of(chars=4, char_width=3)
    sp = Characters.build(k3, [["ab", "ab", "b"]])
    assert sp.chars == ["b", "a"]                        # by count, then seen at least twice
    ch, n = sp.char_matrix(["b", "ab", "é", "", "q" * 30])
    b, a = sp.index["b"], sp.index["a"]
    assert margin(3) == 1 and list(n) == [3, 4, 3, 3, MAX_CHARS + 2]
    assert list(ch[0, :4]) == [BEGIN, b, END, FILL]
    assert list(ch[1, :4]) == [BEGIN, a, b, END]
    assert list(ch[2, :3]) == list(ch[3, :3]) == [BEGIN, UNSEEN, END]
    long = "".join(map(chr, range(0x4e00, 0x4e00 + 30)))
    sp2 = Characters.build(k3, [[long, long]])
    ids = sp2.char_matrix([long])[0][0, 1:MAX_CHARS + 1]
    assert [sp2.chars[i - 5] for i in ids] == list(long[:12] + long[-12:])


def test_features_point_each_slot_at_its_tokens_characters():
    s = Settings.of(window=1, casing=2, affixes=2, chars=4, char_width=3)
    train = [["The", "cat", "sat"]] * 2
    sp, af = Characters.build(s, train), Affixes.build(s, train)
    toks = [["The", "cat"], ["sat", "The"]]
    f, (prefix, suffix) = sp.ids(toks, 1), af.ids(toks, 1)
    assert f.slots.shape == prefix.shape == (4, 3)
    words = ["<pad>", "The", "cat", "sat"]
    assert [[words[u] for u in row] for row in f.slots] == [
        ["<pad>", "The", "cat"], ["The", "cat", "<pad>"], ["<pad>", "sat", "The"], ["sat", "The", "<pad>"]]
    assert list(f.chars[0, :3]) == [BEGIN, EDGE, END]
    b = f.batch(np.array([2]))                       # one window: its three distinct tokens only
    assert len(b.chars) == 3 and sorted(b.slots[0]) == [0, 1, 2]
    assert prefix[0, 1] == af.prefix_index["the"] and suffix[1, 1] == af.suffix_index["cat"]


def test_word_dropout_replaces_only_rare_words_at_rate_p():
    sents = read_conll(DATA / "train.conll")
    toks = [x.tokens for x in sents]
    vocab = Vocab(list(SPECIALS) + list(dict.fromkeys(t for s in toks for t in s)))
    s = Settings.of(target="all")
    m = WindowModel.new(s, choose("all", ["LOC", "PER", "ORG", "MISC"], "sentence"), [], vocab,
                        np.zeros((len(vocab), 4), np.float32), {"source": "-"})
    tr = encode(sents, m)
    idx = np.arange(len(tr.X))
    assert np.array_equal(tr.words(idx, np.random.default_rng(0), 0.0), tr.X)
    X = tr.words(idx, np.random.default_rng(0), 0.5)
    changed = X != tr.X
    assert np.all(X[changed] == vocab.index["<UNK>"]) and np.all(tr.rare[tr.X[changed]])
    rare_slots = tr.rare[tr.X] & (tr.X != vocab.index["<UNK>"])
    share = changed.sum() / rare_slots.sum()
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / rare_slots.sum()), share


@pytest.fixture(scope="module")
def char_model(tmp_path_factory):
    return trained(tmp_path_factory, "chars", "--target", "all", "--chars", "8", "--char-dim", "5", "--affixes", "3",
                   "--word-dropout", "0.2", "--epochs", "2")


def test_unseen_words_get_their_own_character_vectors(char_model, tmp_path_factory):
    tagger = nerwin.load(char_model)
    assert all(tagger.vocab.key(w) is None for w in UNSEEN_NAMES)
    a, b = (tagger.logits([["I", "met", w, "today"]])[2] for w in UNSEEN_NAMES)
    assert not np.allclose(a, b), "two unseen names must not look alike to a model that reads characters"
    plain = nerwin.load(trained(tmp_path_factory, "nochars", "--target", "all", "--chars", "0", "--affixes", "0",
                                 "--epochs", "2"))
    a, b = (plain.logits([["I", "met", w, "today"]])[2] for w in UNSEEN_NAMES)
    np.testing.assert_allclose(a, b)           # both <UNK> with the same casing: no way to tell them apart


def test_a_model_with_characters_saves_loads_and_tags_the_same(char_model):
    tagger = nerwin.load(char_model)
    cfg = tagger.config
    assert cfg["model"]["chars"] == 8 and list(cfg["features"]) == ["casing", "affixes", "chars"]
    assert set(cfg["features"]["affixes"]) == {"prefixes", "suffixes"} and cfg["features"]["chars"]["chars"]
    text = "Anna Zqxvburg flew from Zürich to Berlin ."
    first = tagger.tag(text)
    again = nerwin.load(char_model).tag(text)
    assert first.labels == again.labels and first.probs == again.probs
    many = list(tagger.tag_many([text, "x", text], batch_size=2))       # the CNN runs once per block
    assert many[0].probs == many[2].probs == first.probs


def test_a_model_from_before_these_settings_loads_with_them_off(tmp_path, tmp_path_factory):
    src = trained(tmp_path_factory, "casing-only", "--target", "all", "--chars", "0", "--affixes", "0", "--epochs", "1")
    def as_0_2(c):                     # the config layout of 0.2: every setting under "settings", no features
        c["settings"] = {**c.pop("training"), **c.pop("model")}
        c.pop("features")
        for k in ("chars", "char_dim", "char_width", "affixes", "word_dropout"):
            c["settings"].pop(k)
    old = rewrite_config(src, tmp_path / "old", as_0_2)
    a, b = nerwin.load(src), nerwin.load(old)
    assert b.settings.chars == 0 and b.settings.affixes == 0
    assert a.tag("Paris is nice .").probs == b.tag("Paris is nice .").probs


def test_characters_without_their_spelling_are_a_damaged_model(char_model, tmp_path):
    bad = rewrite_config(char_model, tmp_path / "bad", lambda c: c["features"].pop("chars"))
    with pytest.raises(NerwinError, match="damaged"):
        nerwin.load(bad)


def test_explain_gives_the_character_vectors_share_by_the_training_backward(char_model):
    """g for the character part of a slot against central differences of s in that word's r."""
    tagger = nerwin.load(char_model)
    toks = ["Anna", "Zqxvburg", "flew", "home"]
    rows = tagger.explain(toks)
    E, X, feats = tagger.windows([toks])
    # the differences in float64: float32's rounding at this step is a percent of a small share
    p = {k: v.astype(np.float64) for k, v in tagger.params.items()}
    E, act = E.astype(np.float64), tagger.settings.activation
    features = tagger.model.features
    chars = next(f for f in features if isinstance(f, Characters))
    F = feats[chars.name]
    R = chars.prepare(p, F)
    for t, row in enumerate(rows):
        cls = tagger.head.label_ids([row["label"]])
        for i, word in enumerate(row["window"]):
            u = F.slots[t, i]
            if (F.slots[t] == u).sum() > 1:
                continue                                   # <s> twice: its derivative sums
            num = np.zeros(R.shape[1])
            for j in range(R.shape[1]):
                Rp, Rm = R.copy(), R.copy()
                Rp[u, j] += 1e-3
                Rm[u, j] -= 1e-3
                one = feats.take(slice(t, t + 1))
                s_p = tagger.head.class_score(network.scores(p, E, X[t:t + 1], tagger.head, act, features, one,
                                                             {**network.prepare(p, features, one), "chars": Rp}), cls)
                s_m = tagger.head.class_score(network.scores(p, E, X[t:t + 1], tagger.head, act, features, one,
                                                             {**network.prepare(p, features, one), "chars": Rm}), cls)
                num[j] = (s_p - s_m)[0] / 2e-3
            assert word["parts"]["chars"] == pytest.approx(float(num @ R[u]), rel=1e-3, abs=1e-5)
    from nerwin.tools.explain import explain_text
    text = explain_text(rows, 2)
    assert "chars g.x" in text and "character vector" in text


def test_newswire_layout_trains_and_tags_with_characters(tmp_path):
    """CoNLL-2003's four columns, IOB1, -DOCSTART- and a 300-token sentence, with the defaults'
    character CNN: -DOCSTART- never reaches the character table, capitals do, and unseen
    names get tagged."""
    from test_corpus import CONLL2003
    long = "".join(f"Word{i} NN I-NP O\n" for i in range(300)) + "\n"
    f = tmp_path / "eng.train"
    f.write_text((CONLL2003 + "\n") * 5 + long)
    out = tmp_path / "m"
    r = run("train", "--train", f, "--dev", f, "--target", "all", "--epochs", "3", "--affixes", "2", "--out", out)
    assert r.returncode == 0, r.stderr
    tagger = nerwin.load(out)
    assert tagger.settings.chars == Settings.of(target="all").chars > 0
    lists = tagger.config["features"]
    assert {"B", "E", "P", "U"} <= set(lists["chars"]["chars"])                  # capitals, case kept
    assert "-do" not in lists["affixes"]["prefixes"] and "rt-" not in lists["affixes"]["suffixes"]
    doc = tagger.tag("Peter Blackburnshire visited BRUSSELS and Zqxvburg .")
    assert len(doc.labels) == 7
    r = run("predict", "--model", out, "--input-format", "conll", f)
    assert r.returncode == 0, r.stderr
    docstarts = f.read_text().count("-DOCSTART-")                  # each written back, for the lines to match
    assert r.stdout.count("\n\n") == len(read_conll(f)) + docstarts and "Word299\t" in r.stdout   # the long one too


def test_same_seed_same_character_model_bit_for_bit(char_model, tmp_path_factory):
    again = trained(tmp_path_factory, "chars-again", "--target", "all", "--chars", "8", "--char-dim", "5",
                    "--affixes", "3", "--word-dropout", "0.2", "--epochs", "2")
    a, b = np.load(char_model / "model.npz"), np.load(again / "model.npz")
    assert set(a.files) == set(b.files) and {"Ech", "Wch", "bch", "Pre", "Suf"} <= set(a.files)
    for k in a.files:
        if k != "config_json":
            assert np.array_equal(a[k], b[k]), k


WEIRD = ["x" * 1_000_000, "é" * 300, "\u202eevil", "a\u0301\u0301\u0301", "👩\u200d👩\u200d👧", "\ufeffBOM", "٣٤٥",
         "\U0010ffff", "Ǆ"]


def test_huge_and_odd_words_at_predict_and_train_time(models, tmp_path):
    text = " ".join(WEIRD) + " Paris ."
    for kind in ("binary", "sentence"):
        doc = nerwin.load(models[kind]).tag(text)
        assert doc.tokens[0] == "x" * 1_000_000 and len(doc.labels) == len(doc.tokens)
        assert all(0 <= p <= 1 for p in doc.probs)
    (tmp_path / "in.txt").write_text(text + "\n", encoding="utf-8")
    r = run("predict", "--model", models["sentence"], "--output-format", "jsonl", tmp_path / "in.txt")
    assert r.returncode == 0 and json.loads(r.stdout)["tokens"][0] == "x" * 1_000_000
    train = tmp_path / "odd.conll"
    lines = DATA.joinpath("train.conll").read_text(encoding="utf-8").strip().split("\n\n")[:200]
    odd = "\n".join(f"{w}\t{'B-LOC' if i == 2 else 'O'}" for i, w in enumerate(WEIRD))
    train.write_text("\n\n".join([odd, *lines]) + "\n", encoding="utf-8")
    tagger, _ = nerwin.train(train=train, out=tmp_path / "m", target="all", epochs=1, quiet=True, chars=8)
    assert nerwin.load(tmp_path / "m").tag(WEIRD[:3]).tokens == WEIRD[:3]
