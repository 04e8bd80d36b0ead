"""Would a step gain from threads of nerwin's own? Times the backward pass's two GEMMs, dW = δᵀx and
δ_window = δW, as training runs them (one after the other, each on OpenBLAS's two threads)
against the same two at once, each on one BLAS thread, δ_window on a Python thread of nerwin's
woken once a step (or once every 100 steps); and the round trip of a hand-off with no work, by
the three hand-offs the standard library has.

Usage: python scripts/bench/bench_threads.py [--calls 2000] [--no-docs]
Needs ../shared/corpora/btc for bench_speed's shapes (binary LOC, GloVe 50d, w=2, H=100), batch
256: x (256, 250), W (100, 250), δ (256, 100). Needs threadpoolctl (the bench extra). Each figure
is the median of --calls calls; the set-ups take turns in blocks of 100 calls, and a block on
one BLAS thread starts after a second's rest, so that OpenBLAS's own threads have stopped
spinning.
"""
import argparse
import contextlib
import queue
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402  (scripts/ is on sys.path when run)
from models import speed_model  # noqa: E402
from timing import pause_probe  # noqa: E402


class Worker:
    """A Python thread that runs one job per hand-off, woken by a lock that the caller releases
    (one of the three hand-offs timed below, and among the fastest)."""

    def __init__(self):
        self.job, self.go, self.done = None, threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            self.go.acquire()
            self.job()
            self.done.release()

    def start(self, job):
        self.job = job
        self.go.release()

    def wait(self):
        self.done.acquire()


def event_round_trip():
    """-> a function that hands an empty job to a thread woken by threading.Event and waits."""
    go, done = threading.Event(), threading.Event()

    def loop():
        while True:
            go.wait()
            go.clear()
            done.set()
    threading.Thread(target=loop, daemon=True).start()

    def run():
        go.set()
        done.wait()
        done.clear()
    return run


def queue_round_trip():
    """The same through two queue.SimpleQueue."""
    go, done = queue.SimpleQueue(), queue.SimpleQueue()

    def loop():
        while True:
            done.put(go.get())
    threading.Thread(target=loop, daemon=True).start()

    def run():
        go.put(None)
        done.get()
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    m, _, _ = speed_model(BTC, "LOC", 256)
    H, D = m.params["W"].shape
    rng = np.random.default_rng(0)
    x, delta = rng.normal(size=(256, D)).astype(np.float32), rng.normal(size=(256, H)).astype(np.float32)
    W = m.params["W"].copy()
    out = np.empty_like(x)
    w = Worker()
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    threads = blas[0]["num_threads"] if blas else "?"
    lost_before = pause_probe()

    def sequential():                               # training's order, OpenBLAS's threads
        delta.T @ x
        np.matmul(delta, W, out=out)

    def together():                                 # δ_window on nerwin's thread, dW on this one
        w.start(lambda: np.matmul(delta, W, out=out))
        delta.T @ x
        w.wait()

    def unhanded():                                 # the same pairs, one hand-off per 100 of them
        w.start(lambda: [np.matmul(delta, W, out=out) for _ in range(100)])
        for _ in range(100):
            delta.T @ x
        w.wait()

    def lock_round_trip():
        w.start(lambda: None)
        w.wait()

    setups = {"both, one after the other, {t} BLAS threads each (as training runs them)": (sequential, None, 1),
              "dW alone, {t} BLAS threads": (lambda: delta.T @ x, None, 1),
              "δ_window alone, {t} BLAS threads": (lambda: np.matmul(delta, W, out=out), None, 1),
              "dW alone, one BLAS thread": (lambda: delta.T @ x, 1, 1),
              "both at once, δ_window handed to a thread of nerwin's each step, one BLAS thread each":
                  (together, 1, 1),
              "both at once, one hand-off per 100 steps (per step)": (unhanded, 1, 100),
              "a hand-off's round trip, no work: threading.Lock": (lock_round_trip, None, 1),
              "a hand-off's round trip, no work: threading.Event": (event_round_trip(), None, 1),
              "a hand-off's round trip, no work: queue.SimpleQueue": (queue_round_trip(), None, 1)}
    times = {k: [] for k in setups}
    for _ in range(max(1, a.calls // 100)):
        for name, (f, limit, per) in setups.items():
            with threadpool_limits(limit, "blas") if limit else contextlib.nullcontext():
                if limit:
                    time.sleep(1.0)                 # OpenBLAS's own threads stop spinning
                for _ in range(100 // per):
                    t0 = time.perf_counter()
                    f()
                    times[name].append((time.perf_counter() - t0) / per)
    lost_after = pause_probe()
    med = {k.format(t=threads): statistics.median(v) * 1e6 for k, v in times.items()}
    rows = "\n".join(f"| {k} | {v:.0f} |" for k, v in med.items())
    body = (f"Batch 256 of bench_speed's binary LOC model: x (256, {D}), W ({H}, {D}), δ (256, {H}), float32. "
            f"Medians of {a.calls} calls, the set-ups taking turns in blocks of 100; numpy's BLAS "
            f"{blas[0]['internal_api'] if blas else '?'} {blas[0]['version'] if blas else ''}, {threads} threads. "
            f"The pause probe lost {lost_before:.0%} of its wall time before and {lost_after:.0%} after. "
            f"`python scripts/bench/bench_threads.py`.\n\n| backward pass of one step | µs |\n|---|---|\n{rows}")
    print(body)
    if not a.no_docs:
        replace_section("threads", body)


if __name__ == "__main__":
    main()
