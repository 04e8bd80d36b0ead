"""The first epoch's tax: epoch 1's time against the later epochs', whole processes, this tree
against an earlier commit.

Usage: python scripts/bench/bench_first_epoch.py [--rev 943efed] [--runs 3] [--batch 64 256 2048] [--no-docs]
Binary LOC on BTC train (99,933 windows), 3 epochs, no dev; each run is a fresh `nerwin train`
process, and an epoch's time is the one it records in history.json (steps only: set-up and
scoring dev are outside it). The ratio is epoch 1 ÷ the faster of epochs 2 and 3, the median
over runs; runs of the two trees take turns. The numba cache of both trees is warm (a first
run of each is thrown away), as it is for a user after their first training.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402


def epochs(tree: Path, batch: int, out: Path) -> list[float]:
    subprocess.run([sys.executable, "-m", "nerwin", "train", "--train", BTC, "--target", "LOC", "--batch-size",
                    str(batch), "--epochs", "3", "--out", out, "-q"], cwd=tree, check=True, capture_output=True)
    return [e["seconds"] for e in json.loads((out / "history.json").read_text())["epochs"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="943efed")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256, 2048])
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    with tempfile.TemporaryDirectory() as d:
        before = Path(d) / "before"
        subprocess.run(["git", "worktree", "add", "-f", "--detach", str(before), a.rev], cwd=ROOT, check=True,
                       capture_output=True)
        try:
            trees = {"before": before, "now": ROOT}
            for tree in trees.values():                      # numba compiles each tree's loops once
                epochs(tree, 2048, Path(d) / "warm")
            rows = ["| batch | epoch 1 ÷ later, before | epoch 1 ÷ later, now | epoch 1 s, before | epoch 1 s, now "
                    "| later epoch s, now |", "|---|---|---|---|---|---|"]
            for b in a.batch:
                got = {k: [] for k in trees}
                for _ in range(a.runs):
                    for k, tree in trees.items():
                        got[k].append(epochs(tree, b, Path(d) / f"m-{k}"))
                ratio = {k: statistics.median(e[0] / min(e[1:]) for e in v) for k, v in got.items()}
                first = {k: statistics.median(e[0] for e in v) for k, v in got.items()}
                later = statistics.median(min(e[1:]) for e in got["now"])
                rows.append(f"| {b} | {ratio['before']:.2f}× | **{ratio['now']:.2f}×** | {first['before']:.3f} | "
                            f"{first['now']:.3f} | {later:.3f} |")
                print(rows[-1], flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT, capture_output=True)
    table = "\n".join(rows)
    print(table)
    if not a.no_docs:
        replace_section("first-epoch", f"Binary LOC on BTC train, 3 epochs, whole `nerwin train` processes, median of "
                        f"{a.runs} runs taking turns; `before` is commit `{a.rev}`. "
                        f"`python scripts/bench/bench_first_epoch.py`.\n\n{table}")


if __name__ == "__main__":
    main()
