"""What a newcomer waits for: the first `nerwin train` (it converts GloVe and compiles the
training loops, once each), a later one, a first `nerwin predict`, and the README's test command.

Each run is a whole process, wall clock, with empty caches for the first run (NERWIN_CACHE and
NUMBA_CACHE_DIR in a temp folder). With --tests, the README's test command also runs on REV
(0.3.0 by default, a git worktree put first on PYTHONPATH), in the same run, for a ratio. Writes
the docs section `first-run`.

    python scripts/bench/first_run.py [--tests] [--rev b02e6a1]
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


def timed(cmd, env, cwd, stdin=None, check=True) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, cwd=cwd, input=stdin, capture_output=True, text=True)
    if r.returncode and check:       # an old suite may have failures of its own; it is timed anyway
        sys.exit(f"{' '.join(map(str, cmd))}\n{r.stdout[-3000:]}\n{r.stderr}")
    return time.perf_counter() - t0


def count_tests(cwd: Path, env: dict) -> int:
    """How many tests the README's command selects there."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider"],
                       cwd=cwd, env=env, capture_output=True, text=True)
    return sum(1 for line in r.stdout.splitlines() if "::" in line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", action="store_true", help="also time the README's test command, here and on --rev")
    ap.add_argument("--rev", default="b02e6a1", help="the commit whose suite is the reference (default: 0.3.0)")
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
        pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        now, n_now = timed(pytest, dict(os.environ), ROOT), count_tests(ROOT, dict(os.environ))
        with tempfile.TemporaryDirectory() as d:
            tree = Path(d) / "before"
            os.symlink(ROOT.parent / "shared", Path(d) / "shared")     # its tests find ../shared/corpora too
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), a.rev], cwd=ROOT, check=True,
                           capture_output=True)
            env = dict(os.environ, PYTHONPATH=str(tree))
            try:
                before, n_before = timed(pytest, env, tree, check=False), count_tests(tree, env)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        rows.append((f"`python -m pytest -q` (the README's test command, {n_now} tests)", now))
        rows.append((f"the same command on {a.rev} (0.3.0, {n_before} tests), same run: this suite takes "
                     f"**{now / before:.2f}×** its time", before))
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
