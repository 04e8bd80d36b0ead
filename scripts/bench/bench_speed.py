"""Training throughput: nerwin vs the same model in PyTorch, and vs its own bare GEMMs.

Usage: python scripts/bench/bench_speed.py [--repeats 3] [--runs 1] [--no-docs]
Needs ../shared/corpora/btc and torch==2.13.0 (`pip install -e '.[bench]'`); skips without them.
Every model gets the same windows (BTC train, GloVe 6B 50d, w=2, H=100), the same initial
weights, Adam (lr 1e-3), the same shuffles, batch sizes and threads. Only training epochs
are timed. This VM pauses for 50-700 ms several times a second (the probe below measures
how much wall time a bare in-place numpy loop loses to pauses of 5 ms or more), so every
step is timed and an epoch's time is its number of steps times its median step: a pause
lands in a few steps and leaves the median alone. The wall-clock epochs are printed too.
Each figure is the median of --repeats epochs, the set-ups taking turns; each ratio is the
median of the ratios within a turn, so that the machine's slow and fast spells, which last
longer than an epoch, fall on both sides of it; nerwin's epoch and its bare GEMMs run back to
back, so that they share a spell (two_speeds.py measures the spells). Two PyTorch set-ups:
  dense:  nn.Embedding + torch.optim.Adam(fused=True): every row's moments move every step;
  sparse: nn.Embedding(sparse=True) + SparseAdam for the rows, fused Adam for W, b, V, c:
          lazy Adam, the same semantics as nerwin's, and what a performance-minded user picks.
Ratios are read against the faster of the two. numpy's set-ups (nerwin, its bare GEMMs) and
PyTorch's run in two worker processes that take turns, each idle while the other runs, as a
user runs one or the other. The whole table runs twice, in child processes: with this machine's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as set, and with both
unset (threadpoolctl names the kernel numpy's OpenBLAS then runs). The sentence loss is
timed against the window loss at the same words per batch, and a second window layer
(`--layers 2`, whole sentences) against one layer and against both layers' six GEMMs.
--runs R runs all of it R times, one after another, and writes the first run's tables and,
beside them, each target's ratio over the R runs (range and median): this machine has fast
and slow spells that outlast one run.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section
from models import speed_model
from timing import pause_probe

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
BATCHES = (16, 64, 256, 2048)


def blas_info() -> tuple[int, str]:
    from threadpoolctl import threadpool_info
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"][0]
    return blas["num_threads"], f"{blas['internal_api']} {blas.get('architecture', '?')}"


def epoch_time(steps: list, wall: float) -> tuple[float, float]:
    """(steps x median step, the whole epoch's wall clock) in seconds."""
    return len(steps) * statistics.median(steps), wall


def nerwin_epoch(m0, tr, s):
    from nerwin.training.loop import Run, fit
    m = m0.with_weights({k: v.copy() for k, v in m0.params.items()}, m0.E.copy())
    t0 = time.perf_counter()
    run = fit(Run(), m, tr, s)          # a whole epoch: batching, steps, bookkeeping
    return epoch_time(run.step_seconds, time.perf_counter() - t0)


def torch_epoch(p0, E0, tr, s, classes, sparse: bool):
    import torch
    X = torch.from_numpy(tr.X.astype(np.int64))
    y = torch.from_numpy(tr.y)
    emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(E0.copy()), freeze=False, sparse=sparse)
    W = torch.nn.Parameter(torch.from_numpy(p0["W"].copy()))
    b = torch.nn.Parameter(torch.from_numpy(p0["b"].copy()))
    U = torch.nn.Parameter(torch.from_numpy((p0["u"][None, :] if classes is None else p0["V"]).copy()))
    c = torch.nn.Parameter(torch.from_numpy(np.atleast_1d(p0["c"]).copy()))
    if sparse:
        opts = [torch.optim.SparseAdam([emb.weight], lr=s.lr), torch.optim.Adam([W, b, U, c], lr=s.lr, fused=True)]
    else:
        opts = [torch.optim.Adam([emb.weight, W, b, U, c], lr=s.lr, fused=True)]
    perm = np.random.default_rng(s.seed + 1).permutation(len(y))   # the same shuffle as nerwin's
    N, B = len(y), s.batch_size
    steps = []
    start = time.perf_counter()
    for k in range(0, N, B):
        t0 = time.perf_counter()
        idx = torch.from_numpy(perm[k:k + B])
        x = emb(X[idx]).reshape(len(idx), -1)
        h = torch.tanh(x @ W.T + b)
        s_ = h @ U.T + c
        if classes is None:
            J = torch.nn.functional.binary_cross_entropy_with_logits(s_[:, 0], y[idx])
        else:
            J = torch.nn.functional.cross_entropy(s_, y[idx])
        J = J + 0.5 * s.l2 * (W.pow(2).sum() + U.pow(2).sum())
        for o in opts:
            o.zero_grad(set_to_none=True)
        J.backward()
        for o in opts:
            o.step()
        steps.append(time.perf_counter() - t0)
    return epoch_time(steps, time.perf_counter() - start)


def gemm_epoch(N, B, D, H, lib=np, D2=None):
    """The three GEMMs of each step (z = xW^T, dW = delta^T x, delta_window = delta W), for one
    epoch, in numpy (nerwin's) or torch (PyTorch's own BLAS); D2: a second layer's three too,
    on windows of D2 of layer 1's vectors."""
    rng = np.random.default_rng(0)
    shapes = [((B, D), (H, D))] + ([((B, D2), (H, D2))] if D2 else [])
    layers = [tuple(lib.asarray(rng.normal(size=sh).astype(np.float32)) for sh in (*xw, (B, H))) for xw in shapes]
    steps = []
    start = time.perf_counter()
    for _ in range((N + B - 1) // B):
        t0 = time.perf_counter()
        for x, W, delta in layers:
            x @ W.T
            delta.T @ x
            delta @ W
        steps.append(time.perf_counter() - t0)
    return epoch_time(steps, time.perf_counter() - start)


TORCH_SETUPS = ("dense", "sparse", "torch_gemm")


def worker(kind: str, threads: int) -> None:
    """One framework's process: reads a set-up a line from stdin (JSON: setup, target, batch,
    layers), runs one epoch of it, and writes its (median-step epoch, wall epoch). numpy's
    worker never imports torch and torch's never trains nerwin: a user runs one or the other.
    In one process each slowed the other's BLAS, PyTorch's more: numpy's GEMMs took 0.53-0.63x
    PyTorch's time there, 0.79-0.97x in separate processes (three runs of each, batch 256 and
    2048)."""
    from nerwin.model import WindowModel
    from nerwin.nn.heads import choose

    if kind == "torch":
        import torch
        torch.set_num_threads(threads)
    answer, sys.stdout = sys.stdout, sys.stderr     # stdout carries the answers alone
    models, warmed = {}, set()
    for line in sys.stdin:
        c = json.loads(line)
        key = (c["target"], c["batch"], c["layers"])
        if key not in models:
            models[key] = speed_model(BTC, c["target"], c["batch"],
                                      **({"layers": 2, "window2": 1} if c["layers"] == 2 else {}))
        m0, tr, s = models[key]
        N, B, D, H = len(tr.y), s.batch_size, m0.input_width, s.hidden
        classes = m0.head.classes if m0.head.multiclass else None
        if c["setup"] == "sentence":
            sh = choose("all", [k[2:] for k in classes[1::2]], "sentence")
            m0 = WindowModel.new(s, sh, [], m0.vocab, m0.E, m0.vectors)
        run = {"nerwin": lambda: nerwin_epoch(m0, tr, s), "sentence": lambda: nerwin_epoch(m0, tr, s),
               "gemm": lambda: gemm_epoch(N, B, D, H, D2=3 * H if c["layers"] == 2 else None),
               "dense": lambda: torch_epoch(m0.params, m0.E, tr, s, classes, sparse=False),
               "sparse": lambda: torch_epoch(m0.params, m0.E, tr, s, classes, sparse=True),
               "torch_gemm": lambda: gemm_epoch(N, B, D, H, __import__("torch"))}[c["setup"]]
        if c["setup"] in ("nerwin", "sentence") and (c["setup"], key) not in warmed:
            run()                           # numba loads (or compiles) its loops, BLAS starts: not timed
            warmed.add((c["setup"], key))
        answer.write(json.dumps({"epoch": run(), "N": N, "K": m0.head.K}) + "\n")
        answer.flush()


def child(repeats: int) -> dict:
    threads, kernel = blas_info()
    procs = {k: subprocess.Popen([sys.executable, __file__, "--worker", k, "--threads", str(threads)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k in ("numpy", "torch")}

    def epoch(setup: str, target: str, B: int, layers: int = 1) -> tuple:
        p = procs["torch" if setup in TORCH_SETUPS else "numpy"]
        p.stdin.write(json.dumps(dict(setup=setup, target=target, batch=B, layers=layers)) + "\n")
        p.stdin.flush()
        out = p.stdout.readline()
        if not out:
            raise RuntimeError(f"the worker running {setup} stopped")
        time.sleep(0.2)                     # the other process's BLAS threads stop spinning first
        got = json.loads(out)
        sizes[target] = got["N"], got["K"]
        return tuple(got["epoch"])

    def turns(**setups):
        """Each set-up once per repeat, taking turns; -> {name: (median-step epoch, wall epoch)},
        each the median over the repeats, and "turns": {name: each repeat's pair}."""
        got = {k: [] for k in setups}
        for _ in range(repeats):
            for k, f in setups.items():
                got[k].append(f())
        return {**{k: tuple(statistics.median(x[i] for x in v) for i in range(2)) for k, v in got.items()},
                "turns": got}

    lost = [pause_probe()]
    rows, sentence, sizes = [], [], {}
    for target in ("LOC", "all"):
        for B in BATCHES:
            names = ["nerwin", "gemm", "dense", "sparse", "torch_gemm"]   # an epoch and its GEMMs back to back
            if target == "all" and B in (64, 256, 2048):
                names.append("sentence")
            t = turns(**{k: (lambda k=k: epoch(k, target, B)) for k in names})
            N, K = sizes[target]
            rows.append(dict(target=target, K=K, B=B, N=N, **t))
            if "sentence" in t:
                sentence.append(dict(B=B, window=t["nerwin"], sentence=t["sentence"],
                                     turns={"window": t["turns"]["nerwin"], "sentence": t["turns"]["sentence"]}))
            print(rows[-1], file=sys.stderr, flush=True)
    context = []
    for B in (64, 256, 2048):                   # a second window layer against one, taking turns
        t = turns(one=lambda: epoch("nerwin", "LOC", B), gemm_one=lambda: epoch("gemm", "LOC", B),
                  two=lambda: epoch("nerwin", "LOC", B, 2), gemm_two=lambda: epoch("gemm", "LOC", B, 2))
        context.append(dict(B=B, N=sizes["LOC"][0], **t))
        print(context[-1], file=sys.stderr, flush=True)
    lost.append(pause_probe())
    for p in procs.values():
        p.stdin.close()
        p.wait()
    import torch
    return dict(threads=threads, kernel=kernel, numpy=np.__version__, torch=torch.__version__, rows=rows,
                sentence=sentence, context=context, env=os.environ.get("OPENBLAS_CORETYPE", "unset"), lost=lost)


def ratio(x: dict, a: str, b: str, i: int = 1) -> float:
    """a's epoch ÷ b's, the median over turns of the ratio within each turn; i: 0 by median
    step, 1 by wall clock."""
    return statistics.median(p[i] / q[i] for p, q in zip(x["turns"][a], x["turns"][b]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runs", type=int, default=1, help="the whole table this many times; > 1 adds the ranges")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--worker", choices=("numpy", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.runs < 1 or a.repeats < 1:
        ap.error("--runs and --repeats must be at least 1")
    if a.worker:
        worker(a.worker, a.threads)
        return
    if a.child:
        print(json.dumps(child(a.repeats)))
        return
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skipped: torch is not installed (pip install -e '.[bench]', which takes torch==2.13.0)")
        return
    settings = (False, True) if "OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ else (True,)
    all_runs = []
    for k in range(a.runs):
        all_runs.append([measure(unset, a.repeats) for unset in settings])   # neither set: one way
        print(f"run {k + 1} of {a.runs} done", file=sys.stderr, flush=True)
    table = tables(all_runs[0], a.repeats)
    print(table)
    ranges = range_table(all_runs, a.repeats) if a.runs > 1 else None
    if ranges:
        print("\n" + ranges)
    if not a.no_docs:
        replace_section("speed", table)
        if ranges:
            replace_section("speed-ranges", ranges)


def measure(unset: bool, repeats: int) -> dict:
    """The whole table once, in a child process, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
    as set here or unset."""
    env = dict(os.environ)
    if unset:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    out = subprocess.run([sys.executable, __file__, "--child", "--repeats", str(repeats)], env=env,
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def env_name(r: dict, ways: int) -> str:
    if r["env"] != "unset":
        return f"as set ({r['env']})"
    return "unset" + ("" if ways > 1 else ", as this machine has it: neither it nor OPENBLAS_L2_SIZE is set here")


def tables(runs: list, repeats: int) -> str:
    """One run's tables, each way the BLAS ran."""
    lines = []
    for r in runs:
        lines += [f"OPENBLAS_CORETYPE {env_name(r, len(runs))}: numpy's BLAS runs {r['kernel']}, {r['threads']} threads. "
                  f"The pause probe lost {r['lost'][0]:.0%} of its wall time before the table and "
                  f"{r['lost'][1]:.0%} after it.", "",
                  "| target | batch | nerwin windows/s, whole epoch | PyTorch dense Adam | PyTorch sparse + SparseAdam | "
                  "nerwin ÷ faster PyTorch, whole epochs | same, by steps × median step | "
                  "nerwin epoch ÷ its bare GEMMs | numpy GEMMs ÷ PyTorch GEMMs |", "|---|---|---|---|---|---|---|---|---|"]
        for x in r["rows"]:
            lines.append(f"| {model_name(x)} | {x['B']} | {x['N'] / x['nerwin'][1]:,.0f} | {x['N'] / x['dense'][1]:,.0f} | "
                         f"{x['N'] / x['sparse'][1]:,.0f} | **{ratio(x, faster(x), 'nerwin'):.2f}×** | "
                         f"{ratio(x, faster(x), 'nerwin', 0):.2f}× | {ratio(x, 'nerwin', 'gemm'):.2f}× | "
                         f"{ratio(x, 'gemm', 'torch_gemm'):.2f}× |")
        lines += ["", "| `--loss sentence` vs `--loss window`, all types, same words per batch | " +
                  " | ".join(f"batch {x['B']}" for x in r["sentence"]) + " |",
                  "|---|" + "---|" * len(r["sentence"]),
                  "| sentence epoch ÷ window epoch, whole epochs | " +
                  " | ".join(f"{ratio(x, 'sentence', 'window'):.2f}×" for x in r["sentence"]) + " |",
                  "| same, by steps × median step | " +
                  " | ".join(f"{ratio(x, 'sentence', 'window', 0):.2f}×" for x in r["sentence"]) + " |", ""]
        c = r["context"]
        lines += ["| binary LOC, taking turns | " + " | ".join(f"batch {x['B']}" for x in c) + " |",
                  "|---|" + "---|" * len(c),
                  "| `--layers 2 --window2 1`: windows/s, whole epoch | " +
                  " | ".join(f"{x['N'] / x['two'][1]:,.0f}" for x in c) + " |",
                  "| `--layers 2`: epoch ÷ its bare GEMMs (both layers' six) | " +
                  " | ".join(f"**{ratio(x, 'two', 'gemm_two'):.2f}×**" for x in c) + " |",
                  "| one layer: epoch ÷ its three | " + " | ".join(f"{ratio(x, 'one', 'gemm_one'):.2f}×" for x in c) + " |",
                  "| two layers' epoch ÷ one layer's | " + " | ".join(f"{ratio(x, 'two', 'one'):.2f}×" for x in c) + " |",
                  ""]
    head = (f"BTC train ({runs[0]['rows'][0]['N']:,} windows), GloVe 50d, w=2, H=100, tanh, Adam, fine-tuned; "
            f"whole epochs, wall clock, median of {repeats}, the set-ups taking turns, each ratio the median of its ratios within a turn (numba's one-time compile left out: a warm-up epoch runs first); numpy {runs[0]['numpy']}, torch {runs[0]['torch']} (CPU); "
            f"`python scripts/bench/bench_speed.py`.")
    return head + "\n\n" + "\n".join(lines).rstrip()


def faster(x: dict) -> str:
    """The faster PyTorch set-up of a row, by wall clock: the one its ratios are read against."""
    return min(("dense", "sparse"), key=lambda k: x[k][1])


def model_name(x: dict) -> str:
    return "binary LOC" if x["K"] == 1 else f"all ({x['K']} classes)"


def range_table(all_runs: list, repeats: int) -> str:
    """Each target's ratio in every run: its range and median, per model and way the BLAS ran."""
    ways = len(all_runs[0])
    cols = [(w, t) for w in range(ways) for t in ("LOC", "all")]

    def cell(values: list) -> str:
        return f"{min(values):.2f}–{max(values):.2f}× (median {statistics.median(values):.2f}×)"

    def row_of(w: int, target: str, B: int, r: list) -> dict:
        return next(x for x in r[w]["rows"] if x["target"] == target and x["B"] == B)

    measures = [
        ("nerwin ÷ faster PyTorch, batch 16", lambda x: ratio(x, faster(x), "nerwin"), 16, ""),
        ("nerwin ÷ faster PyTorch, batch 64", lambda x: ratio(x, faster(x), "nerwin"), 64, "≥ 2.5×"),
        ("nerwin ÷ faster PyTorch, batch 2048", lambda x: ratio(x, faster(x), "nerwin"), 2048, "≥ 1.5×"),
        ("epoch at batch 256 ÷ its bare GEMMs", lambda x: ratio(x, "nerwin", "gemm"), 256, "≤ 2×"),
        ("epoch at batch 2048 ÷ its bare GEMMs", lambda x: ratio(x, "nerwin", "gemm"), 2048, ""),
    ]
    names = [f"{'binary LOC' if t == 'LOC' else 'all types'}, {env_name(all_runs[0][w], ways)}" for w, t in cols]
    lines = [f"Each target over {len(all_runs)} runs of the script, one after another (the tables above are the "
             f"first): the lowest and highest run, and their median. Whole epochs, wall clock, each run's "
             f"ratio the median of {repeats} turns. `python scripts/bench/bench_speed.py --runs {len(all_runs)}`.", "",
             "| whole epochs | " + " | ".join(names) + " | target |", "|---|" + "---|" * (len(cols) + 1)]
    for label, f, B, target in measures:
        lines.append(f"| {label} | " + " | ".join(cell([f(row_of(w, t, B, r)) for r in all_runs]) for w, t in cols)
                     + f" | {target} |")
    one = [cell([ratio(next(x for x in r[w]["context"] if x["B"] == 256), "two", "gemm_two") for r in all_runs])
           if t == "LOC" else "" for w, t in cols]
    lines.append("| `--layers 2` at batch 256 ÷ its six bare GEMMs | " + " | ".join(one) + " | |")
    sent = [cell([ratio(x, "sentence", "window") for r in all_runs for x in r[w]["sentence"]]) if t == "all" else ""
            for w, t in cols]
    lines.append("| `--loss sentence` ÷ `--loss window`, same words per batch, batches 64–2048 | "
                 + " | ".join(sent) + " | |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
