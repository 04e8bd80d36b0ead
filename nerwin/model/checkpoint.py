"""Model files: `model.npz` (arrays, read with allow_pickle=False), `config.json` and `history.json`.

A model directory is replaced as one unit: the new one is written beside it, fsynced, and
swapped in by one rename (renameat2's exchange, where the kernel has it), so a crash or a full
disk leaves the old model or the new one, never a mix. The npz also carries the config it was
trained with, and that copy is the one loaded: config.json is for people. Loading reads each
npz member's header first and refuses one whose declared size its shape does not need, so a
small file cannot expand into a large one; non-finite weights are refused too.
"""
from __future__ import annotations

import ctypes
import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nerwin.version import __version__
from nerwin.errors import NerwinError
from nerwin.files import UMASK, atomic_write
from nerwin.nn.heads import Head
from nerwin.settings import BEFORE, Settings
from nerwin.text.spelling import Spelling
from nerwin.text.windows import SPECIALS, Vocab
from nerwin.vectors import Bundle

MAX_BYTES = 1 << 34    # 16 GiB of arrays: more is a damaged or hostile file, not a model


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


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):            # EINVAL, ENOSYS, EOPNOTSUPP: this file system cannot
        return False
    raise OSError(err, os.strerror(err), str(b))


def write_files(out: Path, files: dict[str, bytes]) -> None:
    """Replace the directory out by one holding these files (and the other files it had)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, 0o777 & ~UMASK)
        if out.is_dir():                # what else the user keeps there stays
            for f in out.iterdir():
                if f.name not in files and f.is_file() and not f.is_symlink():
                    shutil.copy2(f, tmp / f.name)
        for name, data in files.items():
            atomic_write(tmp / name, data)
        if not out.exists():
            os.rename(tmp, out)
            return
        if not _exchange(tmp, out):     # two renames: a crash between them leaves the old model in tmp
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            os.rename(out, old / "m")
            os.rename(tmp, out)
            tmp = old
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def model_files(params: dict, E: np.ndarray, vocab: Vocab, config: dict, bundle=None) -> dict[str, bytes]:
    config = dict(config, nerwin_version=__version__, vocabulary=vocab.words)
    text = json.dumps(config, indent=1, ensure_ascii=False, allow_nan=False).encode("utf-8")
    buf = io.BytesIO()
    np.savez(buf, E=E, config_json=np.frombuffer(text, dtype=np.uint8), **params,
             **(bundle.to_arrays() if bundle is not None else {}))
    return {"config.json": text, "model.npz": buf.getvalue()}


def save(out: Path, params: dict, E: np.ndarray, vocab: Vocab, config: dict, bundle=None,
         history: dict | None = None) -> None:
    """bundle: a vectors.Bundle of pretrained rows for words outside the vocabulary, or None.
    Refuses weights that are not finite: such a model would print NaN for every token."""
    out = Path(out)
    check_writable(out)
    bad = [k for k, v in {**params, "E": E}.items() if not np.all(np.isfinite(v))]
    if bad:
        raise NerwinError(f"not saved: {', '.join(bad)} hold NaN or inf; try a lower --lr", out)
    files = model_files(params, E, vocab, config, bundle)
    if history is not None:
        files["history.json"] = history_json(history)
    try:
        write_files(out, files)
    except OSError as e:
        raise NerwinError(f"cannot write the model ({e.strerror}); the model already there, if any, "
                          "is unchanged", out) from None


def history_json(history: dict) -> bytes:
    return json.dumps(history, indent=1, allow_nan=False, default=float).encode()


def save_history(out: Path, history: list, best_epoch: int) -> None:
    """history.json: one record per epoch (loss, dev scores, seconds) and the kept epoch."""
    try:
        atomic_write(Path(out) / "history.json", history_json({"best_epoch": best_epoch, "epochs": history}))
    except (OSError, ValueError) as e:
        raise NerwinError(f"cannot write the training history ({getattr(e, 'strerror', None) or e})", out) from None


def load_history(model_dir: Path) -> dict | None:
    """The training history, or None when it is missing or not of the shape nerwin writes."""
    try:
        h = json.loads((Path(model_dir) / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(h, dict) and isinstance(h.get("epochs"), list)
            and all(isinstance(r, dict) and isinstance(r.get("epoch"), int)
                    and isinstance(r.get("loss"), (int, float)) for r in h["epochs"])):
        return None
    return h


def _version(v) -> tuple[int, ...]:
    parts = str(v).split(".")
    if not 1 <= len(parts) <= 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"unreadable version {v!r}")
    return tuple(int(p) for p in parts[:3])


def _newer(v) -> bool:
    """True when v is newer than this nerwin; ValueError for anything that is not a version."""
    return _version(v) > _version(__version__)


def check_config(config: dict) -> tuple[Settings, Head]:
    """The config's meaning, not only its shapes: raises ValueError naming the first bad field."""
    s = config["settings"]
    if not isinstance(s, dict):
        raise ValueError("settings must be an object")
    settings = Settings.of(**{**BEFORE, **s})
    head = Head.from_config(config)
    if (settings.affixes or settings.chars) and "spelling" not in config:
        raise ValueError("the settings use affixes or characters, but no spelling lists them")
    T = config.get("temperature", 1.0)
    if isinstance(T, bool) or not isinstance(T, (int, float)) or not 0 < T < 1e6:
        raise ValueError(f"temperature must be a positive number, not {T!r}")
    if type(config["dim"]) is not int or config["dim"] < 1:
        raise ValueError(f"dim must be a positive integer, not {config['dim']!r}")
    rec = config.get("vectors")
    if not (isinstance(rec, dict) and isinstance(rec.get("source"), str)
            and (rec.get("format") is None or isinstance(rec.get("format"), str))
            and (rec.get("limit") is None or (type(rec.get("limit")) is int and rec["limit"] >= 1))):
        raise ValueError("vectors must record a source path, a format and a limit (null or >= 1)")
    words = config["vocabulary"]
    if not (isinstance(words, list) and all(isinstance(w, str) for w in words) and words[:3] == list(SPECIALS)):
        raise ValueError("vocabulary must be a list of strings starting with <UNK>, <s>, </s>")
    return settings, head


def spelling_of(config: dict) -> Spelling:
    """The characters and affixes the model knows (none for a model that reads neither)."""
    return Spelling.from_config(config["spelling"]) if "spelling" in config else Spelling([], [], [])


def read_npz(npz: Path) -> dict[str, np.ndarray]:
    """Every member, each checked against its header before it is decompressed."""
    out, total = {}, 0
    with zipfile.ZipFile(npz) as z:
        for info in z.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                if dtype.hasobject:
                    raise NerwinError("refusing to load: the file holds pickled objects, which could run code", npz)
                if dtype.kind not in "fiu":
                    raise NerwinError(f"member {name!r} is not a numeric array; the model is damaged", npz)
                need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                total += need
                if info.file_size != f.tell() + need or total > MAX_BYTES:
                    raise NerwinError(f"member {name!r} declares {info.file_size:,} bytes, but its shape "
                                      f"{shape} needs {f.tell() + need:,}; the model is damaged", npz)
                out[name] = _read_body(f, shape, fortran, dtype)
    return out


def _read_body(f, shape, fortran, dtype) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError("member ends early")
    a = np.frombuffer(data, dtype=dtype, count=count).copy()
    return a.reshape(shape[::-1]).transpose() if fortran else a.reshape(shape)


def load(model_dir: Path):
    """-> params, E, vocab, config, bundle (or None). Refuses pickles, newer versions,
    configs that make no sense, mismatched shapes and weights that are not finite."""
    d = Path(model_dir)
    npz, cfg = d / "model.npz", d / "config.json"
    if not d.is_dir():
        raise NerwinError("no such model directory; train one with `nerwin train --out DIR`", d)
    for f in (npz, cfg):
        if not f.exists():
            raise NerwinError(f"missing {f.name}; this is not a complete nerwin model directory", f)
    try:
        arrays = read_npz(npz)
    except NerwinError:
        raise
    except Exception as e:  # zipfile, zlib and numpy raise many types for a damaged archive
        raise NerwinError(f"not a readable npz archive ({type(e).__name__}); retrain or copy it again", npz) from None
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
        s, head = check_config(config)
        vocab = Vocab(config["vocabulary"])
        spelling = spelling_of(config)
        n, H = 2 * s.window + 1, s.hidden
        expect = {"E": (len(vocab), config["dim"]), "W": (H, n * (config["dim"] + s.spelling_width())), "b": (H,),
                  **head.shapes(H), **s.table_shapes(spelling.sizes)}
        for k, shape in expect.items():
            if k not in arrays or arrays[k].shape != shape:
                raise NerwinError(f"array {k} has shape {arrays[k].shape if k in arrays else 'missing'}, "
                                  f"the config says {shape} ({head.kind} head); the model is damaged", npz)
            if arrays[k].dtype.kind != "f" or not np.all(np.isfinite(arrays[k])):
                raise NerwinError(f"array {k} holds values that are not finite numbers; the model is damaged", npz)
        E = arrays["E"]
        params = {k: arrays[k] for k in expect if k != "E"}
        bundle = None
        if "bundle" in arrays:
            bundle = Bundle.from_arrays(arrays["bundle"], arrays["bundle_blob"], arrays["bundle_offsets"])
            if bundle.dim != config["dim"]:
                raise ValueError(f"bundle has dimension {bundle.dim}, the model {config['dim']}")
    except NerwinError as e:
        if e.path is None:      # a setting out of range: still the file's fault
            raise NerwinError(f"config is damaged ({e}); retrain the model", npz) from None
        raise
    except (KeyError, TypeError, ValueError, AttributeError, UnicodeDecodeError, IndexError) as e:
        raise NerwinError(f"config is damaged ({type(e).__name__}: {e}); retrain the model", npz) from None
    return params, E, vocab, config, bundle
