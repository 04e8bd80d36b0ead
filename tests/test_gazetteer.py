"""Gazetteers: longest-match marks in linear time, lists that travel in the model, and clear errors."""
import time
from pathlib import Path

import numpy as np
import pytest

import nerwin
from nerwin.errors import NerwinError
from nerwin.text.gazetteer import MAX_ENTRIES, NONE, Matcher, read_gazetteers, read_list

from conftest import assert_clean_error, load_arrays, run

LISTS = {"LOC": ["New York", "New York City", "York", "Paris"], "ORG": ["New York Times", "paris saint-germain"]}


def decode(m: Matcher, marks):
    return [m.name(k) for k in marks]


def test_longest_match_left_to_right_with_exact_case():
    m = Matcher(LISTS)
    toks = "I read the New York Times in new york city near Paris Saint-Germain fans in York".split()
    got = dict(zip(range(len(toks)), decode(m, m.marks(toks))))
    assert [got[i] for i in (3, 4, 5)] == ["ORG B, exact case", "ORG I, exact case", "ORG I, exact case"]
    assert [got[i] for i in (7, 8, 9)] == ["LOC B", "LOC I", "LOC I"]          # the longest entry, any case
    assert [got[i] for i in (11, 12)] == ["ORG B", "ORG I"]                      # lower-case entry, cased text
    assert got[15] == "LOC B, exact case" and got[0] == "none"
    assert m.marks([]) == []
    # a token that holds a space (one from the API) is no entry's two tokens, nor part of one
    assert decode(m, m.marks(["New York", "City"])) == ["none", "none"]
    assert decode(m, m.marks(["New", "York City"])) == ["none", "none"]
    assert decode(m, m.marks(["in", "\t", "Paris"])) == ["none", "none", "LOC B, exact case"]


def brute_force(lists, toks):
    """Longest match by trying every entry at every position: the specification, quadratic."""
    entries = [(k, e.split()) for k, t in enumerate(lists) for e in lists[t]]
    out, i = [NONE] * len(toks), 0
    while i < len(toks):
        best = None
        for k, e in entries:
            if [x.lower() for x in toks[i:i + len(e)]] == [x.lower() for x in e] and (best is None or len(e) > len(best[1])):
                best = (k, e)
        if best is None:
            i += 1
            continue
        k, e = next((k2, e2) for k2, e2 in entries if [x.lower() for x in e2] == [x.lower() for x in best[1]])
        exact = any(k3 == k and len(e3) == len(e) and toks[i:i + len(e3)] == e3 for k3, e3 in entries)
        for j in range(len(e)):
            out[i + j] = 2 + 4 * k + (0 if j == 0 else 1) + (2 if exact else 0)
        i += len(e)
    return out


def test_marks_agree_with_brute_force_on_random_sentences():
    rng = np.random.default_rng(0)
    vocab = ["new", "New", "york", "York", "city", "City", "paris", "Paris", "times", "Times", "x", "saint-germain"]
    m = Matcher(LISTS)
    for _ in range(500):
        toks = list(rng.choice(vocab, size=rng.integers(0, 12)))
        assert m.marks(toks) == brute_force(LISTS, toks), toks


def test_matching_is_linear_in_sentence_length():
    m = Matcher({"LOC": [f"place {i}" for i in range(100_000)]})
    times = []
    for n in (2_000, 20_000):
        toks = ["place", "7"] * (n // 2)
        t0 = time.perf_counter()
        m.marks(toks)
        times.append(time.perf_counter() - t0)
    assert times[1] < 30 * times[0] + 0.05, times           # ten times the words: about ten times the time


@pytest.fixture(scope="module")
def gz(tmp_path_factory):
    d = tmp_path_factory.mktemp("gaz")
    (d / "places.txt").write_text("Paris\nNew York City\n\nBerlin\nParis\n", encoding="utf-8")
    (d / "people.txt").write_text("Angela Merkel\n", encoding="utf-8")
    nerwin.train(out=d / "m", target="all", epochs=2, quiet=True, chars=0,
                 gazetteers=[f"LOC={d / 'places.txt'}", f"per={d / 'people.txt'}"])
    return d


def test_the_lists_travel_in_the_model_and_tag_without_the_files(gz, tmp_path):
    p, E, vocab, config, _ = load_arrays(gz / "m")
    assert config["features"]["gazetteer"]["lists"] == {"LOC": ["Paris", "New York City", "Berlin"],
                                                        "PER": ["Angela Merkel"]}
    assert p["G"].shape == (2 + 4 * 2, 5)
    t = nerwin.load(gz / "m")
    before = t.tag("Angela Merkel flew to New York City .")
    (gz / "places.txt").rename(tmp_path / "gone.txt")
    try:
        again = nerwin.load(gz / "m").tag("Angela Merkel flew to New York City .")
    finally:
        (tmp_path / "gone.txt").rename(gz / "places.txt")
    assert again.labels == before.labels and again.probs == before.probs
    rows = t.explain("Angela Merkel flew to New York City .", token=4)
    assert "gazetteer" in rows[0]["window"][0]["parts"]
    g = t.graph("Angela Merkel flew to New York City .", 4)
    assert g.node("G[LOC B, exact case]").gate == "param" and max(g.check.values()) < 1e-6


def test_a_100k_entry_list_keeps_the_model_under_10_mb(tmp_path):
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    entries = {" ".join("".join(rng.choice(letters, 7)) for _ in range(rng.integers(1, 4))) for _ in range(100_000)}
    (tmp_path / "big.txt").write_text("\n".join(sorted(entries)) + "\n")
    nerwin.train(out=tmp_path / "m", epochs=1, quiet=True, gazetteers={"LOC": tmp_path / "big.txt"})
    size = sum(f.stat().st_size for f in (tmp_path / "m").iterdir())
    assert size < 10e6, size
    assert len(load_arrays(tmp_path / "m")[3]["features"]["gazetteer"]["lists"]["LOC"]) == len(entries)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"), (b"\n  \n", "is empty"), (b"Paris\nBer\0lin\n", ":2: holds a NUL byte"),
    (b"Paris\n\xff\xfe\n", ":2: is not UTF-8"), (b" ".join([b"a"] * 21) + b"\n", ":1: an entry of 21 tokens"),
    (b"Paris\n" + "\u00e9".encode() * 1001 + b"\n", ":2: an entry of 1,001 characters"),
    (b"Paris\n" + b"x" * 20_000_000, ":2: a line longer than 4,005 bytes"),     # not read whole
])
def test_bad_lists_name_the_file_and_line(tmp_path, content, message):
    f = tmp_path / "list.txt"
    f.write_bytes(content)
    with pytest.raises(NerwinError, match=message):
        read_gazetteers([f"LOC={f}"], ["LOC"])
    r = run("train", "--gazetteer", f"LOC={f}", "--epochs", "1", "--out", tmp_path / "m")
    assert_clean_error(r, str(f), message.lstrip(":0123456789 "))


def test_an_entry_of_1000_characters_is_kept_with_its_bom_and_crlf(tmp_path):
    """The longest entry fits in the bytes a line is read to, in 4-byte UTF-8 and CRLF; a file
    with CR line endings reads line by line, not as one line over the bound."""
    f = tmp_path / "list.txt"
    f.write_bytes(b"\xef\xbb\xbf" + "\U0001f600".encode() * 1000 + b"\r\n" + b"  Paris   \r\n")
    assert read_list(f) == ["\U0001f600" * 1000, "Paris"]
    f.write_bytes(b"Paris\rNew  York\r\rBerlin" * 1000)           # CR alone ends a line, as in corpora
    assert read_list(f) == ["Paris", "New York", "BerlinParis", "Berlin"]      # each once


def test_a_bom_is_no_part_of_an_entry(tmp_path):
    # Windows editors start a list with EF BB BF, and lists are often joined; the corpus reader
    # drops a BOM wherever a line starts, and so does the list's
    f = tmp_path / "list.txt"
    f.write_bytes(b"\xef\xbb\xbfParis\nNew York\n\xef\xbb\xbfRome\n")
    lists = read_gazetteers([f"LOC={f}"], ["LOC"])
    assert lists == {"LOC": ["Paris", "New York", "Rome"]}
    m = Matcher(lists)
    assert decode(m, m.marks(["Paris", "and", "Rome"])) == ["LOC B, exact case", "none", "LOC B, exact case"]


def test_an_unknown_type_or_spec_or_missing_file(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("Paris\n")
    with pytest.raises(NerwinError, match="XYZ is not an entity type of the training file; it has"):
        read_gazetteers([f"XYZ={f}"], ["LOC", "PER"])
    with pytest.raises(NerwinError, match="TYPE=FILE"):
        read_gazetteers([str(f)], ["LOC"])
    with pytest.raises(NerwinError, match="no such gazetteer file"):
        read_gazetteers([f"LOC={tmp_path / 'nope.txt'}"], ["LOC"])
    for odd in (tmp_path, Path("/dev/zero")):
        with pytest.raises(NerwinError, match="is a pipe, a device or a directory; give the gazetteer file itself"):
            read_gazetteers([f"LOC={odd}"], ["LOC"])
    with pytest.raises(TypeError, match="gazetteers must be"):
        nerwin.train(out=tmp_path / "m", gazetteers=str(f), quiet=True)
    assert_clean_error(run("train", "--gazetteer", "LOC", "--out", tmp_path / "m"), "TYPE=FILE")


def test_ten_million_entries_are_refused_at_a_bound(tmp_path):
    f = tmp_path / "huge.txt"
    with open(f, "w") as out:
        for i in range(MAX_ENTRIES + 10):
            out.write(f"p{i}\n")
    t0 = time.perf_counter()
    with pytest.raises(NerwinError, match=f":{MAX_ENTRIES + 1}: more than 1,000,000 entries"):
        read_gazetteers([f"LOC={f}"], ["LOC"])
    assert time.perf_counter() - t0 < 30


def test_a_saved_list_is_checked_as_the_reader_writes_entries():
    """well_formed's one regular expression against the definition, entry by entry: the reader's
    " ".join(line.split()), never empty; on random lists of letters, spaces and other whitespace."""
    import random
    from nerwin.text.gazetteer import well_formed
    rng = random.Random(0)
    alphabet = ["a", "B", "é", " ", "\n", "\t", "\r", "\xa0", "\x1c", "\u2028", "\u200b"]
    for _ in range(20_000):
        v = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 5))) for _ in range(rng.randint(1, 3))]
        assert well_formed(v) == all(e.strip() and " ".join(e.split()) == e for e in v), v
    assert not well_formed([]) and not well_formed("New York") and not well_formed(["Paris", 3])


def test_a_compressed_list_reads_as_its_plain_text_and_a_damaged_one_names_its_line(tmp_path):
    import gzip
    import lzma
    text = "\n".join(["Paris", "New  York", "Lima\r", "Buenos Aires"] + [f"Town {i}" for i in range(30000)]) + "\n"
    plain, packed, xz = tmp_path / "g.txt", tmp_path / "g.txt.gz", tmp_path / "g.xz"
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode()))
    xz.write_bytes(lzma.compress(text.encode()))
    assert read_list(packed) == read_list(xz) == read_list(plain)
    assert read_list(plain)[:4] == ["Paris", "New York", "Lima", "Buenos Aires"]
    cut = tmp_path / "cut.gz"
    cut.write_bytes(packed.read_bytes()[:len(packed.read_bytes()) // 2])
    with pytest.raises(NerwinError, match=r"cut\.gz:\d+: cannot read \(Compressed file ended"):
        read_list(cut)
    twice = tmp_path / "twice.gz"
    twice.write_bytes(gzip.compress(packed.read_bytes()))
    with pytest.raises(NerwinError, match=r"twice\.gz: is compressed twice; decompress it once first"):
        read_list(twice)
