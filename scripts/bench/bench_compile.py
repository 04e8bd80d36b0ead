"""What numba costs: the one-time compile of nerwin's loops, and its import.

Usage: python scripts/bench/bench_compile.py [--runs 5] [--no-docs]
Runs `nerwin train` on the sample corpus (the defaults, and --target all, which adds the
sentence loss's loops) with an empty NUMBA_CACHE_DIR, then again with the cache it left;
and times `import numba` against `import numpy`, interleaved. Writes the docs section `compile`.
"""
import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section
from timing import pause_probe, wall

NERWIN = Path(sys.executable).with_name("nerwin")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    lost = pause_probe()
    rows = ["| command | empty numba cache (s) | with the cache it left (s) |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as d:
        for flags in ([], ["--target", "all"]):
            env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(d) / "cache" / "-".join(flags or ["default"]))}
            cmd = [str(NERWIN), "train", "--out", str(Path(d) / "m"), "-q", *flags]
            cold = wall(cmd, env=env, quiet=True)
            warm = statistics.median(wall(cmd, env=env, quiet=True) for _ in range(3))
            rows.append(f"| `{' '.join(['nerwin train', *flags])}` (sample corpus) | {cold:.1f} | {warm:.1f} |")
            print(rows[-1], flush=True)
    t = {"numpy": [], "numba": []}
    for _ in range(a.runs):
        for k in t:
            t[k].append(wall([sys.executable, "-c", f"import {k}"], quiet=True))
    med = {k: statistics.median(v) for k, v in t.items()}
    body = ("\n".join(rows) + f"\n\n`import numba` takes {med['numba']:.2f} s against `import numpy`'s "
            f"{med['numpy']:.2f} s (median of {a.runs} interleaved runs). The pause probe lost {lost:.0%} of "
            "its wall time in this run. `python scripts/bench/bench_compile.py`.")
    print(body)
    if not a.no_docs:
        replace_section("compile", body)


if __name__ == "__main__":
    main()
