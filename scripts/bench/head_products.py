"""The softmax head's three small products at batch 256, by numpy's BLAS and by compiled loops
that keep one order of additions: could nerwin do them faster itself?

Usage: python scripts/bench/head_products.py [--calls 5000] [--no-docs]
Shapes of bench_speed's all-types model: h (256, 100), V (7, 100), s̄ (256, 7), float32, in
cache. s = hVᵀ + c, V̄ = s̄ᵀh, h̄ = s̄V. Each loop adds in a fixed order (s: over H for each
entry, K entries side by side; V̄: row after row of the batch; h̄: class after class), so LLVM
may vectorize only across independent entries. One more row gives s with Vᵀ copied to a
contiguous array first, which sends numpy to another BLAS path (another order of additions,
so other bits): what storing V transposed would buy. The table runs in two child processes: with
this machine's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as set, and with both unset. Each figure is
the median of --calls calls, taken in blocks of 100 that alternate BLAS and loop.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section
from doc_section import replace_section  # noqa: E402

B, H, K = 256, 100, 7
UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def loops():
    from numba import njit

    @njit(cache=True, error_model="numpy")
    def s_loop(h, VT, c):
        out = np.empty((h.shape[0], VT.shape[1]), h.dtype)
        for i in range(h.shape[0]):
            out[i, :] = c
            for j in range(h.shape[1]):
                for k in range(VT.shape[1]):
                    out[i, k] += h[i, j] * VT[j, k]
        return out

    @njit(cache=True, error_model="numpy")
    def dV_loop(ds, h):
        out = np.zeros((ds.shape[1], h.shape[1]), h.dtype)
        for i in range(ds.shape[0]):
            for k in range(ds.shape[1]):
                for j in range(h.shape[1]):
                    out[k, j] += ds[i, k] * h[i, j]
        return out

    @njit(cache=True, error_model="numpy")
    def hbar_loop(ds, V):
        out = np.zeros((ds.shape[0], V.shape[1]), V.dtype)
        for i in range(ds.shape[0]):
            for k in range(ds.shape[1]):
                for j in range(V.shape[1]):
                    out[i, j] += ds[i, k] * V[k, j]
        return out
    return s_loop, dV_loop, hbar_loop


def measure(calls: int) -> dict:
    from threadpoolctl import threadpool_info
    rng = np.random.default_rng(0)
    h = np.tanh(rng.standard_normal((B, H))).astype(np.float32)
    V = rng.standard_normal((K, H)).astype(np.float32)
    VT, c = np.ascontiguousarray(V.T), np.zeros(K, np.float32)
    ds = rng.standard_normal((B, K)).astype(np.float32)
    s_loop, dV_loop, hbar_loop = loops()
    pairs = {"s = hVᵀ + c": (lambda: h @ V.T + c, lambda: s_loop(h, VT, c)),
             "V̄ = s̄ᵀh": (lambda: ds.T @ h, lambda: dV_loop(ds, h)),
             "h̄ = s̄V": (lambda: ds @ V, lambda: hbar_loop(ds, V))}
    out = {}
    for name, (blas, loop) in pairs.items():
        np.testing.assert_allclose(loop(), blas(), rtol=1e-4, atol=1e-4)
        times = {"blas": [], "loop": []}
        for _ in range(calls // 100):
            for which, f in (("blas", blas), ("loop", loop)):
                for _ in range(100):
                    t = time.perf_counter()
                    f()
                    times[which].append(time.perf_counter() - t)
        out[name] = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    contiguous = lambda: h @ np.ascontiguousarray(V.T) + c     # noqa: E731
    times = []
    for _ in range(calls // 100):
        for _ in range(100):
            t = time.perf_counter()
            contiguous()
            times.append(time.perf_counter() - t)
    out["contiguous"] = {"blas": statistics.median(times) * 1e6,
                         "same bits": bool(np.array_equal(contiguous(), h @ V.T + c))}
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"][0]
    return {"kernel": f"{blas['internal_api']} {blas.get('architecture', '?')}", "times": out}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(a.calls)))
        return
    runs = []
    for unset in (False, True):
        env = {k: v for k, v in os.environ.items() if not (unset and k in UNSET)}
        r = subprocess.run([sys.executable, __file__, "--child", "--calls", str(a.calls)], env=env,
                           capture_output=True, text=True, check=True)
        runs.append(json.loads(r.stdout))
    names = [n for n in runs[0]["times"] if n != "contiguous"]
    lines = [f"| batch {B}, K = {K}, µs a call | {runs[0]['kernel']} | loop | {runs[1]['kernel']} | loop |",
             "|---|---|---|---|---|"]
    for n in names:
        a0, a1 = runs[0]["times"][n], runs[1]["times"][n]
        lines.append(f"| {n} | {a0['blas']:.1f} | {a0['loop']:.1f} | {a1['blas']:.1f} | {a1['loop']:.1f} |")
    tot = [sum(r["times"][n][w] for n in names) for r in runs for w in ("blas", "loop")]
    lines.append(f"| all three | {tot[0]:.1f} | {tot[1]:.1f} | {tot[2]:.1f} | {tot[3]:.1f} |")
    c0, c1 = runs[0]["times"]["contiguous"], runs[1]["times"]["contiguous"]
    bits = lambda c: "the same bits" if c["same bits"] else "other bits"    # noqa: E731
    lines.append(f"| s = hVᵀ + c, Vᵀ copied contiguous first | {c0['blas']:.1f} ({bits(c0)}) | | "
                 f"{c1['blas']:.1f} ({bits(c1)}) | |")
    body = ("\n".join(lines) + f"\n\nIn cache, medians of {a.calls} calls, numpy's BLAS (2 threads) and a compiled "
            "loop taking turns in blocks of 100; the first two columns with this machine's "
            "OPENBLAS_CORETYPE as set, the last two with it unset. `python scripts/bench/head_products.py`.")
    print(body)
    if not a.no_docs:
        replace_section("head-products", body)


if __name__ == "__main__":
    main()
