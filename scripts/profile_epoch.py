"""Where an epoch's time goes: cProfile of nerwin's training loop, grouped by the lecture's steps.

Usage: python scripts/profile_epoch.py [--batch 256 2048] [--no-readme]
Needs ../shared/corpora/btc. Binary LOC, GloVe 50d, w=2, H=100, Adam, one epoch.
cProfile adds overhead to every Python call, so the shares matter more than the totals.
"""
import argparse
import cProfile
import pstats
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
from readme_section import replace_section  # noqa: E402  (scripts/ is on sys.path when run)

# function name -> step; the rest of a function's own time is "loop and glue"
GROUPS = {
    "affine_forward": "GEMMs (z = Wx + b, dW = δxᵀ, δ_window = Wᵀδ)",
    "affine_backward": "GEMMs (z = Wx + b, dW = δxᵀ, δ_window = Wᵀδ)",
    "embed_forward": "gather x = E[ids]",
    "embed_backward": "scatter δ_window into rows (sort + segmented sum)",
    "argsort": "scatter δ_window into rows (sort + segmented sum)",
    "reduceat": "scatter δ_window into rows (sort + segmented sum)",
    "step": "Adam (dense + touched rows)",
    "_update": "Adam (dense + touched rows)",
    "concatenate": "Adam (dense + touched rows)",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--no-readme", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    from nerwin import model
    from nerwin.training import Run, Settings, fit, prepare
    from nerwin.vectors import open_store

    store, _ = open_store(None)
    cols = {}
    for B in a.batch:
        s = Settings(target="LOC", batch_size=B, epochs=1)
        _, E, tr, *_ = prepare(BTC, None, store, s)
        p = model.init_params(5 * E.shape[1], s.hidden, 1, np.random.default_rng(0), E.dtype)
        prof = cProfile.Profile()
        prof.runcall(fit, Run(), p, E, tr, None, E[:0], s)
        stats = pstats.Stats(prof).stats
        total = sum(v[2] for v in stats.values())          # own time of every function
        shares = {}
        for (_, _, name), v in stats.items():
            key = next((g for f, g in GROUPS.items() if name == f or name.endswith(f"'{f}' of")
                        or f"{f}'" in name or name == f"<method '{f}' of 'numpy.ufunc' objects>"), None)
            shares[key or "activation, loss, batching, Python glue"] = \
                shares.get(key or "activation, loss, batching, Python glue", 0) + v[2]
        cols[B] = {k: v / total for k, v in shares.items()}
    keys = sorted({k for c in cols.values() for k in c}, key=lambda k: -cols[a.batch[0]].get(k, 0))
    rows = ["| step | " + " | ".join(f"share at batch {B}" for B in a.batch) + " |",
            "|---|" + "---|" * len(a.batch)]
    rows += [f"| {k} | " + " | ".join(f"{cols[B].get(k, 0):.0%}" for B in a.batch) + " |" for k in keys]
    table = "\n".join(rows) + "\n\ncProfile of one epoch (binary LOC, BTC train). `python scripts/profile_epoch.py`."
    print(table)
    if not a.no_readme:
        replace_section("profile", table)


if __name__ == "__main__":
    main()
