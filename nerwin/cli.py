"""The `nerwin` command: it parses flags and calls the library, nothing more.

Options that are settings are made from their declarations in settings.py: the name, the
default, the bounds or choices and the help are written there once. The training code (and
with it numba) is imported by the commands that train, so `nerwin predict` never loads it.
"""
from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nerwin.model.checkpoint import load_history
from nerwin.apply.predict import output_paths, predict as run_predict, predict_files
from nerwin.apply.tagger import Tagger
from nerwin.errors import Interrupted, NerwinError, SettingError, ctrl_c, plural
from nerwin.files import PACKERS, atomic_write, check_outputs, plain_name
from nerwin.settings import FIELDS, Settings, bounds, kind
from nerwin.text.corpus import read_conll
from nerwin.text.docbin import conll_text, jsonl_text, write_docbin
from nerwin.text.schemes import spans
from nerwin.text.metrics import format_entity, format_prf
from nerwin.tools.explain import explain_text
from nerwin.tools.graph import graph_dict, graph_html, graph_text
from nerwin.vectors import open_store
from nerwin.version import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  context_settings=CONTEXT, rich_markup_mode=None,
                  help="The CS224n window-based NER classifier, with backprop derived by hand in numpy.")
_argument_type = typer.core.TyperArgument.display_type_rich
# a list argument is shown as its metavar alone (FILE), not with typer's "<list[str]>" beside it
typer.core.TyperArgument.display_type_rich = lambda self, ctx: None if self.nargs != 1 else _argument_type(self, ctx)
DEBUG = False
MODEL = Path("model")
MAX_ERRORS = 25

# options shared by several commands, declared once
Vectors = Annotated[Optional[str], typer.Option(metavar="<path>", help="Vectors file (.bin, .txt, .vec or .kv; "
                                                     "the first three also as .gz, .bz2 or .xz); default: GloVe 6B 50d, "
                                                     "or for a model, the source it was trained with.")]
NewVectors = Annotated[Optional[str], typer.Option("--vectors", metavar="<path>", help="Vectors file (.bin, .txt, .vec "
                                                   "or .kv; the first three also as .gz, .bz2 or .xz); default: GloVe "
                                                   "6B 50d.")]
VectorsFormat = Annotated[Optional[str], typer.Option(metavar="[kv|word2vec-bin|word2vec-text|glove]",
                                                      help="Read the vectors as this format instead of telling it "
                                                           "from the file's first bytes.")]
ModelDir = Annotated[Path, typer.Option("--model", help="Model directory.")]
JsonOut = Annotated[Optional[Path], typer.Option("--json", help="Write every figure here as JSON.")]


def ranged(text: str, lo: int | None = None, hi: int | None = None) -> dict:
    """An integer option's help and check, its range written as the settings' are ([≥ 1, ≤ 64])."""
    shown = ", ".join(x for x in (f"≥ {lo:,}" if lo is not None else "", f"≤ {hi:,}" if hi is not None else "") if x)

    said = (f"between {lo:,} and {hi:,}" if lo is not None and hi is not None
            else f"at least {lo:,}" if lo is not None else f"at most {hi:,}")

    def check(ctx, param, value):                 # said as the settings say theirs: `--port must be ...`
        if value is not None and ((lo is not None and value < lo) or (hi is not None and value > hi)):
            raise NerwinError(f"{param.opts[0]} must be {said}, got {value}")
        return value
    return dict(help=f"{text} [{shown}]", callback=check, metavar="<int>")


def settings_options(*names, helps: dict | None = None, **defaults):
    """Add these settings to a command as options, from their declarations; the command gets
    them as one dict, `settings`. defaults: another default for this command; helps: another
    help text."""
    def deco(fn):
        sig = inspect.signature(fn, eval_str=True)
        params = [p for p in sig.parameters.values() if p.name != "settings"]
        for n in names:
            f = FIELDS[n]
            default = defaults.get(n, f.default)
            t = kind(f)
            flags = f.metadata["flag"] and ["/".join(f.metadata["flag"])] or [f"--{n.replace('_', '-')}"]
            rng = bounds(f)
            choices = f.metadata["choices"]
            text = (helps or {}).get(n, f.metadata["help"])
            opt = typer.Option(*flags, help=text + (f" [{rng}]" if rng and not choices else ""),
                               metavar=f"[{'|'.join(choices)}]" if choices else None)
            params.append(inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=Annotated[t, opt]))

        def command(**kw):
            return fn(settings={n: kw.pop(n) for n in names}, **kw)
        command.__signature__ = sig.replace(parameters=params)
        command.__name__, command.__doc__ = fn.__name__, fn.__doc__
        return command
    return deco


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


def write_output(data: bytes, path: Optional[Path]) -> None:
    if path is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        atomic_write(path, data)
    except OSError as e:
        raise NerwinError(f"cannot write ({e.strerror})", path) from None


def emit_json(obj, path: Optional[Path]) -> None:
    write_output((json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8"), path)


def version(value: bool):
    if value:
        print(f"nerwin {__version__}")
        raise typer.Exit()


@app.callback()
def root(debug: Annotated[bool, typer.Option("--debug", help="Show a traceback on errors.")] = False,
         show_version: Annotated[bool, typer.Option("--version", callback=version, is_eager=True,
                                                    help="Print nerwin's version and exit.")] = False):
    global DEBUG
    DEBUG = debug


@app.command(short_help="Train a model on CoNLL files and keep its best dev epoch.")
@settings_options("target", "loss", "window", "hidden", "activation", "layers", "window2", "optimizer", "lr", "batch_size", "epochs",
                  "l2", "dropout", "patience", "lr_decay", "fine_tune", "casing", "affixes", "chars", "char_dim",
                  "char_width", "word_dropout", "bundle_vectors", "seed", "dtype")
def train(
    settings: dict,
    train_file: Annotated[Optional[Path], typer.Option("--train", help="Training CoNLL file (default: the bundled "
                                                       "sample, with its dev split).")] = None,
    dev_file: Annotated[Optional[Path], typer.Option("--dev", help="Dev CoNLL file: picks the kept epoch.")] = None,
    test_file: Annotated[Optional[Path], typer.Option("--test", help="Also evaluate the kept model on this "
                                                      "file.")] = None,
    vectors: NewVectors = None,
    vectors_format: VectorsFormat = None,
    vectors_limit: Annotated[Optional[int], typer.Option(help="Read only the first N rows of the vectors.")] = None,
    out: Annotated[Path, typer.Option(help="Model directory to write.")] = MODEL,
    metrics_json: Annotated[Optional[Path], typer.Option(help="Write the final figures here as JSON.")] = None,
    log: Annotated[Optional[Path], typer.Option(help="Append one JSON line per epoch here as training goes.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or per-epoch lines.")] = False,
    gazetteer: Annotated[Optional[list[str]], typer.Option(metavar="TYPE=FILE", help="A word list of TYPE entity "
                                                           "names, one entry a line (repeat it for more lists); the "
                                                           "model keeps the lists.")] = None,
):
    """Train the window classifier and save the best dev epoch to --out."""
    from nerwin.training.run import train as run_training   # training code and numba: `train` only

    writable(metrics_json, "--metrics-json")
    writable(log, "--log")
    run_training(train_file, dev_file, test_file, out, vectors, vectors_format, vectors_limit, log, quiet,
                 metrics_json, gazetteer, **settings)


@app.command(short_help="Tag text or CoNLL: one record per input line, in order.")
def predict(
    input_files: Annotated[Optional[list[str]], typer.Argument(metavar="FILE", help="Input files, or - for stdin (the default); "
                                                               "several take --output-dir.")] = None,
    model_dir: ModelDir = MODEL,
    input_format: Annotated[str, typer.Option(metavar="[text|conll]", help="text: one sentence a line; "
                                              "conll: a token a line, a blank line between sentences.")] = "text",
    output_format: Annotated[str, typer.Option(metavar="[conll|jsonl]", help="conll: token, label, probability; "
                                               "jsonl: one record per input line, with entities and offsets.")] = "conll",
    min_confidence: Annotated[Optional[float], typer.Option(help="Keep only the entities the model is at least "
                                                            "this sure of (0 to 1); the others' tokens print as O, with their "
                                                            "probability of O.")] = None,
    workers: Annotated[int, typer.Option(help="Tag in this many processes (the output keeps the input's order); "
                                         f"0: one per core ({os.cpu_count()} here).")] = 1,
    dask: Annotated[Optional[str], typer.Option(metavar="ADDRESS", help="Tag on a Dask cluster: a scheduler's address, or local:N for N "
                                               "local worker processes (needs pip install 'nerwin[dask]').")] = None,
    output_dir: Annotated[Optional[Path], typer.Option(help="One output per input goes here, named as the input with "
                                                      "the output format's suffix (a.txt -> a.conll).")] = None,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
):
    """Label each token; the probability printed is that of the printed label."""
    files = input_files or ["-"]
    if output_dir is None and (len(files) > 1 or dask is not None):
        raise NerwinError("several inputs, or --dask, write one output per input: add --output-dir DIR")
    if output_dir is not None:
        output_paths(files, output_dir, output_format)          # every output checked before the model loads
    if dask is not None and input_format != "text":
        raise NerwinError("--dask tags text files (one sentence a line); leave out --input-format conll")
    tagger = Tagger.load(model_dir, vectors, vectors_format)
    n_workers = workers or os.cpu_count() or 1
    if output_dir is None:
        try:
            run_predict(tagger, files[0], None, input_format, output_format, n_workers, min_confidence)
        except BrokenPipeError:               # `nerwin predict ... | head`: end quietly, as Unix tools do
            reader_gone()
        return
    if dask is None:
        n = predict_files(tagger, files, output_dir, input_format, output_format, n_workers, min_confidence)
    else:
        try:
            from nerwin.tools.cluster import predict_files as on_cluster   # optional: the dask extra
        except ImportError:
            raise NerwinError("--dask needs Dask: pip install 'nerwin[dask]' (from a checkout: "
                              "pip install -e '.[dask]')") from None
        n = on_cluster(tagger, files, output_dir, dask, output_format, min_confidence)
    print(f"nerwin: {plural(n, 'record')} from {plural(len(files), 'file')} into {output_dir}/",
          file=sys.stderr)


@app.command(short_help="P/R/F1 against gold tags, as conlleval, and how well calibrated.")
def evaluate(
    file: Annotated[Path, typer.Argument(help="CoNLL file with gold tags.")],
    model_dir: ModelDir = MODEL,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
):
    """Token-level P/R/F1 of the target class (binary model), or span-exact entity-level
    P/R/F1 per type and micro-averaged (a `--target all` model), with counts."""

    tagger = Tagger.load(model_dir, vectors, vectors_format)
    m = tagger.evaluate(file)
    warn_if_trained_on(tagger, file)
    if m.get("unknown_types"):
        print(f"nerwin: warning: {file}: the model cannot predict {', '.join(m['unknown_types'])} (it was not "
              "trained on them); those entities count as misses", file=sys.stderr)
    if as_json:
        emit_json(m, None)
        return
    if tagger.head.entity_level:
        print(f"{file}: {m['support']} gold entities")
        print(format_entity(m))
    else:
        print(f"{file}: {tagger.target} tokens {m['support']} of {m['tokens']}")
        print(f"token-level {tagger.target}: {format_prf(m)}")
    cal = m["calibration"]
    print(f"loss {m['loss']:.4f} a word (the training loss of the gold tags); temperature {cal['temperature']:.3f}; "
          f"ECE entities {cal['entity']['ece']:.3f}, tokens {cal['token']['ece']:.3f}")


def warn_if_trained_on(tagger: Tagger, file) -> None:
    """Scores on the model's own training file measure memory: say so, as train does of a dev
    file that repeats it."""
    trained = tagger.model.info.get("train_file")
    try:                                    # a relative path (models before 0.4) names no file for sure
        same = isinstance(trained, str) and os.path.isabs(trained) and os.path.samefile(trained, file)
    except (OSError, ValueError):           # the training file is gone, or was elsewhere
        same = False
    if same:
        print(f"nerwin: warning: {file}: the model was trained on this file; its scores measure what it "
              "memorized, not how it tags new text", file=sys.stderr)


@app.command(short_help="How each word of a token's window bears on its label.")
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

    tagger = Tagger.load(model_dir, vectors, vectors_format)
    rows = tagger.explain(sentence)
    if token is not None:
        if not 0 <= token < len(rows):
            raise NerwinError(f"--token {token} is out of range; the sentence has {plural(len(rows), 'token')} "
                              "(0-based)")
        rows = rows[token:token + 1]
    if as_json:
        emit_json(rows, None)
    else:
        print(explain_text(rows, tagger.model.reach))


@app.command(short_help="The computation graph of one token's window, gate by gate.")
def graph(
    sentence: Annotated[str, typer.Argument(help="A sentence (split by the built-in tokenizer).")],
    token: Annotated[int, typer.Option(**ranged('The token whose window is drawn (0-based).', lo=0))],
    model_dir: ModelDir = MODEL,
    label: Annotated[Optional[str], typer.Option(help="Measure J against this label (one of the model's); "
                                                 "default: the predicted one.")] = None,
    step: Annotated[Optional[float], typer.Option(metavar="LR", help="Also show what one SGD step of this size on "
                                                  "this window would do to J and to the word rows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print every node's arrays as JSON instead of text.")] = False,
    html_path: Annotated[Optional[Path], typer.Option("--html", help="Also write the graph as one self-contained "
                                                      "HTML page here.")] = None,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
):
    """The graph the model computes for one token's window: every node's value v and
    v-bar = dJ/dv from the model's own backward pass, forward then backward, with the rule each
    gate applied and a numerical check of the gradients."""
    writable(html_path, "--html")
    check_outputs([vectors, *(Path(model_dir) / n for n in ("model.npz", "config.json"))], [(html_path, "--html")])
    tagger = Tagger.load(model_dir, vectors, vectors_format)
    try:
        g = tagger.graph(sentence, token, label, step)
    except SettingError as e:
        raise NerwinError(e.flag) from None
    kind = f"{tagger.head.kind} {tagger.target}"
    if html_path is not None:
        write_output(graph_html(g, kind).encode("utf-8"), html_path)
    if as_json:
        emit_json(graph_dict(g, kind), None)
    else:
        print(graph_text(g, kind))


@app.command(short_help="Between CoNLL and spaCy's formats: DocBin (.spacy) and JSONL.")
def convert(
    input_file: Annotated[Path, typer.Argument(metavar="INPUT", help="A CoNLL file, a .spacy DocBin or spaCy's .jsonl.")],
    output_file: Annotated[Path, typer.Argument(metavar="OUTPUT", help="A .spacy DocBin, spaCy's .jsonl, or any other "
                                                "name for CoNLL; .gz, .bz2 or .xz after it compresses it.")],
):
    """Convert training data between CoNLL and spaCy's formats (needs spaCy: pip install
    'nerwin[spacy]'); entities are IOB2 spans either way, so a round trip keeps every token and tag."""
    writable(output_file, "OUTPUT")
    check_outputs([input_file], [(output_file, "OUTPUT")])
    pack = PACKERS.get(output_file.suffix)             # out.conll.gz: written compressed
    kind = output_file.with_suffix("").name if pack else output_file.name
    if kind.endswith(".spacy") and pack:
        raise NerwinError("a DocBin is compressed already; name it .spacy", output_file)
    sents = read_conll(input_file)
    if kind.endswith(".spacy"):
        if plain_name(input_file).name.endswith(".spacy"):
            raise NerwinError("is a DocBin already; give a CoNLL file to convert to .spacy", input_file)
        write_docbin(sents, output_file, input_file)
    else:
        text = jsonl_text(sents, input_file) if kind.endswith(".jsonl") else conll_text(sents, input_file)
        write_output((pack or bytes)(text.encode("utf-8")), output_file)
    entities = sum(len(spans(x.tags or [])) for x in sents)
    if not entities:
        print(f"nerwin: warning: {input_file}: no entities in it; every tag of {output_file} is O", file=sys.stderr)
    print(f"convert: {plural(len(sents), 'sentence')}, {plural(entities, 'entity', 'entities')} into {output_file}",
          file=sys.stderr)


@app.command(short_help="An offline HTML page of what the model learned on a gold file.")
def report(
    file: Annotated[Path, typer.Argument(help="CoNLL file with gold tags.")],
    html_path: Annotated[Path, typer.Option("--html", help="The page to write (one self-contained file).")],
    model_dir: ModelDir = MODEL,
    max_errors: Annotated[int, typer.Option(**ranged('Sentences shown per kind of error.', lo=0))] = MAX_ERRORS,
    vectors: Vectors = None,
    vectors_format: VectorsFormat = None,
):
    """An HTML page of what the model learned on a gold file: scores, confusion matrix,
    learning curves and the errors, with the per-word bars of `explain`."""

    writable(html_path, "--html")
    check_outputs([file, vectors, *(Path(model_dir) / n for n in ("model.npz", "config.json", "history.json"))],
                  [(html_path, "--html")])
    history = load_history(model_dir)
    if history is None and (Path(model_dir) / "history.json").exists():
        print(f"nerwin: warning: {Path(model_dir) / 'history.json'}: not a training history nerwin can read; "
              "the report leaves out the learning curves", file=sys.stderr)
    from nerwin.tools.report import html_report         # here: predict's cold start does without it
    tagger = Tagger.load(model_dir, vectors, vectors_format)
    page, _ = html_report(tagger, file, model_dir, history, max_errors)
    warn_if_trained_on(tagger, file)
    write_output(page.encode("utf-8"), html_path)
    print(f"report: {html_path} ({len(page.encode()) / 1024:,.0f} KB)", file=sys.stderr)


@app.command(short_help="Every analytic gradient against central differences.")
@settings_options("window", "hidden", "l2", "seed", hidden=6, l2=1e-3,
                  helps={"seed": "Random seed of the small problems' parameters and labels."})
def gradcheck(
    settings: dict,
    train_file: Annotated[Optional[Path], typer.Option("--train", help="Real windows come from here "
                                                       "(default: the bundled sample).")] = None,
    vectors: NewVectors = None,
    vectors_format: VectorsFormat = None,
    activation: Annotated[Optional[str], typer.Option(metavar="[" + "|".join(FIELDS["activation"].metadata["choices"])
                                                      + "]", help="One activation; default: all of them.")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest relative error that passes.")] = 1e-6,
):
    """Compare every analytic gradient with central differences (float64); exit 1 above tolerance."""

    s = Settings.of(**settings, **({"activation": activation} if activation is not None else {}))
    if not 0 < tolerance < 1:
        raise NerwinError(f"--tolerance must be between 0 and 1, got {tolerance}")
    from nerwin.tools.gradcheck import run_all          # here: it loads rich, which applying a model does without
    ok = run_all(s, train_file, vectors, vectors_format, activation, tolerance, print)
    raise typer.Exit(0 if ok else 1)


@app.command(short_help="An HTTP API, and a page that shows the classifier decide.")
def serve(
    model_dir: ModelDir = MODEL,
    host: Annotated[str, typer.Option(help="Address to listen on; loopback unless told otherwise.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(**ranged('Port to listen on.', lo=1, hi=65535))] = 8000,
    workers: Annotated[int, typer.Option(**ranged('Server processes.', lo=1, hi=64))] = 1,
    max_body: Annotated[int, typer.Option(**ranged('Largest request body, in bytes (413 above).', lo=1))] = 1 << 20,
    max_texts: Annotated[int, typer.Option(**ranged('Most texts in one batch request (413 above).', lo=1))] = 256,
    max_tokens: Annotated[int, typer.Option(**ranged('Most tokens in one text (413 above).', lo=1))] = 512,
):
    """Serve a model over HTTP: a JSON API under /v1 and a page at / that shows the classifier decide."""
    try:
        from nerwin.tools.serve import Limits, serve as run_server   # optional: FastAPI and uvicorn (serve extra)
    except ImportError:
        raise NerwinError("nerwin serve needs FastAPI and uvicorn: pip install 'nerwin[serve]' (from a "
                          "checkout: pip install -e '.[serve]')") from None
    run_server(model_dir, host, port, workers, Limits(max_body, max_texts, max_tokens))


@app.command("drift-demo", short_help="The lecture's TV / telly / television experiment.")
@settings_options("seed", "epochs", "lr", "hidden", "l2", "optimizer", epochs=200, lr=0.01, hidden=10, l2=1e-3,
                  helps={"seed": "Random seed: both runs start from the same parameters.",
                         "epochs": "Passes over the training words (both runs train every epoch; there is no dev set)."})
def drift_demo(
    settings: dict,
    words: Annotated[Optional[Path], typer.Option(help="Word lists: lines `train|test CLASS WORD` "
                                                  "(default: the bundled drift_words.txt).")] = None,
    vectors: NewVectors = None,
    vectors_format: VectorsFormat = None,
    json_path: JsonOut = None,
    plot_path: Annotated[Optional[Path], typer.Option("--plot", help="Draw the picture as PNG (needs matplotlib: "
                                                      "pip install 'nerwin[plot]').")] = None,
):
    """The lecture's TV / telly / television experiment: frozen vs fine-tuned vectors, same seed."""
    from nerwin.tools.drift import LECTURE, WORDS, experiment, plot, read_words, table, to_json, verdict   # training

    writable(json_path, "--json")
    writable(plot_path, "--plot")
    check_outputs([words, vectors], [(json_path, "--json"), (plot_path, "--plot")])
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401  (optional: only --plot needs it)
        except ImportError:
            raise NerwinError("--plot needs matplotlib: pip install 'nerwin[plot]' (from a checkout: "
                              "pip install -e '.[plot]')") from None
    s = Settings.of(**settings, batch_size=4, **LECTURE)
    rows, classes = read_words(words or WORDS)
    store, _ = open_store(vectors, vectors_format)
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


def reader_gone():
    """The reader of standard output went away: exit 0 with nothing more said (click would exit 1)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
    except (OSError, ValueError, AttributeError):
        pass
    sys.exit(0)


def fail(message: str, code: int = 2):
    try:
        print(message, file=sys.stderr)
    except (OSError, ValueError, AttributeError):    # stderr closed: the exit code still tells
        pass
    sys.exit(code)


def main() -> None:
    try:
        try:
            code = app(standalone_mode=False)
            sys.stdout.flush()
            sys.exit(code if isinstance(code, int) else 0)
        except Exception as e:
            if _is(e, "NoArgsIsHelpError"):
                print(e.ctx.get_help())
                sys.exit(0)
            if not _is(e, "UsageError"):
                raise
            hint = ""
            if _is(e, "MissingParameter") and getattr(e, "ctx", None) is not None:
                hint = f" (`nerwin {e.ctx.info_name} -h` says what it takes)"
            fail(f"nerwin: error: {e.format_message()}{hint}")   # a flag's value: one line, exit 2
    except Interrupted as e:
        fail(f"nerwin: {e}", 130)
    except (KeyboardInterrupt, SystemError) as e:
        if not ctrl_c(e):
            raise
        fail("nerwin: interrupted", 130)
    except SettingError as e:
        if DEBUG:
            raise
        fail(f"nerwin: error: {e.flag}")
    except NerwinError as e:
        if DEBUG:
            raise
        fail(f"nerwin: error: {e}")
    except MemoryError as e:    # one line, as for any other error; exit 1: the input may be fine
        if DEBUG:
            raise
        fail(f"nerwin: error: out of memory{f' ({e})' if str(e) else ''}", 1)
    except BrokenPipeError:
        reader_gone()
    except OSError as e:    # the last net for a failed read or write: still one line, naming the file
        if DEBUG:
            raise
        where = f"{e.filename}: " if e.filename else ""
        fail(f"nerwin: error: {where}{e.strerror or e}")
