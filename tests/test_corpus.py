import json
import time

import pytest

from nerwin.text.corpus import entity_types, read_conll
from nerwin.text.schemes import binary_labels
from nerwin.errors import NerwinError
from nerwin.text.tokenize import tokenize

from conftest import DATA, assert_clean_error, corpus, load_arrays, run, train_into
from nerwin.model import WindowModel

CONLL2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER
visited VBD B-VP O
BRUSSELS NNP B-NP I-LOC
Paris NNP I-NP B-LOC

-DOCSTART- -X- -X- O

Rome NNP B-NP I-LOC
"""


def test_conll2003_layout(tmp_path):
    f = tmp_path / "c03.txt"
    f.write_text(CONLL2003)
    sents = read_conll(f)
    assert [s.tokens[0] for s in sents] == ["EU", "Peter", "Rome"]
    assert sents[1].tags == ["I-PER", "I-PER", "O", "I-LOC", "B-LOC"]
    assert entity_types(sents) == ["ORG", "MISC", "PER", "LOC"]
    assert binary_labels(sents[1].tags, "loc") == [0, 0, 0, 1, 1]


def test_bom_crlf_whitespace_separators_and_empty_token(tmp_path):
    f = tmp_path / "x.conll"
    f.write_bytes("\ufeffNew\tB-LOC\r\nYork\tI-LOC\r\n\t\r\n\tO\r\nhi\tO\r\n   \r\n".encode())
    sents = read_conll(f)
    assert [s.tokens for s in sents] == [["New", "York"], ["", "hi"]]


def test_a_spreadsheets_empty_last_column_is_no_tag(tmp_path):
    """A TSV saved from a spreadsheet ends each line in a tab: the tag was read as empty."""
    f = tmp_path / "x.conll"
    f.write_text("Paris\tNNP\tB-LOC\t\nis\tVBZ\tO\t \t\n\nhi\tO\n\n")
    assert [(s.tokens, s.tags) for s in read_conll(f)] == [(["Paris", "is"], ["B-LOC", "O"]), (["hi"], ["O"])]
    f.write_text("Paris\t\t\n")
    with pytest.raises(NerwinError, match=":1: one column"):
        read_conll(f)


def test_columns_split_at_spaces_not_inside_a_token_at_a_no_break_space(tmp_path, loc_model):
    """As conlleval splits them: "5\u00a0000" (French thousands) is one token, and predict writes
    it back whole; it read as "5", and the rest of the token was lost from the output."""
    f = tmp_path / "x.conll"
    f.write_text("Il O\na  O\n5\u00a0000 O\nfans O\n\u00a0Paris   B-LOC\n\nnew\u3000york\tB-LOC\n\n", encoding="utf-8")
    sents = read_conll(f)
    assert [s.tokens for s in sents] == [["Il", "a", "5\u00a0000", "fans", "Paris"], ["new\u3000york"]]
    assert [s.tags for s in sents] == [["O", "O", "O", "O", "B-LOC"], ["B-LOC"]]
    r = run("predict", "--model", loc_model, "--input-format", "conll", f)
    assert r.returncode == 0, r.stderr
    assert [l.split("\t")[0] for l in r.stdout.splitlines() if l] == ["Il", "a", "5\u00a0000", "fans", "Paris",
                                                                      "new\u3000york"]


def test_comment_lines_of_conllu_and_multiconer_are_skipped_and_predict_writes_them_back(tmp_path, loc_model):
    """MultiCoNER's `# id <uuid>\tdomain=en` read as a token "#" tagged with a type "domain=en"
    in every sentence; CoNLL-U's `# sent_id = 1` as a bad tag. A token "#" is still a token."""
    f = tmp_path / "x.conll"
    f.write_text("# id 3c1f-1\tdomain=en\nParis _ _ B-LOC\n# O\n\n# sent_id = 2\n# text = # is big\n#\t_\t_\tO\n"
                 "is\t_\t_\tO\n\n", encoding="utf-8")
    sents = read_conll(f)
    assert [(s.tokens, s.tags, s.line) for s in sents] == [(["Paris", "#"], ["B-LOC", "O"], 2), (["#", "is"], ["O", "O"], 7)]
    assert entity_types(sents) == ["LOC"]
    r = run("predict", "--model", loc_model, "--input-format", "conll", f)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "# id 3c1f-1\tdomain=en" and lines[4:6] == ["# sent_id = 2", "# text = # is big"]
    assert [l.split("\t")[0] for l in lines] == ["# id 3c1f-1", "Paris", "#", "", "# sent_id = 2", "# text = # is big",
                                                "#", "is", "", ""]
    r = run("predict", "--model", loc_model, "--input-format", "conll", "--output-format", "jsonl", f)
    assert [json.loads(l)["tokens"] for l in r.stdout.splitlines()] == [["Paris", "#"], ["#", "is"]]


@pytest.mark.parametrize("content", ['[{"text": "Paris is big", "label": [[0, 5, "LOC"]]}]\n',
                                     '{"text": "Paris is big", "spans": [{"start": 0, "end": 5, "label": "LOC"}]}\n',
                                     '[\n  {\n    "text": "Paris is big"\n  }\n]\n'])
def test_json_or_csv_given_as_conll_is_named_as_such(tmp_path, content):
    """A Label Studio or Doccano export (or spaCy's JSONL under another name) read as CoNLL: the
    error said the target was missing and listed the type `"LOC"]]}]`. A CSV is one column."""
    f = tmp_path / "train.json"
    f.write_text(content)
    assert_clean_error(run("train", "--train", f, "--out", tmp_path / "m", "--epochs", "1"), "train.json:1",
                       "is JSON, not CoNLL", ".jsonl")
    c = tmp_path / "train.csv"
    c.write_text("Paris,B-LOC\nis,O\n")
    assert_clean_error(run("train", "--train", c, "--out", tmp_path / "m", "--epochs", "1"), "train.csv:1",
                       "one column ('Paris,B-LOC')", "not commas (a CSV file?)")
    h = tmp_path / "header.tsv"                              # a spreadsheet's header row is no sentence
    h.write_text("Word\tPOS\tTag\t\nParis\tNNP\tB-LOC\t\n\nword\tNN\tO\t\n")
    assert [(s.tokens, s.tags) for s in read_conll(h)] == [(["Paris"], ["B-LOC"]), (["word"], ["O"])]
    g = tmp_path / "brackets.conll"                          # bracket tokens are tokens
    g.write_text("{\tO\nParis\tB-LOC\n}\tO\n\n[ O\n] O\n")
    assert [s.tokens for s in read_conll(g)] == [["{", "Paris", "}"], ["[", "]"]]


def test_unknown_prefix_and_one_column_name_the_line(tmp_path):
    f = tmp_path / "bad.conll"
    f.write_text("a\tO\nb\tX-LOC\n")
    with pytest.raises(NerwinError, match=r"bad.conll:2: unknown tag 'X-LOC'"):
        read_conll(f)
    f.write_text("a\tO\n\nlonely\n")
    with pytest.raises(NerwinError, match=r"bad.conll:3: one column"):
        read_conll(f)
    f.write_text("a\tO\n\nb\tO\nc\tB-LO\u2028C\n")          # the model would be refused at load
    with pytest.raises(NerwinError, match=r"bad.conll:4: entity type 'LO\\u2028C' holds a line break"):
        read_conll(f)


@pytest.mark.parametrize("name,split,sents,tokens", [
    ("btc", "train", 6338, 99933), ("btc", "test", 2001, 35428),
    ("wnut17", "train", 3394, 62730), ("wnut17", "dev", 1009, 15733)])
def test_real_corpora_read_as_documented(name, split, sents, tokens):
    got = read_conll(corpus(name, split))
    assert len(got) == sents
    assert sum(len(s.tokens) for s in got) == tokens


def test_tokenizer_matches_corpus_and_vector_conventions():
    assert tokenize("Hi @bob, see https://t.co/x!") == ["Hi", "@bob", ",", "see", "https://t.co/x", "!"]
    assert tokenize("The museums in Paris are amazing.") == ["The", "museums", "in", "Paris", "are", "amazing", "."]
    assert tokenize("I don't know, it's Mr. Smith of the U.S.") == \
        ["I", "do", "n't", "know", ",", "it", "'s", "Mr.", "Smith", "of", "the", "U.S."]
    assert tokenize("3,000 or 1.5 co-op #tag2 :) (see www.x.org).") == \
        ["3,000", "or", "1.5", "co-op", "#tag2", ":)", "(", "see", "www.x.org", ")", "."]
    assert tokenize("can't won't O'Brien") == ["ca", "n't", "wo", "n't", "O'Brien"]


def test_the_tokenizer_keeps_ellipses_e_mail_addresses_and_latin_1_words_whole():
    assert tokenize("Wait... what?") == ["Wait", "...", "what", "?"]
    assert tokenize("mail anna.b@example.com, or @bob.") == ["mail", "anna.b@example.com", ",", "or", "@bob", "."]
    assert tokenize("caf\ufffd au lait") == ["caf\ufffd", "au", "lait"]          # Latin-1 é read as UTF-8


def test_plain_text_is_not_taken_for_conll(tmp_path):
    from nerwin.errors import NerwinError
    f = tmp_path / "text.conll"
    f.write_text("The cat sat on the mat .\nA dog ran !\n")
    with pytest.raises(NerwinError, match=r"text.conll:1: tag '\.' names no entity type"):
        read_conll(f)
    f.write_text("\n".join(f"a w{i} w{i + 1}" for i in range(300)))           # every last word a "type"
    with pytest.raises(NerwinError, match="looks like text, not CoNLL"):
        read_conll(f)


TRAIN = DATA / "train.conll"


@pytest.mark.parametrize("name,content,expect", [
    ("empty.conll", b"", "no sentences"),
    ("nul.conll", b"a\tO\n\x00\x01\x02\tO\n", ":2: binary data"),
    ("latin1.conll", "caf\u00e9\tO\n".encode("latin-1"), "UTF-8"),
    ("onecol.conll", b"a\tO\n\nlonely\n", ":3: one column"),
    ("prefix.conll", b"a\tO\nb\tX-LOC\n", ":2: unknown tag 'X-LOC'"),
])
def test_bad_conll(tmp_path, name, content, expect):
    f = tmp_path / name
    f.write_bytes(content)
    r = train_into(tmp_path / "m", "--train", f)
    assert_clean_error(r, str(f), expect)
    assert not (tmp_path / "m").exists()          # nothing created, not even the directory


# every file nerwin reads, with the text it expects -> the command that reads it from {f}
READERS = {
    "train": (TRAIN.read_text(), ["train", "--train", "{f}", "--out", "{out}", "--epochs", "1", "-q"]),
    "evaluate": (TRAIN.read_text(), ["evaluate", "--model", "{model}", "{f}"]),
    "predict text": ("Anna flew to Lima .\n", ["predict", "--model", "{model}", "{f}", "--output-dir", "{out}"]),
    "predict conll": (TRAIN.read_text(), ["predict", "--model", "{model}", "--input-format", "conll", "{f}",
                                          "--output-dir", "{out}"]),
    "convert jsonl": ('{"text": "in Paris", "spans": []}\n', ["convert", "{f}", "{out}.conll"]),
    "gazetteer": ("Paris\nLima\n", ["train", "--gazetteer", "LOC={f}", "--out", "{out}", "--epochs", "1", "-q"]),
    "vectors": ("paris 0.1 0.2\nlima 0.2 0.1\n", ["train", "--vectors", "{f}", "--out", "{out}", "--epochs", "1",
                                                  "-q"]),
    "drift words": ("train LOC paris\ntest LOC lima\n", ["drift-demo", "--words", "{f}"]),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_named_as_such_by_every_reader(tmp_path, loc_model, reader, encoding):
    """A Windows editor's "Unicode" (UTF-16 with a byte-order mark) is text, not binary data:
    each reader says what it is and how to convert it, and writes nothing."""
    text, args = READERS[reader]
    f = tmp_path / ("in.jsonl" if "jsonl" in reader else "in.txt")
    f.write_bytes("\ufeff".encode(encoding) + text.encode(encoding))
    out = tmp_path / "out"
    r = run(*[a.format(f=f, out=out, model=loc_model) for a in args])
    assert_clean_error(r, f"{f}:1: UTF-16 text; save the file as UTF-8")
    assert [p.name for p in tmp_path.iterdir()] == [f.name]


def test_a_jsonl_file_that_is_not_utf8_is_a_clean_error(tmp_path):
    f = tmp_path / "latin1.jsonl"
    f.write_bytes('{"text": "caf\u00e9 in Paris", "spans": []}\n'.encode("latin-1"))
    assert_clean_error(run("convert", f, tmp_path / "out.conll"), f"{f}: not valid UTF-8 near line 1")
    assert not (tmp_path / "out.conll").exists()


def test_missing_conll_and_missing_target(tmp_path):
    assert_clean_error(train_into(tmp_path / "m", "--train", tmp_path / "nope.conll"), "nope.conll", "no such file")
    r = train_into(tmp_path / "m", "--target", "DISEASE")
    assert_clean_error(r, "train.conll", "DISEASE", "types found: ")


def test_bom_crlf_and_a_10k_token_sentence_work(tmp_path):
    lines = TRAIN.read_text().split("\n")
    long = "".join(f"w{i % 50}\t{'B-LOC' if i % 7 == 0 else 'O'}\r\n" for i in range(10_000))
    f = tmp_path / "crlf.conll"
    f.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n" + long.encode())
    r = train_into(tmp_path / "m", "--train", f, "--dev", DATA / "dev.conll")
    assert r.returncode == 0, r.stderr
    assert load_arrays(tmp_path / "m")[0]["W"].shape == (100, WindowModel.load(tmp_path / "m").input_width)


def test_lowercase_o_a_bom_in_the_middle_and_nul_input(tmp_path, loc_model):
    f = tmp_path / "c.conll"
    f.write_bytes("\ufeffParis\tb-loc\nis\to\n\n".encode() + "\ufeff-DOCSTART-\tO\n\nRome\tB-LOC\nok\tO\n".encode())
    sents = read_conll(f)
    assert [s.tokens for s in sents] == [["Paris", "is"], ["Rome", "ok"]]
    from nerwin.text.corpus import entity_types
    assert entity_types(sents) == ["loc", "LOC"]              # `o` is O, not a type named o
    t0 = time.perf_counter()
    r = run("predict", "/dev/zero", "--model", loc_model)
    assert_clean_error(r, "/dev/zero", "NUL")
    r = run("evaluate", "/dev/zero", "--model", loc_model)
    assert_clean_error(r, "/dev/zero", "NUL")
    assert time.perf_counter() - t0 < 30


COMPRESSORS = {"gz": "gzip", "bz2": "bz2", "xz": "lzma"}


@pytest.mark.parametrize("ext", sorted(COMPRESSORS))
def test_a_compressed_corpus_reads_as_its_plain_text(tmp_path, ext, loc_model):
    import importlib
    plain = corpus("btc", "dev")
    packed = tmp_path / f"dev.conll.{ext}"
    packed.write_bytes(importlib.import_module(COMPRESSORS[ext]).compress(plain.read_bytes()))
    a, b = read_conll(packed), read_conll(plain)
    assert len(a) == len(b) > 1000
    assert [(s.tokens, s.tags, s.line) for s in a] == [(s.tokens, s.tags, s.line) for s in b]
    r = run("evaluate", packed, "--model", loc_model, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == json.loads(run("evaluate", plain, "--model", loc_model, "--json").stdout)


def test_a_damaged_or_piped_compressed_corpus_is_one_line_naming_it(tmp_path):
    import gzip
    import subprocess
    import sys
    packed = gzip.compress(corpus("btc", "dev").read_bytes())
    cut = tmp_path / "cut.conll.gz"
    cut.write_bytes(packed[:len(packed) // 2])
    with pytest.raises(NerwinError, match=r"cut\.conll\.gz: cannot read near line \d+ \(Compressed file ended"):
        read_conll(cut)
    r = subprocess.run([sys.executable, "-m", "nerwin", "train", "--train", "-", "--epochs", "1", "--out",
                        tmp_path / "m"], input=packed, capture_output=True)
    assert r.returncode == 2 and b"Traceback" not in r.stderr, r.stderr
    assert b"is compressed (gzip, bzip2 or xz); give the file's name" in r.stderr, r.stderr
    twice = tmp_path / "twice.conll.gz"
    twice.write_bytes(gzip.compress(packed))
    with pytest.raises(NerwinError, match=r"twice\.conll\.gz: is compressed twice; decompress it once first"):
        read_conll(twice)


def test_a_text_file_that_starts_like_bzip2_is_text(tmp_path):
    f = tmp_path / "bzh.conll"
    f.write_text("BZh9\tO\nParis\tB-LOC\n")            # bzip2's first four bytes, but text
    assert read_conll(f)[0].tokens == ["BZh9", "Paris"]


def hf_records(sents, tags=lambda s: s.tags) -> str:
    return "".join(json.dumps({"id": str(k), "tokens": s.tokens, "ner_tags": tags(s)}) + "\n"
                   for k, s in enumerate(sents))


def test_hugging_face_token_classification_jsonl_reads_as_its_conll_without_spacy(tmp_path, loc_model):
    import subprocess
    import sys
    src = corpus("btc", "dev")                    # an empty token too, which no spaCy Doc could hold
    gold = read_conll(src)
    f = tmp_path / "dev.jsonl"
    f.write_text(hf_records(gold), encoding="utf-8")
    code = ("import sys, json; sys.modules['spacy'] = None; from nerwin.text.corpus import read_conll; "
            "print(json.dumps([[s.tokens, s.tags, s.line] for s in read_conll(sys.argv[1])]))")
    r = subprocess.run([sys.executable, "-c", code, str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [[s.tokens, s.tags, k] for k, s in enumerate(gold, 1)]
    ev = run("evaluate", f, "--model", loc_model, "--json")                  # evaluate reads .jsonl gold too
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout) == json.loads(run("evaluate", src, "--model", loc_model, "--json").stdout)


@pytest.mark.parametrize("record, says", [
    ({"tokens": ["EU", "rejects"], "ner_tags": [3, 0]}, "the ner_tags are numbers, the ids of a Hugging Face"),
    ({"tokens": ["EU", "rejects"], "ner_tags": ["B-ORG"]}, "1 ner_tags for 2 tokens"),
    ({"tokens": ["EU", "rejects"], "tags": ["B-ORG", "X-Y"]}, "tag 2: unknown tag 'X-Y'"),
    ({"tokens": ["EU", 7], "ner_tags": ["B-ORG", "O"]}, '"tokens" must be a list of strings'),
    ({"tokens": ["EU"], "ner_tags": ["B-OR\nG"]}, "tag 1 is 'B-OR\\nG'"),
])
def test_a_bad_hugging_face_record_names_its_line(tmp_path, record, says):
    f = tmp_path / "train.jsonl"
    f.write_text(hf_records(read_conll(corpus("wnut17", "dev"))[:2]) + json.dumps(record) + "\n")
    with pytest.raises(NerwinError) as e:
        read_conll(f)
    assert str(e.value).startswith(f"{f}:3: ") and says in str(e.value), str(e.value)
