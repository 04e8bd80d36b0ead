"""Train and score nerwin on the real corpora; print a markdown table and put it in docs/results.md.

Usage: python scripts/studies/benchmark_quality.py [--set main|ablation] [--seeds 3] [--jobs 2]
                                           [--rows 5 8 --section NAME] [--try="FLAGS" ...] [--no-docs]
--set ablation: the word-spelling ablation (docs section `ablation`); --set context: layer 2 and
the epochs on all three corpora (section `context`); --rows re-runs some rows of the set
(1-based) into their own section; --try runs these flags with --target all on BTC, WNUT-17 and
wikigold and writes nothing. --jobs runs that many trainings at once, each on one BLAS thread.
Needs ../shared/corpora (BTC, WNUT-17, wikigold); skips with a message when it is missing.
Each row is the mean (and spread) over seeds of the test score of the best dev epoch.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import gazetteers
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"

# (corpus, target, extra flags): the defaults, and the ablations behind them
SETS = {
    "main": [
        ("btc", "LOC", ["--casing", "0"]),
        ("btc", "LOC", []),
        ("btc", "LOC", ["--chars", "32", "--dropout", "0.3"]),
        ("btc", "all", ["--loss", "window", "--casing", "0"]),
        ("btc", "all", ["--loss", "window"]),
        ("btc", "all", []),
        ("wnut17", "location", []),
        ("wnut17", "all", ["--loss", "window"]),
        ("wnut17", "all", []),
        ("btc", "all", ["--loss", "window", "--chars", "0", "--dropout", "0"]),      # anchors.py's PyTorch twin
        ("wnut17", "all", ["--loss", "window", "--chars", "0", "--dropout", "0"]),
    ],
}
# what a word's spelling adds, one part at a time, then the defaults chosen from them; then the
# same with only 2,000 pretrained vectors, where a third of the tokens have none
OFF = ["--chars", "0", "--affixes", "0", "--word-dropout", "0", "--dropout", "0"]
SCARCE = ["--vectors-limit", "2000", "--bundle-vectors", "0"]
ABLATION = [
    ("casing only (the earlier defaults)", OFF),
    ("+ characters (32 filters)", OFF + ["--chars", "32"]),
    ("+ affixes (10 each)", OFF + ["--affixes", "10"]),
    ("+ word dropout (0.25)", OFF + ["--word-dropout", "0.25"]),
    ("+ hidden dropout (0.3)", OFF + ["--dropout", "0.3"]),
    ("**the defaults**: characters + hidden dropout", []),
    ("2,000 vectors: casing only", SCARCE + OFF),
    ("2,000 vectors: the defaults", SCARCE),
]
SETS["ablation"] = [(c, "all", flags) for _, flags in ABLATION for c in ("btc", "wnut17")]
# beyond one window, on tweets and prose: a second layer, gazetteers (scripts/studies/gazetteers.py; @places
# and @train-lists become each corpus's --gazetteer flags), the epochs and the window
CONTEXT = [
    ("0.3.0's defaults", []),
    ("+ layer 2 (w2 = 1)", ["--layers", "2"]),
    ("+ gazetteer: GeoNames places", ["@places"]),
    ("+ gazetteers: the train split's entities", ["@train-lists"]),
    ("+ 20 epochs, patience 4", ["--epochs", "20", "--patience", "4"]),
    ("+ window w = 3", ["--window", "3"]),
]
SETS["context"] = [(c, "all", flags) for _, flags in CONTEXT for c in ("btc", "wnut17", "wikigold")]
NAMES = {tuple(flags): name for name, flags in ABLATION + CONTEXT}


def expand(flags: list[str], corpus: str, lists: Path | None) -> list[str]:
    """@places and @train-lists -> --gazetteer TYPE=FILE flags for this corpus."""
    out = []
    for f in flags:
        if f == "@places":
            out += ["--gazetteer", f"{gazetteers.PLACE_TYPE[corpus]}={lists / 'geonames-places.txt'}"]
        elif f == "@train-lists":
            for p in sorted(lists.glob(f"{corpus}-train-*.txt")):
                out += ["--gazetteer", f"{p.stem.split('-train-')[1]}={p}"]
        else:
            out.append(f)
    return out
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def train(corpus: str, target: str, flags: list[str], seed: int, tmp: Path, env: dict) -> dict:
    c = CORPORA / corpus
    out = tmp / f"{corpus}-{target}-{seed}-{abs(hash(tuple(flags)))}"
    cmd = [sys.executable, "-m", "nerwin", "train", "--train", c / "train.conll", "--dev", c / "dev.conll",
           "--test", c / "test.conll", "--target", target, "--seed", str(seed), "--out", out,
           "--metrics-json", out.with_suffix(".json"), "-q", *expand(flags, corpus, tmp / "lists")]
    t0 = time.perf_counter()
    subprocess.run(list(map(str, cmd)), check=True, env=env, cwd=ROOT)
    m = json.loads(out.with_suffix(".json").read_text())
    m["wall"] = time.perf_counter() - t0
    m["size"] = (out / "model.npz").stat().st_size
    return m


def fmt(xs: list[float]) -> str:
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=sorted(SETS), default="main")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--rows", type=int, nargs="+", help="only these rows of the set, 1-based")
    ap.add_argument("--section", help="the docs section to write (default: the set's name, main: quality)")
    ap.add_argument("--try", dest="tries", action="append", help="a flag string to try on both corpora (repeat "
                    "it: --try='--chars 32'); no docs")
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if a.tries:
        runs = [(c, "all", f.split()) for f in a.tries for c in ("btc", "wnut17", "wikigold")]
    else:
        runs = [SETS[a.set][i - 1] for i in a.rows] if a.rows else SETS[a.set]
    if not CORPORA.exists():
        print(f"skipped: {CORPORA} is missing (see its README)")
        return
    env = dict(os.environ, **(ONE_THREAD if a.jobs > 1 else {}))
    rows = ["| corpus | target | flags | metric | test P | test R | test F1 | train s/run (wall) | best epoch "
            "| model MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(a.jobs) as pool:
        if any(f.startswith("@") for _, _, flags in runs for f in flags):
            (Path(tmp) / "lists").mkdir()
            gazetteers.places(Path(tmp) / "lists")
            for corpus in {c for c, _, _ in runs}:
                gazetteers.train_lists(Path(tmp) / "lists", corpus)
        jobs = {(i, seed): pool.submit(train, corpus, target, flags, seed, Path(tmp), env)
                for i, (corpus, target, flags) in enumerate(runs) for seed in range(a.seeds)}
        for i, (corpus, target, flags) in enumerate(runs):
            ms = [jobs[i, seed].result() for seed in range(a.seeds)]
            t = [m["test"] for m in ms]
            metric = "entity F1 (micro)" if target == "all" else "token F1"
            shown = NAMES.get(tuple(flags)) if a.set in ("ablation", "context") and not a.tries else None
            rows.append(f"| {corpus} | {target} | {shown or '`' + (' '.join(flags) or 'defaults') + '`'} | "
                        f"{metric} | {fmt([x['precision'] for x in t])} | {fmt([x['recall'] for x in t])} | "
                        f"**{fmt([x['f1'] for x in t])}** | {statistics.mean(m['seconds'] for m in ms):.1f} "
                        f"({statistics.mean(m['wall'] for m in ms):.1f}) | "
                        f"{', '.join(str(m['best_epoch']) for m in ms)} | "
                        f"{statistics.mean(m['size'] for m in ms) / 1e6:.1f} |")
            print(rows[-1], flush=True)
        per_type = []
        if a.set == "context" and not a.tries:          # each type's F1, MISC included
            for corpus in dict.fromkeys(c for c, _, _ in runs):
                mine = [i for i, (c, _, _) in enumerate(runs) if c == corpus]
                types = sorted(jobs[mine[0], 0].result()["test"]["per_type"])
                per_type += ["", f"{corpus}, test F1 per type (mean of {a.seeds} seeds):", "",
                             "| | " + " | ".join(types) + " |", "|---" * (len(types) + 1) + "|"]
                for i in mine:
                    ms = [jobs[i, seed].result()["test"]["per_type"] for seed in range(a.seeds)]
                    per_type.append(f"| {NAMES.get(tuple(runs[i][2]), ' '.join(runs[i][2]))} | " + " | ".join(
                        f"{statistics.mean(m[t]['f1'] for m in ms):.3f}" for t in types) + " |")
    table = "\n".join(rows + per_type)
    print(table)
    if not a.no_docs and not a.tries:
        section = a.section or ("quality" if a.set == "main" else a.set)
        cmd = "python scripts/studies/benchmark_quality.py" + (f" --set {a.set}" if a.set != "main" else "") + (
            f" --jobs {a.jobs}" if a.jobs > 1 else "") + (
            f" --rows {' '.join(map(str, a.rows))} --section {section}" if a.rows else "")
        threads = f", {a.jobs} trainings at a time on one BLAS thread each" if a.jobs > 1 else ""
        replace_section(section, f"{a.seeds} seeds each (mean ± sd{threads}); produced by `{cmd}`.\n\n{table}")


if __name__ == "__main__":
    main()
