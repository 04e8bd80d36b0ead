import contextlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "nerwin" / "sample"
CORPORA = ROOT.parent / "shared" / "corpora"


@pytest.fixture(scope="session", autouse=True)
def nerwin_cache(tmp_path_factory):
    """Every test run converts the default vectors itself, into a cache of its own."""
    d = tmp_path_factory.mktemp("cache")
    os.environ["NERWIN_CACHE"] = str(d)
    return d

# the sample corpus's words, for vector files of its vocabulary
SAMPLE_WORDS = ["the", "museums", "in", "paris", "are", "amazing", ".", "berlin", "london", "is"]


def corpus(name: str, split: str) -> Path:
    p = CORPORA / name / f"{split}.conll"
    if not p.exists():
        if os.environ.get("CI") == "true":      # CI must measure on real data, never skip it silently
            pytest.fail(f"real corpus {p} is missing in CI (see ../shared/corpora/README.md)")
        pytest.skip(f"real corpus {p} is missing (see ../shared/corpora/README.md)")
    return p


@contextlib.contextmanager
def chromium(width: int, height: int = 1400):
    """Headless Chromium through its WebDriver, with a viewport of exactly width px (a headless
    window is at least 500 px wide, so the viewport is emulated). Skips without the driver,
    except in CI."""
    import shutil
    if not shutil.which("chromedriver"):
        if os.environ.get("CI") == "true":
            pytest.fail("chromedriver is missing in CI (apt-get install chromium chromium-driver)")
        pytest.skip("needs chromium and chromium-driver")
    os.environ["SE_AVOID_STATS"] = "true"               # selenium's manager would report usage over the network
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", f"--window-size={max(width, 500)},{height}"):
        opts.add_argument(a)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=shutil.which("chromedriver")))
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()


def overflowing(driver, inside: str = ".card") -> list[str]:
    """The elements that reach past the viewport's right edge, outside any scroll box `inside`."""
    return driver.execute_script(
        "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > "
        f"document.documentElement.clientWidth + 1 && !e.closest('{inside}')).map(e => e.tagName + '#' + e.id + "
        "'.' + e.className)")


def run_process(*args, stdin: str | None = None, cwd=None):
    """Run the real CLI in a subprocess: for what only a process shows (imports, signals, exit)."""
    return subprocess.run([sys.executable, "-m", "nerwin", *map(str, args)], input=stdin,
                          capture_output=True, text=True, cwd=cwd, env=os.environ.copy())


def run(*args, stdin: str | None = None, cwd=None):
    """Run the CLI's main() in this process, with real files on descriptors 0, 1 and 2 (predict
    reads and writes descriptors, and /dev/stdout must reach the output): -> what subprocess.run
    would give. An exception that escapes main() is a traceback on stderr and exit 1, as in a process."""
    import tempfile
    import traceback
    from nerwin.cli import main
    with tempfile.TemporaryDirectory() as d:
        names = [Path(d, n) for n in ("in", "out", "err")]
        names[0].write_text(stdin or "", encoding="utf-8")
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        kept = [os.dup(i) for i in range(3)]
        for i, (n, flags) in enumerate(zip(names, (os.O_RDONLY, os.O_WRONLY | os.O_CREAT, os.O_WRONLY | os.O_CREAT))):
            fd = os.open(n, flags)
            os.dup2(fd, i)
            os.close(fd)
        saved = sys.argv, sys.stdin, sys.stdout, sys.stderr, os.getcwd()
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        code = 0
        try:
            sys.argv = ["nerwin", *map(str, args)]
            if cwd is not None:
                os.chdir(cwd)
            with warnings.catch_warnings():         # a process's filters, printing to stderr
                warnings.resetwarnings()
                for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                    warnings.simplefilter("ignore", quiet)
                warnings.showwarning = lambda m, c, f, n, file=None, line=None: sys.stderr.write(
                    warnings.formatwarning(m, c, f, n, line))
                main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:       # a process would print it and exit 1
            traceback.print_exc()
            code = 1
        finally:
            for stream in (sys.stdin, sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.close()
            for i, fd in enumerate(kept):
                os.dup2(fd, i)
                os.close(fd)
            sys.argv, sys.stdin, sys.stdout, sys.stderr, cwd_was = saved
            os.chdir(cwd_was)
        out, err = (n.read_text(encoding="utf-8", errors="replace") for n in names[1:])
    return subprocess.CompletedProcess(["nerwin", *map(str, args)], code, out, err)


def trained(tmp_path_factory, name: str, *flags) -> Path:
    """A model trained by the real CLI (on the sample unless flags say otherwise) in a fresh folder."""
    out = tmp_path_factory.mktemp(name) / "m"
    r = run("train", *flags, "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    return out


def start_server(model, *flags) -> tuple[subprocess.Popen, int]:
    """`nerwin serve` on a free port, once /healthz answers: -> the process and its port."""
    import socket
    import time
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen([sys.executable, "-m", "nerwin", "serve", "--model", str(model), "--port", str(port), *flags],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return p, port
        except OSError:
            time.sleep(0.1)
    p.kill()
    pytest.fail(p.stderr.read().decode())


def assert_clean_error(r, *names):
    """Exit 2, one line `nerwin: error: ...` naming the file (and line), no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "Warning: " not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines[-1].startswith("nerwin: error: "), r.stderr
    for n in names:
        assert str(n) in lines[-1], (n, r.stderr)


def write_vectors(path: Path, words, vecs: np.ndarray, fmt: str) -> Path:
    vecs = np.asarray(vecs, dtype=np.float32)
    if fmt == "word2vec-bin":
        with open(path, "wb") as f:
            f.write(f"{len(words)} {vecs.shape[1]}\n".encode())
            for w, v in zip(words, vecs):
                f.write(w.encode() + b" " + v.astype("<f4").tobytes() + b"\n")
    else:
        with open(path, "w", encoding="utf-8") as f:
            if fmt == "word2vec-text":
                f.write(f"{len(words)} {vecs.shape[1]}\n")
            for w, v in zip(words, vecs):
                f.write(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n")
    return path


KINDS = {"binary": dict(target="LOC"), "softmax": dict(target="all", loss="window"),
         "sentence": dict(target="all", loss="sentence")}


@pytest.fixture(scope="session")
def models(tmp_path_factory, nerwin_cache):
    """One small model of each kind, trained once in this process on the sample: {kind: its folder}.
    For tests that only need some trained model, not a particular run."""
    import nerwin
    root = tmp_path_factory.mktemp("models")
    out = {}
    for kind, flags in KINDS.items():
        nerwin.train(out=root / kind, epochs=2, quiet=True, **flags)
        out[kind] = root / kind
    return out


@pytest.fixture(scope="session")
def loc_model(models):
    """The binary LOC model, for tests that only read it or copy it."""
    return models["binary"]


def load_arrays(model_dir):
    """A saved model's params, E, vocabulary, config and bundle (WindowModel.load's checks all run)."""
    from nerwin.model import WindowModel
    m = WindowModel.load(model_dir)
    return m.params, m.E, m.vocab, m.config(), m.bundle


def rewrite_config(src, dst, change):
    """A copy of a model directory whose embedded config change(config) has edited."""
    import io
    import json
    import zipfile
    dst.mkdir()
    with zipfile.ZipFile(src / "model.npz") as z:
        arrays = {n[:-4]: np.load(io.BytesIO(z.read(n))) for n in z.namelist()}
    cfg = json.loads(arrays["config_json"].tobytes())
    change(cfg)
    arrays["config_json"] = np.frombuffer(json.dumps(cfg).encode(), dtype=np.uint8)
    np.savez(dst / "model.npz", **arrays)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def train_into(out, *extra):
    """`nerwin train` for one epoch on the sample into out."""
    return run("train", "--out", out, "--epochs", "1", "-q", *extra)


class Payload:
    """Unpickling this runs `touch MARKER`."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def gensim_kv(path: Path, sidecar: bool):
    """A gensim .kv of SAMPLE_WORDS saved at path, its vectors in a sidecar .npy or not."""
    from gensim.models import KeyedVectors
    kv = KeyedVectors(4)
    kv.add_vectors(SAMPLE_WORDS, np.random.default_rng(0).normal(size=(len(SAMPLE_WORDS), 4)).astype(np.float32))
    kv.save(str(path), sep_limit=0 if sidecar else 10 ** 9)
    return kv
