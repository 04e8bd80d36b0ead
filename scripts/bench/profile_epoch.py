"""Where an epoch's time goes: cProfile of nerwin's training loop, grouped by the lecture's steps.

Usage: python scripts/bench/profile_epoch.py [--batch 256 2048] [--epochs 5] [--no-docs]
Needs ../shared/corpora/btc. Binary LOC, GloVe 50d, w=2, H=100, Adam. One untimed epoch
first (numba loads its compiled loops then), then --epochs profiled ones; each step's figure
is its smallest over those epochs, because this VM's pauses (scripts/timing.py) land on
whatever runs at the time. cProfile adds overhead to every Python call, so the shares
matter more than the totals.
"""
import sys
import argparse
import os
import cProfile
import pstats
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from bench_speed import blas_info  # noqa: E402  (run as a script: scripts/bench/ is on sys.path)
from doc_section import replace_section  # noqa: E402  (scripts/ is on sys.path when run)

# nerwin's own functions -> step, each counted by its cumulative time at its call site, so a
# numpy call (np.concatenate, argsort, ...) is charged to the step that made it; the rest of
# fit's time is batching, dropout and Python glue
GROUPS = {
    "affine_forward": "GEMMs (z = Wx + b, dW = δxᵀ, δ_window = Wᵀδ)",
    "affine_backward": "GEMMs (z = Wx + b, dW = δxᵀ, δ_window = Wᵀδ)",
    "embed_forward": "gather x = E[ids]",
    "embed_backward": "scatter δ_window into rows",
    "step": "Adam (dense + touched rows)",
    "act_forward": "activation and its derivative",
    "act_backward": "activation and its derivative",
    "heads.loss": "output layer and loss",      # the head's whole loss: its logits, J, and back to dh
}
GLUE = "batching, dropout, Python glue"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    from nerwin.settings import Settings
    from nerwin.training.data import prepare
    from nerwin.training.loop import Run, fit
    from nerwin.vectors import open_store

    store, _ = open_store(None)
    cols = {}
    for B in a.batch:
        s = Settings.of(target="LOC", batch_size=B, epochs=1, casing=0)
        m, tr, _, _ = prepare(BTC, None, store, s)
        s = m.settings
        fit(Run(), m, tr, s)                     # untimed: numba loads its loops
        best = {}
        for _ in range(a.epochs):
            prof = cProfile.Profile()
            prof.runcall(fit, Run(), m, tr, s)
            stats = pstats.Stats(prof).stats
            total = next(v[3] for (f, _, name), v in stats.items() if name == "fit" and f.endswith("loop.py"))
            shares = {}
            for (f, _, name), v in stats.items():
                key = "heads." + name if f.endswith("heads.py") else name
                if key in GROUPS and f.endswith(("network.py", "layers.py", "heads.py", "optim.py")):
                    shares[GROUPS[key]] = shares.get(GROUPS[key], 0) + v[3]
            shares[GLUE] = total - sum(shares.values())
            best = {k: min(v, best.get(k, v)) for k, v in shares.items()}
        total, steps = sum(best.values()), -(-len(tr.y) // B)
        cols[B] = {k: (v / total, v / steps * 1e6) for k, v in best.items()}
    keys = sorted({k for c in cols.values() for k in c}, key=lambda k: -cols[a.batch[0]].get(k, (0, 0))[0])
    rows = ["| step | " + " | ".join(f"batch {B}: share (µs a step)" for B in a.batch) + " |",
            "|---|" + "---|" * len(a.batch)]
    rows += [f"| {k} | " + " | ".join("{:.0%} ({:,.0f})".format(*cols[B].get(k, (0, 0))) for B in a.batch) + " |"
             for k in keys]
    threads, kernel = blas_info()
    table = "\n".join(rows) + (f"\n\ncProfile of binary LOC training on BTC train, each step's smallest of "
                               f"{a.epochs} epochs; numpy's BLAS: {kernel}, {threads} threads (OPENBLAS_CORETYPE "
                               f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}). "
                               "`python scripts/bench/profile_epoch.py`.")
    print(table)
    if not a.no_docs:
        replace_section("profile", table)


if __name__ == "__main__":
    main()
