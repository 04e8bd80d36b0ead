"""Writing files so that nothing is half-written and output goes where the user pointed it, and
reading files that may be compressed."""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

from nerwin.errors import NerwinError

UMASK = os.umask(0o022)
os.umask(UMASK)


def is_regular_or_new(path: Path) -> bool:
    """A rename may replace only a regular file: never a device, a pipe or what a symlink points to."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    return stat.S_ISREG(st.st_mode)


def atomic_write(path: Path, data) -> None:
    """A temp file in the same folder, fsynced and renamed over path, so a crash leaves the old
    file or the new one. /dev/stdout, a symlink or a device is written directly instead.
    data: bytes, or a function that writes them to the open file."""
    path = Path(path)
    write = data if callable(data) else (lambda f: f.write(data))
    if not is_regular_or_new(path):
        with open(path, "wb") as f:
            write(f)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~UMASK)           # mkstemp's 0600 would hide a model from its group
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@contextmanager
def output_folder(path, flag: str = "--output-dir") -> Iterator[Path]:
    """Create the folder outputs go to and prove a file can be made in it, before any work: a
    read-only mount, /proc or a folder without write permission is refused here, naming it.
    If the work fails, the folders this made are removed while they are still empty: a failed
    run leaves nothing behind."""
    path = Path(path)
    made = [p for p in (path, *path.parents) if not p.exists()]     # the leaf first
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NerwinError(f"cannot create the folder ({e.strerror}); choose another {flag}", path) from None
    try:
        try:
            fd, probe = tempfile.mkstemp(dir=path, prefix=".nerwin.", suffix=".tmp")
        except OSError as e:
            raise NerwinError(f"cannot write here ({e.strerror}); choose another {flag}", path) from None
        os.close(fd)
        os.unlink(probe)
        yield path
    except BaseException:
        for p in made:
            try:
                p.rmdir()                   # only an empty folder goes
            except OSError:
                break
        raise


def _identity(path) -> tuple[int, int] | None:
    """(device, inode) of the regular file path names (through symlinks), or None."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


def check_outputs(inputs, outputs) -> None:
    """Refuse, before anything is opened for writing, an output that is one of the inputs or
    that another output would also write. Files are compared by identity (device and inode,
    through symlinks and hard links) and, for outputs not yet there, by their real path.
    inputs: paths read; outputs: (path, what it is, as the user named it: "--log", ...).
    Devices and pipes (/dev/null, /dev/stdout) are written in place and never compared."""
    read = {}
    for p in inputs:
        if p is not None and str(p) != "-":
            for key in (_identity(p), os.path.realpath(p)):
                if key is not None:
                    read.setdefault(key, p)
    written: dict = {}
    for path, what in outputs:
        if path is None:
            continue
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            continue
        keys = [k for k in (_identity(path), os.path.realpath(path)) if k is not None]
        for k in keys:
            if k in read:
                raise NerwinError(f"{what} would overwrite the input {read[k]}; choose another output", path)
            if k in written:
                other, other_what = written[k]
                raise NerwinError(f"{what} and {other_what} would both write this file ({other}); "
                                  "give each output its own path", path)
        for k in keys:
            written[k] = (path, what)


def same_as_input(fd: int, inputs) -> str | None:
    """The input that the open file fd (standard output, say) is, or None."""
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    for p in inputs:
        if p is not None and str(p) != "-" and _identity(p) == (st.st_dev, st.st_ino):
            return str(p)
    return None


class AtomicOutput:
    """`with AtomicOutput(path) as f:` writes a temp file beside path and renames it over path
    only when the block ends without an error, so a failure leaves no partial output."""

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self):
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.fchmod(fd, 0o666 & ~UMASK)
        self.file = os.fdopen(fd, "wb")
        return self.file

    def __exit__(self, kind, value, tb):
        try:
            if kind is None:
                self.file.flush()
                os.fsync(self.file.fileno())
            self.file.close()
            if kind is None:
                os.replace(self.tmp, self.path)
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)
        return False


PACKERS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}    # by an output's name
PIPED = ("is compressed (gzip, bzip2 or xz); give the file's name, or decompress it into the pipe "
         "(zcat FILE | nerwin {})")                 # a file's own name is decompressed as it is read
TWICE = "is compressed twice; decompress it once first (zcat FILE > ONCE) and give that file"
DAMAGED = (OSError, EOFError, lzma.LZMAError, zlib.error)    # what a damaged stream raises as it is read


def compressed(magic: bytes):
    """The opener of a file that starts with these 6 bytes (gzip, bzip2, xz), or None. bzip2's
    "BZh" is checked with its level and its first block's (or end's) magic, as a text file may
    start with those three letters."""
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open
    if magic[:3] == b"BZh" and len(magic) >= 6 and magic[3] in b"123456789" and magic[4:6] in (b"1A", b"\x17r"):
        return bz2.open
    return None


def compression(path: Path):
    """The opener of a compressed file, or None."""
    with open(path, "rb") as f:
        return compressed(f.read(6))


class Decompressing:
    """A compressed file read as a stream; a damaged stream is the file's error, not a crash."""

    def __init__(self, f, path: Path, raw):
        self.f, self.path, self.raw = f, path, raw     # raw: the file on disk, for how far through it is

    def _do(self, fn, *args):
        try:
            return fn(*args)
        except DAMAGED as e:
            raise NerwinError(f"cannot decompress ({e})", self.path) from None

    def consumed(self) -> int:
        """The compressed bytes read so far: how far through the file on disk the stream is."""
        return self.raw.tell()

    def read(self, n: int = -1) -> bytes:
        return self._do(self.f.read, n)

    def readline(self, n: int = -1) -> bytes:
        return self._do(self.f.readline, n)

    def __iter__(self):
        while line := self.readline():
            yield line

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
        self.raw.close()


def plain_name(p: Path) -> Path:
    """a.txt.gz -> a.txt, for a file that is compressed; what its name says of what it holds."""
    return p.with_suffix("") if p.suffix in PACKERS and compression(p) is not None else p


def inner(op, source, name):
    """op(source, "rb"): a compressed file's contents (source: its path or its open file), refused
    when they are compressed again; name: the file, for the error."""
    f = op(source, "rb")
    try:
        head = f.peek(6)[:6]
    except DAMAGED:
        return f                          # its reader names the damage, and the line it is near
    if compressed(head):
        f.close()
        raise NerwinError(TWICE, name)
    return f


def open_bytes(path: Path) -> BinaryIO:
    """The file's bytes, decompressed as they are read when it is compressed."""
    op = compression(path)
    try:
        raw = open(path, "rb", buffering=1 << 20)
    except OSError as e:
        raise NerwinError(f"cannot open ({e.strerror or e})", path) from None
    if op is None:
        return raw
    try:
        return Decompressing(inner(op, raw, path), path, raw)
    except NerwinError:
        raw.close()
        raise
