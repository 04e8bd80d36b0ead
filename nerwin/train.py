"""Training: data to windows, then one flat loop (shuffle, minibatch, step, dev report, keep best)."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from nerwin import model
from nerwin.corpus import Sentence, binary_labels, entity_types, read_conll, resolve_target
from nerwin.errors import NerwinError
from nerwin.metrics import decode_sentences, entity_prf, format_prf, iob2_classes, to_iob2, token_prf
from nerwin.optim import Optimizer
from nerwin.windows import (BOS, EOS, Vocab, build_vocab, candidates, shape_matrix, window_matrix,
                            with_pretrained)


@dataclass
class Settings:
    target: str = "LOC"    # an entity type (binary sigma), or "all" (softmax over types + O)
    window: int = 2
    hidden: int = 100
    activation: str = "tanh"
    optimizer: str = "adam"
    lr: float = 0.001
    batch_size: int = 64
    epochs: int = 10
    l2: float = 1e-5
    dropout: float = 0.0
    patience: int = 0      # stop after this many epochs without a better dev F1; 0 = never
    lr_decay: int = 0      # halve the learning rate every k epochs; 0 = never
    fine_tune: bool = True
    casing: int = 0        # size of the trainable word-shape vector added to each word; 0 = off
    seed: int = 0
    dtype: str = "float32"


@dataclass
class Data:
    """Windows (N, 2w+1) of row ids, labels (N,), and shape ids (N, 2w+1) when casing is on."""
    X: np.ndarray
    y: np.ndarray
    sents: list[Sentence]
    S: np.ndarray | None = None


@dataclass
class Run:
    """What a run has so far; the CLI saves `best` even after Ctrl-C or a diverged loss."""
    history: list = field(default_factory=list)
    best: dict | None = None


def class_labels(sent: Sentence, classes: list[str]) -> list[int]:
    """Index into classes (O, B-T, I-T, ...) of each token's IOB2 tag; a type not in classes is O."""
    index = {c: i for i, c in enumerate(classes)}
    return [index.get(t, 0) for t in to_iob2(sent.tags or [])]


def encode(sents: list[Sentence], vocab: Vocab, w: int, target: str, classes: list[str] | None = None,
           casing: bool = False) -> Data:
    X = window_matrix([vocab.ids(s.tokens) for s in sents], w, vocab.index[BOS], vocab.index[EOS])
    S = shape_matrix([s.tokens for s in sents], w) if casing else None
    if classes is None:
        y = np.fromiter((v for s in sents for v in binary_labels(s, target)), dtype=np.float32)
    else:
        y = np.fromiter((v for s in sents for v in class_labels(s, classes)), dtype=np.int64)
    return Data(X, y, sents, S)


def score_data(p, E, data: Data, classes: list[str] | None, act: str) -> dict:
    """Token-level P/R/F1 of the target (binary), or span-exact entity P/R/F1 (all types)."""
    prob = scores(p, E, data.X, act, data.S)
    if classes is None:
        return token_prf(data.y, prob >= 0.5)
    pred = decode_sentences(classes, prob, (len(s.tokens) for s in data.sents))
    return entity_prf([s.tags for s in data.sents], [tags for tags, _ in pred])


def prepare(train_path, dev_path, store, s: Settings):
    """Read the corpora, build the training vocabulary from the pretrained vectors, encode windows.

    Returns vocab, E (training rows only), train Data, dev Data or None, dev's extra
    pretrained rows (unseen words), the resolved target, the classes (None when binary)
    and the OOV rate.
    """
    train_sents = read_conll(train_path)
    types = entity_types(train_sents)
    if s.target.lower() == "all":
        target, classes = "all", iob2_classes(types)
    else:
        target, classes = resolve_target(s.target, types, train_path), None
    rng = np.random.default_rng(s.seed)
    found = store.lookup(candidates(t for x in train_sents for t in x.tokens))
    vocab, E, oov = build_vocab((x.tokens for x in train_sents), found, store.dim, rng)
    E = E.astype(s.dtype)
    train = encode(train_sents, vocab, s.window, target, classes, s.casing > 0)
    dev, extra = None, E[:0]
    if dev_path is not None:
        dev_sents = read_conll(dev_path)
        dvocab, dE = with_pretrained(vocab, E, store, (t for x in dev_sents for t in x.tokens))
        dev, extra = encode(dev_sents, dvocab, s.window, target, classes, s.casing > 0), dE[len(vocab):]
    return vocab, E, train, dev, extra, target, classes, oov


def scores(p, E, X, act, S=None, batch=8192) -> np.ndarray:
    """Model probabilities for windows X (shape ids S), in chunks so memory stays flat."""
    out = [model.predict_proba(p, E, X[i:i + batch], act, None if S is None else S[i:i + batch])
           for i in range(0, len(X), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=E.dtype)


def sayer(console):
    """print() to the rich console (stderr), or nothing when quiet."""
    if console is None:
        return lambda m: None
    return lambda m: console.print(m, markup=False, highlight=False, soft_wrap=True)


def fit(run: Run, p: dict, E: np.ndarray, train: Data, dev: Data | None, extra: np.ndarray,
        s: Settings, on_best=None, console=None, classes: list[str] | None = None, on_epoch=None) -> Run:
    """Train p and E in place; run.best holds copies of the best epoch's arrays.
    on_best(best) runs when dev improves, on_epoch(record, p, E) after every epoch."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    rng = np.random.default_rng(s.seed + 1)  # its own stream: init draws don't shift the batches
    opt = Optimizer(s.optimizer, p, E, s.lr, freeze=not s.fine_tune)
    N, H, B = len(train.y), p["W"].shape[0], s.batch_size
    steps = (N + B - 1) // B
    stale = 0
    say = sayer(console)
    for epoch in range(1, s.epochs + 1):
        if s.lr_decay and epoch > 1 and (epoch - 1) % s.lr_decay == 0:
            opt.lr /= 2
        perm = rng.permutation(N)
        total, t0 = 0.0, time.perf_counter()
        with Progress(TextColumn(f"epoch {epoch}/{s.epochs}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]}  {task.fields[wps]} windows/s"),
                      TimeRemainingColumn(), console=console, transient=True,
                      disable=console is None) as bar:
            task = bar.add_task("train", total=steps, loss="-", wps="-")
            for k in range(steps):
                idx = perm[k * B:(k + 1) * B]
                mask = None
                if s.dropout > 0:
                    mask = (rng.random((len(idx), H)) >= s.dropout).astype(E.dtype) / (1 - s.dropout)
                J, grads, rows, dE = model.loss(p, E, train.X[idx], train.y[idx], s.activation, s.l2, mask,
                                                None if train.S is None else train.S[idx])
                if not np.isfinite(J):
                    raise NerwinError(f"the loss became {J} at epoch {epoch}, step {k + 1}; "
                                      f"try a lower --lr (now {opt.lr:g})")
                opt.step(p, grads, E, rows, dE)
                total += J
                if k % 50 == 0 or k == steps - 1:
                    bar.update(task, completed=k + 1, loss=f"{total / (k + 1):.4f}",
                               wps=f"{(k + 1) * B / (time.perf_counter() - t0 + 1e-9):,.0f}")
        secs = time.perf_counter() - t0
        rec = {"epoch": epoch, "loss": total / steps, "lr": opt.lr, "seconds": secs, "windows_per_s": N / secs}
        if dev is not None:
            rec["dev"] = score_data(p, np.vstack([E, extra]), dev, classes, s.activation)
        run.history.append(rec)
        if on_epoch:
            on_epoch(rec, p, E)
        f1 = rec["dev"]["f1"] if dev is not None else -rec["loss"]
        better = run.best is None or f1 > run.best["score"]
        line = f"epoch {epoch}: loss {rec['loss']:.4f}, {rec['windows_per_s']:,.0f} windows/s"
        if dev is not None:
            line += f"; dev {format_prf(rec['dev'])}"
        say(line + ("  [best]" if better else ""))
        if better:
            run.best = {"score": f1, "epoch": epoch, "params": copy.deepcopy(p), "E": E.copy(), "record": rec}
            stale = 0
            if on_best:
                on_best(run.best)
        else:
            stale += 1
            if s.patience and stale >= s.patience:
                say(f"early stop: no better dev F1 for {stale} epochs; keeping epoch {run.best['epoch']}")
                break
    return run
