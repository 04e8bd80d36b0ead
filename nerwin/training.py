"""Training: corpus -> windows -> model -> optim, in one flat loop; the best epoch goes to checkpoint.

`train()` is what `nerwin train` and `nerwin.train(...)` both call. Every default is written
once, in Settings (the model and loop) and in train()'s signature (files).
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from nerwin import model
from nerwin.corpus import Sentence, binary_labels, entity_types, read_conll, resolve_target
from nerwin.errors import NerwinError
from nerwin.schemes import class_ids, iob2_classes, transitions
from nerwin.tagger import Tagger
from nerwin.windows import BOS, EOS, SHAPES, SPECIALS, Vocab, build_vocab, candidates, shape_matrix, window_matrix

SAMPLE = Path(__file__).resolve().parents[1] / "data"     # the bundled sample corpus
MODEL = Path("model")                                     # where a model goes, and is looked for
LOSSES = ("auto", "window", "sentence")


@dataclass
class Settings:
    target: str = "LOC"    # an entity type (binary sigma), or "all" (softmax over IOB2 tags)
    loss: str = "auto"     # window: per-word cross-entropy; sentence: Collobert's sentence log-likelihood;
                           # auto: sentence for target "all", window for one type (benchmark_quality.py)
    window: int = 2
    hidden: int = 100
    activation: str = "tanh"
    optimizer: str = "adam"
    lr: float = 0.001
    batch_size: int = 64   # windows a step (window loss), or about that many words in whole sentences
    epochs: int = 10
    l2: float = 1e-5
    dropout: float = 0.0
    patience: int = 0      # stop after this many epochs without a better dev F1; 0 = never
    lr_decay: int = 0      # halve the learning rate every k epochs; 0 = never
    fine_tune: bool = True
    casing: int = 5        # size of the trainable word-shape vector added to each word; 0 = off
    bundle_vectors: int = 50000   # most frequent pretrained rows kept in the model (scripts/bundle_table.py)
    seed: int = 0
    dtype: str = "float32"

    def check(self) -> None:
        from nerwin.model import ACTIVATIONS
        from nerwin.optim import OPTIMIZERS
        for name, value, choices in (("activation", self.activation, ACTIVATIONS),
                                     ("optimizer", self.optimizer, OPTIMIZERS), ("loss", self.loss, LOSSES)):
            if value not in choices:
                raise NerwinError(f"unknown --{name} {value!r}; choose one of {', '.join(choices)}")
        if self.loss == "auto":
            self.loss = "sentence" if self.target.lower() == "all" else "window"
        if self.loss == "sentence" and self.target.lower() != "all":
            raise NerwinError("--loss sentence scores tag sequences: it needs --target all")
        if self.bundle_vectors < 0:
            raise NerwinError(f"--bundle-vectors must be 0 or more, got {self.bundle_vectors}")


DEFAULTS = Settings()


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
    step_seconds: list = field(default_factory=list)   # each step of the last epoch (benchmarks read it)


class Interrupted(NerwinError):
    """Ctrl-C during training; the best model so far, if any, is already saved."""


def encode(sents: list[Sentence], vocab: Vocab, w: int, target: str, classes: list[str] | None = None,
           casing: bool = False) -> Data:
    X = window_matrix(vocab.ids([s.tokens for s in sents]), w, vocab.index[BOS], vocab.index[EOS])
    S = shape_matrix([s.tokens for s in sents], w) if casing else None
    if classes is None:
        y = np.fromiter((v for s in sents for v in binary_labels(s, target)), dtype=np.float32)
    else:
        y = np.fromiter((v for s in sents for v in class_ids(s.tags or [], classes)), dtype=np.int64)
    return Data(X, y, sents, S)


def prepare(train_path, dev_path, store, s: Settings):
    """Read the corpora, build the training vocabulary from the pretrained vectors, encode windows.

    Returns vocab, E (training rows only), train Data, dev sentences or None, the resolved
    target, the classes (None when binary) and the OOV rate.
    """
    train_sents = read_conll(train_path)
    types = entity_types(train_sents)
    if not types:
        raise NerwinError("no entity tags at all (every tag is O); there is nothing to learn", train_path)
    if s.target.lower() == "all":
        target, classes = "all", iob2_classes(types)
    else:
        target, classes = resolve_target(s.target, types, train_path), None
    rng = np.random.default_rng(s.seed)
    found = store.lookup(candidates(t for x in train_sents for t in x.tokens))
    vocab, E, oov = build_vocab((x.tokens for x in train_sents), found, store.dim, rng)
    train = encode(train_sents, vocab, s.window, target, classes, s.casing > 0)
    if np.unique(train.y).size < 2:
        raise NerwinError(f"every token has the same label ({target}); training needs both entities and O",
                          train_path)
    dev = None
    if dev_path is not None:
        dev = read_conll(dev_path)
        dev_types = entity_types(dev)
        extra = [t for t in dev_types if t not in types]
        if target == "all" and extra:
            raise NerwinError(f"dev has entity types that train lacks ({', '.join(extra)}); the model could "
                              f"never predict them. Train has: {', '.join(types)}", dev_path)
        if target != "all" and target not in dev_types:
            raise NerwinError(f"dev has no {target} entities, so its F1 could not choose an epoch", dev_path)
    return vocab, E.astype(s.dtype), train, dev, target, classes, oov


def sayer(console):
    """print() to the rich console (stderr), or nothing when quiet."""
    if console is None:
        return lambda m: None
    return lambda m: console.print(m, markup=False, highlight=False, soft_wrap=True)


def window_batches(rng, N: int, B: int):
    """Shuffled windows, B a batch: (indices, None)."""
    perm = rng.permutation(N)
    return [(perm[k:k + B], None) for k in range(0, N, B)]


def sentence_batches(rng, lengths: np.ndarray, B: int):
    """Shuffled whole sentences, about B words a batch: (window indices, sentence lengths)."""
    starts = np.cumsum(lengths) - lengths
    order = rng.permutation(len(lengths))
    group = (np.cumsum(lengths[order]) - 1) // B           # a sentence joins the batch it ends in
    out = []
    for b in np.split(order, np.flatnonzero(np.diff(group)) + 1):
        L = lengths[b]
        out.append((np.repeat(starts[b] - (np.cumsum(L) - L), L) + np.arange(L.sum()), L))
    return out


TABLE_HEAD = "epoch  train loss  dev loss  dev P  dev R  dev F1        lr  seconds  windows/s"


def table_row(rec: dict, best: bool) -> str:
    """One epoch under TABLE_HEAD: the fields `--log` writes, as spaCy's training table shows them."""
    d = rec.get("dev")
    dev = (f"{d['loss']:>8.4f}  {d['precision']:.3f}  {d['recall']:.3f}  {d['f1']:6.3f}" if d
           else f"{'-':>8}  {'-':>5}  {'-':>5}  {'-':>6}")
    return (f"{rec['epoch']:>5}  {rec['loss']:>10.4f}  {dev}  {rec['lr']:>8.2g}  {rec['seconds']:>7.1f}  "
            f"{rec['windows_per_s']:>9,.0f}" + ("  best" if best else ""))


def fit(run: Run, p: dict, E: np.ndarray, train: Data, s: Settings, evaluate=None, on_best=None,
        on_epoch=None, console=None, trainable: np.ndarray | None = None, rules=None) -> Run:
    """Train p and E in place; run.best holds copies of the best epoch's arrays.

    evaluate() -> dev metrics (or None: the best epoch is then the lowest training loss);
    on_best(best) runs when the kept epoch changes, on_epoch(record) after every epoch;
    trainable (|V|,) bool masks the rows of E that may move (--freeze); rules (the IOB2
    transitions, schemes.transitions) turn on the sentence loss, batched by sentence.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from nerwin.optim import Optimizer

    rng = np.random.default_rng(s.seed + 1)  # its own stream: init draws don't shift the batches
    opt = Optimizer(s.optimizer, p, E, s.lr, trainable=trainable)
    N, H, B = len(train.y), p["W"].shape[0], s.batch_size
    lengths = np.array([len(x.tokens) for x in train.sents])
    stale = 0
    say = sayer(console)
    criterion = "dev F1" if evaluate is not None else "training loss"
    for epoch in range(1, s.epochs + 1):
        if s.lr_decay and epoch > 1 and (epoch - 1) % s.lr_decay == 0:
            opt.lr /= 2
        batches = window_batches(rng, N, B) if rules is None else sentence_batches(rng, lengths, B)
        steps = len(batches)
        total, t0 = 0.0, time.perf_counter()
        run.step_seconds = []
        with Progress(TextColumn(f"epoch {epoch}/{s.epochs}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]}  {task.fields[wps]} windows/s"),
                      TimeRemainingColumn(), console=console, transient=True,
                      disable=console is None or not console.is_terminal) as bar:
            task = bar.add_task("train", total=steps, loss="-", wps="-")
            for k, (idx, lens) in enumerate(batches):
                t_step = time.perf_counter()
                mask = None
                if s.dropout > 0:
                    mask = (rng.random((len(idx), H)) >= s.dropout).astype(E.dtype) / (1 - s.dropout)
                J, grads, rows, dE = model.loss(p, E, train.X[idx], train.y[idx], s.activation, s.l2, mask,
                                                None if train.S is None else train.S[idx], lens, rules)
                if not np.isfinite(J):
                    raise NerwinError(f"the loss became {J} at epoch {epoch}, step {k + 1}; "
                                      f"try a lower --lr (now {opt.lr:g})")
                opt.step(p, grads, E, rows, dE)
                total += J
                if k % 50 == 0 or k == steps - 1:
                    bar.update(task, completed=k + 1, loss=f"{total / (k + 1):.4f}",
                               wps=f"{(k + 1) * N / steps / (time.perf_counter() - t0 + 1e-9):,.0f}")
                run.step_seconds.append(time.perf_counter() - t_step)
        secs = time.perf_counter() - t0
        rec = {"epoch": epoch, "loss": total / steps, "lr": opt.lr, "seconds": secs, "windows_per_s": N / secs}
        if evaluate is not None:
            rec["dev"] = evaluate()
        run.history.append(rec)
        if on_epoch:
            on_epoch(rec)
        score = rec["dev"]["f1"] if evaluate is not None else -rec["loss"]
        better = run.best is None or score > run.best["score"]
        if epoch == 1:
            say(TABLE_HEAD)
        say(table_row(rec, better))
        if better:
            run.best = {"score": score, "epoch": epoch, "params": copy.deepcopy(p), "E": E.copy(), "record": rec}
            stale = 0
            if on_best:
                on_best(run.best)
        else:
            stale += 1
            if s.patience and stale >= s.patience:
                say(f"early stop: no better {criterion} for {stale} epochs; keeping epoch {run.best['epoch']}")
                break
    return run


def train(train: str | Path | None = None, dev: str | Path | None = None, test: str | Path | None = None,
          out: str | Path = MODEL, vectors: str | None = None, vectors_format: str | None = None,
          vectors_limit: int | None = None, log: str | Path | None = None, quiet: bool = False,
          **settings) -> tuple[Tagger, dict]:
    """Train, save the best epoch to `out`, and return (Tagger of that epoch, metrics).

    settings are Settings' fields (target, casing, epochs, ...). With no train file, the
    bundled sample corpus and its dev split are used. metrics holds the history, the dev
    scores of the kept epoch and, with `test`, the same dict `evaluate` gives for it.
    """
    from nerwin import checkpoint
    from nerwin.metrics import format_entity, format_prf
    from nerwin.vectors import Bundle, open_store

    unknown = set(settings) - {f.name for f in fields(Settings)}
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    s = Settings(**settings)
    s.check()
    if train is None:
        train, dev = SAMPLE / "train.conll", dev if dev is not None else SAMPLE / "dev.conll"
    out = Path(out)
    console = None
    if not quiet:
        from rich.console import Console
        console = Console(stderr=True)
    say = sayer(console)
    checkpoint.check_writable(out)
    store, source = open_store(vectors, vectors_format, vectors_limit)
    vocab, E, tr, dev_sents, s.target, classes, oov = prepare(train, dev, store, s)
    what = f"{int(tr.y.sum())} {s.target}" if classes is None else f"classes {', '.join(classes)}"
    say(f"train: {len(tr.sents)} sentences, {len(tr.y)} windows, {what}; "
        f"vocabulary {len(vocab)} rows x {E.shape[1]}; OOV rate {oov:.2%}")
    if dev_sents is None:
        say("no --dev: the kept epoch is the one with the lowest training loss")
    bundle = Bundle.build(store, s.bundle_vectors, set(vocab.words))
    K = 1 if classes is None else len(classes)
    sentence = s.loss == "sentence"
    p = model.init_params((2 * s.window + 1) * (E.shape[1] + s.casing), s.hidden, K, np.random.default_rng(s.seed),
                          E.dtype, casing=(len(SHAPES), s.casing) if s.casing else None, sentence=sentence)
    rules = tuple(r.astype(E.dtype) for r in transitions(classes)) if sentence else None
    config = {"settings": asdict(s), "target": s.target, "classes": classes, "dim": int(E.shape[1]),
              "vectors": source, "train_file": str(train), "oov_rate": oov}
    trainable = None if s.fine_tune else np.arange(len(vocab)) < len(SPECIALS)
    live = Tagger(p, E, vocab, config, store=store)       # sees p and E as they train
    evaluate = (lambda: live.evaluate(dev_sents)) if dev_sents is not None else None
    log_file = open_log(log)

    def on_epoch(rec):
        if log_file is not None:
            log_file.write(json.dumps(rec) + "\n")
            log_file.flush()

    def save(best):
        checkpoint.save(out, best["params"], best["E"], vocab, dict(config, best_epoch=best["epoch"]), bundle)

    run = Run()
    try:
        fit(run, p, E, tr, s, evaluate, on_best=save, on_epoch=on_epoch, console=console, trainable=trainable,
            rules=rules)
    except KeyboardInterrupt:
        if run.best is None:
            raise Interrupted("interrupted before the first epoch ended; nothing saved") from None
        raise Interrupted(f"interrupted; the best model so far (epoch {run.best['epoch']}) is in {out}") from None
    except NerwinError as e:
        if run.best is not None:
            raise NerwinError(f"{e}; the last good model (epoch {run.best['epoch']}) is in {out}") from None
        raise
    finally:
        if log_file is not None:
            log_file.close()
        if run.best is not None:    # timings differ run to run, so they stay out of model.npz
            checkpoint.save_history(out, run.history, run.best["epoch"])
    best = run.best
    tagger = Tagger(best["params"], best["E"], vocab, dict(config, vocabulary=vocab.words), bundle, store=store)
    result = {"target": s.target, "best_epoch": best["epoch"], "oov_rate": oov,
              "train_windows": int(len(tr.y)), "history": run.history,
              "seconds": sum(h["seconds"] for h in run.history)}
    if dev_sents is not None:
        result["dev"] = best["record"]["dev"]
    if test is not None:
        result["test"] = tagger.evaluate(test)
        say("test: " + (format_prf(result["test"]) if classes is None else format_entity(result["test"])))
    say(f"saved epoch {best['epoch']} to {out}/")
    return tagger, result


def open_log(path):
    if path is None:
        return None
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as e:
        raise NerwinError(f"cannot write the log ({e.strerror})", path) from None
