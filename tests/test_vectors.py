import numpy as np
import pytest

from nerwin.errors import NerwinError
from nerwin.vectors import default_cache, open_store

from conftest import write_vectors

WORDS = ["the", "Paris", "paris", "new york", "tv"]


@pytest.fixture
def vecs():
    return np.random.default_rng(0).normal(size=(len(WORDS), 7)).astype(np.float32)


@pytest.mark.parametrize("fmt,name", [("word2vec-bin", "v.dat"), ("word2vec-text", "v.txt"),
                                      ("glove", "v.vec")])
def test_formats_detected_from_content_and_read(tmp_path, vecs, fmt, name):
    # the extensions deliberately mislead: detection reads the bytes
    # only GloVe text (no header) may hold a word with a space, as GloVe 840B does
    words = WORDS if fmt == "glove" else [w for w in WORDS if " " not in w]
    v = vecs[: len(words)]
    path = write_vectors(tmp_path / name, words, v, fmt)
    store, rec = open_store(str(path))
    assert rec["format"] == fmt and store.dim == 7
    got = store.lookup(["Paris", "tv", "absent"])
    assert set(got) == {"Paris", "tv"}
    np.testing.assert_allclose(got["tv"], v[words.index("tv")], atol=1e-6)
    assert set(store.lookup(["the", "tv"], limit=2)) == {"the"}   # limit: only the first N rows


def test_kv_and_forced_format(tmp_path, vecs):
    from gensim.models import KeyedVectors
    kv = KeyedVectors(7)
    kv.add_vectors(WORDS, vecs)
    kv.save(str(tmp_path / "v.kv"))
    store, rec = open_store(str(tmp_path / "v.kv"))
    assert rec["format"] == "kv"
    np.testing.assert_allclose(store.lookup(["paris"])["paris"], vecs[2])
    txt = write_vectors(tmp_path / "w.bin", WORDS, vecs, "word2vec-text")
    store, rec = open_store(str(txt), "word2vec-text")
    assert rec["format"] == "word2vec-text"


def test_default_glove_is_cached_once_and_memory_mapped(nerwin_cache):
    store, rec = open_store(None)
    assert rec["source"] == "glove-6B-50d" and store.dim == 50
    assert default_cache().parent == nerwin_cache and (default_cache() / "vectors.npy").exists()
    assert isinstance(store.vectors, np.memmap) and store.vectors.shape == (400_000, 50)
    tv = store.lookup(["tv", "television", "Television"])
    assert set(tv) == {"tv", "television"}          # GloVe 6B is lowercased
    cos = tv["tv"] @ tv["television"] / np.linalg.norm(tv["tv"]) / np.linalg.norm(tv["television"])
    assert cos > 0.7


def test_bad_vector_files_name_the_row(tmp_path, vecs):
    p = write_vectors(tmp_path / "v.bin", WORDS, vecs, "word2vec-bin")
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(NerwinError, match="v.bin: file ends inside row 5"):
        open_store(str(p))[0].lookup(["tv"])
    t = write_vectors(tmp_path / "v.txt", WORDS, vecs, "word2vec-text")
    lines = t.read_text().splitlines()
    lines[1] = lines[1].rsplit(" ", 1)[0]                 # row 1 loses a value
    t.write_text("\n".join(lines) + "\n")
    with pytest.raises(NerwinError, match=r"v.txt:2: row 1 has 6 values, expected 7"):
        open_store(str(t))[0].lookup(["tv"])
    lines = t.read_text().splitlines()
    lines[1] = "the " + " ".join(["nan"] * 7)
    t.write_text("\n".join(lines) + "\n")
    with pytest.raises(NerwinError, match=r"row 1 \('the'\) holds NaN or inf"):
        open_store(str(t))[0].lookup(["the"])
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(NerwinError, match="empty vectors file"):
        open_store(str(tmp_path / "e.txt"))


@pytest.mark.parametrize("fmt", ["word2vec-bin", "word2vec-text", "glove"])
def test_offset_index_gives_the_same_rows_as_streaming(tmp_path, fmt):
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(500)] + ["Paris", "paris", "naïve"]
    vecs = rng.normal(size=(len(words), 5)).astype(np.float32)
    path = write_vectors(tmp_path / "v", words, vecs, fmt)
    store, _ = open_store(str(path))
    ask = ["naïve", "w7", "Paris", "absent", "w499"]
    assert not (store.index_dir() / "keys.npy").exists()
    streamed = store.lookup(ask)
    assert (store.index_dir() / "keys.npy").exists()
    seeked = store.lookup(ask)
    assert set(streamed) == set(seeked) == {"naïve", "w7", "Paris", "w499"}
    for w in seeked:
        np.testing.assert_array_equal(streamed[w], seeked[w])
        np.testing.assert_allclose(seeked[w], vecs[words.index(w)], atol=1e-5)
    assert set(store.lookup(["w0", "w9", "w10"], limit=10)) == {"w0", "w9"}
    # a changed file gets a new index, never stale offsets
    old = store.index_dir()
    write_vectors(path, words[::-1], vecs[::-1], fmt)
    store2, _ = open_store(str(path))
    assert store2.index_dir() != old
    np.testing.assert_allclose(store2.lookup(["w7"])["w7"], vecs[7], atol=1e-5)
