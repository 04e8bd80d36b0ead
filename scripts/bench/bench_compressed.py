"""Vectors in a gzip file: a training run and a predict run, whole processes, when each lookup
streams the file (a cache that cannot hold its copy: NERWIN_CACHE is a file) against the
decompressed copy in the cache, on its first run (an empty cache) and later.

The vectors are GloVe 6B 50d written as gzip'd GloVe text. Training:
binary LOC on BTC train with its dev and test, 3 epochs. Predict: every sentence of BTC,
WNUT-17 and wikigold as text, one per line. Median of --runs, the set-ups taking turns. Writes
the docs section `compressed`.

    python scripts/bench/bench_compressed.py [--runs 3]
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section
from doc_section import replace_section  # noqa: E402

from nerwin.text.corpus import read_conll  # noqa: E402
from nerwin.vectors import default_cache  # noqa: E402
from nerwin.vectors.glove import ensure_default_cache  # noqa: E402

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


def write_glove_gz(path: Path) -> None:
    d = ensure_default_cache() or default_cache()
    vectors = np.load(d / "vectors.npy", mmap_mode="r")
    blob, offsets = np.load(d / "blob.npy").tobytes(), np.load(d / "offsets.npy")
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as f:
        for i in range(len(vectors)):
            word = blob[offsets[i]:offsets[i + 1]].decode("utf-8")
            f.write(word + " " + " ".join(f"{x:.5f}" for x in vectors[i]) + "\n")


def inflated_size(path: Path) -> int:
    n = 0
    with gzip.open(path) as f:
        while block := f.read(1 << 24):
            n += len(block)
    return n


def timed(cmd, env, out=None) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=out or subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(map(str, cmd))}\n{r.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if a.runs < 1:
        ap.error(f"--runs must be at least 1, got {a.runs}")
    btc = CORPORA / "btc"
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        gz, text = d / "glove.6B.50d.txt.gz", d / "sentences.txt"
        write_glove_gz(gz)
        sizes = gz.stat().st_size / 1e6, inflated_size(gz) / 1e6
        sents = [" ".join(x.tokens) for c in ("btc", "wnut17", "wikigold") for s in ("train", "dev", "test")
                 for x in read_conll(CORPORA / c / f"{s}.conll")]
        text.write_text("\n".join(sents) + "\n")
        (d / "not-a-folder").write_text("")
        nerwin = [sys.executable, "-m", "nerwin"]
        train = nerwin + ["train", "--train", btc / "train.conll", "--dev", btc / "dev.conll", "--test",
                          btc / "test.conll", "--vectors", gz, "--epochs", "3", "--quiet", "--out"]
        setups = {"streamed": lambda k: dict(os.environ, NERWIN_CACHE=str(d / "not-a-folder")),
                  "copy, first run": lambda k: dict(os.environ, NERWIN_CACHE=str(d / f"fresh{k}")),
                  "copy, later run": lambda k: dict(os.environ, NERWIN_CACHE=str(d / "kept"))}
        timed(train + [d / "warm"], setups["copy, later run"](0))          # makes the kept copy, warms the page cache
        times = {name: {"train": [], "predict": []} for name in setups}
        for k in range(a.runs):
            for name, env_of in setups.items():
                env = env_of(k)
                model = d / f"m-{name[:4]}-{k}"
                times[name]["train"].append(timed(train + [model], env))
                if name == "copy, first run":                              # predict's own first run, empty cache
                    env = env_of(f"{k}p")
                with open(d / "tags.jsonl", "w") as out:
                    times[name]["predict"].append(timed(nerwin + ["predict", "--model", model, text], env, out))
    med = {name: {job: float(np.median(v)) for job, v in t.items()} for name, t in times.items()}
    base = med["streamed"]
    lines = ["| vectors in a `.txt.gz` | `nerwin train`, dev and test (s) | ÷ streamed | "
             f"`nerwin predict`, {len(sents):,} sentences (s) | ÷ streamed |", "|---|---|---|---|---|"]
    for name, m in med.items():
        lines.append(f"| {name} | {m['train']:.1f} | {m['train'] / base['train']:.2f}× | {m['predict']:.1f} | "
                     f"{m['predict'] / base['predict']:.2f}× |")
    body = "\n".join(lines) + (
        f"\n\nGloVe 6B 50d as gzip'd GloVe text ({sizes[0]:.0f} MB, {sizes[1]:.0f} MB inside); binary LOC on BTC with its dev and test, 3 epochs; every "
        f"sentence of BTC, WNUT-17 and wikigold as text; whole processes, wall clock, median of {a.runs}, the set-ups "
        "taking turns. `python scripts/bench/bench_compressed.py`.")
    print(body)
    replace_section("compressed", body)


if __name__ == "__main__":
    main()
