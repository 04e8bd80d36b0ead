"""What a training step's pieces cost where they run, against the same call repeated at once,
its data then in cache: how much of an epoch beyond its bare GEMMs is waiting for memory.

Usage: python scripts/bench/cache_cost.py [--batch 256 2048] [--epochs 3] [--no-docs]
Needs ../shared/corpora/btc. bench_speed.py's set-up: binary LOC, GloVe 50d, w=2, H=100, no
casing, window loss, Adam. Each step runs as training does (network.loss, then the optimizer).
Epochs take turns: one runs its steps alone, for the figures "in the step"; in the next, after
each step, the GEMMs and the optimizer's update run once more at once, on copies made just then
of what they touched (so the model moves once), for the figures "in cache". Each figure is a
median over every step of --epochs epochs of its kind, at the machine's BLAS threads and at one.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402  (scripts/ is on sys.path when run)
from models import speed_model  # noqa: E402
from timing import pause_probe  # noqa: E402


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def measure(B: int, epochs: int) -> dict:
    from nerwin.nn import layers
    from nerwin.nn.optim import Optimizer
    from nerwin.training.data import window_batches
    from nerwin.training.loop import keep_freed_memory

    keep_freed_memory()                  # as fit() does
    m, tr, s = speed_model(BTC, batch=B)
    p, E, head = m.params, m.E, m.head
    opt = Optimizer(s.optimizer, p, E, s.lr, row_tables=m.row_tables())
    opt.touch()
    rng = np.random.default_rng(s.seed + 1)
    got = {k: [] for k in ("gemm", "gemm_hot", "adam", "adam_hot", "step")}
    for epoch in range(2 * epochs + 1):             # the first epoch is not counted: numba loads
        first, again = epoch == 0, epoch % 2 == 0   # odd epochs run the step alone; even ones add the copies
        batches = window_batches(rng, len(tr.y), B)
        shuffled, at = tr.take(np.concatenate([idx for idx, _ in batches])), 0     # as fit() reads them
        for idx, _ in batches:
            t0 = time.perf_counter()
            cut = slice(at, at + len(idx))
            at += len(idx)
            ids = shuffled.words(cut, rng, 0.0)
            # the step as training runs it, its GEMMs timed where they run
            x, c_E = layers.embed_forward(E, ids, compiled=True)
            t = time.perf_counter()
            z, c_aff = layers.affine_forward(x, p["W"], p["b"])
            gemm = time.perf_counter() - t
            h, c_act = layers.act_forward(z, s.activation, reuse=True)
            J, grads, dh = head.loss(h, shuffled.y[cut], None, p, s.l2)
            delta, db = layers.act_backward(dh, c_act, compiled=True)
            t = time.perf_counter()
            dW, db, delta_window = layers.affine_backward(delta, c_aff, db, reuse=True)    # over x
            gemm += time.perf_counter() - t
            layers.add_scaled(dW, s.l2, p["W"], compiled=True)
            grads.update(W=dW, b=db)
            rows, dE = layers.embed_backward(delta_window, c_E)
            adam = timed(lambda: opt.step(p, grads, E, rows, dE))
            step = time.perf_counter() - t0
            if first:
                continue
            if not again:
                for k, v in zip(("gemm", "adam", "step"), (gemm, adam, step)):
                    got[k].append(v)
                continue
            # the same work again at once, on copies made now of what it touched: in cache
            dense = [(np.reshape(grads[k], -1), p[k].reshape(-1).copy(), [a.copy() for a in st])
                     for k, st in opt.dense.items()]
            mv_E, t_E = opt.E_state
            here = np.arange(len(rows))
            E_rows, E_state = E[rows], [mv_E[rows], t_E[rows]]
            adam_hot = timed(lambda: ([opt._dense_step(X, G, st) for G, X, st in dense],
                                      opt._step(E_rows, here, dE, E_state)))
            gemm_hot = timed(lambda: (x @ p["W"].T, delta.T @ x, delta @ p["W"]))
            got["gemm_hot"].append(gemm_hot)
            got["adam_hot"].append(adam_hot)
    return {k: statistics.median(v) * 1e6 for k, v in got.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, nargs="+", default=[256, 2048])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    from threadpoolctl import threadpool_info, threadpool_limits
    threads = [i for i in threadpool_info() if i["user_api"] == "blas"][0]["num_threads"]
    lost = [pause_probe()]
    runs = {}
    for n in sorted({threads, 1}, reverse=True):
        with threadpool_limits(n, user_api="blas"):
            runs[n] = {B: measure(B, a.epochs) for B in a.batch}
    lost.append(pause_probe())
    rows = ["| µs a step (median) | BLAS threads | " + " | ".join(f"batch {B}: in the step | in cache | ratio"
                                                          for B in a.batch) + " |",
            "|---|---|" + "---|---|---|" * len(a.batch)]
    for n, cols in runs.items():
        for name, k in (("the three GEMMs", "gemm"), ("Adam: W, b, u, c and the touched rows of E", "adam")):
            rows.append(f"| {name} | {n} | " + " | ".join(
                f"{c[k]:,.0f} | {c[k + '_hot']:,.0f} | {c[k] / c[k + '_hot']:.1f}×" for c in cols.values()) + " |")
        if n == threads:                    # one thread's whole steps are not the user's: training runs on all
            rows.append(f"| the whole step | {n} | " + " | ".join(
                f"{c['step']:,.0f} | | {c['step'] / c['gemm_hot']:.1f}× the GEMMs in cache" for c in cols.values()) + " |")
    table = "\n".join(rows) + (
        f"\n\nBinary LOC on BTC train, bench_speed's set-up (no casing, window loss); an untimed epoch, then "
        f"{a.epochs} epochs of steps alone (\"in the step\": medians over their steps) taking turns with {a.epochs} "
        f"in which each step's GEMMs and Adam run once more at once, on copies of what they touched (\"in cache\"). The pause probe lost {lost[0]:.0%} of its wall time before and {lost[1]:.0%} after. "
        f"`python scripts/bench/cache_cost.py`.")
    print(table)
    if not a.no_docs:
        replace_section("cache-cost", table)


if __name__ == "__main__":
    main()
