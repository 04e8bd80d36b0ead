"""Model files: `model.npz` (arrays, read with allow_pickle=False), `config.json` and `history.json`.

A model directory is replaced as one unit: the new one is written beside it, fsynced, and
swapped in by one rename (renameat2's exchange, where the kernel has it), so a crash or a full
disk leaves the old model or the new one, never a mix. The staging folder's name holds the
machine and the process that writes it, and the next save removes those whose process is gone.
The npz also carries the config it was trained with, and that copy is the one loaded:
config.json is for people. Loading reads each npz member's header first and refuses one whose
declared size its shape does not need, so a small file cannot expand into a large one;
non-finite weights are refused too.
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from nerwin.errors import NerwinError
from nerwin.files import UMASK, atomic_write
from nerwin.vectors import Bundle
from nerwin.version import __version__

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


@functools.cache
def host() -> str:
    """This machine's name as a staging folder spells it (socket: only when a model is saved)."""
    import socket
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def sweep(out: Path) -> None:
    """Remove the staging folders that killed saves of out left on this machine (their process
    is gone). Only while out is a whole model, so that no copy of a model is the one removed."""
    if not out.is_dir():
        return
    head = f".{out.name}.{host()}-"
    for f in out.parent.iterdir():
        if not (f.name.startswith(head) and f.name.endswith(".tmp")):
            continue
        pid = f.name[len(head):].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(f, ignore_errors=True)


def write_files(out: Path, files: dict) -> None:
    """Replace the directory out by one holding these files (and the other files it had): each
    its bytes, or a function that writes them to an open file."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.{host()}-{os.getpid()}.", suffix=".tmp"))
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


def model_files(arrays: dict, config: dict, bundle=None, shown: dict | None = None) -> dict:
    """{name: its bytes, or a function that writes them to an open file}: model.npz is written
    straight into its file, not built in memory first (which held the whole model twice).
    shown: the config.json people read, when it should abbreviate what the model holds."""
    def dump(c):
        return json.dumps(dict(c, nerwin_version=__version__), indent=1, ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    text = dump(config)
    more = bundle.to_arrays() if bundle is not None else {}
    npz = lambda f: np.savez(f, config_json=np.frombuffer(text, dtype=np.uint8), **arrays, **more)  # noqa: E731
    return {"config.json": text if shown is None else dump(shown), "model.npz": npz}


def save(out: Path, arrays: dict, config: dict, bundle=None, history: dict | None = None,
         shown: dict | None = None) -> None:
    """arrays: E and every parameter; bundle: a vectors.Bundle of pretrained rows for words outside
    the vocabulary, or None; shown: config.json's abbreviation of config. Refuses weights that
    are not finite: such a model would print NaN for every token."""
    out = Path(out)
    check_writable(out)
    bad = [k for k, v in arrays.items() if not np.all(np.isfinite(v))]
    if bad:
        raise NerwinError(f"not saved: {', '.join(bad)} hold NaN or inf; try a lower --lr", out)
    files = model_files(arrays, config, bundle, shown)
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


BUNDLE = ("bundle", "bundle_blob", "bundle_offsets")


def _members(npz: Path, want=None, expect: dict | None = None, kind: str = "") -> dict[str, np.ndarray]:
    """The members named in want (all when None). Every member's header is checked first, read or
    not: numeric (never pickled objects), the size its shape needs, and (expect) the shape the
    config says; a body is decompressed only after its header passes."""
    out, total = {}, 0
    with zipfile.ZipFile(npz) as z:
        for info in z.infolist():            # every member's header, whichever are read
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
                if expect is not None and name in expect and tuple(shape) != tuple(expect[name]):
                    raise NerwinError(f"array {name} has shape {tuple(shape)}, the config says "
                                      f"{tuple(expect[name])} ({kind} head); the model is damaged", npz)
                need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                total += need
                if info.file_size != f.tell() + need or total > MAX_BYTES:
                    raise NerwinError(f"member {name!r} declares {info.file_size:,} bytes, but its shape "
                                      f"{shape} needs {f.tell() + need:,}; the model is damaged", npz)
                if want is None or name in want:
                    out[name] = _read_body(f, shape, fortran, dtype)
    return out


def read_npz(npz: Path) -> dict[str, np.ndarray]:
    """Every member, each checked against its header before it is decompressed."""
    return _members(npz)


def _damaged(npz: Path, read):
    try:
        return read()
    except NerwinError:
        raise
    except Exception as e:  # zipfile, zlib and numpy raise many types for a damaged archive
        raise NerwinError(f"not a readable npz archive ({type(e).__name__}); retrain or copy it again", npz) from None


def read_config(model_dir: Path) -> tuple[dict, Path]:
    """The config embedded in model.npz (config.json is for people), checked for its version."""
    d = Path(model_dir)
    npz, cfg = d / "model.npz", d / "config.json"
    if not d.is_dir():
        if d.name in ("model.npz", "config.json") and d.is_file():
            raise NerwinError("is a file of a model; pass the model directory, " f"{d.parent}", d)
        raise NerwinError("no such model directory; train one with `nerwin train --out DIR`", d)
    for f in (npz, cfg):
        if not f.exists():
            raise NerwinError(f"missing {f.name}; this is not a complete nerwin model directory", f)
    raw = _damaged(npz, lambda: _members(npz, {"config_json"}))
    try:
        config = json.loads(raw["config_json"].tobytes().decode("utf-8"))
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
    return config, npz


def read_arrays(npz: Path, expect: dict, kind: str) -> dict[str, np.ndarray]:
    """The arrays expect names, each of the shape it gives (checked before it is read), finite."""
    arrays = _damaged(npz, lambda: _members(npz, set(expect), expect, kind))
    for k in expect:
        if k not in arrays:
            raise NerwinError(f"array {k} has shape missing, the config says {tuple(expect[k])} ({kind} head); "
                              "the model is damaged", npz)
        if arrays[k].dtype.kind != "f" or not np.all(np.isfinite(arrays[k])):
            raise NerwinError(f"array {k} holds values that are not finite numbers; the model is damaged", npz)
    return arrays


def read_bundle(npz: Path, dim: int):
    """The bundled pretrained rows, or None."""
    arrays = _damaged(npz, lambda: _members(npz, set(BUNDLE)))
    if "bundle" not in arrays:
        return None
    try:
        bundle = Bundle.from_arrays(arrays["bundle"], arrays["bundle_blob"], arrays["bundle_offsets"])
    except (KeyError, TypeError, ValueError, IndexError, UnicodeDecodeError) as e:
        raise NerwinError(f"config is damaged ({type(e).__name__}: {e}); retrain the model", npz) from None
    if bundle.dim != dim:
        raise NerwinError(f"config is damaged (ValueError: bundle has dimension {bundle.dim}, the model {dim}); "
                          "retrain the model", npz)
    return bundle


def _read_body(f, shape, fortran, dtype) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    data = f.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise ValueError("member ends early")
    a = np.frombuffer(data, dtype=dtype, count=count).copy()
    return a.reshape(shape[::-1]).transpose() if fortran else a.reshape(shape)
