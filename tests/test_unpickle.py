"""The .kv reader (vectors/unpickle.py): its own small machine over pickle's opcodes, which builds only
what gensim writes. Every protocol of a real gensim file reads with gensim's values; everything a
hostile pickle can try is refused by name, before anything runs, in bounded memory and time."""
import copyreg
import gzip
import os
import pickle
import pickletools
import time

import numpy as np
import pytest

from nerwin.vectors.unpickle import Refused, load

from conftest import SAMPLE_WORDS, Payload, assert_clean_error, gensim_kv, run, train_into

gensim = pytest.importorskip("gensim")
from gensim.models import KeyedVectors  # noqa: E402
from nerwin.errors import NerwinError
from nerwin.vectors import open_store

WORDS = ["paris", "lima", "rome"]


def keyed(dtype="float32"):
    kv = KeyedVectors(4)
    kv.add_vectors(WORDS, np.arange(12, dtype=dtype).reshape(3, 4) / 7)
    return kv


@pytest.mark.parametrize("protocol", range(6))
def test_every_protocol_of_a_gensim_file_reads_with_its_values(protocol):
    kv = keyed()
    obj = load(pickle.dumps(kv, protocol=protocol))
    assert obj.gensim_class == ("gensim.models.keyedvectors", "KeyedVectors")
    assert obj.index_to_key == WORDS and obj.key_to_index == kv.key_to_index
    np.testing.assert_array_equal(obj.vectors, kv.vectors)


def test_what_gensims_own_save_writes_reads(tmp_path):
    kv = keyed()
    kv.save(str(tmp_path / "v.kv"))
    obj = load((tmp_path / "v.kv").read_bytes())
    np.testing.assert_array_equal(obj.vectors, kv.vectors)
    big = np.arange(6, dtype=">f4").reshape(2, 3)                        # a byte order other than this machine's
    np.testing.assert_array_equal(load(pickle.dumps(big, protocol=2)), big)


class Runs:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", range(6))
def test_a_global_outside_the_list_is_refused_in_every_protocol(tmp_path, protocol):
    marker = tmp_path / "ran"
    with pytest.raises(Refused, match="names (posix|os|nt).system"):
        load(pickle.dumps(Runs(marker), protocol=protocol))
    assert not marker.exists()


def raw(*ops: bytes) -> bytes:
    return b"\x80\x02" + b"".join(ops) + b"."


@pytest.mark.parametrize("data,words", [
    (raw(b"cbuiltins\neval\n"), "builtins.eval"),
    (raw(b"cnumpy\nndarray\n", b"K\x05\x85", b"\x81"), "makes a numpy.ndarray"),           # NEWOBJ on ndarray
    (raw(b"ccollections\nOrderedDict\n", b")R", b"}", b"b"), "BUILD on a dict"),             # BUILD on an allowed class
    (raw(b"cbuiltins\nobject\n", b")R"), "calls builtins.object"),
    (raw(b"X\x01\x00\x00\x001", b"Q"), "BINPERSID"),                                       # a persistent id
    (raw(b"\x82\x01"), "EXT1"),                                                            # the extension registry
    (raw(b"(", b"i__builtin__\nobject\n"), "INST"),
    (raw(b"h\x07"), "a memo it never stored"),
    (raw(b"cnumpy\ndtype\n", b"X\x02\x00\x00\x00O8\x89\x88\x87R"), "not vectors"),         # an object array
    (raw(b"cbuiltins\nlist\n", b"cbuiltins\nrange\n", b"J\x00\xe1\xf5\x05\x85R\x85R"), "builtins.range"),
    (b"\x80\x02" + b"(" * 20_000 + b".", "deeper than"),
])
def test_what_gensim_never_writes_is_refused_by_name(data, words):
    with pytest.raises(Refused, match=words):
        load(data)


def test_an_array_whose_shape_lies_about_its_bytes_is_refused():
    data = bytearray(pickle.dumps(np.zeros(4, np.float32), protocol=2))
    i = data.index(pickle.BININT1 + b"\x04")                            # the shape (4,)
    data[i + 1] = 200
    with pytest.raises(Refused, match="needs 800 bytes"):
        load(bytes(data))


def test_an_extension_code_that_names_an_allowed_class_is_still_refused():
    copyreg.add_extension("gensim.models.keyedvectors", "KeyedVectors", 0x4242)
    try:
        data = pickle.dumps(keyed(), protocol=2)
    finally:
        copyreg.remove_extension("gensim.models.keyedvectors", "KeyedVectors", 0x4242)
    assert any(op.name.startswith("EXT") for op, _, _ in pickletools.genops(data))
    with pytest.raises(Refused, match="EXT"):
        load(data)


def test_memory_and_time_stay_linear_in_the_file():
    many = pickle.dumps({f"w{i}": [i, float(i), str(i)] for i in range(200_000)}, protocol=4)
    t0 = time.perf_counter()
    assert len(load(many)) == 200_000
    assert time.perf_counter() - t0 < 30                                 # linear; a generous bound for CI


def test_hostile_kv_files_through_the_cli(tmp_path):
    marker = tmp_path / "ran"
    for protocol in (2, 3, 4, 5):                   # protocols 0 and 1 do not even look like a .kv file
        kv = tmp_path / f"evil{protocol}.kv"
        kv.write_bytes(pickle.dumps(Runs(marker), protocol=protocol))
        assert_clean_error(run("train", "--vectors", kv, "--out", tmp_path / "m"), kv.name, "could run code")
        assert_clean_error(run("train", "--vectors", kv, "--vectors-format", "kv", "--out", tmp_path / "m"),
                           kv.name, "could run code")
    kv.write_bytes(pickle.dumps(Runs(marker), protocol=0))
    assert_clean_error(run("train", "--vectors", kv, "--vectors-format", "kv", "--out", tmp_path / "m"), kv.name)
    assert not marker.exists()


def test_a_sidecar_that_is_a_fifo_or_a_device_is_refused(tmp_path):
    kv = keyed()
    kv.save(str(tmp_path / "v.kv"), sep_limit=0)
    side = tmp_path / "v.kv.vectors.npy"
    side.unlink()
    os.mkfifo(side)
    r = run("train", "--vectors", tmp_path / "v.kv", "--epochs", "1", "--out", tmp_path / "m")
    assert_clean_error(r, "v.kv", "not a regular file")
    side.unlink()
    side.symlink_to("/dev/zero")
    assert_clean_error(run("train", "--vectors", tmp_path / "v.kv", "--out", tmp_path / "m"), "not a regular file")


def test_a_gensim3_kv_file_loads_without_running_code(tmp_path, monkeypatch):
    """gensim 3 pickled a Vocab object per word and the vectors as syn0/vectors with index2word."""
    import gensim.models.keyedvectors as gkv

    class Vocab:                                  # written under gensim 3's name for it
        def __init__(self, **kw):
            self.__dict__.update(kw)
    Vocab.__module__, Vocab.__qualname__ = "gensim.models.keyedvectors", "Vocab"
    monkeypatch.setattr(gkv, "Vocab", Vocab)
    words = ["paris", "is", "big"]
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4)
    kv = gkv.KeyedVectors.__new__(gkv.KeyedVectors)
    kv.__dict__ = {"vocab": {w: Vocab(index=i, count=10 - i) for i, w in enumerate(words)},
                   "index2word": words, "vector_size": 4, "vectors": vecs, "vectors_norm": None}
    path = tmp_path / "old.kv"
    with open(path, "wb") as f:
        pickle.dump(kv, f, protocol=2)
    monkeypatch.undo()
    from nerwin.vectors import open_store
    store, rec = open_store(str(path))
    assert rec["format"] == "kv"
    got = store.lookup(["big", "paris", "nope"])
    assert got.keys() == {"big", "paris"}
    np.testing.assert_array_equal(got["big"], vecs[2])


def test_pickled_kv_is_refused_not_run(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))
    f = tmp_path / "evil.kv"
    f.write_bytes(pickle.dumps(Evil()))
    assert_clean_error(train_into(tmp_path / "m", "--vectors", f), str(f), "refusing to load")
    assert not (tmp_path / "pwned").exists()


def test_a_kv_sidecar_with_a_pickled_payload_is_refused(tmp_path):
    marker = tmp_path / "MARKER"
    kv = tmp_path / "v.kv"
    gensim_kv(kv, sidecar=True)
    np.save(f"{kv}.vectors.npy", np.array([Payload(marker)], dtype=object), allow_pickle=True)
    for args in (["train", "--vectors", kv, "--epochs", "1", "--out", tmp_path / "m"],
                 ["predict", "--model", tmp_path / "none", "--vectors", kv]):
        r = run(*args, stdin="Paris\n")
        assert r.returncode == 2 and "Traceback" not in r.stderr
    assert not marker.exists()


@pytest.mark.parametrize("attr", ["__scipys", "__recursive_saveloads"])
def test_a_kv_that_asks_to_load_more_objects_is_refused(tmp_path, attr):
    from gensim.models import KeyedVectors
    kv = KeyedVectors(4)
    kv.add_vectors(SAMPLE_WORDS, np.ones((len(SAMPLE_WORDS), 4), np.float32))
    kv.__dict__[attr] = ["vectors"]
    with open(tmp_path / "v.kv", "wb") as f:
        pickle.dump(kv, f, protocol=2)
    with pytest.raises(NerwinError, match=attr):
        open_store(str(tmp_path / "v.kv"))


def test_a_kv_pickle_naming_code_is_refused(tmp_path):
    marker = tmp_path / "MARKER"
    with open(tmp_path / "v.kv", "wb") as f:
        pickle.dump({"vectors": Payload(marker)}, f)
    assert_clean_error(run("train", "--vectors", tmp_path / "v.kv", "--out", tmp_path / "m"), "v.kv", "os")
    assert not marker.exists()


def test_a_compressed_kv_is_named_as_such(tmp_path):
    kv = tmp_path / "v.kv"
    gensim_kv(kv, sidecar=False)
    gz = tmp_path / "v.kv.gz"
    gz.write_bytes(gzip.compress(kv.read_bytes()))
    assert_clean_error(train_into(tmp_path / "m", "--vectors", gz), str(gz), "compressed gensim .kv",
                       "decompress it first")
    assert set(open_store(str(kv))[0].lookup(["paris"])) == {"paris"}
