"""`nerwin train` and `nerwin.train(...)`: read, build, fit, save the best epoch, evaluate.

Every setting comes from Settings (settings.py), checked once by Settings.of; the files are
this function's own arguments.
"""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console

from nerwin import sample
from nerwin.apply import checkpoint
from nerwin.apply.tagger import Tagger
from nerwin.errors import Interrupted, NerwinError, SettingTypeError, check_type
from nerwin.files import atomic_write, check_outputs
from nerwin.nn import model
from nerwin.nn.kernels_cache import compiled_before
from nerwin.settings import FIELDS, Settings
from nerwin.text.metrics import format_entity, format_prf
from nerwin.text.windows import SPECIALS
from nerwin.training.data import prepare
from nerwin.training.loop import Run, fit, sayer
from nerwin.vectors import Bundle, open_store

MODEL = Path("model")                                     # where a model goes, and is looked for


def memory_need(s: Settings, dim: int, K: int) -> int:
    """Bytes that training's arrays need at the least: W with its gradient, Adam's two moments
    and the best epoch's copy, and one batch's x, z, h and their gradients."""
    D = (2 * s.window + 1) * (dim + s.spelling_width())
    item = np.dtype(s.dtype).itemsize
    return item * (5 * s.hidden * (D + K) + 3 * s.batch_size * (D + 3 * s.hidden + K))


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def train(train: str | Path | None = None, dev: str | Path | None = None, test: str | Path | None = None,
          out: str | Path = MODEL, vectors: str | Path | None = None, vectors_format: str | None = None,
          vectors_limit: int | None = None, log: str | Path | None = None, quiet: bool = False,
          metrics_json: str | Path | None = None, **settings) -> tuple[Tagger, dict]:
    """Train, save the best epoch to `out`, and return (Tagger of that epoch, metrics).

    settings are Settings' fields (target, casing, epochs, ...). With no train file, the
    bundled sample corpus and its dev split are used. metrics holds the history, the dev
    scores of the kept epoch and, with `test`, the same dict `evaluate` gives for it.
    """
    for name, v in (("train", train), ("dev", dev), ("test", test), ("vectors", vectors), ("log", log),
                    ("metrics_json", metrics_json)):
        if v is not None:
            check_type(name, v, (str, Path), "a path or None")
    check_type("out", out, (str, Path), "a path")
    check_type("quiet", quiet, bool, "True or False")
    if vectors_format is not None:
        check_type("vectors_format", vectors_format, str, "a string or None")
    if vectors_limit is not None:
        check_type("vectors_limit", vectors_limit, int, "an integer or None")
    s = settings_of(settings)
    if train is None:
        train, dev = sample.path("train.conll"), dev if dev is not None else sample.path("dev.conll")
    out = Path(out)
    console = None if quiet else Console(stderr=True)
    say = sayer(console)
    checkpoint.check_writable(out)
    check_train_outputs([train, dev, test, vectors], out, log, metrics_json)
    store, source = open_store(None if vectors is None else str(vectors), vectors_format, vectors_limit)
    vocab, E, tr, dev_sents, head, oov = prepare(train, dev, store, s, vectors)
    s = replace(s, target=head.target)
    need, have = memory_need(s, E.shape[1], head.K), available_memory()
    if have is not None and need > have:
        raise NerwinError(f"--hidden {s.hidden} with --batch-size {s.batch_size} needs at least {need / 2**30:,.1f} "
                          f"GiB of memory, and {have / 2**30:,.1f} GiB is available; choose smaller values")
    say(f"train: {len(tr.sents)} sentences, {len(tr.y)} windows, labels {', '.join(head.labels)}; "
        f"vocabulary {len(vocab)} rows x {E.shape[1]}; OOV rate {oov:.2%}")
    if dev_sents is None:
        say("no --dev: the kept epoch is the one with the lowest training loss")
    bundle = Bundle.build(store, s.bundle_vectors, set(vocab.words))
    p = model.init_params((2 * s.window + 1) * (E.shape[1] + s.spelling_width()), s.hidden, head,
                          np.random.default_rng(s.seed), E.dtype, s.table_shapes(tr.spelling.sizes))
    config = {"settings": s.to_dict(), **head.config(), "dim": int(E.shape[1]),
              "vectors": source, "train_file": str(train), "oov_rate": oov}
    if s.affixes or s.chars:
        config["spelling"] = tr.spelling.config()
    trainable = None if s.fine_tune else np.arange(len(vocab)) < len(SPECIALS)
    live = Tagger(p, E, vocab, config, store=store, live=True)   # sees p and E as they train
    evaluate = (lambda: live.evaluate(dev_sents, calibrate=False)) if dev_sents is not None else None
    log_file = open_log(log)
    if not compiled_before():
        say("compiling nerwin's training loops (numba; once after installing, about 20 s)")
    run, saved = Run(), []

    def on_epoch(rec):
        if log_file is not None:
            try:
                log_file.write(json.dumps(rec, allow_nan=False) + "\n")
                log_file.flush()
            except OSError as e:
                raise NerwinError(f"cannot write the log ({e.strerror})", log) from None

    def save(best):
        checkpoint.save(out, best["params"], best["E"], vocab, dict(config, best_epoch=best["epoch"]), bundle,
                        history={"best_epoch": best["epoch"], "epochs": run.history})
        saved[:] = [best["epoch"]]

    try:
        fit(run, p, E, tr, s, head, evaluate, on_best=save, on_epoch=on_epoch, console=console, trainable=trainable)
    except KeyboardInterrupt:
        if not saved:
            raise Interrupted("interrupted before the first epoch ended; nothing saved") from None
        raise Interrupted(f"interrupted; the best model so far (epoch {saved[0]}) is in {out}") from None
    except NerwinError as e:
        if saved:
            raise NerwinError(f"{e}; the last good model (epoch {saved[0]}) is in {out}") from None
        raise
    finally:
        if log_file is not None:
            try:
                log_file.close()
            except OSError:
                pass                    # said already, when its write failed
        if saved:               # the epochs after the kept one; timings stay out of model.npz
            checkpoint.save_history(out, run.history, saved[0])
    best = run.best
    tagger = Tagger(best["params"], best["E"], vocab, dict(config, vocabulary=vocab.words), bundle, store=store)
    if dev_sents is not None:             # calibrate: one temperature, fitted on dev, changes no decision
        T = tagger.fit_temperature(dev_sents)
        config = dict(config, best_epoch=best["epoch"], temperature=T)
        checkpoint.save(out, best["params"], best["E"], vocab, config, bundle,
                        history={"best_epoch": best["epoch"], "epochs": run.history})
        tagger = Tagger(best["params"], best["E"], vocab, dict(config, vocabulary=vocab.words), bundle, store=store)
        say(f"temperature {T:.3f}, fitted on dev: probabilities and confidences are the model's at T")
    result = {"target": s.target, "best_epoch": best["epoch"], "oov_rate": oov,
              "train_windows": int(len(tr.y)), "history": run.history,
              "seconds": sum(h["seconds"] for h in run.history), "temperature": tagger.temperature}
    if dev_sents is not None:
        result["dev"] = tagger.evaluate(dev_sents)
    if test is not None:
        result["test"] = tagger.evaluate(test)
        say("test: " + (format_entity(result["test"]) if head.entity_level else format_prf(result["test"])))
    say(f"saved epoch {best['epoch']} to {out}/")
    if metrics_json is not None:
        write_json(result, metrics_json)
    return tagger, result


KEYWORDS = ("train", "dev", "test", "out", "vectors", "vectors_format", "vectors_limit", "log", "quiet",
            "metrics_json")


def settings_of(values: dict) -> Settings:
    """Settings from train()'s other keywords; an unknown one is named with every keyword train takes."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise SettingTypeError(unknown[0], "is not an argument of train; it takes "
                               + ", ".join(sorted({*KEYWORDS, *FIELDS})))
    return Settings.of(**values)


def check_train_outputs(inputs: list, out: Path, log, metrics_json) -> None:
    """No output of a run may be one of its inputs or another output; the log may not sit in the
    model directory, which each save replaces whole."""
    model = [(out / name, f"the model's {name}") for name in ("model.npz", "config.json", "history.json")]
    check_outputs(inputs, [(log, "the log"), (metrics_json, "the metrics JSON"), *model])
    if log is not None and os.path.realpath(Path(log).absolute().parent) == os.path.realpath(out.absolute()):
        raise NerwinError("the log may not be inside the model directory, which every save replaces whole; "
                          "put it beside the model", log)


def write_json(obj, path) -> None:
    data = (json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False, default=float) + "\n").encode("utf-8")
    try:
        atomic_write(Path(path), data)
    except OSError as e:
        raise NerwinError(f"cannot write ({e.strerror})", path) from None
def open_log(path):
    if path is None:
        return None
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as e:
        raise NerwinError(f"cannot write the log ({e.strerror})", path) from None
