"""How often the drift demo's effect holds, over many seeds (the figure data/drift_words.txt cites).

Usage: python scripts/studies/drift_seeds.py [--seeds 0 40] [--words data/drift_words.txt]
Runs `nerwin drift-demo`'s experiment with its default settings for each seed in [start, stop).
"""
import argparse
from pathlib import Path

from nerwin.tools.drift import effect_holds, experiment, read_words
from nerwin.settings import Settings
from nerwin.vectors import open_store

ROOT = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs=2, default=[0, 40])
    ap.add_argument("--words", default=str(ROOT / "nerwin" / "sample" / "drift_words.txt"))
    a = ap.parse_args()
    store, _ = open_store(None)
    rows, classes = read_words(a.words)
    held = []
    for seed in range(*a.seeds):
        s = Settings(window=0, hidden=10, lr=0.01, epochs=200, batch_size=4, l2=1e-3, seed=seed)
        res = experiment(rows, classes, store, s)
        t = next(r for r in res["words"] if r["word"] == res["anchor"])
        held.append(effect_holds(res))
        print(f"seed {seed:3d}: P(frozen) {t['p_frozen']:.2f}  P(fine-tuned) {t['p_fine_tuned']:.2f}  "
              f"{'holds' if held[-1] else 'does not hold'}", flush=True)
    print(f"the effect held in {sum(held)} of {len(held)} seeds ({a.seeds[0]}-{a.seeds[1] - 1})")


if __name__ == "__main__":
    main()
