"""The `nerwin` command's entry point: Ctrl-C while the libraries load exits 130 quietly, as it
does later, so it is caught before anything heavy is imported."""
import os
import signal
import sys

# OpenBLAS rounds a GEMM differently with another thread count, and `predict --workers N` runs its
# workers on one thread each: predict runs on one thread too, so N never changes a digit. It costs
# nothing measurable (the GEMMs of tagging are small); set OPENBLAS_NUM_THREADS to choose otherwise.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def main() -> None:
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command == "predict" and not any(k in os.environ for k in BLAS_THREADS):
        os.environ.update(dict.fromkeys(BLAS_THREADS, "1"))     # before numpy is imported
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    from nerwin.cli import main as run                # numpy, typer and the rest: after the handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run()
