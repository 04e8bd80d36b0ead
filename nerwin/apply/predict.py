"""`nerwin predict`: read sentences, tag them with a Tagger, write them; streamed block by block.

Output lines up with input: text input gives one record per input line, an empty line an
empty record (conll output: a lone blank line; jsonl: a record with no tokens), and every
jsonl record carries its `line`. Input from a pipe or a terminal is tagged as it arrives and
the output flushed, so `tail -f log | nerwin predict` works. Output is UTF-8 whatever the locale,
as input is read as UTF-8.
"""
from __future__ import annotations

import codecs
import json
import multiprocessing
import os
import select
import shlex
import stat
import sys
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from nerwin.apply.doc import Doc
from nerwin.apply.tagger import Tagger, check_confidence
from nerwin.errors import NerwinError, SettingError, check_type, plural, refuse_utf16
from nerwin.files import (PIPED, AtomicOutput, Decompressing, check_outputs, compressed, inner, output_folder,
                          plain_name, same_as_input)
from nerwin.progress import ProgressLine
from nerwin.text.corpus import BATCH, DOCSTART, Comment, chunks, iter_conll, replace_bad_bytes

READ = 1 << 20
MAX_LINE = 1 << 26           # 64 MiB without a newline is not a sentence
FORMATS = {"input": ("text", "conll"), "output": ("conll", "jsonl")}
MAX_WORKERS = 256


def render(doc: Doc, fmt: str, line: int) -> str:
    if fmt == "jsonl":
        return json.dumps({"line": line, "text": doc.text, **doc.to_dict()}, ensure_ascii=False) + "\n"
    return "".join([f"{t}\t{l}\t{q:.4f}\n" for t, l, q in zip(doc.tokens, doc.labels, doc.probs)]) + "\n"


def missing(path: str) -> str:
    """The error for an input that does not exist: a sentence typed where a file goes gets the way
    to tag it."""
    if " " in path.strip() and os.sep not in path:
        return f"no such file; predict reads files or standard input: to tag a sentence, pipe it in " \
               f"(echo {shlex.quote(path)} | nerwin predict)"
    return "no such file; check the path"


def read_ready(fd: int) -> tuple[bytes, bool]:
    """What can be read now: at least one byte (waiting for it), then more while more is ready
    without waiting, up to READ bytes; and whether the input ended. A terminal's Ctrl-D is read
    once: read again, it would wait for more."""
    data = os.read(fd, READ)
    while data and len(data) < READ and select.select([fd], [], [], 0)[0]:
        more = os.read(fd, READ - len(data))
        if not more:
            return data, True
        data += more
    return data, not data


def read_through(source) -> tuple[bytes, bool]:
    """read_ready for a file decompressed as it is read: a large read, and whether it was the last."""
    data = source.read(READ)
    return data, not data


def universal(text: str) -> str:
    """Universal newlines: \r\n and a lone \r read as \n."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def blocks(read: Callable[[], tuple[bytes, bool]], name: str) -> Iterator[list[tuple[int, str]]]:
    """Lists of (line number, line) as read() gives them (read_ready's bytes, and whether the
    input ended): a stream's lines as they arrive, a file's in large reads. A NUL byte or an
    endless line is refused as soon as it is read."""
    bad: list[bytes] = []
    decode = codecs.getincrementaldecoder("utf-8")(errors=replace_bad_bytes(bad)).decode
    rest, n, first, warned = "", 0, True, False
    while True:
        data, ended = read()
        if n == 0 and not rest:
            refuse_utf16(data, name)
            if compressed(data[:6]):        # a pipe's: a file's is decompressed as it is read
                raise NerwinError(PIPED.format("predict"), name)
        if b"\x00" in data:
            before = data[:data.index(b"\x00")]
            raise NerwinError("binary data (NUL byte); expected UTF-8 text", name, n + 1 + rest.count("\n")
                              + before.count(b"\n"))
        text = rest + decode(data, final=ended)
        if bad and not warned:              # rest holds no newline but a \r that may pair with a \n
            line = n + 1 + universal(rest + bad[0].decode("utf-8", "replace")).count("\n")
            print(f"nerwin: warning: {name}:{line}: bytes that are not UTF-8, replaced with U+FFFD "
                  "(the first such line; there may be more)", file=sys.stderr)
            warned, bad[0] = True, b""
        if first and text:
            text, first = text.removeprefix("\ufeff"), False
        held = "\r" if not ended and text.endswith("\r") else ""     # it may be half of \r\n
        text = universal(text[:-1] if held else text)
        lines = text.split("\n")
        rest = lines.pop() + held if not ended else ""
        if not ended and len(rest) > MAX_LINE:
            raise NerwinError(f"line {n + len(lines) + 1} is longer than {MAX_LINE >> 20} MiB; expected one "
                              "sentence a line", name)
        if ended and lines and lines[-1] == "":
            lines.pop()                                     # the file's final newline ends the last line
        out = []
        for line in lines:
            n += 1
            out.append((n, line.lstrip("\ufeff")))       # a BOM where two files were joined
        for i in range(0, len(out), BATCH):
            yield out[i:i + BATCH]
        if ended:
            return


def sniff(lines: list[str], fmt: str, name: str) -> None:
    """A warning when the input looks like the other format."""
    sample = [l for l in lines[:200] if l.strip()]
    if not sample:
        return
    if fmt == "conll" and not any("\t" in l for l in sample) and sorted(len(l.split()) for l in sample)[
            len(sample) // 2] >= 5:
        print(f"nerwin: warning: {name}: lines hold many words each, which looks like text, one sentence a line; "
              "if so, use --input-format text", file=sys.stderr)
    if fmt == "text" and sum(("\t" in l and len(l.split()) <= 4) for l in sample) > len(sample) // 2:
        print(f"nerwin: warning: {name}: lines look like CoNLL (a token, a tab, a tag); if so, use "
              "--input-format conll", file=sys.stderr)


def predict(tagger: Tagger, path: str, out: BinaryIO | None = None, input_format: str = "text",
            output_format: str = "conll", workers: int = 1, min_confidence: float | None = None) -> int:
    """Tag every sentence of path (or - for stdin) onto out (default: stdout, as UTF-8), with
    `workers` processes, keeping only entities at least min_confidence sure; returns the number of
    records written."""
    for which, value in (("input", input_format), ("output", output_format)):
        if value not in FORMATS[which]:
            raise NerwinError(f"unknown --{which}-format {value!r}; choose {' or '.join(FORMATS[which])}")
    if (workers := check_type("workers", workers, int, "an integer")) < 1 or workers > MAX_WORKERS:
        raise SettingError("workers", f"must be between 1 and {MAX_WORKERS}, got {workers}")
    min_confidence = check_confidence(min_confidence)       # before any output, not in a worker
    name = "<stdin>" if path == "-" else path
    if out is None:
        if sys.stdout is None:
            raise NerwinError("standard output is closed; redirect it to a file")
        out = sys.stdout.buffer
    try:
        out_fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        out_fd = None
    if out_fd is not None and same_as_input(out_fd, [path]):
        raise NerwinError("the output is the input file itself; writing it would erase what is read. "
                          "Send the output elsewhere", path)
    if path == "-":
        if sys.stdin is None:
            raise NerwinError("standard input is closed; give an input file")
        fd, close = sys.stdin.fileno(), False
    else:
        try:
            fd, close = os.open(path, os.O_RDONLY), True
        except FileNotFoundError:
            raise NerwinError(missing(path), path) from None
        except IsADirectoryError:
            raise NerwinError("is a directory, expected a text file", path) from None
        except OSError as e:
            raise NerwinError(f"cannot open: {e.strerror}", path) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise NerwinError("is a directory, expected a text file", path)
        stream = not stat.S_ISREG(st.st_mode)
        flush = stream or (hasattr(out, "isatty") and out.isatty())
        progress = Progress(st.st_size if not stream else 0, fd)
        if os.isatty(fd):                          # someone typing: say what to type, and no line over it
            progress.on = False
            each = "a sentence a line" if input_format == "text" else "a token a line, a blank line after each sentence"
            print(f"nerwin: reading from the terminal, {each}; Ctrl-D ends", file=sys.stderr)
        n = 0
        op = None if stream else compressed(os.pread(fd, 6, 0))
        if op is not None:
            raw = os.fdopen(fd, "rb", closefd=False)
            source = Decompressing(inner(op, raw, name), name, raw)
            read = partial(read_through, source)
        else:
            read = partial(read_ready, fd)
        for text in records(units(blocks(read, name), input_format, name), tagger, output_format, workers,
                            min_confidence):
            for chunk in text:
                try:
                    out.write(chunk.encode("utf-8"))
                except BrokenPipeError:
                    raise                          # the reader went away: the command ends quietly
                except OSError as e:
                    raise NerwinError(f"cannot write the output ({e.strerror})",
                                      getattr(out, "name", "<stdout>")) from None
                n += 1
            if flush:
                out.flush()           # a BrokenPipeError here ends the command quietly too
            progress.show(n)
        tagger.say_fallbacks()
        try:
            out.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise NerwinError(f"cannot write the output ({e.strerror})", getattr(out, "name", "<stdout>")) from None
        progress.done(n)
    finally:
        if close:
            os.close(fd)
    if n == 0:
        raise NerwinError("empty input: no lines to label; give one sentence a line", name)
    return n


def output_paths(files: list[str], out_dir, output_format: str) -> list[Path]:
    """out_dir/NAME for each input file, NAME its name (a compressed file's without .gz, .bz2 or
    .xz) with the output format's suffix (a.txt -> a.conll or a.jsonl). Checked before anything
    is written: every input is a file, no output is an input (by identity, whatever the paths
    say), and no two outputs are one file."""
    if output_format not in FORMATS["output"]:
        raise NerwinError(f"unknown --output-format {output_format!r}; choose {' or '.join(FORMATS['output'])}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NerwinError("is not a directory; --output-dir needs a folder", out_dir)
    for f in files:
        if f == "-":
            raise NerwinError("--output-dir writes one file per input file, and standard input (-) has no name; "
                              "give files, or leave out --output-dir")
        p = Path(f)
        if not p.exists():
            raise NerwinError(missing(f), f)
        if p.is_dir():
            raise NerwinError("is a directory, expected a text file", f)
    outs = [out_dir / (plain_name(Path(f)).stem + "." + output_format) for f in files]
    check_outputs(files, [(o, f"the output for {f}") for f, o in zip(files, outs)])
    return outs


def predict_files(tagger: Tagger, files: list[str], out_dir, input_format: str = "text",
                  output_format: str = "conll", workers: int = 1, min_confidence: float | None = None) -> int:
    """Tag each input file into its own output in out_dir (output_paths names them); each output
    appears whole when its input is done, or not at all. Returns the number of records written."""
    outs = output_paths(files, out_dir, output_format)
    total = 0
    with output_folder(out_dir):
        for f, o in zip(files, outs):
            with AtomicOutput(o) as fh:
                total += predict(tagger, f, fh, input_format, output_format, workers, min_confidence)
    return total


def units(blocks_: Iterator[list[tuple[int, str]]], input_format: str, name: str) -> Iterator[list[tuple]]:
    """Blocks of (line number, sentence): a line of text, or a CoNLL sentence's tokens."""
    first = True

    def checked():
        nonlocal first
        for block in blocks_:
            if first:
                sniff([l for _, l in block], input_format, name)
                first = False
            yield block
    if input_format == "text":
        yield from checked()
        return
    lines = (l + "\n" for block in checked() for _, l in block)
    for block in chunks(iter_conll(name, lines, need_tags=False, documents=True), BATCH):
        yield [(s.line, s.tokens) for s in block]


def tag_unit(tagger: Tagger, unit: list[tuple], output_format: str, min_confidence: float | None) -> list[str]:
    """The records of a unit of (line, sentence). A `-DOCSTART-` line of CoNLL input is no
    sentence: CoNLL output writes it back as an O (so that `paste` lines the output up with the
    input), JSONL output leaves it out; a comment line, the same, written back as it was."""
    def sentence(x):
        return x != [DOCSTART] and not (len(x) == 1 and isinstance(x[0], Comment))
    docs = iter(tagger.tag_read([x for _, x in unit if sentence(x)], min_confidence))
    out = []
    for n, x in unit:
        if sentence(x):
            out.append(render(next(docs), output_format, n))
        elif output_format == "conll":
            out.append(f"{DOCSTART}\tO\t1.0000\n\n" if x == [DOCSTART] else f"{x[0]}\n")
    return out


_WORKER: dict = {}


def _start_worker(tagger: Tagger, output_format: str, min_confidence: float | None) -> None:
    _WORKER.update(tagger=tagger, output_format=output_format, min_confidence=min_confidence)


def _work(unit: list[tuple]) -> list[str]:
    return tag_unit(_WORKER["tagger"], unit, _WORKER["output_format"], _WORKER["min_confidence"])


def records(units_: Iterator[list[tuple]], tagger: Tagger, output_format: str, workers: int,
            min_confidence: float | None = None) -> Iterator[list[str]]:
    """Per block of input, the rendered records, in input order; with workers > 1, blocks are
    tagged in that many processes, each holding its own copy of the Tagger."""
    if workers == 1:
        for unit in units_:
            yield tag_unit(tagger, unit, output_format, min_confidence)
        return
    # each worker keeps the BLAS thread count the parent has: OpenBLAS rounds a GEMM differently with
    # another count, and --workers must not change a digit of the output
    with brief_blas_spin():
        pool = multiprocessing.get_context("spawn").Pool(workers, _start_worker,
                                                         (tagger, output_format, min_confidence))
    with pool:
        yield from pool.imap(_work, units_)


SPIN = "OPENBLAS_THREAD_TIMEOUT"


@contextmanager
def brief_blas_spin():
    """Processes started inside this let their OpenBLAS threads sleep after 2^10 cycles between
    calls, not spin for OpenBLAS's 2^28: with every worker keeping the parent's thread count, the
    threads outnumber the cores, and spinning ones took them from the threads with work (2 workers
    on 2 cores took 2.6 times as long as one process). The thread count, and so every digit, is
    kept. A value of the user's own is left as it is; the caller's environment is restored."""
    mine = SPIN not in os.environ and "GOTO_THREAD_TIMEOUT" not in os.environ
    if mine:
        os.environ[SPIN] = "10"
    try:
        yield
    finally:
        if mine:
            os.environ.pop(SPIN, None)


class Progress(ProgressLine):
    """predict's line: records, their rate, and for a file of known size how far through it is
    and the time left."""

    def __init__(self, size: int, fd: int | None = None):
        super().__init__(size)
        self.fd = fd

    def line(self, n: int, now: float) -> str:
        text = f"nerwin: {plural(n, 'record')} tagged, {n / (now - self.t0):,.0f} a second"
        if self.size and self.fd is not None:
            text += ", " + self.through(os.lseek(self.fd, 0, os.SEEK_CUR), now)     # bytes read so far
        return text

    def show(self, n: int) -> None:
        self.rewrite(lambda now: self.line(n, now))

    def done(self, n: int) -> None:
        self.finish(lambda secs: f"nerwin: {plural(n, 'record')} tagged in {secs:,.1f} s")
