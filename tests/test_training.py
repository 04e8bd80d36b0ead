"""Training runs: degenerate corpora, bad settings, a loss that diverges, Ctrl-C, progress and
history.json."""
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from nerwin.model import WindowModel
from nerwin.training.loop import TABLE_HEAD

from conftest import DATA, assert_clean_error, corpus, load_arrays, run


@pytest.mark.parametrize("content,extra,words", [
    ("", (), "no sentences"),
    ("a\tO\nb\tO\n", (), "no entity tags"),
    ("a\tB-LOC\nb\tB-LOC\n", (), "same label (LOC)"),
    ("a\tB-LOC\n", ("--target", "all"), "same label (B-LOC)"),
    ("a\tB-LOC\nb\tO\n", ("--target", "all", "--dev", "DEV"), "types that train lacks"),
    ("a\tB-LOC\nb\tO\n", ("--dev", "DEV"), "no LOC"),
])
def test_degenerate_corpora(tmp_path, content, extra, words):
    f = tmp_path / "t.conll"
    f.write_text(content)
    (tmp_path / "dev.conll").write_text("a\tB-PER\nb\tO\n")
    extra = [str(tmp_path / "dev.conll") if x == "DEV" else x for x in extra]
    r = run("train", "--train", f, "--target", "LOC" if "all" not in extra else "all", *extra,
            "--out", tmp_path / "m", "--epochs", "1")
    assert_clean_error(r, words)
    assert not (tmp_path / "m").exists()


def test_vectors_limit_below_one_is_refused(tmp_path):
    for n in ("0", "-3"):
        assert_clean_error(run("train", "--vectors-limit", n, "--out", tmp_path / "m"), "--vectors-limit")


def test_without_dev_the_kept_epoch_is_said_to_be_the_lowest_training_loss(tmp_path):
    r = run("train", "--train", DATA / "train.conll", "--epochs", "12", "--patience", "1", "--lr", "0.5",
            "--out", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    assert "lowest training loss" in r.stderr and "no better dev F1" not in r.stderr
    assert "early stop: no better training loss" in r.stderr


def test_progress_written_to_a_pipe_leaves_no_blank_lines(tmp_path):
    r = run("train", "--epochs", "3", "--out", tmp_path / "m")
    assert r.returncode == 0
    lines = r.stderr.splitlines()
    assert all(l.strip() for l in lines), lines
    assert lines.count(TABLE_HEAD) == 1 and sum(l[:5].strip().isdigit() for l in lines) == 3
    assert "loss rose" not in r.stderr


def test_a_loss_that_rises_but_stays_finite_is_said_with_the_learning_rate(tmp_path):
    r = run("train", "--out", tmp_path / "m", "--lr", "10", "--epochs", "2", "-q")
    assert r.returncode == 0, r.stderr
    assert "warning: training: the loss rose" in r.stderr and "lower --lr (now 10)" in r.stderr
    assert (tmp_path / "m" / "model.npz").exists()          # a warning: the run still ends with its model


def test_diverging_loss_stops_keeps_last_good_model(tmp_path):
    r = run("train", "--out", tmp_path / "m", "--optimizer", "sgd", "--lr", "1e32", "--epochs", "3", "-q")
    assert_clean_error(r, "--lr")
    assert "loss became" in r.stderr


def test_ctrl_c_saves_best_so_far_and_exits_130(tmp_path):
    p = subprocess.Popen([sys.executable, "-m", "nerwin", "train", "--out", str(tmp_path / "m"),
                          "--epochs", "100000", "--batch-size", "8"],
                         stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    for line in p.stderr:
        if line.startswith("    2 "):
            break
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "best model so far" in err
    params, *_ = load_arrays(tmp_path / "m")
    assert params["W"].shape == (100, WindowModel.load(tmp_path / "m").input_width)


@pytest.mark.parametrize("by_ctrl_c", [True, False])
def test_ctrl_c_inside_a_compiled_call_saves_the_best_so_far(tmp_path, monkeypatch, by_ctrl_c):
    """Ctrl-C that lands while numba boxes a result surfaces as a SystemError caused by the
    KeyboardInterrupt: it is still Ctrl-C. A SystemError of any other cause is not."""
    import nerwin
    from nerwin.errors import Interrupted
    from nerwin.training import run as run_module
    real = run_module.fit

    def fit_then_interrupted(run, *a, **k):
        real(run, *a, **k)
        try:
            raise KeyboardInterrupt if by_ctrl_c else RuntimeError("a bug")
        except BaseException as inner:
            try:
                raise SystemError("_numba_unpickle returned a result with an exception set") from inner
            except SystemError as mid:
                raise SystemError("row_sums returned a result with an exception set") from mid

    monkeypatch.setattr(run_module, "fit", fit_then_interrupted)
    out = tmp_path / "m"
    with pytest.raises(Interrupted if by_ctrl_c else SystemError) as e:
        nerwin.train(epochs=1, out=out, quiet=True)
    assert ("best model so far (epoch 1)" in str(e.value)) == by_ctrl_c
    assert (out / "model.npz").exists() == by_ctrl_c


def test_what_counts_as_ctrl_c():
    from nerwin.errors import ctrl_c

    def chain(*kinds):
        """kinds[0] raised, each next one raised while handling the one before: -> the last."""
        try:
            if len(kinds) == 1:
                raise kinds[0]()
            try:
                raise chain(*kinds[:-1])
            except BaseException:
                raise kinds[-1]()
        except BaseException as e:
            return e

    assert ctrl_c(KeyboardInterrupt()) and ctrl_c(chain(KeyboardInterrupt, SystemError, SystemError))
    assert not ctrl_c(chain(RuntimeError, SystemError)) and not ctrl_c(SystemError())
    assert not ctrl_c(chain(KeyboardInterrupt, ValueError))      # an error raised while handling Ctrl-C is an error


def test_non_finite_learning_rates_and_weights_are_refused(tmp_path, loc_model):
    assert_clean_error(run("train", "--lr", "inf", "--out", tmp_path / "m"), "--lr", "finite")
    r = run("train", "--lr", "1e30", "--optimizer", "sgd", "--epochs", "2", "--out", tmp_path / "m", "-q")
    assert_clean_error(r, "loss became")
    assert not (tmp_path / "m" / "model.npz").exists()
    # a model whose weights are NaN is refused on load
    import shutil
    d = tmp_path / "nan"
    shutil.copytree(loc_model, d)
    z = dict(np.load(d / "model.npz"))
    z["W"] = np.full_like(z["W"], np.nan)
    with open(d / "model.npz", "wb") as f:
        np.savez(f, **z)
    assert_clean_error(run("predict", "--model", d, stdin="Paris\n"), "model.npz", "not finite")


def test_history_is_strict_json(loc_model):
    def refuse(x):
        raise ValueError(x)
    json.loads((loc_model / "history.json").read_text(), parse_constant=refuse)


def test_an_epochs_shuffle_takes_every_part_of_a_window_in_the_same_order():
    from nerwin.settings import Settings
    from nerwin.training.data import prepare
    from nerwin.vectors import open_store
    s = Settings.of(target="all", casing=1, chars=1, affixes=1)
    _, train, _, _ = prepare(DATA / "train.conll", None, open_store(None)[0], s)
    order = np.random.default_rng(0).permutation(len(train.y))
    got = train.take(order)
    assert np.array_equal(got.X, train.X[order]) and np.array_equal(got.y, train.y[order])
    assert sorted(train.feats) == ["affixes", "casing", "chars"]
    for k, v in train.feats.items():            # id matrices (a tuple of them), or the characters' slots
        pairs = zip(got.feats[k], v) if isinstance(v, tuple) else [(got.feats[k].slots, v.slots)]
        assert all(np.array_equal(a, b[order]) for a, b in pairs), k
    assert got.lengths.tolist() == [len(x.tokens) for x in train.sents]


@pytest.mark.parametrize("content,said", [
    (None, "no such file"),
    (b"a\tO\nb\tO\n\x00\n", ":3: binary data"),
    (b"Anna\tB-PER\nflew\tO\n", "target type 'LOC' not in the file"),        # a binary LOC model scores LOC
])
def test_a_bad_test_file_is_refused_before_the_first_epoch(tmp_path, content, said):
    test = tmp_path / "test.conll"
    if content is not None:
        test.write_bytes(content)
    r = run("train", "--test", test, "--out", tmp_path / "m", "--epochs", "1")
    assert_clean_error(r, str(test), said)
    assert TABLE_HEAD not in r.stderr and not (tmp_path / "m").exists()      # no epoch ran, nothing saved


def test_dev_or_test_that_repeat_the_training_sentences_are_warned_of(tmp_path):
    from nerwin.text.corpus import read_conll
    from nerwin.training.data import repeated_share
    train = read_conll(DATA / "train.conll")
    long = [x for x in train if len(x.tokens) >= 5]
    half = tmp_path / "half.conll"                  # half train's longer sentences, half the real dev's
    dev = [x for x in read_conll(DATA / "dev.conll") if len(x.tokens) >= 5]
    n = min(len(dev), 10)
    half.write_text("\n".join("".join(f"{t}\t{g}\n" for t, g in zip(x.tokens, x.tags)) for x in long[:n] + dev[:n]))
    assert repeated_share(train, read_conll(half)) == 0.5
    assert repeated_share(train, [long[0], long[0], long[0], dev[0]]) == 0.75       # each repeat counts
    assert repeated_share(train, read_conll(DATA / "dev.conll")) < 0.1
    assert repeated_share(train, [x for x in train if len(x.tokens) < 5]) == 0.0     # short ones do not count
    r = run("train", "--dev", half, "--test", DATA / "train.conll", "--out", tmp_path / "m", "--epochs", "1", "-q")
    assert r.returncode == 0, r.stderr
    warned = [l for l in r.stderr.splitlines() if "warning" in l]
    assert len(warned) == 2, r.stderr
    assert warned[0].startswith(f"nerwin: warning: {half}: 50% of its sentences") and "fit the temperature" in warned[0]
    assert warned[1].startswith(f"nerwin: warning: {DATA / 'train.conll'}: 100% of its sentences")
    r = run("train", "--test", DATA / "test.conll", "--out", tmp_path / "m2", "--epochs", "1", "-q")
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr    # the sample's own splits
    r = run("train", "--dev", DATA / "dev.conll", "--test", DATA / "dev.conll", "--out", tmp_path / "m3", "--epochs",
            "1", "-q")                                                   # tested on what chose the epoch
    warned = [l for l in r.stderr.splitlines() if "warning" in l]
    assert r.returncode == 0 and len(warned) == 1, r.stderr
    assert warned[0].startswith(f"nerwin: warning: {DATA / 'dev.conll'}: 100% of its sentences") and \
        "are in --dev word for word" in warned[0] and "optimistic" in warned[0]


def test_a_training_file_without_blank_lines_is_warned_of(tmp_path):
    """Without its blank lines a corpus reads as one sentence: the sentence loss then takes one
    step an epoch and learns nothing, and only this line says why."""
    lines = [l for l in (DATA / "train.conll").read_text().splitlines() if l.strip()]
    flat = tmp_path / "flat.conll"
    flat.write_text("\n".join(lines[:1500]) + "\n\nParis\tB-LOC\n" + "\n".join(lines[:1200]) + "\n")
    r = run("train", "--train", flat, "--dev", DATA / "dev.conll", "--target", "all", "--out", tmp_path / "m",
            "--epochs", "1", "-q")
    assert r.returncode == 0, r.stderr
    warned = [l for l in r.stderr.splitlines() if "warning" in l]
    assert warned == [f"nerwin: warning: {flat}: line 1: a sentence of 1,500 words; 1 more over 1,000: are the "
                      "blank lines between sentences missing? Each sentence is read whole, and with the sentence "
                      "loss is one batch"], r.stderr
    r = run("train", "--out", tmp_path / "m2", "--epochs", "1", "-q")          # the sample: nothing to say
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_tags_written_with_an_underscore_are_warned_of(tmp_path):
    """B_LOC and I_LOC are two types to conlleval and to nerwin: labels B-B_LOC, I-B_LOC, B-I_LOC..."""
    f, dev = tmp_path / "u.conll", tmp_path / "d.conll"
    for src, dst in ((DATA / "train.conll", f), (DATA / "dev.conll", dev)):
        dst.write_text(src.read_text().replace("\tB-", "\tB_").replace("\tI-", "\tI_"))
    r = run("train", "--train", f, "--dev", dev, "--out", tmp_path / "m", "--epochs", "1", "--target", "all", "-q")
    warned = [l for l in r.stderr.splitlines() if "warning" in l]
    assert len(warned) == 1 and warned[0].startswith(f"nerwin: warning: {f}: its types B_") and \
        "written with '_' for '-'" in warned[0], r.stderr


@pytest.mark.parametrize("name", ["btc", "wnut17", "wikigold"])
def test_the_real_corpora_splits_repeat_under_one_percent_of_their_sentences(name):
    """Dev and test against train, and test against dev: none gets the warning."""
    from nerwin.text.corpus import read_conll
    from nerwin.training.data import repeated_share
    from nerwin.training.run import REPEATED_WARN
    train, dev, test = (read_conll(corpus(name, split)) for split in ("train", "dev", "test"))
    for seen, other in ((train, dev), (train, test), (dev, test)):
        assert repeated_share(seen, other) < min(0.01, REPEATED_WARN)
