"""One seed of a larger network with the sentence loss, against the defaults: is it worth its time?

Usage: python scripts/larger_network.py
Needs ../shared/corpora. Prints test entity F1, dev F1, the kept epoch and training seconds for
`--target all` with the defaults and with H=200, dropout 0.3, 20 epochs (seed 0 each). The
docs/results.md quotes its BTC and WNUT-17 figures beside the quality table.
"""
import sys
import tempfile
import time
from pathlib import Path

import nerwin

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def main():
    if not CORPORA.exists():
        print(f"skipped: {CORPORA} is missing")
        return
    for name in ("btc", "wnut17"):
        c = CORPORA / name
        for flags in ({}, dict(hidden=200, dropout=0.3, epochs=20)):
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as d:
                _, m = nerwin.train(c / "train.conll", c / "dev.conll", c / "test.conll", out=Path(d) / "m",
                                    target="all", loss="sentence", casing=5, quiet=True, bundle_vectors=0, **flags)
            print(f"{name} {flags or 'defaults'}: test F1 {m['test']['f1']:.3f}, dev {m['dev']['f1']:.3f}, kept epoch "
                  f"{m['best_epoch']}, train {m['seconds']:.0f} s (wall {time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
