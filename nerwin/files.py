"""Writing files so that nothing is half-written and output goes where the user pointed it."""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

UMASK = os.umask(0o022)
os.umask(UMASK)


def is_regular_or_new(path: Path) -> bool:
    """A rename may replace only a regular file: never a device, a pipe or what a symlink points to."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    return stat.S_ISREG(st.st_mode)


def atomic_write(path: Path, data: bytes) -> None:
    """A temp file in the same folder, fsynced and renamed over path, so a crash leaves the old
    file or the new one. /dev/stdout, a symlink or a device is written directly instead."""
    path = Path(path)
    if not is_regular_or_new(path):
        with open(path, "wb") as f:
            f.write(data)
        return
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
