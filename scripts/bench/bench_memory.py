"""Peak memory of training with a big word2vec binary, against gensim's full load of the same file.

Usage: python scripts/bench/bench_memory.py [--rows 1000000] [--dim 300] [--no-docs]
Writes a synthetic ROWS x DIM word2vec binary to a temp dir: the words of BTC train (so the
corpus finds its vectors) among made-up but real-looking keys (lowercase, Title, UPPER,
phrases joined by _, digits), random float32 values. Then, each in its own process:
`nerwin train` on BTC train for one epoch with it, and gensim's
KeyedVectors.load_word2vec_format(binary=True). Target: nerwin's peak RSS <= 300 MB + 10% of the file.
"""
import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402  (scripts/ is on sys.path when run)
from timing import peak_rss  # noqa: E402


def synthetic_keys(n: int, corpus_words: list[str], rng: random.Random) -> list[str]:
    syll = ["ka", "lo", "mi", "ter", "son", "ber", "an", "el", "is", "or", "ven", "ra", "du", "sh", "qu", "ix"]
    keys, seen = [], set()
    for w in corpus_words:
        if w not in seen and " " not in w and w:
            seen.add(w)
            keys.append(w)
    while len(keys) < n:
        w = "".join(rng.choice(syll) for _ in range(rng.randint(2, 5)))
        r = rng.random()
        if r < 0.2:
            w = w.title()
        elif r < 0.25:
            w = w.upper()
        elif r < 0.4:
            w = w + "_" + "".join(rng.choice(syll) for _ in range(rng.randint(2, 4))).title()
        elif r < 0.45:
            w = w + str(rng.randint(0, 999))
        if w not in seen:
            seen.add(w)
            keys.append(w)
    rng.shuffle(keys)   # the corpus words anywhere in the file, not at the front
    return keys


def write_bin(path: Path, keys: list[str], dim: int) -> None:
    rng = np.random.default_rng(0)
    with open(path, "wb", buffering=1 << 22) as f:
        f.write(f"{len(keys)} {dim}\n".encode())
        for start in range(0, len(keys), 10000):
            block = rng.normal(0, 0.3, size=(min(10000, len(keys) - start), dim)).astype("<f4")
            f.write(b"".join(k.encode() + b" " + v.tobytes() + b"\n"
                             for k, v in zip(keys[start:start + 10000], block)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    from nerwin.text.corpus import read_conll
    words = [t for s in read_conll(BTC / "train.conll") for t in s.tokens]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vec = tmp / "synthetic.bin"
        write_bin(vec, synthetic_keys(a.rows, words, random.Random(0)), a.dim)
        size_mb = vec.stat().st_size / 2**20
        env_cache = dict(os.environ, NERWIN_CACHE=str(tmp / "cache"))
        os.environ.update(env_cache)
        train = [sys.executable, "-m", "nerwin", "train", "--train", str(BTC / "train.conll"), "--target", "LOC",
                 "--vectors", str(vec), "--epochs", "1", "--out", str(tmp / "m"), "-q"]
        nerwin_mb, nerwin_s = peak_rss(train)
        predict_mb, predict_s = peak_rss([sys.executable, "-m", "nerwin", "predict", "--model", str(tmp / "m"),
                                         str(BTC / "test.conll"), "--input-format", "conll"])
        gensim_mb, gensim_s = peak_rss([sys.executable, "-c",
                                       "from gensim.models import KeyedVectors; "
                                       f"KeyedVectors.load_word2vec_format({str(vec)!r}, binary=True)"])
    budget = 300 + 0.1 * size_mb
    table = ("| what | peak RSS (MB) | wall (s) |\n|---|---|---|\n"
             f"| `nerwin train` on BTC train, 1 epoch, with the file (streamed, first pass indexes it) | "
             f"**{nerwin_mb:.0f}** | {nerwin_s:.1f} |\n"
             f"| `nerwin predict` on BTC test with that model (unseen words found by seeking the index) | "
             f"{predict_mb:.0f} | {predict_s:.1f} |\n"
             f"| gensim `KeyedVectors.load_word2vec_format(binary=True)` of the same file | {gensim_mb:.0f} | "
             f"{gensim_s:.1f} |\n\n"
             f"Synthetic word2vec binary, {a.rows:,} × {a.dim} ({size_mb:,.0f} MiB). Target for nerwin: "
             f"≤ 300 MB + 10% of the file = {budget:.0f} MB. `python scripts/bench/bench_memory.py`.")
    print(table)
    if not a.no_docs:
        replace_section("memory", table)


if __name__ == "__main__":
    main()
