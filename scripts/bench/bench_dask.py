"""`nerwin predict --dask local:N` against single-process `nerwin predict`, in the same run.

1M tokens of BTC text (the sentences of train, dev and test, repeated) split into 4 files, a
sentence-loss model trained on BTC; each command is a whole process, wall clock (the cluster's
start included), median of --runs runs taking turns. Writes the docs section `dask`.

    python scripts/bench/bench_dask.py [--runs 3]
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402
from timing import btc_lines, wall  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"
TOKENS = 1_000_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    nerwin = [sys.executable, "-m", "nerwin"]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        lines = btc_lines(BTC, TOKENS)
        files = []
        for k in range(4):
            files.append(d / f"part{k}.txt")
            files[-1].write_text("\n".join(lines[k::4]) + "\n", encoding="utf-8")
        model = d / "m"
        subprocess.run(nerwin + ["train", "--train", BTC / "train.conll", "--dev", BTC / "dev.conll", "--target", "all",
                                 "--out", model, "-q"], check=True)
        cmds = {"one process, `nerwin predict` per file": None,
                "`--dask local:1`": nerwin + ["predict", *files, "--model", model, "--dask", "local:1", "--output-dir",
                                              d / "o1"],
                "`--dask local:2`": nerwin + ["predict", *files, "--model", model, "--dask", "local:2", "--output-dir",
                                              d / "o2"]}
        t = {k: [] for k in cmds}
        for _ in range(a.runs):
            for k, c in cmds.items():
                if c is None:
                    t[k].append(sum(wall(nerwin + ["predict", f, "--model", model], quiet=True) for f in files))
                else:
                    t[k].append(wall(c, quiet=True))
    med = {k: statistics.median(v) for k, v in t.items()}
    base = med["one process, `nerwin predict` per file"]
    table = "\n".join(["| how | wall (s) | tokens/s | ÷ one process |", "|---|---|---|---|",
                       *(f"| {k} | {v:.1f} | {TOKENS / v:,.0f} | {base / v:.2f}× |" for k, v in med.items()),
                       "", f"{TOKENS:,} tokens of BTC text in 4 files, a sentence-loss model; whole processes, the "
                       f"cluster's start included, median of {a.runs}; 2 cores. `python scripts/bench/bench_dask.py`."])
    print(table)
    replace_section("dask", table)


if __name__ == "__main__":
    main()
