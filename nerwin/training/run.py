"""`nerwin train` and `nerwin.train(...)`: read, build, fit, save the best epoch, evaluate.

Every setting comes from Settings (settings.py), checked once by Settings.of; the files are
this function's own arguments.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
from rich.console import Console

from nerwin import sample
from nerwin.apply.evaluate import check_gold
from nerwin.apply.tagger import Tagger
from nerwin.errors import Interrupted, NerwinError, NerwinTypeError, SettingTypeError, check_type, ctrl_c, plural
from nerwin.files import atomic_write, check_outputs
from nerwin.model import WindowModel, checkpoint
from nerwin.nn.kernels_cache import compiled_before
from nerwin.settings import FIELDS, Settings
from nerwin.text.corpus import entity_types, read_conll
from nerwin.text.metrics import format_entity, format_prf
from nerwin.text.windows import SPECIALS
from nerwin.training.calibrate import fit_temperature
from nerwin.training.data import prepare, repeated_share
from nerwin.training.loop import Run, fit, sayer
from nerwin.vectors import open_store

MODEL = Path("model")                                     # where a model goes, and is looked for


def gazetteer_specs(gazetteers) -> list[str]:
    """["TYPE=FILE", ...] from None, such a list, or {TYPE: FILE}."""
    if gazetteers is None:
        return []
    if isinstance(gazetteers, dict):
        items = []
        for t, f in gazetteers.items():
            check_type("gazetteers' keys", t, str, "entity types (strings)")
            check_type(f"gazetteers[{t!r}]", f, (str, Path), "a path")
            items.append(f"{t}={f}")
        return items
    if isinstance(gazetteers, (str, Path)) or not isinstance(gazetteers, (list, tuple)):
        raise NerwinTypeError("gazetteers must be a list of \"TYPE=FILE\" strings or a dict {TYPE: FILE}, "
                              f"got {type(gazetteers).__name__}")
    for i, g in enumerate(gazetteers):
        check_type(f"gazetteers[{i}]", g, str, 'a "TYPE=FILE" string')
    return list(gazetteers)


def train(train: str | Path | None = None, dev: str | Path | None = None, test: str | Path | None = None,
          out: str | Path = MODEL, vectors: str | Path | None = None, vectors_format: str | None = None,
          vectors_limit: int | None = None, log: str | Path | None = None, quiet: bool = False,
          metrics_json: str | Path | None = None, gazetteers=None, **settings) -> tuple[Tagger, dict]:
    """Train, save the best epoch to `out`, and return (Tagger of that epoch, metrics).

    settings are Settings' fields (target, casing, epochs, ...). gazetteers: word lists of
    entity names, ["TYPE=FILE", ...] or {TYPE: FILE}; the model keeps them. With no train file, the
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
        vectors_limit = check_type("vectors_limit", vectors_limit, int, "an integer or None")
    gazetteers = gazetteer_specs(gazetteers)
    s = settings_of(settings)
    if train is None:
        train, dev = sample.path("train.conll"), dev if dev is not None else sample.path("dev.conll")
    out = Path(out)
    console = None if quiet else Console(stderr=True)
    say = sayer(console)
    checkpoint.check_writable(out)
    check_train_outputs([train, dev, test, vectors, *(spec.partition("=")[2] for spec in gazetteers)], out, log,
                        metrics_json)
    if (out / "model.npz").exists():
        say(f"{out}/ holds a model; it is replaced when this run ends")

    # prepare: the corpora, the vocabulary and its vectors, the model and its windows
    store, source = open_store(None if vectors is None else str(vectors), vectors_format, vectors_limit)
    model, data, dev_sents, oov = prepare(train, dev, store, s, vectors, source, gazetteers)
    s, head, vocab = model.settings, model.head, model.vocab
    say(f"train: {plural(len(data.sents), 'sentence')}, {len(data.y):,} windows, labels {', '.join(head.labels)}; "
        f"vocabulary {len(vocab)} rows x {model.dim}; OOV rate {oov:.2%}")
    underscored = [t for t in entity_types(data.sents) if len(t) > 2 and t[1] == "_" and t[0].upper() in "BIESLU"]
    if underscored:
        shown = ", ".join(underscored[:4]) + (", ..." if len(underscored) > 4 else "")
        warn(f"its types {shown} look like tags written with '_' for '-'; nerwin reads a tag's prefix before "
             f"'-' (B-{underscored[0][2:]}), as conlleval does, so each is a type of its own", train)
    long = [x for x in data.sents if len(x.tokens) > LONG_WARN]
    if long:
        x = max(long, key=lambda x: len(x.tokens))
        more = f"; {len(long) - 1:,} more over {LONG_WARN:,}" if len(long) > 1 else ""
        warn(f"line {x.line}: a sentence of {len(x.tokens):,} words{more}: are the blank lines between sentences "
             "missing? Each sentence is read whole, and with the sentence loss is one batch", train)
    if oov > OOV_WARN:
        warn(f"the vectors hold no row for {oov:.0%} of the training tokens, which then all share <UNK>; "
             "check that they are the right vectors for this corpus's language and text", vectors or "the vectors")
    test_sents = None
    if test is not None:                                  # its errors now, not after the last epoch
        test_sents = read_conll(test)
        check_gold(head, test_sents, test)
    in_train = ("are in the training data word for word: its scores measure what the model memorized, not how it "
                "tags new text")
    for path, sents, seen, said in (
            (dev, dev_sents, data.sents, in_train + ", and they choose the kept epoch and fit the temperature"),
            (test, test_sents, data.sents, in_train),
            (test, test_sents, dev_sents, "are in --dev word for word: the kept epoch and the temperature were chosen "
                                          "on them, so its scores are optimistic")):
        share = repeated_share(seen, sents) if sents is not None and seen is not None else 0.0
        if share >= REPEATED_WARN:
            warn(f"{share:.0%} of its sentences of 5 or more tokens {said}", path)
    if dev_sents is None:
        say("no --dev: the kept epoch is the one with the lowest training loss")
    if not compiled_before():
        say("compiling nerwin's training loops (numba; once after installing, a few seconds)")

    # fit: the best epoch is kept; Ctrl-C or a diverged loss saves the best so far
    live = Tagger(model, store=store, live=True)            # sees the parameters as they train
    evaluate = (lambda: live.evaluate(dev_sents, calibrate=False, source=dev)) if dev_sents is not None else None
    trainable = None if s.fine_tune else np.arange(len(vocab)) < len(SPECIALS)
    run = Run()
    log_file = open_log(log)

    def best_model() -> WindowModel:
        b = run.best
        return model.with_weights(b["params"], b["E"], info=dict(model.info, best_epoch=b["epoch"]))

    def history() -> dict:
        return {"best_epoch": run.best["epoch"], "epochs": run.history}

    try:
        fit(run, model, data, s, evaluate, on_epoch=lambda rec: write_log(log_file, log, rec), console=console,
            trainable=trainable)
    except (KeyboardInterrupt, SystemError) as e:
        if not ctrl_c(e):
            raise
        if run.best is None:
            raise Interrupted("interrupted before the first epoch ended; nothing saved") from None
        best_model().save(out, history())
        raise Interrupted(f"interrupted; the best model so far (epoch {run.best['epoch']}) is in {out}") from None
    except NerwinError as e:
        if run.best is not None:
            best_model().save(out, history())
            raise NerwinError(f"{e}; the last good model (epoch {run.best['epoch']}) is in {out}") from None
        raise
    finally:
        close_log(log_file)
    low = min(rec["loss"] for rec in run.history)
    if run.start_loss and low > ROSE * run.start_loss:
        warn(f"the loss rose: {run.start_loss:.4f} before the first step, and no epoch below {low:.4f}; the model "
             f"learned little, so try a lower --lr (now {s.lr:g})", "training")

    # calibrate: one temperature, fitted on dev, changes no decision
    best = best_model()
    tagger = Tagger(best, store=store)
    if dev_sents is not None:
        best.temperature = fit_temperature(tagger, dev_sents)
        say(f"temperature {best.temperature:.3f}, fitted on dev: probabilities and confidences are the model's at T")

    # save, once
    best.save(out, history())
    result = {"target": s.target, "best_epoch": run.best["epoch"], "oov_rate": oov,
              "train_windows": int(len(data.y)), "history": run.history,
              "seconds": sum(h["seconds"] for h in run.history), "temperature": best.temperature}
    if dev_sents is not None:
        result["dev"] = tagger.evaluate(dev_sents, source=dev)
    if test_sents is not None:
        result["test"] = tagger.evaluate(test_sents, source=test)
    if metrics_json is not None:
        write_json(result, metrics_json)
    for line in summary(result, head.entity_level):
        report(console, line)
    say(f"saved epoch {run.best['epoch']} to {out}/")
    return tagger, result


LONG_WARN = 1000  # words: the real corpora's longest sentences have 41 to 144; 1,000 is a file without blank lines
OOV_WARN = 0.5    # GloVe misses 11% of BTC's test tokens and 6% of WNUT-17's; half is the wrong file
REPEATED_WARN = 0.1   # of dev's or test's longer sentences; the real corpora's splits repeat under 1% of them
ROSE = 2.0        # at init every logit is near 0, so the first loss is chance's; a run that learns falls below it


def warn(message: str, where) -> None:
    """Said even with quiet: a warning is not progress."""
    print(f"nerwin: warning: {where}: {message}", file=sys.stderr)


KEYWORDS = ("train", "dev", "test", "out", "vectors", "vectors_format", "vectors_limit", "log", "quiet",
            "metrics_json", "gazetteers")


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
def summary(result: dict, entity_level: bool) -> list[str]:
    """The figures a run ends with, for standard output."""
    fmt = format_entity if entity_level else format_prf
    out = []
    if "dev" in result:
        out.append(f"dev (epoch {result['best_epoch']}): " + fmt(result["dev"]))
    if "test" in result:
        out.append("test: " + fmt(result["test"]))
    return out


def report(console, line: str) -> None:
    """Results go to standard output (progress and the epoch table to stderr), unless quiet."""
    if console is not None:
        print(line, flush=True)


def write_log(f, path, rec: dict) -> None:
    if f is None:
        return
    try:
        f.write(json.dumps(rec, allow_nan=False) + "\n")
        f.flush()
    except OSError as e:
        raise NerwinError(f"cannot write the log ({e.strerror})", path) from None


def close_log(f) -> None:
    if f is not None:
        try:
            f.close()
        except OSError:
            pass                    # said already, when its write failed


def open_log(path):
    if path is None:
        return None
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as e:
        raise NerwinError(f"cannot write the log ({e.strerror})", path) from None
