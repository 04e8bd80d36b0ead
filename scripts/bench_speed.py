"""Training throughput: nerwin vs the same model in PyTorch autograd, and vs its own bare GEMMs.

Usage: python scripts/bench_speed.py [--repeats 3] [--no-readme]
Needs ../shared/corpora/btc and torch==2.13.0 (`pip install -e '.[bench]'`); skips without them.
Both models get the same windows (BTC train, GloVe 6B 50d, w=2), the same initial
weights, Adam (lr 1e-3), the same shuffles, batch sizes and BLAS threads. Only
training epochs are timed; loading is not. Each figure is the median of --repeats epochs.

Adam differs in one way that is part of the comparison: PyTorch's nn.Embedding with
torch.optim.Adam updates every row each step (dense gradients, as most code does),
while nerwin updates only the rows a batch touched.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from readme_section import replace_section

ROOT = Path(__file__).resolve().parents[1]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
BATCHES = (16, 64, 256, 2048)


def blas_threads() -> int:
    try:
        from threadpoolctl import threadpool_info
        return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    except ImportError:
        return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count()))


def nerwin_epoch(p0, E0, tr, s):
    from nerwin.training import Run, fit
    p = {k: v.copy() for k, v in p0.items()}
    E = E0.copy()
    run = fit(Run(), p, E, tr, None, E[:0], s)
    return run.history[0]["seconds"]


def torch_epoch(p0, E0, tr, s, classes):
    import torch
    X = torch.from_numpy(tr.X.astype(np.int64))
    y = torch.from_numpy(tr.y)
    emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(E0.copy()), freeze=False)
    W = torch.nn.Parameter(torch.from_numpy(p0["W"].copy()))
    b = torch.nn.Parameter(torch.from_numpy(p0["b"].copy()))
    out_w = torch.from_numpy((p0["u"][None, :] if classes is None else p0["V"]).copy())
    U = torch.nn.Parameter(out_w)
    c = torch.nn.Parameter(torch.from_numpy(np.atleast_1d(p0["c"]).copy()))
    opt = torch.optim.Adam([emb.weight, W, b, U, c], lr=s.lr)
    lam = s.l2
    perm = np.random.default_rng(s.seed + 1).permutation(len(y))   # the same shuffle as nerwin's
    N, B = len(y), s.batch_size
    t0 = time.perf_counter()
    for k in range(0, N, B):
        idx = torch.from_numpy(perm[k:k + B])
        x = emb(X[idx]).reshape(len(idx), -1)
        h = torch.tanh(x @ W.T + b)
        s_ = h @ U.T + c
        if classes is None:
            J = torch.nn.functional.binary_cross_entropy_with_logits(s_[:, 0], y[idx])
        else:
            J = torch.nn.functional.cross_entropy(s_, y[idx])
        J = J + 0.5 * lam * (W.pow(2).sum() + U.pow(2).sum())
        opt.zero_grad(set_to_none=True)
        J.backward()
        opt.step()
    return time.perf_counter() - t0


def gemm_epoch(N, B, D, H, dtype=np.float32):
    """The three GEMMs of each step (z = xW^T, dW = delta^T x, delta_window = delta W), for one epoch."""
    rng = np.random.default_rng(0)
    x, W = rng.normal(size=(B, D)).astype(dtype), rng.normal(size=(H, D)).astype(dtype)
    delta = rng.normal(size=(B, H)).astype(dtype)
    steps = (N + B - 1) // B
    t0 = time.perf_counter()
    for _ in range(steps):
        x @ W.T
        delta.T @ x
        delta @ W
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-readme", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    try:
        import torch
    except ImportError:
        print("skipped: torch is not installed (pip install -e '.[bench]', which takes torch==2.13.0)")
        return
    from nerwin import model
    from nerwin.training import Settings, prepare
    from nerwin.vectors import open_store

    threads = blas_threads()
    torch.set_num_threads(threads)
    store, _ = open_store(None)
    rows = ["| target | batch | nerwin windows/s | PyTorch windows/s | nerwin ÷ PyTorch | nerwin epoch ÷ bare GEMMs |",
            "|---|---|---|---|---|---|"]
    for target in ("LOC", "all"):
        for B in BATCHES:
            s = Settings(target=target, batch_size=B, epochs=1)
            vocab, E, tr, _, _, _, classes, _ = prepare(BTC, None, store, s)
            K = 1 if classes is None else len(classes)
            p0 = model.init_params(5 * E.shape[1], s.hidden, K, np.random.default_rng(0), E.dtype)
            N = len(tr.y)
            tn = statistics.median(nerwin_epoch(p0, E, tr, s) for _ in range(a.repeats))
            tt = statistics.median(torch_epoch(p0, E, tr, s, classes) for _ in range(a.repeats))
            tg = statistics.median(gemm_epoch(N, B, 5 * E.shape[1], s.hidden) for _ in range(a.repeats))
            rows.append(f"| {'binary LOC' if classes is None else f'all ({K} classes)'} | {B} | {N / tn:,.0f} | "
                        f"{N / tt:,.0f} | **{tt / tn:.2f}×** | {tn / tg:.2f}× |")
            print(rows[-1], flush=True)
    head = (f"BTC train ({N:,} windows), GloVe 50d, w=2, H=100, tanh, Adam, fine-tuned; {threads} BLAS/torch "
            f"threads; median of {a.repeats} epochs; numpy {np.__version__}, torch {torch.__version__}; "
            f"`python scripts/bench_speed.py`.")
    table = head + "\n\n" + "\n".join(rows)
    print(table)
    if not a.no_readme:
        replace_section("speed", table)


if __name__ == "__main__":
    sys.exit(main())
