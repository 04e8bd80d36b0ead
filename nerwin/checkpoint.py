"""Model files: `model.npz` (arrays, read with allow_pickle=False) and `config.json`.

Every file is written to a temp file in the same directory, fsynced and renamed,
so a crash leaves either the old file or the new one. The npz also carries the
config it was trained with, and that copy is the one loaded: config.json is for
people, and a crash between the two renames cannot pair arrays with a wrong config.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from nerwin import __version__
from nerwin.errors import NerwinError
from nerwin.windows import SHAPES, Vocab

DENSE = ("W", "b", "u", "V", "c", "C")


def atomic_write(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def check_writable(out: Path) -> None:
    """Fail early, before any work, if --out cannot be written; create nothing yet."""
    out = Path(out).absolute()
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise NerwinError(f"cannot write the model here: {probe} is a file; choose another --out", out)
    if not os.access(probe, os.W_OK | os.X_OK):
        raise NerwinError("cannot write the model here (permission denied); choose another --out", out)


def save(out: Path, params: dict, E: np.ndarray, vocab: Vocab, config: dict) -> None:
    out = Path(out)
    check_writable(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NerwinError(f"cannot write the model here ({e.strerror}); choose another --out", out) from None
    config = dict(config, nerwin_version=__version__, vocabulary=vocab.words)
    text = json.dumps(config, indent=1, ensure_ascii=False).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, E=E, config_json=np.frombuffer(text, dtype=np.uint8), **params)
    atomic_write(out / "config.json", text)
    atomic_write(out / "model.npz", buf.getvalue())


def _newer(v: str) -> bool:
    def parts(x):
        return tuple(int(t) for t in x.split(".")[:3] if t.isdigit())
    try:
        return parts(v) > parts(__version__)
    except (AttributeError, ValueError):
        return True


def load(model_dir: Path):
    """-> params, E, vocab, config. Refuses pickles, newer versions and mismatched shapes."""
    d = Path(model_dir)
    npz, cfg = d / "model.npz", d / "config.json"
    if not d.is_dir():
        raise NerwinError("no such model directory; train one with `nerwin train --out DIR`", d)
    for f in (npz, cfg):
        if not f.exists():
            raise NerwinError(f"missing {f.name}; this is not a complete nerwin model directory", f)
    try:
        z = np.load(npz, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise NerwinError("holds a single array, not an npz archive; retrain or copy it again", npz)
        with z:
            arrays = {k: z[k] for k in z.files}
    except NerwinError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise NerwinError("refusing to load: the file holds pickled objects, which could run code", npz) from None
        raise NerwinError(f"not a readable npz archive ({e}); retrain or copy it again", npz) from None
    except Exception as e:  # zipfile, zlib and numpy raise many types for a damaged archive
        raise NerwinError(f"not a readable npz archive ({type(e).__name__}); retrain or copy it again", npz) from None
    for k, v in arrays.items():
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "fiu":
            raise NerwinError(f"member {k!r} is not a numeric array; the model is damaged", npz)
    try:
        config = json.loads(arrays.pop("config_json").tobytes().decode("utf-8"))
    except (KeyError, UnicodeDecodeError, json.JSONDecodeError):
        raise NerwinError("has no readable embedded config; it was not written by nerwin", npz) from None
    if not isinstance(config, dict):
        raise NerwinError("embedded config is not a JSON object; the model is damaged", npz)
    version = str(config.get("nerwin_version", "?"))
    if _newer(version):
        raise NerwinError(f"written by nerwin {version}, newer than this nerwin {__version__}; upgrade nerwin", npz)
    try:
        vocab = Vocab(config["vocabulary"])
        s = config["settings"]
        E = arrays.pop("E")
        params = {k: arrays[k] for k in DENSE if k in arrays}
        n, H, c = 2 * s["window"] + 1, s["hidden"], s.get("casing", 0)
        expect = {"E": (len(vocab), config["dim"]), "W": (H, n * (config["dim"] + c)), "b": (H,)}
        if c:
            expect["C"] = (len(SHAPES), c)
        expect.update({"u": (H,), "c": ()} if "u" in params else {"V": (len(config["classes"]), H),
                                                                   "c": (len(config["classes"]),)})
        got = dict(params, E=E)
        for k, shape in expect.items():
            if k not in got or got[k].shape != shape:
                raise NerwinError(f"array {k} has shape {got[k].shape if k in got else 'missing'}, "
                                  f"the config says {shape}; the model is damaged", npz)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise NerwinError(f"config is damaged ({type(e).__name__}: {e}); retrain the model", npz) from None
    return params, E, vocab, config
