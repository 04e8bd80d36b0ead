"""Model directories whose config lies (model/window_model.py, model/checkpoint.py): each lie is
refused at load with a message naming the field, before the arrays it describes are read."""
import io
import json
import subprocess
import sys
import zipfile

import pytest

import nerwin
from nerwin.errors import NerwinError

from conftest import DATA, assert_clean_error, gensim_kv, load_arrays, Payload, rewrite_config, run
import numpy as np
from nerwin.model import checkpoint


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
    (("vectors", "format"), "pickle", "vectors must record"),         # named the --vectors-format flag
    (("vectors", "source"), "/etc/hostname", "vectors must record"),   # a path with the built-in cache's format
    # a class with a line break wrote lines of its own into predict's CoNLL; without its I- tag
    # decoding crashed; two alike tagged as one
    (("classes",), ["O", "B-LOC\nX\tB-PER", "I-LOC\nX\tB-PER", "B-PER", "I-PER", "B-ORG", "I-ORG"], "without tabs or line breaks"),
    (("classes",), ["O", "B-LOC", "I-FOO", "B-PER", "I-PER", "B-ORG", "I-ORG"], "B-T, I-T for each type T"),
    (("classes",), ["O", "B-LOC", "I-LOC", "B-LOC", "I-LOC", "B-ORG", "I-ORG"], "distinct"),
    (("classes",), ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-ORG"], "B-T, I-T for each type T"),
    (("target",), "LOC\nX", "target must be a non-empty string without tabs or line breaks"),
])
def test_a_config_that_lies_is_refused_naming_the_field(models, tmp_path, path, value, words):
    src = models["sentence"]
    d = rewrite_config(src, tmp_path / "m", setter(path, value))
    with pytest.raises(NerwinError, match=words) as e:
        nerwin.load(d)
    assert "model.npz" in str(e.value)
    assert_clean_error(run("predict", "--model", d, stdin="Paris .\n"), "model.npz")


def test_a_vocabulary_that_lists_a_word_twice_is_refused(models, tmp_path):
    # the later row would silently win: the same word, another vector than the one trained
    d = rewrite_config(models["sentence"], tmp_path / "m",
                       lambda c: c.__setitem__("vocabulary", c["vocabulary"][:4] + c["vocabulary"][3:-1]))
    with pytest.raises(NerwinError, match="lists a word twice"):
        nerwin.load(d)


def test_unknown_features_and_missing_ones_are_refused(models, tmp_path):
    d = rewrite_config(models["sentence"], tmp_path / "a", lambda c: c["features"].update(spellcheck={}))
    with pytest.raises(NerwinError, match="unknown features spellcheck"):
        nerwin.load(d)
    for k, lists in enumerate([{}, {"LOC": ["New  York"]}, {"LOC": ["New York\t"]}]):    # entries: tokens and single spaces
        d = rewrite_config(models["sentence"], tmp_path / f"g{k}",
                           lambda c: c["features"].update(gazetteer={"lists": lists}))
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


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from test_fuzz import tiny_model
    d = tmp_path_factory.mktemp("tiny")
    tiny_model(str(d / "bin"), True)
    tiny_model(str(d / "all"), False)
    return d


def mutate(src, dst, **changes):
    z = dict(np.load(src / "model.npz"))
    cfg = json.loads(z.pop("config_json").tobytes())
    for k, v in changes.items():
        if k in ("window", "activation", "hidden"):
            cfg["settings"][k] = v
        else:
            cfg[k] = v
    dst.mkdir()
    (dst / "config.json").write_text("{}")
    with open(dst / "model.npz", "wb") as f:
        np.savez(f, config_json=np.frombuffer(json.dumps(cfg).encode(), np.uint8), **z)
    return dst


@pytest.mark.parametrize("kind,changes,words", [
    ("bin", {"activation": "swish"}, "activation"),
    ("bin", {"classes": ["O", "B-LOC", "I-LOC"]}, "softmax head"),
    ("bin", {"head": "binary", "classes": ["O", "B-LOC", "I-LOC"]}, "binary model has no classes"),
    ("bin", {"head": "crf"}, "unknown head"),
    ("all", {"classes": ["O", 3, None]}, "classes"),
    ("bin", {"window": -1}, "window"),
    ("bin", {"nerwin_version": "abc"}, "version"),
])
def test_config_that_makes_no_sense_is_refused_on_load(tiny, tmp_path, kind, changes, words):
    d = mutate(tiny / kind, tmp_path / "m", **changes)
    with pytest.raises(NerwinError, match=words):
        load_arrays(d)
    assert_clean_error(run("predict", "--model", d, stdin="Paris is big .\n"), "model.npz", words)


def test_version_parsing_refuses_garbage():
    with pytest.raises(ValueError):
        checkpoint._newer("abc")
    assert checkpoint._newer("99.0.0") and not checkpoint._newer("0.0.1")


def damaged_copy(good, dest, mutate):
    import shutil
    shutil.copytree(good, dest)
    with np.load(dest / "model.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    config = json.loads(arrays["config_json"].tobytes())
    mutate(arrays, config)
    arrays["config_json"] = np.frombuffer(json.dumps(config).encode(), np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (dest / "model.npz").write_bytes(buf.getvalue())
    return dest


def test_bad_model_dirs(tmp_path, loc_model):
    def newer(a, c):
        c["nerwin_version"] = "99.0.0"

    def shapes(a, c):
        a["W"] = a["W"][:, :-1]

    def pickled(a, c):
        a["evil"] = np.array([object()], dtype=object)

    cases = [(damaged_copy(loc_model, tmp_path / "newer", newer), "newer than this nerwin"),
             (damaged_copy(loc_model, tmp_path / "shapes", shapes), "array W has shape"),
             (damaged_copy(loc_model, tmp_path / "pickled", pickled), "pickled")]
    for d, expect in cases:
        r = run("predict", "--model", d, stdin="Paris\n")
        assert_clean_error(r, "model.npz", expect)
    for missing in ("model.npz", "config.json"):
        import shutil
        d = tmp_path / f"no-{missing}"
        shutil.copytree(loc_model, d)
        (d / missing).unlink()
        assert_clean_error(run("predict", "--model", d, stdin="Paris\n"), missing, "missing")


def test_a_model_directory_whose_vectors_source_is_crafted_runs_nothing(tmp_path, loc_model):
    """A downloaded model names a .kv shipped beside it; predict opens that source for unseen words."""
    import shutil
    d = tmp_path / "downloaded"
    shutil.copytree(loc_model, d)
    kv = d / "vectors.kv"
    gensim_kv(kv, sidecar=True)
    marker = tmp_path / "MARKER"
    np.save(f"{kv}.vectors.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    z = dict(np.load(d / "model.npz"))
    cfg = json.loads(z.pop("config_json").tobytes())
    cfg["vectors"] = {"source": str(kv), "format": "kv", "limit": None}
    cfg["dim"] = cfg["dim"]
    with open(d / "model.npz", "wb") as f:
        np.savez(f, config_json=np.frombuffer(json.dumps(cfg).encode(), np.uint8), **z)
    r = run("predict", "--model", d, stdin="Zanzibar is far .\n")
    assert not marker.exists()
    assert_clean_error(r, "vectors.kv")          # a source that exists and fails is said, not swallowed


def test_an_npz_member_that_lies_about_its_size_is_refused_before_decompressing(tmp_path, loc_model):
    """A member whose header says 10 floats but which expands to 400 MB of zeros."""
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10,)})
    with zipfile.ZipFile(d / "model.npz", "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("W.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            chunk = bytes(1 << 20)
            for _ in range(400):
                f.write(chunk)
    assert (d / "model.npz").stat().st_size < 2_000_000
    code = """
import sys
from nerwin.model import WindowModel
from nerwin.errors import NerwinError
from nerwin.model import checkpoint
try:
    WindowModel.load(sys.argv[1])
except NerwinError as e:
    print(e)
print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))   # kB, this process only
"""
    r = subprocess.run([sys.executable, "-c", code, str(d)], capture_output=True, text=True)
    msg, rss_kb = r.stdout.strip().splitlines()
    assert "declares" in msg and "W" in msg
    assert int(rss_kb) < 250_000, rss_kb


def test_a_type_with_a_space_trains_saves_and_loads(tmp_path):
    """Tab-separated CoNLL may name a type "LOC CITY": it is a class like any other (only a tab or
    a line break could break predict's CoNLL lines), and predict writes it back."""
    text = (DATA / "train.conll").read_text()
    f = tmp_path / "t.conll"
    f.write_text("\n".join(l.replace("\tB-LOC", "\tB-LOC CITY").replace("\tI-LOC", "\tI-LOC CITY") if l.endswith("LOC")
                           else l for l in text.splitlines()) + "\n")
    r = run("train", "--train", f, "--target", "all", "--epochs", "2", "--out", tmp_path / "m", "-q")
    assert r.returncode == 0, r.stderr
    t = nerwin.load(tmp_path / "m")
    assert "B-LOC CITY" in t.labels
    r = run("predict", "--model", tmp_path / "m", stdin="Anna flew to Paris .\n")
    assert r.returncode == 0 and all(len(l.split("\t")) == 3 for l in r.stdout.splitlines() if l), r.stdout
