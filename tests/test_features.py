"""The word-feature interface: a new feature is one file and one line that registers it. A small
feature defined here, a fixed function of the token with no parameters, goes through training,
saving, loading, tagging, explain and the gradient check without any other change."""
import numpy as np
import pytest

import nerwin
from nerwin.model import WindowModel
from nerwin.nn import features as registry, gradcheck, heads, layers, optim
from nerwin.nn.features.base import WordFeature
from nerwin import settings
from nerwin.text.windows import window_matrix

from conftest import DATA


class Length(WordFeature):
    """Two fixed numbers per word: log(1 + its length) and whether it holds a digit."""
    name = "length"

    @classmethod
    def enabled(cls, s, inputs=None):
        return True

    def parts(self):
        return [("L", 2, "length")]

    def ids(self, token_lists, w):
        values = {t: (np.log1p(len(t)), float(any(c.isdigit() for c in t)))
                  for toks in token_lists for t in toks}
        table = np.array([(0.0, 0.0), *values.values()])                  # row 0: the padding
        row = {t: i for i, t in enumerate(values, 1)}
        slots = window_matrix([[row[t] for t in toks] for toks in token_lists], w, 0, 0)
        return table[slots]                                                # (N, n, 2)

    def forward(self, p, ids, state=None):
        return [(ids.reshape(len(ids), -1).astype(p["W"].dtype), None)]

    def backward(self, d_parts, caches, p):
        return {}


@pytest.fixture
def with_length(monkeypatch):
    monkeypatch.setitem(registry.FEATURES, "length", Length)     # the one line a new feature adds
    return Length


def test_a_new_feature_trains_saves_loads_tags_and_explains(with_length, tmp_path):
    tagger, metrics = nerwin.train(out=tmp_path / "m", target="all", epochs=2, quiet=True)
    m = tagger.model
    assert [f.name for f in m.features][-1] == "length"
    assert m.input_width == 5 * (50 + 5 + 32 + 2)                      # word, casing, characters, length
    assert m.params["W"].shape == (100, m.input_width)
    again = nerwin.load(tmp_path / "m")
    text = "Anna flew to Paris on 12 May ."
    assert again.tag(text).probs == tagger.tag(text).probs
    assert "length" in again.config["features"]
    parts = again.explain(text, token=3)[0]["window"][2]["parts"]
    assert set(parts) == {"word", "casing", "chars", "length"} and parts["length"] != 0.0


def test_without_its_registration_such_a_model_is_refused(with_length, tmp_path, monkeypatch):
    nerwin.train(out=tmp_path / "m", target="LOC", epochs=1, quiet=True)
    monkeypatch.delitem(registry.FEATURES, "length")
    with pytest.raises(nerwin.NerwinError, match="unknown features length"):
        nerwin.load(tmp_path / "m")


def test_gradients_flow_past_a_new_feature(with_length):
    from nerwin.tools.gradcheck import real_windows
    from nerwin.vectors import open_store
    sents, types, E, X, features, feats, must, _ = real_windows(DATA / "train.conll", open_store(None)[0],
                                                                settings.Settings.of(seed=0))
    assert features[-1].name == "length"
    y = heads.choose(types[0], types, "window").gold(x.tags for x in sents)
    p, Es, ids, yk, fs, head = gradcheck.sample_problem(E, X, y, hidden=4, K=3, seed=1, features=features,
                                                        feats=feats, must=must)
    errs = gradcheck.check(p, Es, ids, yk, head, "tanh", 1e-2, None, features, fs)
    assert max(errs.values()) < 1e-7, errs


def test_the_model_decides_the_input_width_from_its_features(tmp_path):
    tagger, _ = nerwin.train(out=tmp_path / "m", target="all", epochs=1, affixes=3, quiet=True)
    m = WindowModel.load(tmp_path / "m")
    assert m.slot_width == 50 + sum(f.width for f in m.features) == 50 + 5 + 2 * 3 + 32
    assert m.shapes()["W"] == m.params["W"].shape == (100, m.input_width)
    assert set(m.row_tables()) == {"Pre", "Suf", "Ech"}


def test_settings_choices_are_the_registries():
    assert settings.ACTIVATIONS == tuple(layers.ACTIVATIONS)
    assert settings.OPTIMIZERS == optim.OPTIMIZERS
    assert settings.LOSSES == heads.LOSSES and set(heads.LOSSES) == {"auto", *(h.loss_name for h in heads.HEADS.values())}
