"""The structure the code promises: layers that import only downward, a head that is the only
code asking what kind a model is, one declaration per setting checked the same way from the CLI
and the API, and commands that apply a model without loading the training code."""
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nerwin
from nerwin.errors import NerwinError, SettingError
from nerwin.nn import network
from nerwin.nn.heads import choose_kind
from nerwin.settings import FIELDS, Settings, kind

from conftest import DATA, ROOT, run

PKG = ROOT / "nerwin"
# a lower layer never imports a higher one; layers of one rank do not import each other
RANK = {"version": 0, "errors": 0, "files": 0.5, "progress": 0.5, "sample": 0, "text": 1, "vectors": 1, "settings": 1, "nn": 2, "model": 3,
        "apply": 4, "training": 5, "tools": 6, "cli": 7, "__init__": 8, "command": 8, "__main__": 9}
# imports inside functions, each for a reason the module states beside it
LAZY = {("cli", "nerwin.training.run"), ("cli", "nerwin.tools.drift"), ("__init__", "nerwin.training.run"),
        ("__init__", "nerwin.apply.tagger"), ("nn", "nerwin.nn.kernels"), ("command", "nerwin.cli"),
        ("cli", "nerwin.tools.serve"), ("cli", "nerwin.tools.cluster"), ("text", "nerwin.text.docbin"),
        ("cli", "nerwin.tools.report"), ("cli", "nerwin.tools.gradcheck")}


def layer(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def nerwin_imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "nerwin":      # from nerwin import sample
            for a in node.names:
                yield node, f"nerwin.{a.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("nerwin"):
            yield node, node.module
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("nerwin"):
                    yield node, a.name


def test_layers_import_only_downward_and_at_the_top():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        me = layer(path)
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node, mod in nerwin_imports(tree):
            parts = mod.split(".")
            other = parts[1] if len(parts) > 1 else "__init__"
            if other not in RANK:
                bad.append(f"{path}: {mod} is in no layer")
                continue
            if RANK[other] > RANK[me] or (RANK[other] == RANK[me] and other != me):
                bad.append(f"{path}: {me} (rank {RANK[me]}) imports {mod} (rank {RANK[other]})")
            if id(node) not in top and (me, mod) not in LAZY:
                bad.append(f"{path}:{node.lineno}: imports {mod} inside a function")
    assert not bad, "\n".join(bad)


def test_no_code_outside_the_heads_asks_which_keys_a_model_has():
    pattern = re.compile(r"""["'](u|V|A)["']\s+(not\s+)?in\s|classes\s+is\s+(not\s+)?None|(?<!head)\.classes\b""")
    hits = [f"{p}:{i}: {line.strip()}" for p in PKG.rglob("*.py") if p.name != "heads.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, "\n".join(hits)


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    """A small model of each kind, trained on the sample."""
    d = tmp_path_factory.mktemp("kinds")
    flags = {"binary": [], "softmax": ["--target", "all", "--loss", "window"],
             "sentence": ["--target", "all", "--loss", "sentence"]}
    for name, f in flags.items():
        r = run("train", *f, "--epochs", "2", "--out", d / name, "-q")
        assert r.returncode == 0, r.stderr
    return d


LOADED = """
import json, sys
from nerwin.cli import main
sys.argv = ["nerwin", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as e:
    assert not e.code, e.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "gensim", "torch", "matplotlib", "rich")
               or m.startswith("nerwin.training") or m == "nerwin.nn.kernels")
print(json.dumps(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("name", ["binary", "softmax", "sentence"])
def test_applying_a_model_never_loads_numba_gensim_rich_or_training(kinds, tmp_path, name):
    m = kinds / name
    for args in (["predict", str(DATA / "test.conll"), "--model", str(m), "--input-format", "conll"],
                 ["evaluate", str(DATA / "test.conll"), "--model", str(m)],
                 ["report", str(DATA / "dev.conll"), "--model", str(m), "--html", str(tmp_path / "r.html")],
                 ["explain", "Anna flew to Lisbon .", "--model", str(m)]):
        r = subprocess.run([sys.executable, "-c", LOADED, json.dumps(args)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stderr.strip().splitlines()[-1]) == [], (args[0], r.stderr)


@pytest.mark.parametrize("name", ["binary", "softmax", "sentence"])
def test_evaluate_dev_loss_is_the_training_loss(kinds, name):
    tagger = nerwin.load(kinds / name)
    from nerwin.text.corpus import read_conll
    sents = read_conll(DATA / "dev.conll")
    toks = [s.tokens for s in sents]
    E, X, feats = tagger.windows(toks)
    y = tagger.head.gold(s.tags for s in sents)
    lengths = np.array([len(t) for t in toks])
    J = network.loss(tagger.params, E, X, y, tagger.head, tagger.settings.activation, 0.0, None,
                     tagger.model.features, feats, lengths)[0]
    assert tagger.evaluate(DATA / "dev.conll")["loss"] == pytest.approx(J, rel=1e-5)


# ---- every setting, out of range and of the wrong type, from the CLI and from Python ----------

def bad_values(f):
    """(value, ValueError or TypeError) pairs that the declaration must refuse."""
    m, t = f.metadata, kind(f)
    out = [({int: "3", float: "0.5", bool: 1, str: 3}[t], TypeError)]
    if t is int:
        out.append((1.5, TypeError))
    if t is float:
        out.append((float("nan"), ValueError))
    if m["choices"]:
        out.append(("no-such-choice", ValueError))
    if m["lo"] is not None:
        below = m["lo"] - 1
        if m["auto"] is not None and below == m["auto"][0]:      # that one means "by target"
            below = m["lo"] - 0.5 if t is float else m["lo"] - 2
        out.append((below, ValueError))
    if m["above"] is not None:
        out.append((m["above"], ValueError))
    if m["hi"] is not None:
        out.append((m["hi"] + 1, ValueError))
    return out


CASES = [(n, v, e) for n, f in FIELDS.items() for v, e in bad_values(f)]


@pytest.mark.parametrize("name,value,error", CASES, ids=[f"{n}={v!r}" for n, v, _ in CASES])
def test_every_setting_is_checked_by_the_api(tmp_path, name, value, error):
    with pytest.raises(error) as got:
        nerwin.train(out=tmp_path / "m", quiet=True, **{name: value})
    assert isinstance(got.value, NerwinError) and str(got.value).startswith(name + " "), got.value
    assert not (tmp_path / "m").exists()


def cli(capsys, *args):
    from nerwin.cli import main
    sys.argv = ["nerwin", *map(str, args)]
    with pytest.raises(SystemExit) as e:
        main()
    return e.value.code, capsys.readouterr().err


def cli_value(name, value, error):
    """The flag's text for a bad value; a flag's text is a string, so a wrong type is a word."""
    if error is TypeError:
        return None if kind(FIELDS[name]) in (str, bool) else ("1.5" if isinstance(value, float) else "abc")
    return str(value)


CLI_CASES = [(n, cli_value(n, v, e)) for n, v, e in CASES if kind(FIELDS[n]) is not bool and cli_value(n, v, e)]


@pytest.mark.parametrize("name,value", CLI_CASES, ids=[f"{n}={v}" for n, v in CLI_CASES])
def test_every_setting_is_checked_by_the_cli(tmp_path, capsys, name, value):
    flag = "--" + name.replace("_", "-")
    code, err = cli(capsys, "train", flag, value, "--out", tmp_path / "m")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("nerwin: error: ") and flag in lines[0], err
    assert not (tmp_path / "m").exists()


def test_settings_are_checked_without_being_changed():
    s = Settings(target="ALL")
    r = s.resolved()
    assert (s.loss, s.target) == ("auto", "ALL") and (r.loss, r.target) == ("auto", "all")
    assert choose_kind(True, r.loss).kind == "sentence" and choose_kind(False, "auto").kind == "binary"
    assert (s.chars, s.dropout) == (-1, -1.0) and (r.chars, r.dropout) == (32, 0.3)
    assert (Settings().resolved().chars, Settings().resolved().dropout) == (0, 0.0)    # the lecture's binary model
    assert Settings(target="all", chars=8, dropout=0.0).resolved().chars == 8
    with pytest.raises(SettingError, match="loss sentence"):
        Settings(loss="sentence").resolved()
    with pytest.raises(TypeError, match="not a setting"):
        Settings.of(epoch=3)


PATH_OPTIONS = ("--vectors ", "--model ", "--out ", "--train ", "--dev ", "--test ", "--log ", "--html ", "--json ",
                "--plot ", "--words ", "--output-dir ", "--metrics-json ")


def test_every_option_of_every_command_has_help_and_shows_its_choices():
    from typer.main import get_command
    from nerwin.cli import app
    group = get_command(app)
    for name, command in group.commands.items():
        for p in command.params:
            if p.param_type_name == "option":
                assert p.help, f"{name} {p.opts} has no help"
        text = run(name, "--help").stdout
        assert "Usage:" in text
        assert "list[" not in text, name                          # typer's type of a list argument
        for line in text.splitlines():                            # a path is shown as one, never as <str>
            if line.strip().startswith(PATH_OPTIONS):
                shown = line.split()[1]                           # a flag's help starts with a word
                assert shown == "<path>" or (shown[0].isupper() and not shown.isupper()), (name, line)
    assert "[auto|window|sentence]" in run("train", "-h").stdout
    assert "[text|conll]" in run("predict", "-h").stdout
    assert run("--version").stdout.strip() == f"nerwin {nerwin.__version__}"
