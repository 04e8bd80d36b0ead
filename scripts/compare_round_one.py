"""This round against round one's code (commit b134e3b), in the same run on the same machine.

Usage: python scripts/compare_round_one.py [--no-readme]
Checks out round one into a temporary git worktree and
- trains both on round one's sample corpus, `--target all --casing 0 --loss window` (round
  one's defaults) at batch 64 (the default), 256 and 2048, and compares W, b, V, c, E bit for bit;
- times `nerwin predict` of both, interleaved twice, on the same 1M tokens of BTC test text.
Writes the README section `roundone`.
"""
import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from readme_section import replace_section  # noqa: E402

ROUND_ONE = "b134e3b"
BATCHES = (64, 256, 2048)


def nerwin(code: Path, *args, stdout=subprocess.DEVNULL) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nerwin", *map(str, args)], cwd=code, stdout=stdout, check=True,
                   env={"PYTHONPATH": str(code), **{k: v for k, v in __import__("os").environ.items()
                                                    if k != "PYTHONPATH"}})
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-readme", action="store_true")
    a = ap.parse_args()
    from nerwin.text.corpus import read_conll
    btc = ROOT.parent / "shared" / "corpora" / "btc" / "test.conll"
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        old = d / "r1"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(old), ROUND_ONE], cwd=ROOT, check=True)
        try:
            flags = ["train", "--train", old / "data/train.conll", "--dev", old / "data/dev.conll", "--target", "all",
                     "--epochs", "2", "-q"]
            same = {}
            for B in BATCHES:
                nerwin(old, *flags, "--batch-size", B, "--out", d / f"m_old{B}")
                nerwin(ROOT, *flags, "--batch-size", B, "--casing", "0", "--loss", "window", "--out", d / f"m_new{B}")
                za, zb = np.load(d / f"m_old{B}/model.npz"), np.load(d / f"m_new{B}/model.npz")
                same[B] = all(np.array_equal(za[k], zb[k]) for k in ("W", "b", "V", "c", "E"))
            nerwin(old, "train", "--out", d / "p_old", "-q")
            nerwin(ROOT, "train", "--casing", "0", "--out", d / "p_new", "-q")
            src = btc if btc.exists() else ROOT / "data" / "test.conll"
            toks = [t for s in read_conll(src) for t in s.tokens if t.strip()]
            rng, n, lines = random.Random(0), 0, []
            while n < 1_000_000:
                k = rng.randint(5, 30)
                lines.append(" ".join(rng.choice(toks) for _ in range(k)))
                n += k
            text = d / "in.txt"
            text.write_text("\n".join(lines) + "\n", encoding="utf-8")
            t_old, t_new = [], []
            for _ in range(2):
                t_old.append(nerwin(old, "predict", "--model", d / "p_old", text))
                t_new.append(nerwin(ROOT, "predict", "--model", d / "p_new", text))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    body = (f"| check | round one | this round | ratio |\n|---|---|---|---|\n"
            f"| `nerwin predict`, {n:,} tokens of {src.parent.name} text, binary model (s, 2 interleaved runs) | "
            f"{min(t_old):.1f}–{max(t_old):.1f} | {min(t_new):.1f}–{max(t_new):.1f} | "
            f"**{min(t_old) / max(t_new):.1f}–{max(t_old) / min(t_new):.1f}×** |\n"
            + "".join(f"| model bits, `--target all`, batch {B}, round one's sample corpus and defaults | | | "
                      f"**{'identical' if ok else 'different'}** |\n" for B, ok in same.items())
            + "\n`python scripts/compare_round_one.py`.")
    print(body)
    if not a.no_readme:
        replace_section("roundone", body)


if __name__ == "__main__":
    main()
