"""This VM's two speeds: the same epoch and its bare GEMMs, turn after turn for minutes, split
into the turns where the bare GEMMs ran fast and those where they ran slow, with each piece of
the step timed where it runs.

Usage: python scripts/bench/two_speeds.py [--batch 256] [--target LOC|all] [--minutes 5] [--no-docs]
Needs ../shared/corpora/btc. bench_speed.py's set-up: binary LOC, GloVe 50d, w=2, H=100, no
casing, window loss, Adam. Each turn runs, one after another: the three bare GEMMs of an epoch
(numpy's BLAS threads), a nerwin epoch, a nerwin epoch with its pieces timed (a wrapper around
each costs well under a microsecond), then a nerwin epoch and the bare GEMMs at one BLAS thread.
The turns are split in two by their bare GEMMs' epoch (two means in one dimension), once turns
whose bare GEMMs took over twice the median (a pause of the VM) are left out; each
figure is the median over the turns of a group, each ratio the median of its turns' ratios.
"""
import argparse
import statistics
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
sys.path.insert(0, str(Path(__file__).resolve().parent))     # bench_speed's epochs
from bench_speed import blas_info, gemm_epoch, nerwin_epoch  # noqa: E402
from doc_section import replace_section  # noqa: E402
from models import speed_model  # noqa: E402
from timing import pause_probe  # noqa: E402

PIECES = [  # (label, module, attribute): each timed at its call in the step
    ("the three GEMMs (z = Wx + b, dW = δxᵀ, δ_window = Wᵀδ)", "nerwin.nn.network", "affine_forward"),
    ("the three GEMMs (z = Wx + b, dW = δxᵀ, δ_window = Wᵀδ)", "nerwin.nn.network", "affine_backward"),
    ("Adam on W, b, u and c", "nerwin.nn.optim", "Optimizer._dense_step"),
    ("Adam on the touched rows of E", "nerwin.nn.optim", "Optimizer._step"),
    ("the head: s, J, s̄, its weights' gradients, h̄", "nerwin.nn.heads", "Head.loss"),
    ("the head: s, J, s̄, its weights' gradients, h̄", "nerwin.nn.heads", "BinaryHead.loss"),
    ("tanh and its backward", "nerwin.nn.network", "act_forward"),
    ("tanh and its backward", "nerwin.nn.network", "act_backward"),
    ("gather x = E[ids]", "nerwin.nn.network", "embed_forward"),
    ("δ_window's word slots summed into rows", "nerwin.nn.network", "embed_backward"),
]
REST = "the rest: batching, the L2 term, Python"


@contextmanager
def timed_pieces(acc: dict):
    """Wrap each piece so that its time adds into acc[label]; unwrapped on leaving."""
    import importlib
    undo = []
    for label, module, attr in PIECES:
        owner = importlib.import_module(module)
        *path, name = attr.split(".")
        for p in path:
            owner = getattr(owner, p)
        if name not in vars(owner):             # inherited: its owner's wrapper times it
            continue
        f = getattr(owner, name)

        def g(*a, _f=f, _label=label, **k):
            t = time.perf_counter()
            r = _f(*a, **k)
            acc[_label] += time.perf_counter() - t
            return r
        undo.append((owner, name, f))
        setattr(owner, name, g)
    try:
        yield
    finally:
        for owner, name, f in reversed(undo):
            setattr(owner, name, f)


def two_means(values: list) -> float:
    """The threshold between two groups of 1-D values (Lloyd's iterations from the extremes)."""
    lo, hi = min(values), max(values)
    for _ in range(50):
        cut = (lo + hi) / 2
        a, b = [v for v in values if v <= cut], [v for v in values if v > cut]
        if not a or not b:
            return cut
        lo, hi = statistics.mean(a), statistics.mean(b)
    return (lo + hi) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--target", default="LOC", help="LOC: the binary head; all: the softmax head (window loss)")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    from threadpoolctl import threadpool_limits
    threads = blas_info()[0]
    m0, tr, s = speed_model(BTC, a.target, a.batch)
    N, B, D, H = len(tr.y), s.batch_size, m0.input_width, s.hidden
    steps = (N + B - 1) // B
    nerwin_epoch(m0, tr, s)                     # numba loads its loops: not timed
    lost = [pause_probe()]
    turns, end = [], time.time() + 60 * a.minutes
    while not turns or time.time() < end:
        t = {"gemm": gemm_epoch(N, B, D, H)[1], "nerwin": nerwin_epoch(m0, tr, s)[1]}
        acc = defaultdict(float)
        with timed_pieces(acc):
            whole = nerwin_epoch(m0, tr, s)[1]
        t["pieces"] = {label: acc[label] / steps * 1e6 for label, _, _ in PIECES}
        t["pieces"][REST] = whole / steps * 1e6 - sum(t["pieces"].values())
        with threadpool_limits(1, user_api="blas"):
            t["nerwin1"], t["gemm1"] = nerwin_epoch(m0, tr, s)[1], gemm_epoch(N, B, D, H)[1]
        turns.append(t)
        print({k: v for k, v in t.items() if k != "pieces"}, file=sys.stderr, flush=True)
    lost.append(pause_probe())
    typical = statistics.median(t["gemm"] for t in turns)
    paused = [t for t in turns if t["gemm"] > 2 * typical]     # a VM pause, not a spell: it would be a group alone
    turns = [t for t in turns if t["gemm"] <= 2 * typical]
    cut = two_means([t["gemm"] for t in turns])
    groups = {"fast": [t for t in turns if t["gemm"] <= cut], "slow": [t for t in turns if t["gemm"] > cut]}
    if min(map(len, groups.values())) < 3 or (statistics.median(t["gemm"] for t in groups["slow"])
                                              < 1.1 * statistics.median(t["gemm"] for t in groups["fast"])):
        groups = {"all": turns}                 # one speed during this run: no split
    cols = list(groups)
    med = lambda g, f: statistics.median(f(t) for t in groups[g])  # noqa: E731
    rows = [f"| batch {B}, {'binary LOC' if a.target == 'LOC' else 'all types, softmax'} | " + " | ".join(f"{c} turns" for c in cols) + " |", "|---" * (len(cols) + 1) + "|",
            "| turns | " + " | ".join(str(len(groups[c])) for c in cols) + " |"]
    for label, f, fmt in [
        (f"bare GEMMs' epoch, {threads} BLAS threads (s)", lambda t: t["gemm"], "{:.3f}"),
        (f"nerwin's epoch, {threads} BLAS threads (s)", lambda t: t["nerwin"], "{:.3f}"),
        ("**nerwin's epoch ÷ its bare GEMMs**", lambda t: t["nerwin"] / t["gemm"], "**{:.2f}×**"),
        ("nerwin's epoch, one BLAS thread (s)", lambda t: t["nerwin1"], "{:.3f}"),
        ("bare GEMMs' epoch, one BLAS thread (s)", lambda t: t["gemm1"], "{:.3f}"),
        (f"nerwin at one BLAS thread ÷ at {threads}", lambda t: t["nerwin1"] / t["nerwin"], "{:.2f}×")]:
        rows.append(f"| {label} | " + " | ".join(fmt.format(med(c, f)) for c in cols) + " |")
    for label in dict.fromkeys([p[0] for p in PIECES] + [REST]):
        rows.append(f"| µs a step: {label} | " + " | ".join(f"{med(c, lambda t: t['pieces'][label]):.0f}"
                                                             for c in cols) + " |")
    table = "\n".join(rows) + (
        f"\n\n{len(turns)} turns in {a.minutes:g} minutes"
        + (f" ({len(paused)} more left out, their bare GEMMs' epoch over twice the median: a pause)" if paused else "")
        + ", split where the bare GEMMs' epoch is "
        f"{cut:.3f} s; each figure the median over a group's turns, each ratio the median of its turns' ratios. "
        f"The pause probe lost {lost[0]:.0%} of its wall time before and {lost[1]:.0%} after. "
        f"`python scripts/bench/two_speeds.py" + (" --target all" if a.target != "LOC" else "") + "`.")
    print(table)
    if not a.no_docs:
        replace_section("two-speeds" if a.target == "LOC" else "two-speeds-all", table)


if __name__ == "__main__":
    main()
