"""Arbitrary bytes into every reader: nothing but nerwin's own input error may escape.

A few hundred examples in CI; NERWIN_FUZZ_EXAMPLES=10000 for a long run.
"""
import io
import json
import os
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerwin.model import checkpoint

from conftest import load_arrays
from nerwin.text.corpus import iter_conll
from nerwin.errors import NerwinError
from nerwin.text.tokenize import tokenize
from nerwin.vectors import FORMATS, open_store

N = int(os.environ.get("NERWIN_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck))

# bytes that look like the real thing often enough to get past the first check
conll_like = st.lists(st.one_of(
    st.sampled_from([b"Paris\tB-LOC\n", b"in O\n", b"\n", b"  \t\n", b"-DOCSTART- -X- O O\n", b"x\tI-PER\r\n",
                     b"\tO\n", b"a b c I-ORG\n", b"\xef\xbb\xbf", b"w\tX-LOC\n", b"lonely\n", b"\x00", b"\xff"]),
    st.binary(max_size=20)), max_size=30).map(b"".join)
vec_like = st.lists(st.one_of(
    st.sampled_from([b"3 4\n", b"2 2\n", b"the 0.1 0.2 0.3 0.4\n", b"paris 1 2 3 4\n", b"nan inf 1\n",
                     b"a " + np.ones(4, "<f4").tobytes() + b"\n", b"\x80\x04", b"999999999 5\n", b"1 100001\n"]),
    st.binary(max_size=24)), max_size=12).map(b"".join)


def tmpfile(data: bytes, name: str):
    import tempfile
    d = tempfile.mkdtemp()
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(data)
    return p


@FUZZ
@given(conll_like)
def test_conll_reader(data):
    p = tmpfile(data, "f.conll")
    try:
        for s in iter_conll(p):
            assert len(s.tokens) == len(s.tags) > 0
    except NerwinError as e:
        assert str(e).startswith(p)


@FUZZ
@given(st.text())
def test_tokenizer(text):
    toks = tokenize(text)
    assert all(t and not any(c.isspace() for c in t) for t in toks if not t.startswith("http"))


@FUZZ
@given(vec_like, st.sampled_from([None, *FORMATS]))
def test_vector_readers(data, fmt):
    p = tmpfile(data, "v.bin")
    try:
        store, _ = open_store(p, fmt)
        got = store.lookup(["the", "paris", "a"])
        assert all(v.shape == (store.dim,) and np.isfinite(v).all() for v in got.values())
    except NerwinError as e:
        assert p in str(e)


def model_bytes(data: bytes, kind: int) -> bytes:
    """Raw bytes, or an npz whose members or config are fuzzed."""
    if kind == 0:
        return data
    buf = io.BytesIO()
    if kind == 1:
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("W.npy", data)
            z.writestr("config_json.npy", data[::-1])
    else:
        cfg = {"nerwin_version": "0.1.0", "settings": {"window": data[0] % 3 if data else 0, "hidden": 2,
               "activation": "tanh"}, "dim": 2, "vocabulary": ["<UNK>", "<s>", "</s>"], "target": "LOC"}
        arrays = {"E": np.zeros((3, 2), np.float32), "W": np.zeros((2, 2), np.float32), "b": np.zeros(2),
                  "u": np.zeros(2), "c": np.zeros(())}
        np.savez(buf, config_json=np.frombuffer(json.dumps(cfg).encode() + data, np.uint8), **arrays)
    return buf.getvalue()


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 2))
def test_model_loader(data, kind):
    p = tmpfile(model_bytes(data, kind), "model.npz")
    d = os.path.dirname(p)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write("{}")
    try:
        load_arrays(d)
    except NerwinError as e:
        assert d in str(e)


def tiny_model(tmp: str, binary: bool) -> None:
    """A real, complete model directory small enough to mutate thousands of times."""
    from nerwin.text.windows import SHAPES
    rng = np.random.default_rng(0)
    words = ["<UNK>", "<s>", "</s>", "paris", "is", "big"]
    classes = None if binary else ["O", "B-LOC", "I-LOC"]
    K = 1 if binary else 3
    params = {"W": rng.normal(size=(2, 3 * 6)).astype(np.float32), "b": np.zeros(2, np.float32),
              "C": rng.normal(size=(len(SHAPES), 2)).astype(np.float32)}
    params.update({"u": np.ones(2, np.float32), "c": np.zeros((), np.float32)} if binary else
                  {"V": np.ones((K, 2), np.float32), "c": np.zeros(K, np.float32)})
    cfg = {"settings": {"window": 1, "hidden": 2, "activation": "tanh", "casing": 2, "loss": "window"},
           "target": "LOC" if binary else "all", "classes": classes, "dim": 4,
           "vectors": {"source": "/nonexistent/vectors.txt", "format": "glove", "limit": None}}
    # the config layout of 0.2 (every setting under "settings"), which loading still reads
    checkpoint.save(tmp, {**params, "E": rng.normal(size=(6, 4)).astype(np.float32)}, dict(cfg, vocabulary=words))


json_values = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=True) | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                           max_leaves=8)


class _Marker:
    """Unpickling this would create the marker file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


pickle_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.binary(max_size=8),
                             lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c, max_size=4),
                             max_leaves=10)


@FUZZ
@given(st.dictionaries(st.sampled_from(["vector_size", "index_to_key", "index2word", "vocab", "vectors", "syn0",
                                        "__numpys", "__scipys", "__recursive_saveloads", "key_to_index", "norms"]),
                       pickle_values, max_size=6),
       st.booleans(), st.sampled_from(["vectors", "syn0", "other"]), st.binary(max_size=64), st.booleans())
def test_kv_reader_with_crafted_pickles_and_sidecars(state, with_vectors, sidecar_name, sidecar, payload):
    """A gensim-shaped pickle with any attributes, an optional sidecar of any bytes or a pickled
    payload: nerwin reads it or refuses it with its own error, and nothing runs."""
    import pickle
    from gensim.models import KeyedVectors
    d = tempfile.mkdtemp()
    marker = os.path.join(d, "MARKER")
    kv = KeyedVectors(2)
    kv.add_vectors(["a", "b"], np.ones((2, 2), np.float32))
    kv.__dict__.update(state)
    if with_vectors:
        kv.__dict__["__numpys"] = [sidecar_name]
        kv.__dict__.pop(sidecar_name, None)
    p = os.path.join(d, "v.kv")
    with open(p, "wb") as f:
        pickle.dump(kv, f, protocol=2)
    side = f"{p}.{sidecar_name}.npy"
    if payload:
        np.save(side, np.array([_Marker(marker)], dtype=object), allow_pickle=True)
    else:
        with open(side, "wb") as f:
            f.write(sidecar)
    try:
        store, _ = open_store(p)
        got = store.lookup(["a", "b", "c"])
        assert all(np.isfinite(v).all() or True for v in got.values())
    except NerwinError as e:
        assert p in str(e)
    assert not os.path.exists(marker)


@pytest.mark.filterwarnings("ignore:Duplicate name")
@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["W", "b", "E", "u", "c", "config_json"]),
                          st.lists(st.integers(0, 6), max_size=3), st.sampled_from(["<f4", "<f8", "|u1", "|O"]),
                          st.integers(-64, 1 << 16)), min_size=1, max_size=4))
def test_npz_members_whose_size_lies(members):
    """Each member's header declares a shape; its stored size is that, or more, or less."""
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write("{}")
    with zipfile.ZipFile(os.path.join(d, "model.npz"), "w", zipfile.ZIP_DEFLATED) as z:
        for name, shape, descr, extra in members:
            head = io.BytesIO()
            np.lib.format.write_array_header_1_0(head, {"descr": descr, "fortran_order": False,
                                                        "shape": tuple(shape)})
            size = max(0, int(np.prod(shape)) * np.dtype(descr).itemsize + extra)
            z.writestr(f"{name}.npy", head.getvalue() + bytes(size))
    try:
        load_arrays(d)
    except NerwinError as e:
        assert d in str(e)


@FUZZ
@given(st.booleans(), st.sampled_from(["settings.window", "settings.hidden", "settings.activation", "settings.casing",
                                       "settings.loss", "target", "classes", "dim", "vocabulary", "nerwin_version",
                                       "vectors", "vectors.source", "vectors.limit", "vectors.format", "settings"]),
       json_values)
def test_model_config_fields_mutated(binary, field, value):
    """Any value in any config field: loading refuses it with NerwinError, or the model tags text."""
    from nerwin.apply.tagger import Tagger
    with tempfile.TemporaryDirectory() as d:
        tiny_model(d, binary)
        z = dict(np.load(os.path.join(d, "model.npz")))
        cfg = json.loads(z.pop("config_json").tobytes())
        node, *rest = field.split(".")
        if rest:
            if not isinstance(cfg[node], dict):
                return
            cfg[node][rest[0]] = value
        else:
            cfg[node] = value
        with open(os.path.join(d, "model.npz"), "wb") as f:
            np.savez(f, config_json=np.frombuffer(json.dumps(cfg).encode(), np.uint8), **z)
        try:
            doc = Tagger.load(d).tag("Paris is big .")
        except NerwinError:
            return
        assert len(doc.labels) == 4
