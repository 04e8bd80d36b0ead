"""The `nerwin` command: it parses flags and calls the library, nothing more.
rich, gensim, numba and matplotlib are imported only by the commands that need them."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nerwin.errors import NerwinError
from nerwin.report import MAX_ERRORS              # light: numpy is loaded for predict anyway
from nerwin.training import DEFAULTS as D, MODEL   # every default is written once, there

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="The CS224n window-based NER classifier, with backprop derived by hand in numpy.")
DEBUG = False

# options shared by several commands, declared once
Vectors = Annotated[Optional[str], typer.Option(help="Vectors file (.bin, .txt, .vec, .kv); default GloVe 6B 50d, "
                                                     "or for a model, the source it was trained with.")]
VectorsFormat = Annotated[Optional[str], typer.Option(help="Force a format: kv, word2vec-bin, word2vec-text, glove.")]
ModelDir = Annotated[Path, typer.Option("--model", help="Model directory.")]
Seed = Annotated[int, typer.Option(help="Random seed: same seed, same machine, same model bit for bit.")]
Window = Annotated[int, typer.Option(min=0, help="w: the window has 2w+1 words.")]
L2 = Annotated[float, typer.Option(min=0.0, help="lambda of (lambda/2)(|W|^2 + |u|^2).")]
Optimizer = Annotated[str, typer.Option(help="sgd, adagrad or adam.")]
Lr = Annotated[float, typer.Option(min=0.0, help="Learning rate.")]
Hidden = Annotated[int, typer.Option(min=1, help="H, the hidden layer's size.")]
Epochs = Annotated[int, typer.Option(min=1)]
JsonOut = Annotated[Optional[Path], typer.Option("--json", help="Write every figure here as JSON.")]


def writable(path: Optional[Path], flag: str) -> None:
    """Fail before any work if an output file cannot be written."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise NerwinError(f"is a directory; {flag} needs a file path", path)
    if not path.absolute().parent.is_dir():
        raise NerwinError(f"its folder does not exist; create it or choose another {flag}", path)
    if not os.access(path.absolute().parent, os.W_OK):
        raise NerwinError(f"cannot write here (permission denied); choose another {flag}", path)


def emit_json(obj, path: Optional[Path]) -> None:
    from nerwin.checkpoint import atomic_write
    text = json.dumps(obj, indent=2) + "\n"
    if path is None:
        sys.stdout.write(text)
        return
    try:
        atomic_write(path, text.encode())
    except OSError as e:
        raise NerwinError(f"cannot write ({e.strerror})", path) from None


@app.callback()
def root(debug: Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")] = False):
    global DEBUG
    DEBUG = debug


@app.command()
def train(
    train_file: Annotated[Optional[Path], typer.Option("--train", help="Training CoNLL file (default: the bundled sample, with its dev split).")] = None,
    dev_file: Annotated[Optional[Path], typer.Option("--dev", help="Dev CoNLL file: picks the kept epoch.")] = None,
    test_file: Annotated[Optional[Path], typer.Option("--test", help="Also evaluate the kept model on this file.")] = None,
    target: Annotated[str, typer.Option(help="Entity type of the positive class, as the corpus spells it "
                                        "(case-insensitive), or `all` for a softmax over every type.")] = D.target,
    loss: Annotated[str, typer.Option(help="window (per-word cross-entropy), sentence (Collobert's sentence "
                                      "log-likelihood with learned transitions; needs --target all), or auto: "
                                      "sentence for --target all, else window.")] = D.loss,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
    vectors_limit: Annotated[Optional[int], typer.Option(min=1, help="Read only the first N rows of the vectors.")] = None,
    bundle_vectors: Annotated[int, typer.Option(min=0, help="Keep the N most frequent pretrained rows in the model, "
                                                "so it predicts unseen words without the vectors file (0: none).")] = D.bundle_vectors,
    window: Window = D.window,
    hidden: Hidden = D.hidden,
    activation: Annotated[str, typer.Option(help="tanh, relu, sigmoid, hardtanh or leaky-relu.")] = D.activation,
    optimizer: Optimizer = D.optimizer,
    lr: Lr = D.lr,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows a step.")] = D.batch_size,
    epochs: Epochs = D.epochs,
    l2: L2 = D.l2,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.95, help="Inverted dropout on h.")] = D.dropout,
    patience: Annotated[int, typer.Option(min=0, help="Stop after N epochs without a better dev F1 (0: never).")] = D.patience,
    lr_decay: Annotated[int, typer.Option(min=0, help="Halve the learning rate every K epochs (0: never).")] = D.lr_decay,
    fine_tune: Annotated[bool, typer.Option("--fine-tune/--freeze", help="Move the pretrained word vectors, or keep "
                                            "them as loaded (<UNK>, <s>, </s> train either way).")] = D.fine_tune,
    casing: Annotated[int, typer.Option(min=0, help="Add a trainable word-shape vector of this size to each word (0: off).")] = D.casing,
    seed: Seed = D.seed,
    out: Annotated[Path, typer.Option(help="Model directory to write.")] = MODEL,
    metrics_json: Annotated[Optional[Path], typer.Option(help="Write the final figures here as JSON.")] = None,
    log: Annotated[Optional[Path], typer.Option(help="Append one JSON line per epoch here as training goes.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or per-epoch lines.")] = False,
):
    """Train the window classifier and save the best dev epoch to --out."""
    from nerwin.training import train as run_training

    writable(metrics_json, "--metrics-json")
    writable(log, "--log")
    _, result = run_training(train_file, dev_file, test_file, out, vectors, vectors_format, vectors_limit, log, quiet,
                             target=target, loss=loss, window=window, hidden=hidden, activation=activation,
                             optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs, l2=l2,
                             dropout=dropout, patience=patience, lr_decay=lr_decay, fine_tune=fine_tune,
                             casing=casing, bundle_vectors=bundle_vectors, seed=seed)
    if metrics_json is not None:
        emit_json(result, metrics_json)


@app.command()
def predict(
    input_file: Annotated[str, typer.Argument(help="Input file, or - for stdin.")] = "-",
    model_dir: ModelDir = MODEL,
    input_format: Annotated[str, typer.Option(help="text (one sentence a line) or conll.")] = "text",
    output_format: Annotated[str, typer.Option(help="conll (token, label, probability) or jsonl (with entity spans).")] = "conll",
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
):
    """Label each token; the probability printed is that of the printed label."""
    from nerwin.predict import predict as run_predict
    from nerwin.tagger import Tagger

    run_predict(Tagger.load(model_dir, vectors, vectors_format), input_file, sys.stdout, input_format, output_format)


@app.command()
def evaluate(
    file: Annotated[Path, typer.Argument(help="CoNLL file with gold tags.")],
    model_dir: ModelDir = MODEL,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
):
    """Token-level P/R/F1 of the target class (binary model), or span-exact entity-level
    P/R/F1 per type and micro-averaged (a `--target all` model), with counts."""
    from nerwin.metrics import format_entity, format_prf
    from nerwin.tagger import Tagger

    tagger = Tagger.load(model_dir, vectors, vectors_format)
    m = tagger.evaluate(file)
    if as_json:
        emit_json(m, None)
    elif tagger.classes:
        print(f"{file}: {m['support']} gold entities")
        print(format_entity(m))
    else:
        print(f"{file}: {tagger.target} tokens {m['support']} of {m['tokens']}")
        print(f"token-level {tagger.target}: {format_prf(m)}")


@app.command()
def explain(
    sentence: Annotated[str, typer.Argument(help="A sentence (split by the built-in tokenizer).")],
    model_dir: ModelDir = MODEL,
    token: Annotated[Optional[int], typer.Option(help="Only this token (0-based); default: every token.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table.")] = False,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
):
    """Why each label: for every word of a token's window, the slice g_i of ds/dx that
    delta_window gives it, |g_i| and g_i . x_i (s: the score of the predicted label)."""
    from nerwin.report import explain_text
    from nerwin.tagger import Tagger

    rows = Tagger.load(model_dir, vectors, vectors_format).explain(sentence)
    if not rows:
        raise NerwinError("no tokens in the sentence")
    if token is not None:
        if not 0 <= token < len(rows):
            raise NerwinError(f"--token {token} is out of range; the sentence has {len(rows)} tokens (0-based)")
        rows = rows[token:token + 1]
    if as_json:
        emit_json(rows, None)
    else:
        print(explain_text(rows))


@app.command()
def report(
    file: Annotated[Path, typer.Argument(help="CoNLL file with gold tags.")],
    html_path: Annotated[Path, typer.Option("--html", help="The page to write (one self-contained file).")],
    model_dir: ModelDir = MODEL,
    max_errors: Annotated[int, typer.Option(min=0, help="Sentences shown per kind of error.")] = MAX_ERRORS,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
):
    """An HTML page of what the model learned on a gold file: scores, confusion matrix,
    learning curves and the errors, with the per-word bars of `explain`."""
    from nerwin.checkpoint import atomic_write, load_history
    from nerwin.report import html_report
    from nerwin.tagger import Tagger

    writable(html_path, "--html")
    page, _ = html_report(Tagger.load(model_dir, vectors, vectors_format), file, model_dir, load_history(model_dir),
                          max_errors)
    try:
        atomic_write(html_path, page.encode("utf-8"))
    except OSError as e:
        raise NerwinError(f"cannot write ({e.strerror})", html_path) from None
    print(f"report: {html_path} ({len(page.encode()) / 1024:,.0f} KB)", file=sys.stderr)


@app.command()
def gradcheck(
    train_file: Annotated[Optional[Path], typer.Option("--train", help="Real windows come from here (default: the sample).")] = None,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
    activation: Annotated[Optional[str], typer.Option(help="One activation; default: all five.")] = None,
    window: Window = D.window,
    hidden: Hidden = 6,
    l2: L2 = 1e-3,
    seed: Seed = D.seed,
    tolerance: Annotated[float, typer.Option(help="Largest relative error that passes.")] = 1e-6,
):
    """Compare every analytic gradient with central differences (float64); exit 1 above tolerance."""
    from nerwin.gradcheck import run_all

    ok = run_all(train_file, vectors, vectors_format, activation, window, hidden, l2, seed, tolerance, print)
    raise typer.Exit(0 if ok else 1)


@app.command("drift-demo")
def drift_demo(
    words: Annotated[Optional[Path], typer.Option(help="Word lists: lines `train|test CLASS WORD` (default: data/drift_words.txt).")] = None,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
    seed: Seed = D.seed,
    epochs: Epochs = 200,
    lr: Lr = 0.01,
    hidden: Hidden = 10,
    l2: L2 = 1e-3,
    optimizer: Optimizer = D.optimizer,
    json_path: JsonOut = None,
    plot_path: Annotated[Optional[Path], typer.Option("--plot", help="Draw the picture (needs nerwin[plot]).")] = None,
):
    """The lecture's TV / telly / television experiment: frozen vs fine-tuned vectors, same seed."""
    from nerwin.drift import WORDS, experiment, plot, read_words, table, to_json, verdict
    from nerwin.training import Settings
    from nerwin.vectors import open_store

    writable(json_path, "--json")
    writable(plot_path, "--plot")
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise NerwinError("--plot needs matplotlib: pip install -e '.[plot]'") from None
    rows, classes = read_words(words or WORDS)
    store, _ = open_store(vectors, vectors_format)
    s = Settings(window=0, hidden=hidden, lr=lr, epochs=epochs, batch_size=4, l2=l2, seed=seed, optimizer=optimizer,
                 casing=0)
    s.check()
    res = experiment(rows, classes, store, s)
    print("\n".join(table(res)))
    print()
    print("\n".join(verdict(res)))
    if json_path is not None:
        emit_json(to_json(res), json_path)
    if plot_path is not None:
        plot(res, plot_path)
        print(f"plot: {plot_path}", file=sys.stderr)


def _is(e: BaseException, name: str) -> bool:
    """By class name: typer vendors click under a private name that differs across versions."""
    return any(c.__name__ == name for c in type(e).__mro__)


def main() -> None:
    from nerwin.training import Interrupted
    try:
        try:
            code = app(standalone_mode=False)
            sys.exit(code if isinstance(code, int) else 0)
        except Exception as e:
            if _is(e, "NoArgsIsHelpError"):
                print(e.ctx.get_help())
                sys.exit(0)
            if not _is(e, "UsageError"):
                raise
            print(f"nerwin: error: {e.format_message()}", file=sys.stderr)   # a flag's value: one line, exit 2
            sys.exit(2)
    except Interrupted as e:
        print(f"nerwin: {e}", file=sys.stderr)
        sys.exit(130)
    except NerwinError as e:
        if DEBUG:
            raise
        print(f"nerwin: error: {e}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:    # the last net for a failed read or write: still one line, naming the file
        if DEBUG:
            raise
        where = f"{e.filename}: " if e.filename else ""
        print(f"nerwin: error: {where}{e.strerror or e}", file=sys.stderr)
        sys.exit(2)
