"""Every figure in docs/, regenerated: each script that writes a docs section or picture, in turn.

Usage: python scripts/regenerate.py [--list] [--only NAME ...] [--skip NAME ...]
--list prints what each script writes and how long it takes here; the quality runs train on the
real corpora and take most of the time (about two hours in all on a quiet 2-core machine).
Run it with nothing else on the machine: the speed figures are wall clock.
"""
import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (name, arguments, what it writes, about how long): speed first, on a quiet machine, then quality
SCRIPTS = [
    ("bench/first_run", ["--tests"], "performance.md#first-run", "5 min"),
    ("bench/bench_compile", [], "performance.md#compile", "2 min"),
    ("bench/bench_first_epoch", [], "performance.md#first-epoch", "3 min"),
    ("bench/bench_speed", ["--repeats", "5", "--runs", "3"], "performance.md#speed, #speed-ranges", "21 min"),
    ("bench/profile_epoch", [], "performance.md#profile", "3 min"),
    ("bench/cache_cost", [], "performance.md#cache-cost", "2 min"),
    ("bench/step_pieces", [], "performance.md#step-pieces", "1 min"),
    ("bench/bench_threads", [], "performance.md#threads", "1 min"),
    ("bench/head_products", [], "performance.md#head-products", "1 min"),
    ("bench/two_speeds", [], "performance.md#two-speeds", "5 min"),
    ("bench/two_speeds", ["--target", "all", "--minutes", "3"], "performance.md#two-speeds-all", "3 min"),
    ("tools/thread_bits", [], "performance.md#thread-bits", "2 min"),
    ("bench/speed_before", ["--rev", "9a98379", "--turns", "15"], "performance.md#speed-before", "3 min"),
    ("bench/bench_apply", ["--rev", "2bc37cb"], "performance.md#apply", "5 min"),
    ("bench/bench_predict", [], "performance.md#coldstart, #stream", "5 min"),
    ("bench/profile_tag", [], "performance.md#tag-profile", "1 min"),
    ("bench/bench_compressed", [], "performance.md#compressed", "3 min"),
    ("bench/bench_long", ["--rev", "840841b"], "performance.md#long-sentence", "3 min"),
    ("bench/bench_chars", [], "performance.md#chars-cost", "3 min"),
    ("bench/bench_memory", [], "performance.md#memory", "3 min"),
    ("bench/bench_gazetteer", ["--rev", "8ec4952"], "performance.md#gazetteer-cost", "1 min"),
    ("bench/bench_serve", [], "usage.md#serve", "3 min"),
    ("bench/bench_dask", [], "usage.md#dask", "3 min"),
    ("bench/bench_spacy", [], "usage.md#spacy-bench", "15 min"),
    ("bench/spacy_processes", [], "usage.md#spacy-processes", "2 min"),
    ("tools/compare_before", ["--rev", "b02e6a1"], "performance.md#same-bits", "3 min"),
    ("tools/compare_before", ["--rev", "c406fd0", "--section", "scatter-bits"], "performance.md#scatter-bits",
     "3 min"),
    ("studies/tokenizer_table", [], "usage.md#tokenizer", "1 min"),
    ("studies/bundle_table", [], "usage.md#bundle", "3 min"),
    ("tools/graph_pictures", [], "model.md#graph, img/graph*.png", "1 min"),
    ("tools/doc_pictures", [], "usage.md#explain, #report, img/report.png, img/serve.png, img/drift.png", "4 min"),
    ("tools/spacy_picture", [], "img/displacy.png", "1 min"),
    ("studies/calibration", [], "results.md#calibration", "5 min"),
    ("studies/anchors", [], "results.md#anchors, #twin", "15 min"),
    ("studies/mentions", [], "results.md#mentions", "4 min"),
    ("studies/articles", [], "results.md#articles", "1 min"),
    ("studies/benchmark_quality", ["--jobs", "2"], "results.md#quality", "30 min"),
    ("studies/benchmark_quality", ["--set", "ablation", "--jobs", "2"], "results.md#ablation", "25 min"),
    ("studies/benchmark_quality", ["--set", "context", "--jobs", "2"], "results.md#context", "30 min"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--only", nargs="+", default=None)
    ap.add_argument("--skip", nargs="+", default=[])
    a = ap.parse_args()
    def named(s, names):                  # "bench/bench_speed" or "bench_speed"
        return s[0] in names or s[0].split("/")[1] in names
    todo = [s for s in SCRIPTS if (a.only is None or named(s, a.only)) and not named(s, a.skip)]
    if a.list:
        for name, args, writes, took in todo:
            print(f"{' '.join([f'scripts/{name}.py', *args]):<55} {took:>7}  -> docs/{writes}")
        return
    failed = []
    for name, args, writes, _ in todo:
        t0 = time.perf_counter()
        print(f"== scripts/{name}.py {' '.join(args)}", flush=True)
        r = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args], cwd=ROOT)
        print(f"== {name}: {'ok' if r.returncode == 0 else f'exit {r.returncode}'} in {time.perf_counter() - t0:.0f} s")
        if r.returncode:
            failed.append(name)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
