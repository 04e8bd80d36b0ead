"""Tagging corpora on a Dask cluster: `nerwin predict --dask SCHEDULER FILES... --output-dir OUT`.

Each input file is read as a Dask bag of lines (a large file in several partitions, a compressed
one in one), and each
partition is tagged on a worker by the Tagger scattered to every worker once, not once per task.
One output file goes out per input, in the format `nerwin predict` writes, byte for byte: records
come back in order, and JSONL line numbers are counted across partitions as they are written. A
task whose worker dies is run again elsewhere by Dask.
"""
from __future__ import annotations

import bz2
import gzip
import lzma
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import dask.bag as db
from distributed import Client, LocalCluster

from nerwin.apply.predict import MAX_LINE, output_paths, tag_unit
from nerwin.apply.tagger import SURROGATE, Tagger, check_confidence
from nerwin.errors import NerwinError, refuse_utf16
from nerwin.files import TWICE, AtomicOutput, compressed, compression, output_folder

BLOCK = 4 << 20      # bytes of a file a partition holds
CONNECT_SECONDS = 10
DASK_COMPRESSION = {gzip.open: "gzip", bz2.open: "bz2", lzma.open: "xz"}     # a compressed file is one partition


def lines_of(raw: list[str]) -> list[str]:
    """A partition's lines as predict reads them: CRLF or a lone CR ends a line too, and a BOM
    where files were joined is dropped."""
    out = []
    for line in raw:
        line = line[:-1] if line.endswith("\n") else line
        line = line[:-1] if line.endswith("\r") else line
        out += [piece.lstrip("\ufeff") for piece in line.split("\r")]
    return out


def tag_partition(raw: list[str], tagger: Tagger, output_format: str, min_confidence: float | None) -> list[str]:
    unit = list(enumerate(lines_of(raw), 1))                   # numbered within the partition
    return tag_unit(tagger, unit, output_format, min_confidence)


def refusal(lines: list[str]) -> tuple[int, str] | None:
    """(the line, why) for the first of a partition's lines that predict refuses, or None."""
    for i, line in enumerate(lines, 1):
        if i == 1 and compressed(line[:6].encode("utf-8", "surrogateescape")):
            return i, TWICE                   # Dask decompressed the file: this is a second layer
        if "\x00" in line:
            return i, "binary data (NUL byte); expected UTF-8 text"
        if len(line) > MAX_LINE:
            return i, f"longer than {MAX_LINE >> 20} MiB; expected one sentence a line"
    return None


def tag_checked(raw: list[str], tagger: Tagger, output_format: str, min_confidence: float | None) -> tuple:
    """tag_partition for lines read with surrogateescape: -> (the records, the first line of the
    partition that held bytes that are not UTF-8, or None, refusal()'s). Lines not UTF-8 are
    decoded again from their own bytes with "replace", so each record is what predict writes for
    it; a line that predict refuses (a NUL byte, an endless line) leaves no records."""
    lines = lines_of(raw)
    refused = refusal(lines)
    if refused is not None:
        return [], None, refused
    bad = next((i for i, line in enumerate(lines, 1) if SURROGATE.search(line)), None)
    if bad is not None:
        lines = [line.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for line in lines]
    return tag_unit(tagger, list(enumerate(lines, 1)), output_format, min_confidence), bad, None


def tag_bag(bag: db.Bag, tagger, output_format: str = "jsonl", min_confidence: float | None = None) -> db.Bag:
    """A bag of text lines -> a bag of predict's records, one per line, in order. tagger: a Tagger,
    or a future of one (client.scatter(tagger, broadcast=True)), so that it reaches each worker once.
    JSONL records number their lines within each partition."""
    return bag.map_partitions(tag_partition, tagger, output_format, min_confidence)


def connect(scheduler: str) -> Client:
    """`local:N` starts a local cluster of N worker processes; anything else is a scheduler's address."""
    if scheduler.startswith("local:"):
        n = scheduler.removeprefix("local:")
        if not n.isdigit() or not 1 <= int(n) <= 256:
            raise NerwinError(f"--dask local:N needs N from 1 to 256, got {scheduler!r}")
        # one task at a time a worker; Dask's nanny gives each worker one BLAS thread, so a GEMM may round a
        # last bit unlike predict's (a printed probability's last digit, as a partition's batches may)
        return Client(LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True, dashboard_address=None))
    try:
        return Client(scheduler, timeout=CONNECT_SECONDS)
    except OSError as e:
        raise NerwinError(f"cannot reach the Dask scheduler {scheduler} ({e})") from None
    except (ValueError, TypeError) as e:         # not an address: 'local', 'tcp://host:port:9'
        raise NerwinError(f"--dask {scheduler!r} is not a scheduler's address ({e}); give HOST:PORT, "
                          "tcp://HOST:PORT, or local:N for N local workers") from None


@contextmanager
def environ_kept():
    """This process's environment as it was: Dask's nanny sets OPENBLAS_NUM_THREADS=1,
    PYTHONHASHSEED and more in it to hand them to the workers it starts, and leaves them there,
    where every process started later (predict's --workers) would inherit them."""
    before = dict(os.environ)
    try:
        yield
    finally:
        for k in set(os.environ) - set(before):
            del os.environ[k]
        for k, v in before.items():
            if os.environ.get(k) != v:
                os.environ[k] = v


def predict_files(tagger: Tagger, files: list[str], out_dir: Path, scheduler: str, output_format: str = "conll",
                  min_confidence: float | None = None, client: Client | None = None) -> int:
    """Tag every file on the cluster into out_dir, named as predict.output_paths names them (checked
    before anything is written); each output appears whole or not at all. Returns the records written."""
    check_confidence(min_confidence)
    outs = output_paths(files, out_dir, output_format)
    with output_folder(out_dir, "--output-dir"), environ_kept():
        own = client is None
        client = client or connect(scheduler)
        try:
            shared = client.scatter(tagger, broadcast=True, hash=False)
            total = 0
            for p, o in zip(files, outs):
                with open(p, "rb") as head:
                    refuse_utf16(head.read(2), p)
                kind = DASK_COMPRESSION.get(compression(Path(p)))   # by its bytes, not its name
                bag = db.read_text(str(p), blocksize=None if kind else BLOCK, compression=kind, encoding="utf-8",
                                   errors="surrogateescape")
                tagged = bag.map_partitions(tag_checked, shared, output_format, min_confidence)
                parts = client.compute(tagged.to_delayed())
                n, warned = 0, False
                with AtomicOutput(o) as f:
                    for part in parts:                                   # in order, as each is ready
                        records, bad, refused = part.result()
                        if refused is not None:
                            raise NerwinError(refused[1], p, n + refused[0])
                        if bad is not None and not warned:               # as predict says it, by file and line
                            print(f"nerwin: warning: {p}:{n + bad}: bytes that are not UTF-8, replaced with U+FFFD "
                                  "(the first such line; there may be more)", file=sys.stderr)
                            warned = True
                        for rec in records:
                            n += 1
                            if output_format == "jsonl":                  # the line number across partitions
                                rec = f'{{"line": {n}, ' + rec[rec.index(", ") + 2:]
                            f.write(rec.encode("utf-8"))
                total += n
            return total
        finally:
            if own:
                cluster = client.cluster
                client.close()
                if cluster is not None:
                    cluster.close()
