"""A decompressed copy of a gzip, bzip2 or xz vectors file, kept in nerwin's cache.

A compressed stream cannot seek, so without it every lookup reads the whole file: a training run
once for its dev and test words, predict once per chunk of new words. The first whole read keeps
the copy (one per source path: a changed source replaces it), and the hash index then serves it
as it serves a plain file. When the cache cannot hold it, lookups stream the file as before."""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
from pathlib import Path

from nerwin.progress import ProgressLine
from nerwin.vectors.index import cache_dir
from nerwin.vectors.sniff import open_vectors

BLOCK = 1 << 22
LOW_DISK = 1 << 30       # bytes the cache's disk keeps free: the copy is dropped rather than fill it
EXPANDS = 50             # vectors expand 1.1-fold (binary) to 3-fold (text); a bomb a thousandfold


class CacheFull(OSError):
    pass


def copy_path(source: Path) -> Path:
    """Where the copy of source as it is now lives: a folder per path, a name per size and mtime."""
    st = source.stat()
    folder = hashlib.blake2b(str(source.resolve()).encode(), digest_size=10).hexdigest()
    return cache_dir() / "plain" / folder / f"{st.st_size}-{st.st_mtime_ns}"


def existing_copy(source: Path) -> Path | None:
    dest = copy_path(source)
    return dest if dest.is_file() else None


def decompressed_copy(source: Path) -> Path | None:
    """The copy, made now if need be (another process making it is waited for); None when the
    cache cannot hold it. A damaged stream is the source's NerwinError, and leaves nothing behind."""
    dest = copy_path(source)
    if dest.is_file():
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        lock = open(dest.parent / ".lock", "w")
    except OSError as e:
        return _cannot(source, e)
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError as e:                             # a file system without locks
            return _cannot(source, e)
        if dest.is_file():
            return dest
        for old in dest.parent.iterdir():                # an earlier version of this source, and its index
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            elif old.name != ".lock":
                old.unlink(missing_ok=True)
        tmp = dest.with_name(f".tmp-{os.getpid()}")
        try:
            _write(source, tmp, dest)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            return _cannot(source, e)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    return dest


def _write(source: Path, tmp: Path, dest: Path) -> None:
    progress, size = ProgressLine(source.stat().st_size), 0
    with open_vectors(source) as f, open(tmp, "wb") as out:
        while block := f.read(BLOCK):
            out.write(block)
            size += len(block)
            if size % (16 * BLOCK) < BLOCK:
                if shutil.disk_usage(tmp.parent).free < LOW_DISK:
                    raise CacheFull(f"under {LOW_DISK >> 30} GiB left on the cache's disk")
                if size > EXPANDS * f.consumed():
                    raise CacheFull(f"it expands more than {EXPANDS}-fold, as no vectors file does")
            progress.rewrite(lambda now: f"nerwin: decompressing {source.name} once, "
                                         f"{progress.through(f.consumed(), now)}")
        out.flush()
        os.fsync(out.fileno())
    os.rename(tmp, dest)
    progress.finish(lambda secs: f"nerwin: decompressed {source.name} in {secs:,.1f} s into {dest} ({size / 1e6:,.1f} "
                                 "MB), so lookups seek in it instead of reading the whole compressed file; delete it "
                                 "to free the space", always=True)


def _cannot(source: Path, e: OSError) -> None:
    print(f"nerwin: cannot keep a decompressed copy of {source.name} in {cache_dir()} ({e.strerror or e}); "
          "each lookup reads the whole file", file=sys.stderr)
    return None
