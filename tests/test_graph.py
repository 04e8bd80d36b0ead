"""The computation graph of one window: its v̄ are the model's own backward pass, its gates obey
the lecture's identities, and the numerical check agrees in float64."""
import json

import numpy as np
import pytest

import nerwin
from nerwin.errors import NerwinError, NerwinTypeError
from nerwin.nn import network

from conftest import KINDS, assert_clean_error, run

SENTENCE = "Paris and Paris met in Berlin on Monday ."


@pytest.fixture(scope="module")
def taggers(models, tmp_path_factory):
    """Each kind of model with the character CNN on and off (affixes too, on one of them)."""
    root = tmp_path_factory.mktemp("graph-models")
    out = {}
    for kind, flags in KINDS.items():
        t = nerwin.load(models[kind])
        out[kind, t.settings.chars > 0] = t
        other = dict(chars=0) if t.settings.chars > 0 else dict(chars=8, affixes=4)
        nerwin.train(out=root / kind, epochs=2, quiet=True, **flags, **other)
        t2 = nerwin.load(root / kind)
        out[kind, t2.settings.chars > 0] = t2
    assert len(out) == 6
    return out


def summed_graph_gradients(tagger, text):
    """Σ over the sentence's windows of each graph's W̄, b̄, the head's weight and every E row's v̄."""
    toks = text.split()
    total, rows = {}, {}
    for t in range(len(toks)):
        g = tagger.graph(text, t)
        for name in ("W", "b", tagger.head.weight, "c"):
            total[name] = total.get(name, 0) + g.node(name).grad
        for n in g.nodes:
            if n.name.startswith("E["):
                rows[n.name] = (rows.get(n.name, (0,))[0] + n.grad, n.value)
    return total, rows


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("chars", [False, True])
def test_every_gradient_is_the_training_backward_pass(taggers, kind, chars):
    """The graphs of all windows of a sentence add up to the gradient that training's
    network.loss gives for that sentence (window losses: their mean; the sentence loss: its own)."""
    tagger = taggers[kind, chars]
    m = tagger.model
    toks = SENTENCE.split()
    E, X, feats = tagger.windows([toks])
    p64 = {k: v.astype(np.float64) for k, v in m.params.items()}
    doc = tagger.tag(toks)
    y = m.head.label_ids(doc.labels)
    if m.head.multiclass is False:
        y = y.astype(np.float64)
    _, grads, rows, dE = network.loss(p64, E.astype(np.float64), X, y, m.head, m.settings.activation, 0.0, None,
                                      m.features, feats, np.array([len(toks)]))
    total, graph_rows = summed_graph_gradients(tagger, SENTENCE)
    scale = 1.0 if m.head.whole_sentences else 1.0 / len(toks)
    for name in total:
        np.testing.assert_allclose(total[name] * scale, grads[name], rtol=1e-5, atol=1e-9, err_msg=name)
    assert len(graph_rows) == len(rows)
    for r, g in zip(rows.tolist(), dE):                     # each graph's row node holds E[r] as its value
        name = next(k for k, v in graph_rows.items() if np.array_equal(v[1], E[r].astype(np.float64)))
        np.testing.assert_allclose(graph_rows[name][0] * scale, g, rtol=1e-5, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("chars", [False, True])
def test_the_gates_identities_and_the_numerical_check(taggers, kind, chars):
    tagger = taggers[kind, chars]
    g = tagger.graph(SENTENCE, 0)                           # "Paris", with <s> twice in its window
    z, x, W = g.node("z"), g.node("x"), g.node("W")
    np.testing.assert_array_equal(g.node("b").grad, z.grad)              # the add gate hands z̄ on
    np.testing.assert_array_equal(g.node("W·x").grad, z.grad)
    np.testing.assert_allclose(x.grad, W.value.T @ z.grad, rtol=1e-12, atol=1e-15)       # x̄ = Wᵀ z̄
    np.testing.assert_allclose(W.grad, np.outer(z.grad, x.value), rtol=1e-12, atol=1e-15)  # W̄ = z̄ xᵀ
    h = g.node("h")
    np.testing.assert_allclose(z.grad, h.grad * h.local, rtol=1e-12)                      # z̄ = h̄ ∘ f′(z)
    # branches sum: <s> pads two slots, and "Paris" is at offsets 0 and +2
    np.testing.assert_allclose(g.node("E[<s>]").grad, g.node("e[-2]").grad + g.node("e[-1]").grad, rtol=1e-12)
    paris = next(n for n in g.nodes if n.name.startswith("E[") and n.name.lower() == "e[paris]")
    np.testing.assert_allclose(paris.grad, g.node("e[+0]").grad + g.node("e[+2]").grad, rtol=1e-12)
    assert "a branch" in paris.rule
    if chars:                                               # the max routes each filter to one window
        for n in g.nodes:
            if n.gate == "max":
                dz = g.node("z'" + n.name[1:]).grad
                assert ((dz != 0).sum(axis=0) <= 1).all()
                cols = np.arange(dz.shape[1])
                np.testing.assert_array_equal(dz[n.local, cols], n.grad)
    else:
        assert not any(n.gate == "max" for n in g.nodes)
    assert max(g.check.values()) < 1e-6, g.check
    assert set(g.check) == {"x", "word rows", "W sample"}


def test_a_one_word_sentence_and_a_given_label(taggers):
    t = taggers["softmax", True]
    g = t.graph("Berlin", 0, label="B-LOC")
    assert g.against == "gold" and g.label == "B-LOC" and g.words == ["<s>", "<s>", "Berlin", "</s>", "</s>"]
    p = np.exp(g.node("s").value - g.node("s").value.max())
    p /= p.sum()
    onehot = np.eye(len(t.labels))[t.labels.index("B-LOC")]
    np.testing.assert_allclose(g.node("s").grad, p - onehot, atol=1e-12)       # s̄ = softmax(s) − onehot(y)
    assert max(g.check.values()) < 1e-6


def test_one_sgd_step_lowers_J_and_a_frozen_model_keeps_its_rows(taggers, tmp_path):
    t = taggers["binary", False]
    g = t.graph(SENTENCE, 5, label="LOC", step=0.05)
    s = g.step
    assert s["J_after"] < s["J_before"]
    assert [w["offset"] for w in s["words"]] == ["-2", "-1", "+0", "+1", "+2"]
    inside = [w for w in s["words"] if w["row"] < len(t.model.vocab)]
    assert inside and all(w["moves"] and w["distance"] > 0 for w in inside)
    nerwin.train(out=tmp_path / "frozen", epochs=1, quiet=True, target="LOC", fine_tune=False)
    frozen = nerwin.load(tmp_path / "frozen").graph(SENTENCE, 0, step=0.05)
    for w in frozen.step["words"]:
        assert w["moves"] == (w["word"] in ("<s>", "</s>", "<UNK>")), w
        assert (w["distance"] > 0) == w["moves"]


def test_bad_arguments_name_themselves(taggers):
    t = taggers["binary", False]
    with pytest.raises(NerwinError, match="token 9 is out of range"):
        t.graph("Paris is nice", 9)
    with pytest.raises(NerwinError, match="label 'PER' is not a label"):
        t.graph("Paris is nice", 0, label="PER")
    with pytest.raises(NerwinError, match="no tokens"):
        t.graph("   ", 0)
    with pytest.raises(NerwinTypeError, match="token must be an integer"):
        t.graph("Paris", True)
    with pytest.raises(NerwinError, match="step"):
        t.graph("Paris", 0, step=0)


def test_the_command_prints_forward_then_backward_and_writes_json_and_a_page(models, tmp_path):
    r = run("graph", SENTENCE, "--token", 0, "--model", models["binary"], "--step", 0.1,
            "--html", tmp_path / "g.html")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.index("forward:") < out.index("backward:") < out.index("numerical check") < out.index("one SGD step")
    assert "z̄ = δ = h̄ ∘ f′(z)" in out and "x̄ = δ_window = Wᵀ z̄" in out and "a branch" in out
    page = (tmp_path / "g.html").read_text()
    assert "<svg" in page and 'data-node="z"' in page and "showGraph(" in page
    r = run("graph", "Paris is </script><b>x</b>", "--token", 0, "--model", models["binary"], "--json")
    d = json.loads(r.stdout)
    names = [n["name"] for n in d["nodes"]]
    assert names[-1] == "J" and {"x", "W", "z", "h", "s"} <= set(names)
    assert {e["to"] for e in d["edges"]} <= set(names) and {e["from"] for e in d["edges"]} <= set(names)
    W = next(n for n in d["nodes"] if n["name"] == "W")
    assert np.array(W["grad"]).shape == tuple(W["shape"])          # the full arrays
    assert_clean_error(run("graph", "Paris", "--token", 3, "--model", models["binary"]), "--token", "out of range")
    assert_clean_error(run("graph", "Paris", "--token", 0, "--label", "B-XYZ", "--model", models["sentence"]),
                       "--label")


def test_an_escaped_page(models, tmp_path):
    r = run("graph", "</script><script>alert(1)</script> Paris", "--token", 0, "--model", models["binary"],
            "--html", tmp_path / "g.html")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "g.html").read_text()
    assert "<script>alert(1)" not in page


def test_only_padding_is_named_pad(taggers):
    t = taggers["softmax", True]
    maxes = [n.name for n in t.graph("Barack Obama met Angela Merkel in Berlin on Monday .", 6).nodes if n.gate == "max"]
    assert maxes == ["r[Merkel]", "r[in]", "r[Berlin]", "r[on]", "r[Monday]"]
    assert "r[pad]" in [n.name for n in t.graph("Berlin", 0).nodes]
