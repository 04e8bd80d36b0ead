"""What a newcomer waits for: the first `nerwin train` (it converts GloVe and compiles the
training loops, once each), a later one, a first `nerwin predict`, and the README's test command.

Each run is a whole process, wall clock, with empty caches for the first run (NERWIN_CACHE and
NUMBA_CACHE_DIR in a temp folder). Writes the docs section `first-run`.

    python scripts/bench/first_run.py [--tests]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def timed(cmd, env, cwd, stdin=None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, input=stdin, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(map(str, cmd))}\n{r.stdout[-3000:]}\n{r.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", action="store_true", help="also time the README's test command")
    a = ap.parse_args()
    nerwin = [sys.executable, "-m", "nerwin"]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NERWIN_CACHE=f"{d}/cache", NUMBA_CACHE_DIR=f"{d}/numba")
        rows.append(("`nerwin train`, first run: converts GloVe, compiles the loops, trains 10 epochs",
                     timed(nerwin + ["train", "-q"], env, d)))
        later = [timed(nerwin + ["train", "-q"], env, d) for _ in range(3)]
        rows.append(("`nerwin train`, a later run (median of 3)", sorted(later)[1]))
        rows.append(("`nerwin train --target all`, first run of the sentence loss (compiles its recursions)",
                     timed(nerwin + ["train", "--target", "all", "--out", "all", "-q"], env, d)))
        rows.append(("`echo … \\| nerwin predict --model model`",
                     timed(nerwin + ["predict", "--model", "model"], env, d, "The museums in Paris are amazing .\n")))
    if a.tests:
        rows.append(("`python -m pytest -q` (the README's test command)",
                     timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], dict(os.environ), ROOT)))
        rows.append(("`python -m pytest -q -m slow` (the long cases CI adds)",
                     timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "slow"],
                           dict(os.environ), ROOT)))
    table = "| what | wall clock (s) |\n|---|---|\n" + "\n".join(f"| {w} | {s:.1f} |" for w, s in rows)
    table += (f"\n\n{os.cpu_count()} cores, nothing else running; the bundled sample corpus. "
              "`python scripts/bench/first_run.py --tests`.")
    print(table)
    replace_section("first-run", table)


if __name__ == "__main__":
    main()
