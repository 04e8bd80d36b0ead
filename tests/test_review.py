"""Each bug the outside review found, with a test that failed before its fix."""
import errno
import json
import os
import pickle

import numpy as np
import pytest

from nerwin.model import checkpoint
from nerwin.nn import heads, layers as model
from nerwin.errors import NerwinError
from nerwin.nn.optim import Optimizer
from nerwin.training.loop import TABLE_HEAD

from conftest import DATA, assert_clean_error, load_arrays, run


# ---- the math ---------------------------------------------------------------------------

def test_softmax_loss_is_finite_for_a_logit_gap_of_200_in_float32():
    h = np.ones((1, 1), np.float32)
    V = np.array([[200.0], [0.0]], np.float32)
    head = heads.SoftmaxHead("all", ["O", "B-X"])
    p = {"V": V, "c": np.zeros(2, np.float32)}
    J, grads, dh = head.loss(h, np.array([1]), None, p, 0.0)
    assert np.isfinite(J) and J == pytest.approx(200.0, rel=1e-6)
    dV, dc = grads["V"], grads["c"]
    assert np.all(np.isfinite(dV)) and dc == pytest.approx([1.0, -1.0])


@pytest.mark.parametrize("seed", range(20))
def test_embed_backward_equals_np_add_at(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    B = int(rng.integers(1, 30))
    vocab = [1, 2, 50][seed % 3]                  # 1: every id equal
    ids = rng.integers(0, vocab, size=(B, n))
    if seed == 0:
        ids, B, n = np.array([[7]]), 1, 1         # a single slot
    dwin = rng.normal(size=(B, n * d))
    rows, dE = model.embed_backward(dwin, (ids, d))
    ref = np.zeros((ids.max() + 1, d))
    np.add.at(ref, ids.ravel(), dwin.reshape(-1, d))
    assert list(rows) == sorted(set(ids.ravel().tolist()))
    np.testing.assert_allclose(dE, ref[rows], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_the_scatter_of_large_batches_equals_np_add_at(seed):
    rng = np.random.default_rng(seed)
    ids = rng.zipf(1.3, size=(900, 5)) % [7, 3000, 3000, 50, 3000][seed % 5]
    dwin = rng.normal(size=(900, 5 * 4))
    rows, dE = model.embed_backward(dwin, (ids, 4))
    ref = np.zeros((ids.max() + 1, 4))
    np.add.at(ref, ids.ravel(), dwin.reshape(-1, 4))
    assert list(rows) == sorted(set(ids.ravel().tolist()))
    np.testing.assert_allclose(dE, ref[rows], rtol=1e-12, atol=1e-12)


# ---- optimizers against textbook versions ------------------------------------------------

def textbook(name, lr, steps, b1=0.9, b2=0.999, eps=1e-8):
    """Per-row state, updated only on the steps that touch the row (lazy), as the papers write it."""
    def run(x0, grads):
        x, m, v, t, G = x0.copy(), np.zeros_like(x0), np.zeros_like(x0), 0, np.zeros_like(x0)
        for g in grads:
            if g is None:
                continue
            if name == "sgd":
                x -= lr * g
            elif name == "adagrad":
                G += g * g
                x -= lr * g / (np.sqrt(G) + eps)
            else:
                t += 1
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                x -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        return x
    return run


@pytest.mark.parametrize("name", ["sgd", "adagrad", "adam"])
def test_optimizer_matches_textbook_per_row_and_dense(name):
    rng = np.random.default_rng(0)
    E = rng.normal(size=(5, 3))
    p = {"W": rng.normal(size=(2, 3)), "b": rng.normal(size=2)}
    E0, p0 = E.copy(), {k: v.copy() for k, v in p.items()}
    opt = Optimizer(name, p, E, lr=0.05)
    touched = [[0, 1], [1], [1, 3], [0, 1]]         # row 1 every step, row 2 and 4 never
    row_grads = {r: [] for r in range(5)}
    dense = []
    for rows in touched:
        g = {k: rng.normal(size=v.shape) for k, v in p.items()}
        dE = rng.normal(size=(len(rows), 3))
        for r in range(5):
            row_grads[r].append(dE[rows.index(r)] if r in rows else None)
        dense.append(g)
        opt.step(p, g, E, np.array(rows), dE)
    book = textbook(name, 0.05, len(touched))
    for r in range(5):
        np.testing.assert_allclose(E[r], book(E0[r], row_grads[r]), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(E[[2, 4]], E0[[2, 4]])
    for k in p:
        np.testing.assert_allclose(p[k], book(p0[k], [g[k] for g in dense]), rtol=1e-10, atol=1e-12)


def test_trainable_mask_moves_only_the_allowed_rows():
    rng = np.random.default_rng(1)
    E = rng.normal(size=(6, 2))
    E0 = E.copy()
    p = {"W": rng.normal(size=(1, 2))}
    opt = Optimizer("adam", p, E, 0.1, trainable=np.arange(6) < 3)
    opt.step(p, {"W": np.ones((1, 2))}, E, np.array([0, 2, 4, 5]), np.ones((4, 2)))
    assert not np.allclose(E[[0, 2]], E0[[0, 2]])
    np.testing.assert_array_equal(E[3:], E0[3:])
    np.testing.assert_array_equal(E[1], E0[1])


def test_freeze_keeps_every_pretrained_row_and_trains_the_special_rows(tmp_path):
    train = tmp_path / "t.conll"       # the sample, plus a word GloVe lacks, so <UNK> is used
    train.write_text((DATA / "train.conll").read_text() + "Xqzzyplk\tB-LOC\nis\tO\nbig\tO\n\n")
    r = run("train", "--train", train, "--epochs", "2", "--freeze", "--out", tmp_path / "f", "-q", "--seed", "3")
    assert r.returncode == 0, r.stderr
    _, E, vocab, *_ = load_arrays(tmp_path / "f")
    from nerwin.settings import Settings
    from nerwin.training.data import prepare
    from nerwin.vectors import open_store
    E0 = prepare(train, None, open_store(None)[0], Settings.of(seed=3))[0].E
    assert E.shape == E0.shape
    np.testing.assert_array_equal(E[3:], E0[3:])        # every pretrained row, bit for bit
    assert np.all(np.abs(E[:3] - E0[:3]).sum(axis=1) > 0)  # <UNK>, <s>, </s> moved


# ---- loading a model checks what its config means ----------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from test_fuzz import tiny_model
    d = tmp_path_factory.mktemp("tiny")
    tiny_model(str(d / "bin"), True)
    tiny_model(str(d / "all"), False)
    return d


def mutate(src, dst, **changes):
    z = dict(np.load(src / "model.npz"))
    cfg = json.loads(z.pop("config_json").tobytes())
    for k, v in changes.items():
        if k in ("window", "activation", "hidden"):
            cfg["settings"][k] = v
        else:
            cfg[k] = v
    dst.mkdir()
    (dst / "config.json").write_text("{}")
    with open(dst / "model.npz", "wb") as f:
        np.savez(f, config_json=np.frombuffer(json.dumps(cfg).encode(), np.uint8), **z)
    return dst


@pytest.mark.parametrize("kind,changes,words", [
    ("bin", {"activation": "swish"}, "activation"),
    ("bin", {"classes": ["O", "B-LOC", "I-LOC"]}, "softmax head"),
    ("bin", {"head": "binary", "classes": ["O", "B-LOC", "I-LOC"]}, "binary model has no classes"),
    ("bin", {"head": "crf"}, "unknown head"),
    ("all", {"classes": ["O", 3, None]}, "classes"),
    ("bin", {"window": -1}, "window"),
    ("bin", {"nerwin_version": "abc"}, "version"),
])
def test_config_that_makes_no_sense_is_refused_on_load(tiny, tmp_path, kind, changes, words):
    d = mutate(tiny / kind, tmp_path / "m", **changes)
    with pytest.raises(NerwinError, match=words):
        load_arrays(d)
    assert_clean_error(run("predict", "--model", d, stdin="Paris is big .\n"), "model.npz", words)


def test_version_parsing_refuses_garbage():
    with pytest.raises(ValueError):
        checkpoint._newer("abc")
    assert checkpoint._newer("99.0.0") and not checkpoint._newer("0.0.1")


# ---- one-line errors instead of tracebacks -----------------------------------------------

@pytest.mark.parametrize("flag", ["--metrics-json", "--log"])
def test_train_outputs_in_a_missing_folder_or_a_directory(tmp_path, flag):
    assert_clean_error(run("train", "--out", tmp_path / "m", flag, tmp_path / "no" / "x.json"), "no/x.json", flag)
    assert_clean_error(run("train", "--out", tmp_path / "m", flag, tmp_path), str(tmp_path), flag)
    assert not (tmp_path / "m").exists()


def test_drift_outputs_and_words_folder(tmp_path):
    assert_clean_error(run("drift-demo", "--json", tmp_path / "no" / "d.json"), "--json")
    assert_clean_error(run("drift-demo", "--plot", tmp_path / "no" / "d.png"), "--plot")
    assert_clean_error(run("drift-demo", "--words", tmp_path), str(tmp_path), "directory")


def test_a_full_disk_while_saving_is_one_error_and_leaves_the_old_model(tmp_path, monkeypatch):
    from test_fuzz import tiny_model
    tiny_model(str(tmp_path), True)
    before = (tmp_path / "model.npz").read_bytes()
    from nerwin.model import WindowModel
    m = WindowModel.load(tmp_path)

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(NerwinError, match="No space left on device.*unchanged"):
        m.with_weights(m.params, m.E * 2).save(tmp_path)
    assert (tmp_path / "model.npz").read_bytes() == before
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


@pytest.mark.parametrize("content,extra,words", [
    ("", (), "no sentences"),
    ("a\tO\nb\tO\n", (), "no entity tags"),
    ("a\tB-LOC\nb\tB-LOC\n", (), "same label"),
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


# ---- gensim 3.x .kv files ------------------------------------------------------------------

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
