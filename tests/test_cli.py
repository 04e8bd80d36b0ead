"""The CLI end to end: the smoke file. Most cases run main() in this process (conftest.run);
the sample model, the BTC run, a malformed file and Ctrl-C run in real processes."""
import hashlib
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nerwin.text.corpus import read_conll
from nerwin.text.schemes import binary_labels

from conftest import DATA, assert_clean_error, corpus, load_arrays, run, run_process, write_vectors
from test_corpus import CONLL2003


@pytest.fixture(scope="module")
def sample_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "model"
    r = run_process("train", "--out", out, "--metrics-json", out.parent / "m.json", "--seed", "0")
    assert r.returncode == 0, r.stderr
    return out, json.loads((out.parent / "m.json").read_text()), r


def test_train_reports_oov_per_epoch_dev_scores_and_saves(sample_model):
    out, metrics, r = sample_model
    assert "OOV rate" in r.stderr and "train loss  dev loss  dev P" in r.stderr and "\n    1 " in r.stderr
    assert (out / "model.npz").exists() and (out / "config.json").exists()
    assert not list(out.glob(".*tmp"))                       # no temp files left behind
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["target"] == "LOC" and cfg["model"]["window"] == 2 and cfg["vectors"]["source"] == "glove-6B-50d"
    assert cfg["nerwin_version"] and "paris" in cfg["vocabulary"]
    assert metrics["best_epoch"] == max(range(len(metrics["history"])),
                                        key=lambda i: metrics["history"][i]["dev"]["f1"]) + 1
    params, E, vocab, _, _ = load_arrays(out)
    assert E.shape[0] == len(vocab) < 1000                   # only the corpus's rows, never 400k
    assert E.dtype == np.float32


def test_lecture_sentence(sample_model):
    """Held-out sentences: no template of the sample corpus, and no entity that train ever saw."""
    out, *_ = sample_model
    train_tokens = {t for s in read_conll(DATA / "train.conll") for t in s.tokens}
    text = ["Last spring the museums in Budapest were amazing .", "She drove from Lagos to Amsterdam overnight ."]
    assert not {"Budapest", "Lagos", "Amsterdam"} & train_tokens
    r = run("predict", "--model", out, stdin="\n".join(text) + "\n")
    assert r.returncode == 0, r.stderr
    rows = [l.split("\t") for l in r.stdout.strip().splitlines() if l]
    labels = {t: l for t, l, _ in rows}
    assert [labels[c] for c in ("Budapest", "Lagos", "Amsterdam")] == ["LOC"] * 3
    assert all(labels[w] == "O" for w in ("Last", "spring", "museums", "in", "were", "amazing", "She", "drove"))
    assert all(0.5 <= float(p) <= 1 for *_, p in rows)


def test_unseen_word_uses_its_pretrained_vector(sample_model):
    """'Lisbon' is not in the sample's train split; it must come from GloVe, not <UNK>."""
    out, *_ = sample_model
    train_tokens = {t.lower() for s in read_conll(DATA / "train.conll") for t in s.tokens}
    for city in ("Amsterdam", "Lagos", "Budapest"):
        assert city.lower() not in train_tokens
    r = run("predict", "--model", out, "--output-format", "jsonl",
            stdin="We flew to Amsterdam .\nWe flew to Lagos .\nWe flew to Budapest .\nWe flew to Xqzzyplk .\n")
    sents = [json.loads(l) for l in r.stdout.splitlines()]
    assert [s["labels"][3] for s in sents[:3]] == ["LOC"] * 3
    probs = [s["probs"][3] for s in sents]
    assert len(set(probs[:3])) > 1   # three different vectors, not one shared <UNK>


def test_evaluate_matches_an_independent_count_of_predict(sample_model, tmp_path):
    out, *_ = sample_model
    r = run("evaluate", DATA / "test.conll", "--model", out, "--json")
    m = json.loads(r.stdout)
    pred = run("predict", DATA / "test.conll", "--model", out, "--input-format", "conll")
    got = [l.split("\t")[1] == "LOC" for l in pred.stdout.splitlines() if l]
    gold = [bool(v) for s in read_conll(DATA / "test.conll") for v in binary_labels(s.tags, "LOC")]
    tp = sum(g and p for g, p in zip(gold, got))
    fp = sum(p and not g for g, p in zip(gold, got))
    fn = sum(g and not p for g, p in zip(gold, got))
    assert (m["tp"], m["fp"], m["fn"]) == (tp, fp, fn)
    assert m["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert m["f1"] > 0.8


def test_same_seed_same_model_bit_for_bit(tmp_path):
    hashes = []
    for i in range(2):
        r = run("train", "--epochs", "2", "--out", tmp_path / f"m{i}", "-q")
        assert r.returncode == 0, r.stderr
        hashes.append(hashlib.sha256((tmp_path / f"m{i}" / "model.npz").read_bytes()).hexdigest())
    assert hashes[0] == hashes[1]
    r = run("train", "--epochs", "2", "--out", tmp_path / "m2", "-q", "--seed", "1")
    assert hashlib.sha256((tmp_path / "m2" / "model.npz").read_bytes()).hexdigest() != hashes[0]


def test_freeze_keeps_every_vector_as_loaded(tmp_path, sample_model):
    r = run("train", "--epochs", "2", "--freeze", "--out", tmp_path / "f", "-q")
    assert r.returncode == 0, r.stderr
    _, E_frozen, vocab, _, _ = load_arrays(tmp_path / "f")
    _, E_tuned, vocab2, _, _ = load_arrays(sample_model[0])
    from nerwin.vectors import open_store
    glove = open_store(None)[0].lookup(vocab.words[3:])
    np.testing.assert_array_equal(E_frozen[3:], np.stack([glove[w] for w in vocab.words[3:]]))
    assert vocab.words == vocab2.words
    assert not np.array_equal(E_tuned[3:], E_frozen[3:])


def test_conll2003_layout_trains_with_user_vectors(tmp_path):
    f = tmp_path / "eng.train"
    f.write_text(CONLL2003 * 5)
    words = ["eu", "rejects", "german", "call", ".", "peter", "blackburn", "visited", "brussels", "paris", "rome"]
    vec = write_vectors(tmp_path / "tiny.txt", words, np.random.default_rng(0).normal(size=(11, 8)), "glove")
    r = run("train", "--train", f, "--dev", f, "--target", "loc", "--vectors", vec, "--epochs", "3",
            "--out", tmp_path / "m", "--metrics-json", tmp_path / "m.json")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["target"] == "LOC" and m["dev"]["support"] == 15
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["vectors"]["format"] == "glove" and cfg["vectors"]["source"] == str(vec.resolve())
    with_file = run("predict", "--model", tmp_path / "m", stdin="Paris visited Rome\nblackburn\n")
    vec.unlink()          # a model travels: its vectors source is gone, and it still predicts
    r = run("predict", "--model", tmp_path / "m", stdin="Paris visited Rome\nblackburn\n")
    assert r.returncode == 0 and r.stdout == with_file.stdout, r.stderr


@pytest.mark.parametrize("content,where", [("a\tO\nb\tQ-LOC\n", ":2:"), ("a\tO\n\nb\n", ":3:")])
def test_malformed_conll_is_one_line_exit_2(tmp_path, content, where):
    f = tmp_path / "bad.conll"
    f.write_text(content)
    r = run_process("train", "--train", f, "--out", tmp_path / "m")
    assert_clean_error(r, f"{f}{where}")
    assert not (tmp_path / "m" / "model.npz").exists()


def test_target_not_in_file_lists_types(tmp_path):
    r = run("train", "--target", "geo-loc", "--out", tmp_path / "m")
    assert_clean_error(r, "train.conll", "geo-loc", "PER", "LOC", "ORG", "MISC")


def test_btc_loc_end_to_end(tmp_path):
    c = corpus("btc", "train")
    r = run_process("train", "--train", c, "--dev", corpus("btc", "dev"), "--test", corpus("btc", "test"),
            "--target", "LOC", "--epochs", "3", "--out", tmp_path / "m", "--metrics-json", tmp_path / "m.json", "-q")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert 0.05 < m["oov_rate"] < 0.2                    # tweets: URLs, mentions, emoji
    assert m["test"]["support"] == sum(sum(binary_labels(s.tags, "LOC")) for s in read_conll(corpus("btc", "test")))
    assert m["test"]["f1"] > 0.4     # an all-O model scores 0; CRF reference 0.528


def test_patience_stops_early_and_lr_decay_halves(tmp_path):
    r = run("train", "--epochs", "40", "--patience", "2", "--out", tmp_path / "m",
            "--metrics-json", tmp_path / "m.json")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert "early stop" in r.stderr and len(m["history"]) == m["best_epoch"] + 2 < 40
    r = run("train", "--epochs", "7", "--lr-decay", "3", "--out", tmp_path / "d", "-q",
            "--metrics-json", tmp_path / "d.json")
    lrs = [x["lr"] for x in json.loads((tmp_path / "d.json").read_text())["history"]]
    assert lrs == [1e-3] * 3 + [5e-4] * 3 + [2.5e-4]


def test_vectors_limit_is_recorded_and_kept_at_predict(tmp_path):
    words = ["the", "museums", "in", "paris", "are", "amazing", ".", "berlin"]
    vec = write_vectors(tmp_path / "v.txt", words, np.random.default_rng(0).normal(size=(8, 6)), "glove")
    r = run("train", "--vectors", vec, "--vectors-limit", "7", "--epochs", "1", "--out", tmp_path / "m", "-q")
    assert r.returncode == 0, r.stderr
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["vectors"]["limit"] == 7 and "berlin" not in cfg["vocabulary"]
    from nerwin.apply.tagger import Tagger
    assert Tagger.load(tmp_path / "m")._lexicon.store().lookup(["berlin", "paris"]).keys() == {"paris"}   # row 8: past the limit


def test_evaluate_text_shows_the_loss_and_the_calibration(models):
    r = run("evaluate", DATA / "test.conll", "--model", models["sentence"])
    assert r.returncode == 0, r.stderr
    m = json.loads(run("evaluate", DATA / "test.conll", "--model", models["sentence"], "--json").stdout)
    last = r.stdout.strip().splitlines()[-1]
    assert f"loss {m['loss']:.4f}" in last and f"ECE entities {m['calibration']['entity']['ece']:.3f}" in last


def test_train_prints_its_scores_on_stdout_and_warns_of_vectors_that_miss_most_words(tmp_path):
    words = ["paris", "is", "big"]
    vec = write_vectors(tmp_path / "v.txt", words, np.eye(3, 4), "glove")
    r = run("train", "--vectors", vec, "--epochs", "1", "--out", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("dev (epoch 1): P ") and "dev (epoch 1)" not in r.stderr
    assert "nerwin: warning:" in r.stderr and "no row for 9" in r.stderr          # 9x% of the tokens
    r = run("train", "--vectors", vec, "--epochs", "1", "--out", tmp_path / "m")
    assert "holds a model; it is replaced" in r.stderr


def test_cli_bad_values(tmp_path, loc_model):
    assert_clean_error(run("train", "--seed", "-1", "--out", tmp_path / "m"), "--seed")
    r = run("train", "--hidden", "100000", "--batch-size", "10000000", "--out", tmp_path / "m")
    assert_clean_error(r, "--hidden", "GiB")
    assert_clean_error(run("explain", "", "--model", loc_model), "no tokens")
    # a command's own ranged options speak as the settings do
    assert_clean_error(run("graph", "a", "--token", "-1", "--model", loc_model), "--token must be at least 0, got -1")
    assert_clean_error(run("serve", "--port", "99999", "--model", loc_model), "--port must be between 1 and 65,535")
    empty = tmp_path / "o.conll"
    empty.write_text("a\tO\nb\tO\n\nc\tO\nd\tO\ne\tO\n")
    r = run("gradcheck", "--train", empty, "--activation", "tanh")
    assert r.returncode == 0 and "random labels" in r.stdout and "PASS" in r.stdout, r.stdout + r.stderr
    import shutil
    d = tmp_path / "h"
    shutil.copytree(loc_model, d)
    (d / "history.json").write_text('{"epochs": 3}')
    r = run("report", DATA / "dev.conll", "--model", d, "--html", tmp_path / "r.html")
    assert r.returncode == 0 and "history.json" in r.stderr and (tmp_path / "r.html").exists()


@pytest.mark.parametrize("command,argument", [("report", "file"), ("explain", "sentence"), ("graph", "sentence"),
                                              ("convert", "INPUT")])
def test_a_missing_argument_says_where_to_read_what_the_command_takes(command, argument):
    assert_clean_error(run(command), f"Missing argument '{argument}'", f"`nerwin {command} -h`")


def test_evaluate_and_report_warn_when_given_the_models_own_training_file(tmp_path):
    import shutil
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(DATA / "train.conll", tmp_path / "a" / "train.conll")
    shutil.copy(DATA / "test.conll", tmp_path / "b" / "train.conll")           # the same name, another file
    assert run("train", "--train", "train.conll", "--out", tmp_path / "m", "--epochs", "1", "-q",
               cwd=tmp_path / "a").returncode == 0
    said = "the model was trained on this file; its scores measure what it memorized"
    for args, cwd in [(("evaluate", "train.conll"), tmp_path / "a"), (("evaluate", tmp_path / "a" / "train.conll"), None),
                      (("report", "train.conll", "--html", tmp_path / "r.html"), tmp_path / "a")]:
        r = run(*args, "--model", tmp_path / "m", cwd=cwd)
        assert r.returncode == 0 and said in r.stderr, (args, r.stderr)
    for args, cwd in [(("evaluate", "train.conll"), tmp_path / "b"), (("evaluate", DATA / "test.conll"), None)]:
        r = run(*args, "--model", tmp_path / "m", cwd=cwd)
        assert r.returncode == 0 and "warning" not in r.stderr, (args, r.stderr)


def test_ctrl_c_while_loading_exits_130_quietly(loc_model):
    """From the moment nerwin's code runs (about 30 ms after the interpreter starts)."""
    for delay in (0.06, 0.1, 0.2, 0.3, 0.6):
        p = subprocess.Popen([sys.executable, "-m", "nerwin", "predict", "--model", str(loc_model)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        if p.returncode == 1 and b"init_import_site" in err:
            continue          # it landed while Python itself was starting, before any code of nerwin's could run
        # killed by SIGINT itself (-2): it landed while the interpreter was starting or finishing,
        # which on this VM can take 0.2 s; a shell shows that as 130 too
        assert p.returncode in (130, -signal.SIGINT), (delay, p.returncode, err)
        assert b"Traceback" not in err, (delay, err)


def test_running_out_of_memory_is_one_line_not_a_traceback(loc_model, monkeypatch):
    """numpy's MemoryError names the array it could not allocate; the CLI says so in one line,
    exit 1 (the input may be fine: the machine is small)."""
    from nerwin.apply.tagger import Tagger

    def too_big(self, token_lists):
        np.empty((1 << 40,), dtype=np.float32)           # 4 TiB
    monkeypatch.setattr(Tagger, "logits", too_big)
    r = run("predict", "--model", loc_model, stdin="Paris is nice .\n")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("nerwin: error: out of memory (Unable to allocate") and r.stderr.count("\n") == 1
