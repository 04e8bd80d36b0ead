"""Model directories whose config lies (model/window_model.py, model/checkpoint.py): each lie is
refused at load with a message naming the field, before the arrays it describes are read."""
import pytest

import nerwin
from nerwin.errors import NerwinError

from conftest import assert_clean_error, rewrite_config, run


def setter(path, value):
    def change(cfg):
        *where, last = path
        d = cfg
        for k in where:
            d = d[k]
        d[last] = value
    return change


@pytest.mark.parametrize("path,value,words", [
    (("head",), "crf", "unknown head 'crf'"),
    (("temperature",), 0, "temperature"),
    (("temperature",), -1.5, "temperature"),
    (("temperature",), float("nan"), "temperature"),
    (("temperature",), 1e308, "temperature"),
    (("temperature",), "1", "temperature"),
    (("model", "chars"), 64, "array W\\w* has shape"),                  # filters the npz does not hold
    (("model", "char_dim"), 99, "array Ech has shape"),
    (("model", "hidden"), 7, "array W has shape"),
    (("model", "window"), 9, "array W has shape"),
    (("model", "casing"), -3, "casing"),
    (("dim",), 10 ** 9, "dim"),
    (("features", "chars", "chars"), [chr(0x10000 + i) for i in range(1_000_000)], "array Ech has shape"),
    (("features", "chars", "chars"), ["ab"], "single characters"),
    (("features", "chars"), None, "chars must be"),
    (("model", "nonsense"), 1, "not model settings"),
    (("vocabulary",), ["a", "b"], "vocabulary"),
])
def test_a_config_that_lies_is_refused_naming_the_field(models, tmp_path, path, value, words):
    src = models["sentence"]
    d = rewrite_config(src, tmp_path / "m", setter(path, value))
    with pytest.raises(NerwinError, match=words) as e:
        nerwin.load(d)
    assert "model.npz" in str(e.value)
    assert_clean_error(run("predict", "--model", d, stdin="Paris .\n"), "model.npz")


def test_unknown_features_and_missing_ones_are_refused(models, tmp_path):
    d = rewrite_config(models["sentence"], tmp_path / "a", lambda c: c["features"].update(spellcheck={}))
    with pytest.raises(NerwinError, match="unknown features spellcheck"):
        nerwin.load(d)
    d = rewrite_config(models["sentence"], tmp_path / "g", lambda c: c["features"].update(gazetteer={"lists": {}}))
    with pytest.raises(NerwinError, match="gazetteer must hold lists"):
        nerwin.load(d)
    d = rewrite_config(models["sentence"], tmp_path / "b", lambda c: c["features"].pop("casing"))
    with pytest.raises(NerwinError, match="lists no casing feature"):
        nerwin.load(d)


def test_a_model_of_this_version_loads_and_one_of_a_newer_is_refused(models, tmp_path):
    assert nerwin.load(models["binary"]).tag("Paris").tokens == ["Paris"]
    d = rewrite_config(models["binary"], tmp_path / "new", setter(("nerwin_version",), "99.0.0"))
    with pytest.raises(NerwinError, match="newer than this nerwin"):
        nerwin.load(d)
