"""The `nerwin` command's entry point: Ctrl-C while the libraries load exits 130 quietly, as it
does later, so it is caught before anything heavy is imported."""
import signal
import sys


def main() -> None:
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    from nerwin.cli import main as run                # numpy, typer and the rest: after the handler
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run()
