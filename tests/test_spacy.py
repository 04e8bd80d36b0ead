"""nerwin inside spaCy: the pipeline component, and the converters both ways."""
import json
import shutil

import pytest

spacy = pytest.importorskip("spacy")

import nerwin  # noqa: E402
from nerwin.text.corpus import read_conll  # noqa: E402
from nerwin.text.schemes import spans  # noqa: E402
from spacy.tokens import Doc, Span  # noqa: E402

from conftest import DATA, assert_clean_error, corpus, run  # noqa: E402


def sample_docs(nlp, n):
    sents = [s for s in read_conll(corpus("btc", "test")) if s.tokens and all(t.strip() for t in s.tokens)][:n]
    return sents, [Doc(nlp.vocab, words=s.tokens) for s in sents]


def test_doc_ents_are_the_taggers_entities_on_spacys_tokens(models):
    nlp = spacy.blank("en")
    nlp.add_pipe("nerwin", config={"model": str(models["sentence"])})
    tagger = nerwin.load(models["sentence"])
    sents, docs = sample_docs(nlp, 400)
    piped = list(nlp.pipe([Doc(nlp.vocab, words=s.tokens) for s in sents], batch_size=64))
    n = 0
    for s, doc, p in zip(sents, docs, piped):
        doc = nlp(doc)
        mine = tagger.tag(s.tokens)
        want = [(e.start, e.end, e.type) for e in mine.entities]
        assert [(e.start, e.end, e.label_) for e in doc.ents] == want
        assert [(e.start, e.end, e.label_) for e in p.ents] == want              # nlp.pipe == nlp(doc)
        assert [e._.confidence for e in doc.ents] == pytest.approx([e.confidence for e in mine.entities])
        n += len(want)
    assert n > 50


def test_text_through_spacys_tokenizer_and_displacy(models):
    nlp = spacy.blank("en")
    nlp.add_pipe("nerwin", config={"model": str(models["sentence"])})
    doc = nlp("Angela Merkel visited Paris on Monday.\n\nThen   Berlin.")
    assert all(not t.is_space for e in doc.ents for t in e)            # spaCy's whitespace tokens are skipped
    html = spacy.displacy.render(doc, style="ent")
    assert all(e.text in html for e in doc.ents)


def test_a_saved_pipeline_loads_and_tags_the_same_without_its_model_folder(models, tmp_path):
    shutil.copytree(models["softmax"], tmp_path / "model")
    nlp = spacy.blank("en")
    nlp.add_pipe("nerwin", config={"model": str(tmp_path / "model")})
    text = "Barack Obama met Angela Merkel in Berlin ."
    before = [(e.start, e.end, e.label_, e._.confidence) for e in nlp(text).ents]
    nlp.to_disk(tmp_path / "pipe")
    assert (tmp_path / "pipe" / "nerwin" / "model.npz").exists()          # the model travels inside the pipeline
    shutil.rmtree(tmp_path / "model")
    shutil.move(tmp_path / "pipe", tmp_path / "moved")
    again = spacy.load(tmp_path / "moved")
    assert [(e.start, e.end, e.label_, e._.confidence) for e in again(text).ents] == before
    again.to_disk(tmp_path / "twice")                                     # and saves again from there
    assert [(e.start, e.end) for e in spacy.load(tmp_path / "twice")(text).ents] == [b[:2] for b in before]


def test_entities_already_set_win_unless_overwrite_ents(models):
    for overwrite in (False, True):
        nlp = spacy.blank("en")
        nlp.add_pipe("nerwin", config={"model": str(models["sentence"]), "overwrite_ents": overwrite})
        doc = Doc(nlp.vocab, words="Angela Merkel visited Paris .".split())
        doc.ents = [Span(doc, 0, 2, label="RULE")]
        doc = nlp(doc)
        labels = {(e.start, e.end): e.label_ for e in doc.ents}
        if overwrite:
            assert labels.get((0, 2)) != "RULE"
        else:
            assert labels[(0, 2)] == "RULE"


def test_a_missing_or_broken_model_fails_at_add_pipe(tmp_path):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=str(tmp_path / "nope")):
        nlp.add_pipe("nerwin", config={"model": str(tmp_path / "nope")})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot load the model"):
        nlp.add_pipe("nerwin", name="n2", config={"model": str(tmp_path / "bad")})


@pytest.mark.parametrize("name, split", [("wnut17", "train"), ("wnut17", "dev"), ("wnut17", "test"), ("btc", "train"),
                                         ("wikigold", "test")])
@pytest.mark.parametrize("via", [".spacy", ".jsonl"])
def test_the_converters_round_trip_real_corpora_exactly(tmp_path, name, split, via):
    src = corpus(name, split)
    r = run("convert", src, tmp_path / f"x{via}")
    assert r.returncode == 0, r.stderr
    r = run("convert", tmp_path / f"x{via}", tmp_path / "back.conll")
    assert r.returncode == 0, r.stderr
    a, b = read_conll(src), read_conll(tmp_path / "back.conll")
    assert len(a) == len(b)
    assert all(x.tokens == y.tokens and spans(x.tags) == spans(y.tags) for x, y in zip(a, b))
    if via == ".jsonl":                          # the character offsets hold too, for tools that read only them
        for x, line in zip(a, (tmp_path / "x.jsonl").read_text(encoding="utf-8").splitlines()):
            r = json.loads(line)
            assert [(r["text"][e["start"]:e["end"]], e["label"]) for e in r["spans"]] == \
                [(" ".join(x.tokens[i:j]), t) for t, i, j in spans(x.tags)]


@pytest.mark.parametrize("via", [".spacy", ".jsonl"])
def test_btc_dev_and_test_hold_an_empty_token_spacy_cannot(tmp_path, via):
    assert_clean_error(run("convert", corpus("btc", "test"), tmp_path / f"x{via}"), "test.conll:13046", "empty")
    assert not (tmp_path / f"x{via}").exists()


def test_train_reads_a_docbin_and_spacy_jsonl(tmp_path):
    assert run("convert", DATA / "train.conll", tmp_path / "train.spacy").returncode == 0
    _, m = nerwin.train(train=tmp_path / "train.spacy", dev=DATA / "dev.conll", out=tmp_path / "m", epochs=1, quiet=True)
    _, m2 = nerwin.train(out=tmp_path / "m2", epochs=1, quiet=True)
    assert m["dev"]["f1"] == m2["dev"]["f1"]                              # the same data, the same model
    (tmp_path / "t.jsonl").write_text('{"text": "Anna flew to Lima .", "spans": [{"start": 13, "end": 17, '
                                      '"label": "LOC"}]}\n{"text": "Rome", "spans": [{"start": 0, "end": 4, '
                                      '"label": "LOC"}]}\n', encoding="utf-8")
    sents = read_conll(tmp_path / "t.jsonl")
    assert sents[0].tokens == ["Anna", "flew", "to", "Lima", "."] and sents[0].tags[3] == "B-LOC"
    (tmp_path / "bad.jsonl").write_text('{"text": "x"}\n{"spans": 3}\n')
    assert_clean_error(run("train", "--train", tmp_path / "bad.jsonl", "--out", tmp_path / "m3"), "bad.jsonl:2")


def test_entities_under_another_tools_key_are_refused_not_read_as_all_o(tmp_path):
    # spaCy v2's and Doccano's exports keep entities under "entities" or "label": read as spaCy's
    # JSONL they would silently become sentences without a single entity
    for key in ("entities", "label"):
        f = tmp_path / f"{key}.jsonl"
        f.write_text('{"text": "Rome", "spans": []}\n{"text": "Anna flew to Lima .", "%s": [[13, 17, "LOC"]]}\n' % key)
        for r in (run("convert", f, tmp_path / "x.conll"), run("train", "--train", f, "--out", tmp_path / "m")):
            assert_clean_error(r, f"{key}.jsonl:2", f"under '{key}'", '"spans"')
        assert not (tmp_path / "x.conll").exists() and not (tmp_path / "m").exists()


@pytest.mark.parametrize("record,words", [
    ('{"text": "Anna  flew to Paris .", "spans": [{"start": 15, "end": 90, "label": "LOC"}]}', "span 1 (start 15, end 90)"),
    ('{"text": "Anna flew to Paris .", "spans": [{"start": 14, "end": 3, "label": "LOC"}]}', "does not lie inside the text"),
    ('{"text": "Anna flew", "spans": [{"start": 4, "end": 5, "label": "PER"}]}', "only whitespace"),
    ('{"text": "Anna  flew", "spans": [{"start": 4, "end": 5, "label": "PER"}]}', "only whitespace"),
    ('{"text": "Anna", "spans": [{"start": "0", "end": 4, "label": "PER"}]}', "start '0'"),
    ('{"tokens": [{"text": "Rome"}, {"text": "is"}], "spans": [{"token_start": -1, "token_end": -1, "label": "LOC"}]}',
     "does not lie inside the tokens (2 tokens)"),
    ('{"tokens": [{"text": "Rome"}, {"text": "is"}], "spans": [{"token_start": 1, "token_end": 2, "label": "LOC"}]}',
     "token_end 2"),
])
def test_a_span_outside_its_text_is_an_error_at_its_line_not_dropped(tmp_path, record, words):
    # spaCy's char_span returns None past the text's end, and the entity used to vanish without a word
    f = tmp_path / "s.jsonl"
    f.write_text('{"text": "Rome", "spans": [{"start": 0, "end": 4, "label": "LOC"}]}\n' + record + "\n")
    assert_clean_error(run("convert", f, tmp_path / "x.conll"), "s.jsonl:2", words)
    assert not (tmp_path / "x.conll").exists()


@pytest.mark.parametrize("label", ["", " ", "LOC\nX", "LOC\t", "LOC\u2028X", None])
def test_a_label_a_conll_tag_cannot_be_is_an_error_at_its_line(tmp_path, label):
    """A label with a line break wrote a line of its own into the CoNLL output, one with a space
    a tag that reads back as another; an empty one made spaCy drop the entity without a word."""
    f = tmp_path / "s.jsonl"
    f.write_text('{"text": "Rome", "spans": [{"start": 0, "end": 4, "label": "LOC"}]}\n'
                 + json.dumps({"text": "Anna flew", "spans": [{"start": 0, "end": 4, "label": label}]}) + "\n")
    for r in (run("convert", f, tmp_path / "x.conll"), run("train", "--train", f, "--out", tmp_path / "m")):
        assert_clean_error(r, "s.jsonl:2", f"span 1 is labelled {label!r}", "without tabs or line breaks")
    assert not (tmp_path / "x.conll").exists()
    nlp = spacy.blank("xx")
    docs = [Doc(nlp.vocab, words=["Rome"]), Doc(nlp.vocab, words=["Anna", "flew"])]
    if label and label.strip():
        docs[1].ents = [Span(docs[1], 0, 1, label=label)]
        db = spacy.tokens.DocBin(docs=docs)
        db.to_disk(tmp_path / "d.spacy")
        assert_clean_error(run("convert", tmp_path / "d.spacy", tmp_path / "x.conll"), "d.spacy: doc 2",
                           f"labelled {label!r}")


def test_a_token_with_a_line_break_is_refused_as_conll_and_one_with_a_space_kept(tmp_path):
    """spaCy's Doc may hold "New York" as one token (a merged entity): token<TAB>tag keeps it,
    and it reads back whole. A tab or a line break in a token would break the line: refused.
    Tokens as plain strings read as the {"text"} form does."""
    nlp = spacy.blank("xx")
    docs = [Doc(nlp.vocab, words=["Rome"]), Doc(nlp.vocab, words=["New York", "is", "big"])]
    docs[1].ents = [Span(docs[1], 0, 1, label="LOC")]
    spacy.tokens.DocBin(docs=docs).to_disk(tmp_path / "d.spacy")
    assert run("convert", tmp_path / "d.spacy", tmp_path / "x.conll").returncode == 0
    assert [(s.tokens, s.tags) for s in read_conll(tmp_path / "x.conll")] == [(["Rome"], ["O"]), (
        ["New York", "is", "big"], ["B-LOC", "O", "O"])]
    docs[1] = Doc(nlp.vocab, words=["New\tYork", "is"])
    spacy.tokens.DocBin(docs=docs).to_disk(tmp_path / "e.spacy")
    r = run("convert", tmp_path / "e.spacy", tmp_path / "y.conll")
    assert_clean_error(r, "e.spacy: doc 2, token 1 ('New\\tYork') holds a tab or a line break")
    assert not (tmp_path / "y.conll").exists()
    f = tmp_path / "t.jsonl"
    f.write_text('{"tokens": ["Rome", "is"], "spans": [{"token_start": 0, "token_end": 0, "label": "LOC"}]}\n'
                 '{"tokens": [{"text": "Paris"}, {"text": "is\\nX"}], "spans": []}\n')
    assert_clean_error(run("convert", f, tmp_path / "x.conll"), "t.jsonl:2: token 2 ('is\\nX') holds a tab or a line")
    assert [(s.tokens, s.tags) for s in read_conll(f)] == [(["Rome", "is"], ["B-LOC", "O"]), (["Paris", "is\nX"],
                                                                                                ["O", "O"])]


def test_convert_counts_entities_and_warns_when_there_are_none(tmp_path):
    r = run("convert", DATA / "train.conll", tmp_path / "t.spacy")
    n = sum(len(spans(s.tags)) for s in read_conll(DATA / "train.conll"))
    assert r.returncode == 0 and f"{n:,} entities into" in r.stderr and "warning" not in r.stderr
    (tmp_path / "plain.jsonl").write_text('{"text": "Anna flew to Lima ."}\n')
    r = run("convert", tmp_path / "plain.jsonl", tmp_path / "p.conll")
    assert r.returncode == 0 and "warning: " in r.stderr and "no entities" in r.stderr
    assert (tmp_path / "p.conll").read_text().split("\n")[0] == "Anna\tO"


def test_a_docbin_that_would_fill_memory_or_a_binary_jsonl_is_refused(tmp_path, monkeypatch):
    import zlib
    from nerwin.errors import NerwinError
    from nerwin.text import docbin
    (tmp_path / "bomb.spacy").write_bytes(zlib.compress(b"\0" * (3 << 20)))     # 3 KB on disk, 3 MB inside
    monkeypatch.setattr(docbin, "MAX_DOCBIN", 1 << 20)
    with pytest.raises(NerwinError, match="would decompress to more than 1,048,576 bytes"):
        read_conll(tmp_path / "bomb.spacy")
    (tmp_path / "b.jsonl").write_bytes(b'{"text": "Rome", "spans": []}\n{"text": "a\0b"}\n')
    with pytest.raises(NerwinError, match="b.jsonl:2: binary data"):
        read_conll(tmp_path / "b.jsonl")


def test_convert_reads_and_writes_compressed_files_by_name(tmp_path):
    import bz2
    import gzip
    import lzma
    src = corpus("wnut17", "dev")
    assert run("convert", src, tmp_path / "plain.jsonl").returncode == 0
    r = run("convert", src, tmp_path / "d.jsonl.gz")
    assert r.returncode == 0, r.stderr
    assert gzip.decompress((tmp_path / "d.jsonl.gz").read_bytes()) == (tmp_path / "plain.jsonl").read_bytes()
    assert run("convert", tmp_path / "d.jsonl.gz", tmp_path / "back.conll.xz").returncode == 0   # read as JSONL
    back = lzma.decompress((tmp_path / "back.conll.xz").read_bytes()).decode("utf-8")
    assert [(s.tokens, s.tags) for s in read_conll(src)] == \
        [(s.tokens, s.tags) for s in read_conll(tmp_path / "back.conll.xz")]
    assert back.count("\n\n") == len(read_conll(src))
    assert run("convert", tmp_path / "d.jsonl.gz", tmp_path / "x.spacy").returncode == 0
    assert run("convert", tmp_path / "x.spacy", tmp_path / "x.jsonl.bz2").returncode == 0
    assert bz2.decompress((tmp_path / "x.jsonl.bz2").read_bytes()) == (tmp_path / "plain.jsonl").read_bytes()
    r = run("convert", src, tmp_path / "y.spacy.gz")
    assert_clean_error(r, "y.spacy.gz: a DocBin is compressed already; name it .spacy")
    assert not (tmp_path / "y.spacy.gz").exists()


def test_an_empty_token_of_a_jsonl_record_is_named_by_the_records_line(tmp_path):
    f = tmp_path / "hf.jsonl"
    recs = [{"tokens": ["a", "b"], "ner_tags": ["O", "O"]}] * 2 + \
        [{"tokens": ["Paris", "is", "", "x", "y"], "ner_tags": ["B-LOC", "O", "O", "O", "O"]}]
    f.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert_clean_error(run("convert", f, tmp_path / "x.spacy"), f"{f}:3: token 3 of this sentence is empty")
