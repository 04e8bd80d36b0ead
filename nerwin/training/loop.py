"""The training loop, flat in one place: batches -> model.loss -> optimizer step, an epoch table,
and the best epoch kept (nanoGPT's train.py is the model)."""
from __future__ import annotations

import copy
import ctypes
import math
import time
from dataclasses import dataclass, field

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nerwin.errors import NerwinError
from nerwin.model import WindowModel
from nerwin.nn import network
from nerwin.nn.optim import Optimizer
from nerwin.settings import Settings
from nerwin.training.data import Data, sentence_batches, window_batches


@dataclass
class Run:
    """What a run has so far; the CLI saves `best` even after Ctrl-C or a diverged loss."""
    history: list = field(default_factory=list)
    best: dict | None = None
    step_seconds: list = field(default_factory=list)   # each step of the last epoch (benchmarks read it)
    start_loss: float | None = None                     # the first batch's loss, before any step


class Diverged(NerwinError):
    """The loss or the dev loss stopped being a finite number."""


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3      # glibc's mallopt parameters


def keep_freed_memory() -> None:
    """Keep a step's large temporaries (x, delta_window, the character windows) on the heap.
    By default glibc maps and unmaps each array above 128 KB on every step, and at batch 2048
    the page faults cost about as much as the GEMMs. A no-op where glibc's mallopt is missing."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):
        pass


def sayer(console):
    """print() to the rich console (stderr), or nothing when quiet."""
    if console is None:
        return lambda m: None
    return lambda m: console.print(m, markup=False, highlight=False, soft_wrap=True)


TABLE_HEAD = "epoch  train loss  dev loss  dev P  dev R  dev F1        lr  seconds  windows/s"


def table_row(rec: dict, best: bool) -> str:
    """One epoch under TABLE_HEAD: the fields `--log` writes, as spaCy's training table shows them."""
    d = rec.get("dev")
    dev = (f"{d['loss']:>8.4f}  {d['precision']:.3f}  {d['recall']:.3f}  {d['f1']:6.3f}" if d
           else f"{'-':>8}  {'-':>5}  {'-':>5}  {'-':>6}")
    return (f"{rec['epoch']:>5}  {rec['loss']:>10.4f}  {dev}  {rec['lr']:>8.2g}  {rec['seconds']:>7.1f}  "
            f"{rec['windows_per_s']:>9,.0f}" + ("  best" if best else ""))


def warm_up(model: WindowModel, train: Data, s: Settings, opt: Optimizer, lengths: np.ndarray) -> float:
    """Pay before epoch 1's clock what only its first steps would: numba loading its compiled
    loops, BLAS starting its threads, the optimizer's state and a full batch's temporaries
    faulting in their pages. One forward and backward pass on the first batch's worth of
    windows, its gradients dropped: the parameters, the optimizer and the random streams are
    left as they were, so the model is the same, bit for bit. -> that batch's loss J."""
    if model.whole_sentences:
        n = max(1, int(np.searchsorted(np.cumsum(lengths), s.batch_size, side="right")))
        lens = lengths[:n]
        idx = np.arange(int(lens.sum()))
    else:
        lens, idx = None, np.arange(min(len(train.y), s.batch_size))
    mask = np.ones((len(idx), model.settings.hidden), model.E.dtype) if s.dropout > 0 else None
    J = network.loss(model.params, model.E, train.X[idx], train.y[idx], model.head, s.activation, s.l2, mask,
                     model.features, train.feats.batch(idx), lens)[0]
    opt.touch()
    return J


@np.errstate(over="ignore", invalid="ignore")    # a loss that leaves the floats is said below, naming --lr
def fit(run: Run, model: WindowModel, train: Data, s: Settings, evaluate=None, on_best=None,
        on_epoch=None, console=None, trainable: np.ndarray | None = None) -> Run:
    """Train model.params and model.E in place; run.best holds copies of the best epoch's arrays.

    evaluate() -> dev metrics (or None: the best epoch is then the lowest training loss);
    on_best(best) runs when the kept epoch changes, on_epoch(record) after every epoch;
    trainable (|V|,) bool masks the rows of E that may move (--freeze). A head whose loss
    reads whole sentences, or a second layer, gets batches of whole sentences.
    """
    keep_freed_memory()
    p, E, head, features = model.params, model.E, model.head, model.features
    rng = np.random.default_rng(s.seed + 1)  # its own stream: init draws don't shift the batches
    opt = Optimizer(s.optimizer, p, E, s.lr, trainable=trainable, row_tables=model.row_tables())
    N, H, B = len(train.y), p["W"].shape[0], s.batch_size
    lengths = train.lengths
    stale = 0
    say = sayer(console)
    criterion = "dev F1" if evaluate is not None else "training loss"
    run.start_loss = warm_up(model, train, s, opt, lengths)
    for epoch in range(1, s.epochs + 1):
        if s.lr_decay and epoch > 1 and (epoch - 1) % s.lr_decay == 0:
            opt.lr /= 2
        total, t0 = 0.0, time.perf_counter()        # the epoch's clock counts its shuffle too
        batches = sentence_batches(rng, lengths, B) if model.whole_sentences else window_batches(rng, N, B)
        steps = len(batches)
        shuffled = train.take(np.concatenate([idx for idx, _ in batches]))
        ends = np.cumsum([len(idx) for idx, _ in batches])
        run.step_seconds = []
        with Progress(TextColumn(f"epoch {epoch}/{s.epochs}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("loss {task.fields[loss]}  {task.fields[wps]} windows/s"),
                      TimeRemainingColumn(), console=console, transient=True,
                      disable=console is None or not console.is_terminal) as bar:
            task = bar.add_task("train", total=steps, loss="-", wps="-")
            for k, (idx, lens) in enumerate(batches):
                t_step = time.perf_counter()
                cut = slice(ends[k] - len(idx), ends[k])        # batch k's windows in `shuffled`
                mask = None
                if s.dropout > 0:
                    mask = (rng.random((len(idx), H)) >= s.dropout).astype(E.dtype) / (1 - s.dropout)
                X = shuffled.words(cut, rng, s.word_dropout)
                J, grads, rows, dE = network.loss(p, E, X, shuffled.y[cut], head, s.activation, s.l2, mask,
                                                  features, shuffled.feats.batch(cut), lens)
                if not math.isfinite(J):
                    raise Diverged(f"the loss became {J} at epoch {epoch}, step {k + 1}; "
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
            if not np.isfinite(rec["dev"]["loss"]):
                raise Diverged(f"the dev loss became {rec['dev']['loss']} at epoch {epoch}; "
                               f"try a lower --lr (now {opt.lr:g})")
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


