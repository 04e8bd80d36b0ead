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
from nerwin.windows import SHAPES, SPECIALS, Vocab

UMASK = os.umask(0o022)
os.umask(UMASK)
DENSE = ("W", "b", "u", "V", "c", "C", "A")
LOSSES = ("window", "sentence")


def atomic_write(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~UMASK)           # mkstemp's 0600 would hide a model from its group
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


def save(out: Path, params: dict, E: np.ndarray, vocab: Vocab, config: dict, bundle=None) -> None:
    """bundle: a vectors.Bundle of pretrained rows for words outside the vocabulary, or None."""
    out = Path(out)
    check_writable(out)
    config = dict(config, nerwin_version=__version__, vocabulary=vocab.words)
    text = json.dumps(config, indent=1, ensure_ascii=False).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, E=E, config_json=np.frombuffer(text, dtype=np.uint8), **params,
             **(bundle.to_arrays() if bundle is not None else {}))
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "config.json", text)
        atomic_write(out / "model.npz", buf.getvalue())
    except OSError as e:
        raise NerwinError(f"cannot write the model ({e.strerror}); the model already there, if any, "
                          "is unchanged", out) from None


def save_history(out: Path, history: list, best_epoch: int) -> None:
    """history.json: one record per epoch (loss, dev scores, seconds) and the kept epoch."""
    text = json.dumps({"best_epoch": best_epoch, "epochs": history}, indent=1).encode()
    try:
        atomic_write(Path(out) / "history.json", text)
    except OSError as e:
        raise NerwinError(f"cannot write the training history ({e.strerror})", out) from None


def load_history(model_dir: Path) -> dict | None:
    try:
        h = json.loads((Path(model_dir) / "history.json").read_text(encoding="utf-8"))
        return h if isinstance(h, dict) and isinstance(h.get("epochs"), list) else None
    except (OSError, ValueError):
        return None


def _version(v) -> tuple[int, ...]:
    parts = str(v).split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"unreadable version {v!r}")
    return tuple(int(p) for p in parts[:3])


def _newer(v) -> bool:
    """True when v is newer than this nerwin; ValueError for anything that is not a version."""
    return _version(v) > _version(__version__)


def check_config(config: dict, params: dict) -> None:
    """The config's meaning, not only its shapes: raises ValueError naming the first bad field."""
    from nerwin.model import ACTIVATIONS
    from nerwin.schemes import parse
    s = config["settings"]
    for k, lo in (("window", 0), ("hidden", 1), ("casing", 0)):
        if type(s.get(k, 0)) is not int or s.get(k, 0) < lo:
            raise ValueError(f"settings.{k} must be an integer >= {lo}, not {s.get(k)!r}")
    if s.get("activation") not in ACTIVATIONS:
        raise ValueError(f"unknown settings.activation {s.get('activation')!r}")
    if s.get("loss", "window") not in LOSSES:
        raise ValueError(f"unknown settings.loss {s.get('loss')!r}")
    if type(config["dim"]) is not int or config["dim"] < 1:
        raise ValueError(f"dim must be a positive integer, not {config['dim']!r}")
    if not isinstance(config["target"], str):
        raise ValueError("target must be a string")
    classes = config.get("classes")
    if "u" in params:
        if classes is not None:
            raise ValueError("a binary model (u) cannot have classes")
    elif not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)
              and classes[0] == "O" and all(c[:2] in ("B-", "I-") for c in classes[1:])):
        raise ValueError("classes must be a list of IOB2 tags starting with O")
    else:
        for c in classes:
            parse(c)
    rec = config.get("vectors")
    if not (isinstance(rec, dict) and isinstance(rec.get("source"), str)
            and (rec.get("format") is None or isinstance(rec.get("format"), str))
            and (rec.get("limit") is None or (type(rec.get("limit")) is int and rec["limit"] >= 1))):
        raise ValueError("vectors must record a source path, a format and a limit (null or >= 1)")
    words = config["vocabulary"]
    if not (isinstance(words, list) and all(isinstance(w, str) for w in words) and words[:3] == list(SPECIALS)):
        raise ValueError("vocabulary must be a list of strings starting with <UNK>, <s>, </s>")


def load(model_dir: Path):
    """-> params, E, vocab, config, bundle (or None). Refuses pickles, newer versions,
    configs that make no sense and mismatched shapes."""
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
    version = config.get("nerwin_version", "?")
    try:
        newer = _newer(version)
    except ValueError:
        raise NerwinError(f"unreadable nerwin_version {version!r}; the model is damaged", npz) from None
    if newer:
        raise NerwinError(f"written by nerwin {version}, newer than this nerwin {__version__}; upgrade nerwin", npz)
    try:
        check_config(config, arrays)
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
        if s.get("loss", "window") == "sentence":
            K = len(config["classes"])
            expect["A"] = (K + 1, K + 1)
        got = dict(params, E=E)
        for k, shape in expect.items():
            if k not in got or got[k].shape != shape:
                raise NerwinError(f"array {k} has shape {got[k].shape if k in got else 'missing'}, "
                                  f"the config says {shape}; the model is damaged", npz)
        bundle = None
        if "bundle" in arrays:
            from nerwin.vectors import Bundle
            bundle = Bundle.from_arrays(arrays["bundle"], arrays["bundle_blob"], arrays["bundle_offsets"])
            if bundle.dim != config["dim"]:
                raise ValueError(f"bundle has dimension {bundle.dim}, the model {config['dim']}")
    except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError) as e:
        raise NerwinError(f"config is damaged ({type(e).__name__}: {e}); retrain the model", npz) from None
    return params, E, vocab, config, bundle
