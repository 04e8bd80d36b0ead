"""Whole training epochs of this checkout against an earlier commit's code, in one process.

Usage: python scripts/bench/speed_before.py --rev REV [--batch 64 256 2048] [--targets LOC all] [--turns 11]
       [--set NAME=VALUE ...] [--no-docs]
Needs ../shared/corpora/btc. REV's `nerwin` package is unpacked (`git archive`) into a temporary
folder as `nerwin_before`, its imports renamed, so that both codes load side by side. Each
trains bench_speed's model (GloVe 50d, w=2, H=100, Adam, no casing, window loss; binary LOC and
all types; --set changes its settings, e.g. casing=5 chars=-1, a user's defaults) from its own
copy of the same initial weights. Their epochs alternate, which code
goes first alternating too, so that this machine's slow spells, which last longer than an
epoch, fall on both. An epoch's time is its steps x its median step; each figure is the median
over --turns pairs of this code's epoch ÷ REV's. The same ratio by wall clock (the whole call of
fit: its set-up and shuffle too) stands beside it. Writes the docs section `speed-before`.
"""
import argparse
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc" / "train.conll"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402
from models import speed_model  # noqa: E402
from timing import pause_probe  # noqa: E402


def unpack(rev: str, into: Path) -> str:
    """REV's nerwin/ as into/nerwin_before, every `nerwin.` and `import nerwin` renamed."""
    tar = subprocess.run(["git", "archive", rev, "nerwin"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    pkg = into / "nerwin_before"
    (into / "nerwin").rename(pkg)
    for f in pkg.rglob("*.py"):
        f.write_text(re.sub(r"\bnerwin(?=\.|\s+import|$)", "nerwin_before", f.read_text(), flags=re.M))
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()


def setting(text: str) -> tuple[str, object]:
    """NAME=VALUE -> (name, value), the value an int or a float where it reads as one."""
    name, eq, value = text.partition("=")
    if not eq or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    for kind in (int, float):
        try:
            return name, kind(value)
        except ValueError:
            pass
    return name, value


def trainer(pkg: str, target: str, batch: int, more: dict):
    """-> epoch(): one epoch of `pkg`'s fit from the same initial weights -> (steps x median step,
    fit's wall clock)."""
    loop = __import__(f"{pkg}.training.loop", fromlist=["_"])
    model, train, s = speed_model(BTC, target, batch, package=pkg, **more)

    def epoch() -> tuple[float, float]:
        m = model.with_weights({k: v.copy() for k, v in model.params.items()}, model.E.copy())
        t0 = time.perf_counter()
        steps = loop.fit(loop.Run(), m, train, s).step_seconds
        return len(steps) * statistics.median(steps), time.perf_counter() - t0
    return epoch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", required=True)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256, 2048])
    ap.add_argument("--turns", type=int, default=11)
    ap.add_argument("--targets", nargs="+", default=["LOC", "all"])
    ap.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE", type=setting,
                    help="settings on top of bench_speed's model, e.g. casing=5 chars=-1 (a user's defaults)")
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    more = dict(a.set)
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    lost = [pause_probe()]
    cols = {}
    with tempfile.TemporaryDirectory() as d:
        rev = unpack(a.rev, Path(d))
        sys.path.insert(0, d)
        for target in a.targets:
            for b in a.batch:
                run = {"now": trainer("nerwin", target, b, more), "before": trainer("nerwin_before", target, b, more)}
                for f in run.values():
                    f()                          # numba loads (REV's: compiles) its loops; not timed
                ratios = []
                for i in range(a.turns):
                    order = ("now", "before") if i % 2 else ("before", "now")
                    t = {k: run[k]() for k in order}
                    ratios.append([t["now"][j] / t["before"][j] for j in (0, 1)])
                cols[target, b] = [(statistics.median(r), min(r), max(r)) for r in zip(*ratios)]
                print(target, b, [f"{r:.3f}/{w:.3f}" for r, w in ratios], flush=True)
    lost.append(pause_probe())
    table = "\n".join(
        [f"| this code's epoch ÷ `{rev}`'s | " + " | ".join(f"batch {b}" for b in a.batch) + " |",
         "|---|" + "---|" * len(a.batch)] +
        [f"| {name}, {how} | " + " | ".join("**{:.2f}×** ({:.2f}–{:.2f})".format(*cols[target, b][j])
                                            for b in a.batch) + " |"
         for target, name in (("LOC", "binary LOC"), ("all", "all types (softmax, K = 7)")) if target in a.targets
         for j, how in enumerate(("steps × median step", "wall clock"))])
    given = [f"{k}={v}" for k, v in a.set]
    with_set = f" with {', '.join(given)}" if given else ""
    table += (f"\n\nBTC train, bench_speed's model{with_set}; both codes in one process, their epochs taking turns; "
              f"median (and range) of {a.turns} pairs' ratios; an epoch is its steps × its median step, or the wall "
              f"clock of fit (its set-up and shuffle too). The pause probe lost "
              f"{lost[0]:.0%} of its wall time before and {lost[1]:.0%} after. "
              f"`python scripts/bench/speed_before.py --rev {a.rev} --turns {a.turns}"
              + (" --set " + " ".join(given) if given else "") + "`.")
    print(table)
    if not a.no_docs:
        replace_section("speed-before", table)


if __name__ == "__main__":
    main()
