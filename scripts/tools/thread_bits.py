"""Does the BLAS thread count change a trained model? Each kind of model trained for one epoch
at one BLAS thread and at the machine's count, from the same seed, every array compared bit for bit.

Usage: python scripts/tools/thread_bits.py [--no-docs]
Needs ../shared/corpora/btc. bench_speed.py's model (GloVe 50d, w=2, H=100, Adam) with the
settings of each row, at batch 64 and 2048.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, models
from doc_section import replace_section  # noqa: E402
from models import speed_model  # noqa: E402

MODELS = [("binary LOC", "LOC", {}),
          ("softmax, all types", "all", {"loss": "window"}),
          ("softmax, casing, hidden dropout", "all", {"loss": "window", "casing": 1, "dropout": 0.3}),
          ("sentence loss, casing, characters", "all", {"loss": "sentence", "casing": 1, "chars": 1}),
          ("binary LOC, a second window layer", "LOC", {"layers": 2, "window2": 1})]


def trained(target: str, batch: int, more: dict, threads: int) -> dict:
    from threadpoolctl import threadpool_limits
    from nerwin.training.loop import Run, fit
    m, tr, s = speed_model(BTC, target, batch, **more)
    with threadpool_limits(threads, user_api="blas"):
        fit(Run(), m, tr, s)
    return {**m.params, "E": m.E}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    from threadpoolctl import threadpool_info
    n = [i for i in threadpool_info() if i["user_api"] == "blas"][0]["num_threads"]
    rows = [f"| model | batch | arrays that differ, one BLAS thread against {n} |", "|---|---|---|"]
    for name, target, more in MODELS:
        for B in (64, 2048):
            one, many = trained(target, B, more, 1), trained(target, B, more, n)
            differ = [k for k in one if not np.array_equal(one[k], many[k])]
            rows.append(f"| {name} | {B} | {', '.join(differ) + f' (of {len(one)})' if differ else 'none'} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows) + ("\n\nOne epoch on BTC train from the same seed; `python scripts/tools/thread_bits.py`.")
    print(table)
    if not a.no_docs:
        replace_section("thread-bits", table)


if __name__ == "__main__":
    main()
