"""The `nerwin` command: it only wires corpus, vectors, windows, model, train and checkpoint together.
Heavy modules are imported inside the commands, so `nerwin predict` starts fast."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from nerwin.errors import NerwinError

DATA = Path(__file__).resolve().parents[1] / "data"
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="The CS224n window-based NER classifier, with backprop derived by hand in numpy.")
DEBUG = False


def err_console():
    from rich.console import Console
    return Console(stderr=True)


def emit_json(obj, path: Optional[Path]) -> None:
    from nerwin.checkpoint import atomic_write
    text = json.dumps(obj, indent=2) + "\n"
    if path is None:
        sys.stdout.write(text)
    else:
        atomic_write(path, text.encode())


@app.callback()
def root(debug: bool = typer.Option(False, "--debug", help="Show a traceback on errors.")):
    global DEBUG
    DEBUG = debug


@app.command()
def train(
    train_file: Path = typer.Option(DATA / "train.conll", "--train", help="Training CoNLL file."),
    dev_file: Optional[Path] = typer.Option(None, "--dev", help="Dev CoNLL file (default: the sample's dev with the sample train)."),
    test_file: Optional[Path] = typer.Option(None, "--test", help="Also evaluate the best model on this file."),
    target: str = typer.Option("LOC", help="Entity type of the positive class, as the corpus spells it "
                               "(case-insensitive), or `all` for a softmax over every type."),
    vectors: Optional[str] = typer.Option(None, help="Vectors file (.bin, .txt, .vec, .kv); default GloVe 6B 50d."),
    vectors_format: Optional[str] = typer.Option(None, help="Force a format: kv, word2vec-bin, word2vec-text, glove."),
    vectors_limit: Optional[int] = typer.Option(None, help="Read only the first N rows of the vectors."),
    window: int = typer.Option(2, min=0, help="w: the window has 2w+1 words."),
    hidden: int = typer.Option(100, min=1),
    activation: str = typer.Option("tanh", help="tanh, relu, sigmoid, hardtanh or leaky-relu."),
    optimizer: str = typer.Option("adam", help="sgd, adagrad or adam."),
    lr: float = typer.Option(0.001, min=0.0),
    batch_size: int = typer.Option(64, min=1),
    epochs: int = typer.Option(10, min=1),
    l2: float = typer.Option(1e-5, min=0.0, help="lambda of (lambda/2)(|W|^2 + |u|^2)."),
    dropout: float = typer.Option(0.0, min=0.0, max=0.95, help="Inverted dropout on h."),
    patience: int = typer.Option(0, min=0, help="Stop after N epochs without a better dev F1 (0: never)."),
    lr_decay: int = typer.Option(0, min=0, help="Halve the learning rate every K epochs (0: never)."),
    fine_tune: bool = typer.Option(True, "--fine-tune/--freeze", help="Move the word vectors, or keep them as loaded."),
    casing: int = typer.Option(0, min=0, help="Add a trainable word-shape vector of this size to each word (0: off)."),
    seed: int = typer.Option(0),
    out: Path = typer.Option(Path("model"), help="Model directory to write."),
    metrics_json: Optional[Path] = typer.Option(None, help="Write the final figures here as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress or per-epoch lines."),
):
    """Train the window classifier and save the best dev epoch to --out."""
    from dataclasses import asdict

    import numpy as np

    from nerwin import checkpoint, model
    from nerwin.metrics import format_entity, format_prf
    from nerwin.model import ACTIVATIONS
    from nerwin.optim import OPTIMIZERS
    from nerwin.train import Run, Settings, fit, prepare, sayer
    from nerwin.vectors import open_store
    from nerwin.windows import SHAPES

    if activation not in ACTIVATIONS:
        raise NerwinError(f"unknown --activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    if optimizer not in OPTIMIZERS:
        raise NerwinError(f"unknown --optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if dev_file is None and train_file == DATA / "train.conll":
        dev_file = DATA / "dev.conll"
    s = Settings(target=target, window=window, hidden=hidden, activation=activation, optimizer=optimizer,
                 lr=lr, batch_size=batch_size, epochs=epochs, l2=l2, dropout=dropout, patience=patience,
                 lr_decay=lr_decay, fine_tune=fine_tune, casing=casing, seed=seed)
    console = None if quiet else err_console()
    checkpoint.check_writable(out)
    store, source = open_store(vectors, vectors_format, vectors_limit)
    vocab, E, tr, dev, extra, s.target, classes, oov = prepare(train_file, dev_file, store, s)
    say = sayer(console)
    what = f"{int(tr.y.sum())} {s.target}" if classes is None else f"classes {', '.join(classes)}"
    say(f"train: {len(tr.sents)} sentences, {len(tr.y)} windows, {what}; "
        f"vocabulary {len(vocab)} rows x {E.shape[1]}; OOV rate {oov:.2%}")
    K = 1 if classes is None else len(classes)
    p = model.init_params((2 * window + 1) * (E.shape[1] + casing), hidden, K, np.random.default_rng(seed),
                          E.dtype, casing=(len(SHAPES), casing) if casing else None)
    config = {"settings": asdict(s), "target": s.target, "classes": classes, "dim": int(E.shape[1]),
              "vectors": source, "train_file": str(train_file), "oov_rate": oov}

    def save(best):
        checkpoint.save(out, best["params"], best["E"], vocab, dict(config, best_epoch=best["epoch"]))

    run = Run()
    try:
        fit(run, p, E, tr, dev, extra, s, on_best=save, console=console, classes=classes)
    except KeyboardInterrupt:
        if run.best is None:
            print("nerwin: interrupted before the first epoch ended; nothing saved", file=sys.stderr)
        else:
            print(f"nerwin: interrupted; the best model so far (epoch {run.best['epoch']}) is in {out}",
                  file=sys.stderr)
        raise typer.Exit(130)
    except NerwinError as e:
        if run.best is not None:
            raise NerwinError(f"{e}; the last good model (epoch {run.best['epoch']}) is in {out}") from None
        raise
    best = run.best
    result = {"target": s.target, "best_epoch": best["epoch"], "oov_rate": oov,
              "train_windows": int(len(tr.y)), "history": run.history,
              "seconds": sum(h["seconds"] for h in run.history)}
    if dev is not None:
        result["dev"] = best["record"]["dev"]
    if test_file is not None:
        from nerwin.evaluate import evaluate_file
        result["test"] = evaluate_file(best["params"], best["E"], vocab, dict(config, vocabulary=vocab.words),
                                       store, test_file)
        say("test: " + (format_prf(result["test"]) if classes is None else format_entity(result["test"])))
    say(f"saved epoch {best['epoch']} to {out}/")
    if metrics_json is not None:
        emit_json(result, metrics_json)


@app.command()
def predict(
    input_file: str = typer.Argument("-", help="Input file, or - for stdin."),
    model_dir: Path = typer.Option(Path("model"), "--model", help="Model directory."),
    input_format: str = typer.Option("text", help="text (one sentence a line) or conll."),
    output_format: str = typer.Option("conll", help="conll (token, label, probability) or jsonl."),
    vectors: Optional[str] = typer.Option(None, help="Vectors for unseen words, if the model's source moved."),
    vectors_format: Optional[str] = typer.Option(None),
):
    """Label each token; the probability printed is that of the printed label."""
    from nerwin import checkpoint
    from nerwin.corpus import iter_conll, open_text, replace_and_warn
    from nerwin.predict import chunks, label_chunk, open_vectors, token_lists_from_text, write_sentence

    if input_format not in ("text", "conll"):
        raise NerwinError(f"unknown --input-format {input_format!r}; choose text or conll")
    if output_format not in ("conll", "jsonl"):
        raise NerwinError(f"unknown --output-format {output_format!r}; choose conll or jsonl")
    params, E, vocab, config = checkpoint.load(model_dir)
    store = open_vectors(config, vectors, vectors_format)
    name = "<stdin>" if input_file == "-" else input_file
    f = open_text(input_file, errors=replace_and_warn(name))
    if input_format == "conll":
        lists = (s.tokens for s in iter_conll(input_file, f, need_tags=False))
    else:
        lists = token_lists_from_text(f)
    n = 0
    for block in chunks(lists):
        for toks, labels in zip(block, label_chunk(params, E, vocab, config, store, block)):
            write_sentence(sys.stdout, toks, labels, output_format)
        n += len(block)
    if n == 0:
        raise NerwinError("empty input: no tokens to label; give one sentence a line", name)


@app.command()
def evaluate(
    file: Path = typer.Argument(..., help="CoNLL file with gold tags."),
    model_dir: Path = typer.Option(Path("model"), "--model"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
    vectors: Optional[str] = typer.Option(None),
    vectors_format: Optional[str] = typer.Option(None),
):
    """Token-level P/R/F1 of the target class (binary model), or span-exact entity-level
    P/R/F1 per type and micro-averaged (a `--target all` model), with counts."""
    from nerwin import checkpoint
    from nerwin.evaluate import evaluate_file
    from nerwin.metrics import format_entity, format_prf
    from nerwin.predict import open_vectors

    params, E, vocab, config = checkpoint.load(model_dir)
    store = open_vectors(config, vectors, vectors_format)
    m = evaluate_file(params, E, vocab, config, store, file)
    if as_json:
        emit_json(m, None)
    elif config.get("classes"):
        print(f"{file}: {m['support']} gold entities")
        print(format_entity(m))
    else:
        print(f"{file}: {config['target']} tokens {m['support']} of {m['tokens']}")
        print(f"token-level {config['target']}: {format_prf(m)}")


@app.command()
def gradcheck(
    train_file: Path = typer.Option(DATA / "train.conll", "--train", help="Real windows come from here."),
    vectors: Optional[str] = typer.Option(None),
    vectors_format: Optional[str] = typer.Option(None),
    activation: Optional[str] = typer.Option(None, help="One activation; default: all five."),
    window: int = typer.Option(2, min=0),
    hidden: int = typer.Option(6, min=1),
    l2: float = typer.Option(1e-3, min=0.0),
    seed: int = typer.Option(0),
    tolerance: float = typer.Option(1e-6),
):
    """Compare every analytic gradient with central differences (float64); exit 1 above tolerance."""
    import numpy as np

    from nerwin.gradcheck import check, sample_problem
    from nerwin.model import ACTIVATIONS
    from nerwin.train import Settings, prepare
    from nerwin.vectors import open_store

    acts = [activation] if activation else list(ACTIVATIONS)
    for a in acts:
        if a not in ACTIVATIONS:
            raise NerwinError(f"unknown --activation {a!r}; choose one of {', '.join(ACTIVATIONS)}")
    store, _ = open_store(vectors, vectors_format)
    s = Settings(window=window, seed=seed, dtype="float64")
    s.target = _first_type(train_file)
    _, E, tr, *_ = prepare(train_file, None, store, s)
    worst = 0.0
    # every activation on the lecture's binary model, then softmax with casing and dropout
    cases = [(a, a, 1, 0, 0.0) for a in acts] + [(f"{a} + softmax, casing, dropout", a, 4, 3, 0.3) for a in acts[:1]]
    for name, a, K, casing, drop in cases:
        p, Es, ids, y, shapes = sample_problem(E, tr.X, tr.y, hidden, K, seed, casing=casing)
        mask = None
        if drop:  # a fixed mask: dropout is then a deterministic function to differentiate
            mask = (np.random.default_rng(seed).random((len(ids), hidden)) >= drop) / (1 - drop)
        errs = check(p, Es, ids, y, a, l2, mask, shapes)
        worst = max(worst, *errs.values())
        print(f"{name}\n    " + "  ".join(f"{k} {v:.1e}" for k, v in errs.items()))
    ok = worst <= tolerance
    print(f"largest relative error {worst:.2e}: {'PASS' if ok else 'FAIL'} (tolerance {tolerance:g})")
    raise typer.Exit(0 if ok else 1)


@app.command("drift-demo")
def drift_demo(
    words: Path = typer.Option(DATA / "drift_words.txt", help="Word lists: lines `train|test CLASS WORD`."),
    vectors: Optional[str] = typer.Option(None),
    vectors_format: Optional[str] = typer.Option(None),
    seed: int = typer.Option(0),
    epochs: int = typer.Option(200, min=1),
    lr: float = typer.Option(0.01, min=0.0),
    hidden: int = typer.Option(10, min=1),
    l2: float = typer.Option(1e-3, min=0.0),
    optimizer: str = typer.Option("adam"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write every figure here."),
    plot_path: Optional[Path] = typer.Option(None, "--plot", help="Draw a PCA picture (needs nerwin[plot])."),
):
    """The lecture's TV / telly / television experiment: frozen vs fine-tuned vectors, same seed."""
    from nerwin.drift import experiment, plot, read_words, table, to_json, verdict
    from nerwin.optim import OPTIMIZERS
    from nerwin.train import Settings
    from nerwin.vectors import open_store

    if optimizer not in OPTIMIZERS:
        raise NerwinError(f"unknown --optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise NerwinError("--plot needs matplotlib: pip install -e '.[plot]'") from None
    rows, classes = read_words(words)
    store, _ = open_store(vectors, vectors_format)
    s = Settings(window=0, hidden=hidden, lr=lr, epochs=epochs, batch_size=4, l2=l2, seed=seed,
                 optimizer=optimizer)
    res = experiment(rows, classes, store, s)
    print("\n".join(table(res)))
    print()
    print("\n".join(verdict(res)))
    if json_path is not None:
        emit_json(to_json(res), json_path)
    if plot_path is not None:
        plot(res, plot_path)
        print(f"plot: {plot_path}", file=sys.stderr)


def _first_type(path: Path) -> str:
    from itertools import islice

    from nerwin.corpus import entity_types, iter_conll
    types = entity_types(islice(iter_conll(path), 2000))
    if not types:
        raise NerwinError("no entity tags in the first 2000 sentences", path)
    return types[0]


def main() -> None:
    try:
        app()
    except NerwinError as e:
        if DEBUG:
            raise
        print(f"nerwin: error: {e}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
