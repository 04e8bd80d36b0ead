"""Train and score nerwin on the real corpora; print a markdown table and put it in docs/results.md.

Usage: python scripts/benchmark_quality.py [--seeds 3] [--rows 5 8 --section NAME] [--no-docs]
--rows re-runs some rows of RUNS (1-based) into their own docs section.
Needs ../shared/corpora (BTC, WNUT-17); skips with a message when it is missing.
Each row is the mean (and spread) over seeds of the test score of the best dev epoch.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from doc_section import replace_section

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"

# (corpus, target, extra flags): the defaults (casing 5; loss auto: sentence for all types), and
# the ablations behind them
RUNS = [
    ("btc", "LOC", ["--casing", "0"]),
    ("btc", "LOC", []),
    ("btc", "all", ["--loss", "window", "--casing", "0"]),
    ("btc", "all", ["--loss", "window"]),
    ("btc", "all", []),
    ("wnut17", "location", []),
    ("wnut17", "all", ["--loss", "window"]),
    ("wnut17", "all", []),
]


def train(corpus: str, target: str, flags: list[str], seed: int, tmp: Path) -> dict:
    c = CORPORA / corpus
    out = tmp / f"{corpus}-{target}-{seed}"
    cmd = [sys.executable, "-m", "nerwin", "train", "--train", c / "train.conll", "--dev", c / "dev.conll",
           "--test", c / "test.conll", "--target", target, "--seed", str(seed), "--out", out,
           "--metrics-json", out.with_suffix(".json"), "-q", *flags]
    t0 = time.perf_counter()
    subprocess.run(list(map(str, cmd)), check=True)
    m = json.loads(out.with_suffix(".json").read_text())
    m["wall"] = time.perf_counter() - t0
    return m


def fmt(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rows", type=int, nargs="+", help="only these rows of RUNS, 1-based")
    ap.add_argument("--section", default="quality", help="the docs section to write")
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    runs = [RUNS[i - 1] for i in a.rows] if a.rows else RUNS
    if not CORPORA.exists():
        print(f"skipped: {CORPORA} is missing (see its README)")
        return
    rows = ["| corpus | target | flags | metric | test P | test R | test F1 | train s/run (wall) | best epoch |",
            "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for corpus, target, flags in runs:
            ms = [train(corpus, target, flags, seed, Path(tmp)) for seed in range(a.seeds)]
            t = [m["test"] for m in ms]
            metric = "entity F1 (micro)" if target == "all" else "token F1"
            rows.append(f"| {corpus} | {target} | `{' '.join(flags) or 'defaults'}` | {metric} | "
                        f"{fmt([x['precision'] for x in t])} | {fmt([x['recall'] for x in t])} | "
                        f"**{fmt([x['f1'] for x in t])}** | {statistics.mean(m['seconds'] for m in ms):.1f} "
                        f"({statistics.mean(m['wall'] for m in ms):.1f}) | "
                        f"{', '.join(str(m['best_epoch']) for m in ms)} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows)
    print(table)
    if not a.no_docs:
        cmd = "python scripts/benchmark_quality.py" + (f" --rows {' '.join(map(str, a.rows))} --section {a.section}"
                                                        if a.rows else "")
        replace_section(a.section, f"{a.seeds} seeds each (mean ± sd); produced by `{cmd}`.\n\n{table}")


if __name__ == "__main__":
    main()
