"""A second window layer over layer 1's vectors (--layers 2): its gradients, its padding, its
sentence edges, explain's reach, and its files."""
import numpy as np
import pytest

import nerwin
from nerwin.errors import NerwinError
from nerwin.nn import network
from nerwin.nn.gradcheck import check, sentence_problem
from nerwin.nn.heads import BinaryHead, SentenceHead, SoftmaxHead
from nerwin.nn.layers import ACTIVATIONS

from conftest import load_arrays

CLASSES = ["O", "B-T", "I-T"]
HEADS = [BinaryHead("T", ["T"]), SoftmaxHead("all", CLASSES), SentenceHead("all", CLASSES)]


def real_problem():
    """Real windows of the sample corpus (GloVe rows, casing and characters)."""
    from nerwin.settings import Settings
    from nerwin.tools.gradcheck import real_windows
    from nerwin.vectors import open_store
    from nerwin import sample
    store, _ = open_store(None, None)
    return real_windows(sample.path("train.conll"), store, Settings.of(window=2, hidden=6, seed=0))


@pytest.fixture(scope="module")
def problem():
    return real_problem()


@pytest.mark.parametrize("head", HEADS, ids=lambda h: h.kind)
@pytest.mark.parametrize("w2", [1, 2])
def test_layer_two_gradients_against_central_differences(problem, head, w2):
    """W2, b2, the padding vector P and everything below, on real sentences of 1, 2 and 40 words."""
    sents, types, E, X, features, feats, _, _ = problem
    entity = np.array([t != "O" for x in sents for t in x.tags])
    y = entity.astype(np.float64) if head.multiclass is False else entity.astype(np.int64)   # B-T: always a valid path
    p, Es, ids, yy, fs, L, head = sentence_problem(E, X, y, 6, CLASSES, 0, (1, 2, 40), features, feats,
                                                   window2=w2, head=head)
    assert {"W2", "b2", "P"} <= set(p) and p["W2"].shape == (6, (2 * w2 + 1) * 6)
    mask = (np.random.default_rng(1).random((len(ids), 6)) >= 0.3) / 0.7
    errs = check(p, Es, ids, yy, head, "tanh", 1e-3, mask, features, fs, L)
    assert max(errs.values()) < 1e-6, errs
    assert errs["E untouched"] == 0.0


def test_layer_one_once_per_position_and_P_at_the_edges():
    """h2 of every position equals f(W2 [h1 of its window] + b2) built by hand, with P where the
    window passes its own sentence's edge, never the next sentence's h1."""
    rng = np.random.default_rng(0)
    H, w2, lengths = 4, 2, np.array([1, 3, 5])
    h1 = rng.normal(size=(lengths.sum(), H))
    p = {"W2": rng.normal(size=(H, (2 * w2 + 1) * H)), "b2": rng.normal(size=H), "P": rng.normal(size=H)}
    h2, _ = network.context_forward(h1, lengths, p, "tanh")
    first = np.cumsum(lengths) - lengths
    for s, (f, n) in enumerate(zip(first, lengths)):
        for t in range(n):
            x2 = np.concatenate([h1[f + j] if 0 <= j < n else p["P"] for j in range(t - w2, t + w2 + 1)])
            np.testing.assert_allclose(h2[f + t], np.tanh(p["W2"] @ x2 + p["b2"]), rtol=1e-12)


def test_positions_pad_with_one_past_the_end():
    np.testing.assert_array_equal(network.positions(np.array([2, 1]), 1), [[3, 0, 1], [0, 1, 3], [3, 2, 3]])
    assert network.positions(np.array([], dtype=np.int64), 1).shape == (0, 3)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    out = tmp_path_factory.mktemp("two") / "m"
    nerwin.train(out=out, target="all", layers=2, window2=1, epochs=2, quiet=True)
    return out


def test_a_sentence_tags_the_same_alone_and_in_a_batch(two):
    t = nerwin.load(two)
    texts = ["Angela Merkel visited Paris .", "Barack Obama met the press in Berlin on Monday .", "Rome", ""]
    alone = [t.tag(x) for x in texts]
    together = list(t.tag_many(texts))
    for a, b in zip(alone, together):
        assert a.labels == b.labels
        np.testing.assert_allclose(a.probs, b.probs, rtol=1e-5)


def test_a_chunk_of_many_passes_tags_as_each_sentence_alone(two):
    """A chunk of 300 sentences (about 5,000 windows) runs in passes of whole sentences: a second
    layer reads each sentence whole, so each tags as it does alone."""
    from nerwin.apply.tagger import WINDOWS, passes
    rng = np.random.default_rng(0)
    words = "the of Paris Angela Merkel visited Berlin Monday press met in on and Rome".split()
    sents = [list(rng.choice(words, size=int(rng.integers(0, 35)))) for _ in range(300)]
    lengths = np.array([len(x) for x in sents])
    cut = passes(lengths, WINDOWS)
    assert len(cut) >= 4 and cut[0][0] == 0 and cut[-1][1] == len(sents)
    assert all(b0 == a1 for (_, b0), (a1, _) in zip(cut, cut[1:]))                 # whole sentences, all of them
    assert max(lengths[a:b].sum() for a, b in cut) < WINDOWS + lengths.max()
    t = nerwin.load(two)
    together = t.tag_sentences(sents)
    for x, d in zip(sents, together):
        alone = t.tag(x)
        assert alone.labels == d.labels
        np.testing.assert_allclose(alone.probs, d.probs, rtol=1e-5)


def test_explain_reaches_w_plus_w2_and_its_gradient_is_ds_de(two):
    """explain's g for each word of token t's reach is ds_t/de of that word (summed over the
    layer-1 windows that hold it), checked by central differences on its row of E in float64."""
    t = nerwin.load(two)
    m = t.model
    toks = "Angela Merkel visited Paris today".split()
    rows = t.explain(toks)
    R = m.reach
    assert R == 3 and all(len(r["window"]) == 2 * R + 1 for r in rows)
    E, X, feats = t.windows([toks])
    p64 = {k: v.astype(np.float64) for k, v in m.params.items()}
    E64 = E.astype(np.float64)
    lengths = np.array([len(toks)])
    k = 2                                                       # "visited"
    cls = m.head.label_ids([rows[k]["label"]])

    def score():
        s = network.scores(p64, E64, X, m.head, m.settings.activation, m.features, feats, None, lengths)
        return float(m.head.class_score(s[k:k + 1], cls)[0])
    for off in range(-R, R + 1):
        j = k + off
        if not 0 <= j < len(toks):
            continue
        r = X[j, m.settings.window]                             # the row of word j
        g = np.array(rows[k]["window"][off + R]["g"])
        num = np.zeros_like(g)
        for i in range(len(g)):
            old = E64[r, i]
            E64[r, i] = old + 1e-5
            sp = score()
            E64[r, i] = old - 1e-5
            num[i] = (sp - score()) / 2e-5
            E64[r, i] = old
        np.testing.assert_allclose(g, num, rtol=2e-3, atol=2e-4, err_msg=f"offset {off}")


def test_explain_takes_each_tokens_score_alone_in_2w2_plus_1_backward_passes(two):
    """score_gradient runs one backward pass for all tokens 2w2+1 apart (their layer-1 windows
    are disjoint); each token's g equals a backward pass of its own score alone."""
    t = nerwin.load(two)
    m = t.model
    toks = ("Angela Merkel visited Paris on Monday , and Barack Obama met the press in Berlin " * 3).split()
    E, X, feats = t.windows([toks])
    lengths = np.array([len(toks)])
    s = t.logits([toks])
    cls = m.head.label_ids(t.decode([toks], s)[0].labels)
    got = network.score_gradient(m.params, E, X, m.head, m.settings.activation, cls, m.features, feats, lengths)
    h, cache = network.forward(m.params, E, X, m.settings.activation, None, m.features, feats)
    _, c_two = network.context_forward(h, lengths, m.params, m.settings.activation)
    dh = m.head.score_dh(m.params, cls).astype(h.dtype)
    w, w2 = m.settings.window, m.settings.window2
    near = network.positions(lengths, w2)
    for k in [0, 1, 7, 20, len(toks) - 1]:
        dh2 = np.zeros_like(dh)
        dh2[k] = dh[k]
        dh1, _ = network.context_backward(dh2, c_two, m.params)
        d_parts, _ = network.window_backward(dh1, cache, m.params, params=False)
        want = np.zeros_like(got["E"][0][k])
        for j in near[k][near[k] < len(toks)]:
            want[j - k + np.arange(2 * w + 1) + w2] += d_parts["E"][j]
        np.testing.assert_array_equal(got["E"][0][k], want)


def test_a_two_layer_model_saves_loads_and_says_what_graph_cannot(two, tmp_path):
    p, E, vocab, config, _ = load_arrays(two)
    assert config["model"]["layers"] == 2 and config["model"]["window2"] == 1
    assert p["W2"].shape == (100, 300) and p["P"].shape == (100,)
    t = nerwin.load(two)
    t.save(tmp_path / "again")
    assert nerwin.load(tmp_path / "again").tag("Paris is big .").labels == t.tag("Paris is big .").labels
    with pytest.raises(NerwinError, match="two"):
        t.graph("Paris", 0)


def test_same_seed_same_two_layer_model(two, tmp_path):
    nerwin.train(out=tmp_path / "b", target="all", layers=2, window2=1, epochs=2, quiet=True)
    a, b = load_arrays(two)[0], load_arrays(tmp_path / "b")[0]
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_every_activation_through_two_layers(problem):
    sents, types, E, X, features, feats, _, _ = problem
    y = np.zeros(len(X), np.int64)
    for act in ACTIVATIONS:
        p, Es, ids, yy, fs, L, head = sentence_problem(E, X, y, 5, CLASSES, 2, (2, 7), (), None, window2=1,
                                                       head=SoftmaxHead("all", CLASSES))
        errs = check(p, Es, ids, yy, head, act, 0.0, None, (), fs, L)
        assert max(errs.values()) < 1e-6, (act, errs)


def test_positions_of_a_part_are_that_part_of_all_positions():
    lengths = np.array([3, 0, 7, 1, 0, 12, 2])
    whole = network.positions(lengths, 2)
    for a, b in [(0, 25), (0, 0), (3, 4), (2, 19), (24, 25), (10, 25)]:
        np.testing.assert_array_equal(network.positions(lengths, 2, slice(a, b)), whole[a:b])


@pytest.mark.parametrize("kind", ["one layer", "two layers"])
def test_a_sentence_of_thousands_of_words_tags_in_slices_as_it_would_whole(kind, two, models, monkeypatch):
    """A pass longer than 8 WINDOWS (one sentence of 20,000 words: a file without blank lines)
    runs layer 1, layer 2 and the head a slice at a time; its logits are those of the whole
    sentence at once, and its x and h (20,000 windows) are never whole in memory."""
    import tracemalloc
    from nerwin.apply import tagger as tg
    t = nerwin.load(two if kind == "two layers" else models["sentence"])
    rng = np.random.default_rng(0)
    words = "the of Paris Angela Merkel visited Berlin Monday press met in on and Rome .".split()
    sent = [list(rng.choice(words, size=20_000))]
    m = t.model
    E, X, feats = t.windows(sent)
    whole = network.scores(m.params, E, X, m.head, t.settings.activation, m.features, feats,
                           network.prepare(m.params, m.features, feats), np.array([20_000]))
    tracemalloc.start()
    s = t.logits(sent)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(s, whole, rtol=1e-4, atol=1e-5)
    x_bytes = X.shape[0] * (m.params["W"].shape[1]) * 4
    assert peak < x_bytes / 4, (peak, x_bytes)           # 6.7 MB against 35 MB; 87 MB whole
    monkeypatch.setattr(tg, "WINDOWS", 1 << 30)                  # one pass, whole: the old way
    np.testing.assert_array_equal(t.logits(sent), whole)


@pytest.mark.parametrize("kind", ["one layer", "two layers"])
def test_long_and_short_sentences_in_one_pass_tag_as_each_alone(kind, two, models):
    """Slices cut across sentence edges and a pass's first and last sentences: each sentence's
    layer 2 still reads only its own h1, and P beyond its edges."""
    t = nerwin.load(two if kind == "two layers" else models["sentence"])
    rng = np.random.default_rng(1)
    words = "the of Paris Angela Merkel visited Berlin Monday press met in on and Rome .".split()
    sents = [list(rng.choice(words, size=n)) for n in (3, 1, 0, 9_500, 2, 0, 1, 7, 4_000, 5)]
    s = t.logits(sents)
    first = np.concatenate([[0], np.cumsum([len(x) for x in sents])])
    for k, x in enumerate(sents):
        np.testing.assert_allclose(s[first[k]:first[k + 1]], t.logits([x]), rtol=1e-4, atol=1e-5, err_msg=str(k))
