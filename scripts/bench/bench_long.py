"""What one very long sentence costs `nerwin predict`: a line of N words (a document without line
breaks, or a CoNLL file without blank lines reads the same way), against the same words as lines
of 20.

Usage: python scripts/bench/bench_long.py [--words 300000] [--runs 3] [--rev REV] [--no-docs]
Trains two `--target all` models on BTC train for one epoch (one window layer, and two), writes
N words drawn from BTC train's tokens (seeded) as one line and as lines of 20 words, and runs
`nerwin predict` on each in a fresh process: peak RSS and wall clock, median of --runs. --rev
REV adds the same runs with REV's code (`git archive` into a temp folder) on the same models.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
sys.path.insert(0, str(Path(__file__).resolve().parent))     # bench_gazetteer's unpack
from bench_gazetteer import unpack  # noqa: E402
from doc_section import replace_section  # noqa: E402
from timing import peak_rss  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rev", default=None, help="also predict with this commit's code")
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if a.runs < 1 or a.words < 20:
        raise SystemExit("--runs must be at least 1 and --words at least 20")
    words = [ln.split()[0] for ln in BTC.read_text(encoding="utf-8").splitlines() if ln.strip()]
    rng = random.Random(0)
    text = [rng.choice(words) for _ in range(a.words)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "one.txt").write_text(" ".join(text) + "\n", encoding="utf-8")
        (tmp / "lines.txt").write_text("".join(" ".join(text[i:i + 20]) + "\n" for i in range(0, a.words, 20)),
                                       encoding="utf-8")
        base = dict(os.environ, PYTHONPATH=str(ROOT))
        for name, flags in (("one layer", []), ("two layers", ["--layers", "2"])):
            subprocess.run([sys.executable, "-m", "nerwin", "train", "--train", str(BTC), "--target", "all",
                            "--epochs", "1", *flags, "--out", str(tmp / name), "-q"], check=True, env=base, cwd=tmp)
        codes = [("this code", base)]
        if a.rev:
            codes.append((f"`{a.rev}`", dict(os.environ, PYTHONPATH=str(unpack(a.rev, tmp / "before")))))
        rows = []
        for model in ("one layer", "two layers"):
            for code, env in codes:
                got = {}
                for shape, f in (("one line", "one.txt"), ("lines of 20", "lines.txt")):
                    cmd = [sys.executable, "-m", "nerwin", "predict", "--model", str(tmp / model), str(tmp / f)]
                    runs = [peak_rss(cmd, env, tmp) for _ in range(a.runs)]   # tmp: `python -m` reads the
                    got[shape] = (statistics.median(r[0] for r in runs),      # working folder first
                                  statistics.median(r[1] for r in runs))
                (mb, s), (mb20, s20) = got["one line"], got["lines of 20"]
                rows.append(f"| {model} | {code} | **{mb:,.0f}** | {s:.1f} | {mb20:,.0f} | {s20:.1f} | "
                            f"**{mb / mb20:.2f}×** |")
    table = (f"| model | code | one line of {a.words:,} words: peak RSS (MB) | wall (s) | the same words as lines "
             f"of 20: peak RSS (MB) | wall (s) | one line ÷ lines, memory |\n|---|---|---|---|---|---|---|\n"
             + "\n".join(rows) +
             f"\n\n`--target all` models (sentence loss, characters) trained on BTC train for one epoch; the words "
             f"are drawn from BTC train's tokens; `nerwin predict` in a fresh process, median of {a.runs}. "
             f"`python scripts/bench/bench_long.py" + (f" --rev {a.rev}" if a.rev else "") + "`.")
    print(table)
    if not a.no_docs:
        replace_section("long-sentence", table)


if __name__ == "__main__":
    main()
