"""The Python API: the README's example as written, Taggers in worker processes, models that travel."""
import json
import pickle
import re
from concurrent.futures import ProcessPoolExecutor

import pytest

import nerwin
from nerwin.text.corpus import read_conll

from conftest import DATA, ROOT, corpus, run, write_vectors
from nerwin.errors import NerwinError


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    m = re.search(r"<!-- api-example -->\n```python\n(.*?)```", text, re.S)
    assert m, "README.md has no ```python block after <!-- api-example -->"
    return m.group(1)


def test_readme_example_runs_unchanged(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    tagger, doc = scope["tagger"], scope["doc"]
    assert doc.tokens == ["The", "museums", "in", "Paris", "are", "amazing", "."]
    e = doc.entities[0]
    assert (e.start, e.end, e.type, e.text) == (3, 4, "LOC", "Paris") and doc.labels[3] == "B-LOC"
    assert doc.text[e.start_char:e.end_char] == "Paris"
    printed = capsys.readouterr().out
    assert "Doc('The museums in [Paris]LOC are amazing .')" in printed and "LOC Paris 15 20" in printed
    cli = json.loads(run("evaluate", DATA / "test.conll", "--model", "model", "--json", cwd=tmp_path).stdout)
    assert tagger.evaluate(DATA / "test.conll") == cli


@pytest.fixture(scope="module")
def sample_tagger(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "model"
    tagger, metrics = nerwin.train(out=out, target="all", casing=4, epochs=3, quiet=True)
    return out, tagger, metrics


def test_train_returns_the_saved_model(sample_tagger):
    out, tagger, metrics = sample_tagger
    loaded = nerwin.load(out)
    text = [s.tokens for s in read_conll(DATA / "test.conll")]
    assert [d.labels for d in loaded.tag_many(text)] == [d.labels for d in tagger.tag_many(text)]
    kept = metrics["history"][metrics["best_epoch"] - 1]["dev"]       # the epoch's scores, at T = 1
    assert {k: v for k, v in metrics["dev"].items() if k in kept} == kept and "calibration" in metrics["dev"]
    hist = json.loads((out / "history.json").read_text())
    assert hist["best_epoch"] == metrics["best_epoch"] and len(hist["epochs"]) == 3


def test_dev_scores_in_training_equal_evaluate(sample_tagger):
    out, tagger, metrics = sample_tagger
    assert nerwin.load(out).evaluate(DATA / "dev.conll") == metrics["dev"]


def test_doc_fields_and_entities(sample_tagger):
    _, tagger, _ = sample_tagger
    doc = tagger.tag(["Anna", "Lindqvist", "flew", "to", "New", "York", "."])
    assert len(doc.tokens) == len(doc.labels) == len(doc.probs) == 7
    assert all(0.0 <= p <= 1.0 for p in doc.probs)
    for e in doc.entities:
        a, b, t = e.start, e.end, e.type
        assert doc.labels[a] == "B-" + t and all(l == "I-" + t for l in doc.labels[a + 1:b])
        assert 0 < e.confidence <= min(doc.probs[a:b]) + 1e-9      # exactly this span: no likelier than its tokens
        assert e.text == " ".join(doc.tokens[a:b]) and e.start_char is None
    assert [d.tokens for d in tagger.tag_many(["a b", ["c"], "d e f"], batch_size=1)] == [["a", "b"], ["c"],
                                                                                          ["d", "e", "f"]]
    text = "Anna's flight to Paris, France (U.S. dollars) ..."
    assert tagger.tokens(text) == tagger.tag(text).tokens
    with pytest.raises(TypeError, match="text must be a string"):
        tagger.tokens(["Paris"])


def tag_chunk(args):
    tagger, lines = args
    return [d.labels for d in tagger.tag_many(lines)]


def test_threads_share_one_tagger_and_get_what_one_thread_gets(sample_tagger):
    # a service's threads: each call may grow the rows of words the model has not seen
    import random
    import threading
    model_dir, tagger, _ = sample_tagger
    words = [t for s in read_conll(corpus("btc", "train")) for t in s.tokens]
    rng = random.Random(0)
    sents = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(2000)]
    alone = nerwin.load(model_dir)
    want = [(d.labels, d.probs) for d in map(alone.tag, sents)]
    got, errors = [None] * len(sents), []

    def work(k):
        try:
            for i in range(k, len(sents), 4):
                d = tagger.tag(sents[i])
                got[i] = (d.labels, d.probs)
        except Exception as e:          # noqa: BLE001  (any failure is the test's finding)
            errors.append(repr(e))
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and got == want, errors[:3]


def test_a_tagger_pickles_and_tags_in_a_process_pool(sample_tagger):
    _, tagger, _ = sample_tagger
    lines = [" ".join(s.tokens) for s in read_conll(DATA / "test.conll")] * 3
    single = [d.labels for d in tagger.tag_many(lines)]
    assert tagger._lexicon._store is not None                   # in use, with its mmaps open...
    pickle.loads(pickle.dumps(tagger))                  # ...and still it pickles
    parts = [lines[i::4] for i in range(4)]
    with ProcessPoolExecutor(2) as pool:
        got = list(pool.map(tag_chunk, [(tagger, p) for p in parts]))
    merged = [None] * len(lines)
    for i, labels in enumerate(got):
        merged[i::4] = labels
    assert merged == single


@pytest.mark.slow
def test_a_model_travels_without_its_vectors_file(tmp_path):
    """A model trained with a user vectors file predicts BTC test with that file deleted."""
    from nerwin.vectors import open_store
    glove, _ = open_store(None)
    words, vecs = glove.top(60000)
    src = write_vectors(tmp_path / "user.vec", words, vecs, "word2vec-text")
    out = tmp_path / "m"
    r = run("train", "--train", corpus("btc", "train"), "--dev", corpus("btc", "dev"), "--target", "all",
            "--casing", "4", "--epochs", "2", "--vectors", src, "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    test = corpus("btc", "test")
    present = run("predict", test, "--model", out, "--input-format", "conll")
    src.unlink()
    gone = run("predict", test, "--model", out, "--input-format", "conll")
    assert gone.returncode == 0, gone.stderr
    a = [l.split("\t")[1] for l in present.stdout.splitlines() if l]
    b = [l.split("\t")[1] for l in gone.stdout.splitlines() if l]
    assert len(a) == len(b) > 30000
    same = sum(x == y for x, y in zip(a, b)) / len(a)
    assert same >= 0.99, same
    warn = [l for l in gone.stderr.splitlines() if "is gone" in l]
    assert len(warn) == 1 and re.search(r"\d+ tokens", warn[0])
    # a fuller source can still be given
    r = run("predict", "--model", out, "--vectors", tmp_path / "nope.vec", stdin="Paris\n")
    assert r.returncode == 2 and "nope.vec" in r.stderr


def test_train_takes_every_option_of_the_command_as_a_keyword(tmp_path):
    tagger, m = nerwin.train(out=tmp_path / "m", epochs=1, quiet=True, metrics_json=tmp_path / "m.json",
                             log=tmp_path / "log.jsonl")
    assert json.loads((tmp_path / "m.json").read_text())["best_epoch"] == m["best_epoch"] == 1
    with pytest.raises(TypeError) as e:
        nerwin.train(out=tmp_path / "x", metrics_jsn="m.json")
    for name in ("dev", "test", "vectors", "log", "metrics_json", "epochs", "target"):
        assert name in str(e.value)
    assert isinstance(e.value, nerwin.NerwinTypeError)
    with pytest.raises(nerwin.NerwinTypeError, match="epochs"):
        nerwin.train(out=tmp_path / "x", epochs="3")


def test_explain_takes_a_token_and_tag_refuses_an_empty_token(models):
    tagger = nerwin.load(models["sentence"])
    text = "Anna flew to Paris ."
    one = tagger.explain(text, token=3)
    assert len(one) == 1 and one[0]["token"] == "Paris" and one[0] == tagger.explain(text)[3]
    with pytest.raises(nerwin.NerwinError, match="token 5 is out of range"):
        tagger.explain(text, token=5)
    with pytest.raises(nerwin.NerwinTypeError):
        tagger.explain(text, token="3")
    for bad in (["Paris", ""], ["Paris", "  "]):
        with pytest.raises(nerwin.NerwinError, match=r"text\[1\] is an empty token"):
            tagger.tag(bad)
    with pytest.raises(nerwin.NerwinError, match=r"items\[0\]\[0\]"):
        list(tagger.tag_many([[""]]))


def test_load_names_the_directory_when_given_a_file_inside_it(models):
    with pytest.raises(nerwin.NerwinError, match="pass the model directory"):
        nerwin.load(models["binary"] / "model.npz")


def test_a_tagger_saves_itself_and_loads_the_same(models, tmp_path):
    tagger = nerwin.load(models["softmax"])
    tagger.save(tmp_path / "copy")
    again = nerwin.load(tmp_path / "copy")
    text = "Anna flew to Paris ."
    assert again.tag(text).probs == tagger.tag(text).probs and again.temperature == tagger.temperature


def test_api_bad_arguments(loc_model):
    tagger = nerwin.load(loc_model)
    cases = [(lambda: tagger.tag(["a", None]), TypeError, "text[1]"),
             (lambda: tagger.tag(b"Paris"), TypeError, "text"),
             (lambda: list(tagger.tag_many("Paris")), TypeError, "items"),
             (lambda: list(tagger.tag_many(["a"], batch_size=0)), ValueError, "batch_size"),
             (lambda: list(tagger.tag_many(["a", 3])), TypeError, "items[1]"),
             (lambda: tagger.explain(""), ValueError, "no tokens"),
             (lambda: tagger.evaluate(3), TypeError, "gold"),
             (lambda: nerwin.load(3), TypeError, "model_dir"),
             (lambda: nerwin.train(epochs=0, quiet=True), ValueError, "epochs"),
             (lambda: nerwin.train(epochs="3", quiet=True), TypeError, "epochs"),
             (lambda: nerwin.train(epoch=3, quiet=True), TypeError, "epoch"),
             (lambda: nerwin.train(train=3, quiet=True), TypeError, "train")]
    for call, error, name in cases:
        with pytest.raises(error) as e:
            call()
        assert isinstance(e.value, NerwinError) and name in str(e.value), (name, e.value)


def test_evaluate_hands_each_sentence_and_its_doc_to_collect(sample_tagger):
    tagger = sample_tagger[1]
    gold = read_conll(DATA / "test.conll")
    seen, docs = [], []
    m = tagger.evaluate(DATA / "test.conll", collect=lambda x, d: seen.append((x, d)))
    assert tagger.evaluate(DATA / "test.conll", collect=docs) == m
    assert [x.tokens for x, _ in seen] == [x.tokens for x in gold] == [d.tokens for d in docs]
    assert [d.labels for _, d in seen] == [d.labels for d in docs] == [tagger.tag(x.tokens).labels for x in gold]
    with pytest.raises(TypeError, match="collect must be a list, a function or None"):
        tagger.evaluate(DATA / "test.conll", collect=(1, 2))


def test_numpy_numbers_are_taken_as_the_numbers_they_stand_for(loc_model, tmp_path):
    """A sweep passes np.int64 epochs and np.float32 rates (np.arange, np.logspace): each is the
    Python number it stands for, and the saved config holds plain JSON (0.01, not 0.009999999776)."""
    import numpy as np
    tagger = nerwin.load(loc_model)
    _, m = nerwin.train(out=tmp_path / "m", epochs=np.int64(1), lr=np.float32(0.01), fine_tune=np.True_,
                        hidden=np.int32(20), vectors_limit=np.uint32(100_000), quiet=True)
    c = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (c["training"]["epochs"], c["training"]["lr"], c["training"]["fine_tune"], c["model"]["hidden"]) == \
        (1, 0.01, True, 20)
    text = "Anna flew to Paris ."
    assert tagger.tag(text, min_confidence=np.float32(0.5)).labels == tagger.tag(text, min_confidence=0.5).labels
    assert list(tagger.tag_many([text], batch_size=np.int64(1)))[0].labels == tagger.tag(text).labels
    assert tagger.explain(text, token=np.int64(3)) == tagger.explain(text, token=3)
    assert tagger.graph(text, np.int16(3), step=np.float32(0.5)).J == tagger.graph(text, 3, step=0.5).J
    assert tagger.evaluate(DATA / "test.conll", temperature=np.float64(2.0)) == \
        tagger.evaluate(DATA / "test.conll", temperature=2.0)
    for bad, error in ((dict(epochs=np.float64(1.0)), TypeError), (dict(epochs=np.True_), TypeError),
                       (dict(lr=np.float32("nan")), ValueError), (dict(hidden=np.int64(0)), ValueError)):
        with pytest.raises(error, match=next(iter(bad))):
            nerwin.train(out=tmp_path / "x", quiet=True, **bad)
