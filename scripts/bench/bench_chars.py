"""What the character CNN costs: training epochs, predict throughput, model size and cold start,
the default model against the same settings with `--chars 0`, measured in the same run.

Usage: python scripts/bench/bench_chars.py [--repeats 3] [--tokens 300000] [--no-docs]
Needs ../shared/corpora/btc. Epochs: BTC train, --target all (the sentence loss), whole epochs
wall clock in this process after a warm-up epoch (numba's compile left out), the two set-ups
taking turns, median of --repeats. Predict: the whole `nerwin predict --model M FILE` process on
--tokens tokens of BTC text, median of --repeats. Cold start: `echo ... | nerwin predict`, median
of 10, against `python -c "import numpy"`. Model size: model.npz trained on BTC train and dev.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section
from timing import btc_lines, pause_probe, wall

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"
NERWIN = Path(sys.executable).with_name("nerwin")
SENTENCE = b"The museums in Paris are amazing .\n"


def epochs(repeats: int) -> dict:
    """{(batch, chars): [seconds of each whole epoch]}."""
    from nerwin.settings import Settings
    from nerwin.training.data import prepare
    from nerwin.training.loop import Run, fit
    from nerwin.vectors import open_store
    store, _ = open_store(None)
    out = {}
    for B in (64, 2048):
        setups = {}
        for chars in (True, False):
            s = Settings.of(target="all", batch_size=B, epochs=1)
            s = s if chars else replace(s, chars=0)
            m, tr, _, _ = prepare(BTC / "train.conll", None, store, s)
            setups[chars] = (m, tr, m.settings)
            fit(Run(), fresh(m), tr, m.settings)      # warm-up
        for _ in range(repeats):
            for chars, (m, tr, s) in setups.items():
                t0 = time.perf_counter()
                fit(Run(), fresh(m), tr, s)
                out.setdefault((B, chars), []).append(time.perf_counter() - t0)
    return out


def fresh(m):
    """The model as initialized, in arrays of its own: every timed epoch starts from the same point."""
    return m.with_weights({k: v.copy() for k, v in m.params.items()}, m.E.copy())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=300_000)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    tmp = Path(tempfile.mkdtemp())
    lost = [pause_probe()]
    models = {}
    for chars in (True, False):
        models[chars] = tmp / ("chars" if chars else "nochars")
        subprocess.run([str(NERWIN), "train", "--train", BTC / "train.conll", "--dev", BTC / "dev.conll",
                        "--target", "all", "--out", models[chars], "-q", *([] if chars else ["--chars", "0"])],
                       check=True)
    text = tmp / "btc.txt"
    lines = btc_lines(BTC, a.tokens)
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    n_tokens = sum(len(x.split()) for x in lines)
    pred = {c: [] for c in models}
    cold = {"numpy": [], True: [], False: []}
    for c, m in models.items():                     # warm the page cache
        wall([NERWIN, "predict", "--model", m, text])
    for _ in range(a.repeats):
        for c, m in models.items():
            pred[c].append(wall([NERWIN, "predict", "--model", m, text]))
    for _ in range(10):
        cold["numpy"].append(wall([sys.executable, "-c", "import numpy"]))
        for c, m in models.items():
            cold[c].append(wall([NERWIN, "predict", "--model", m], SENTENCE))
    ep = epochs(a.repeats)
    lost.append(pause_probe())
    med = statistics.median
    size = {c: (m / "model.npz").stat().st_size / 1e6 for c, m in models.items()}
    rows = ["| `--target all` | characters (the defaults) | `--chars 0` | ratio | budget |", "|---|---|---|---|---|"]
    for B in (64, 2048):
        on, off = med(ep[B, True]), med(ep[B, False])
        rows.append(f"| training epoch, BTC train, batch {B} (s) | {on:.2f} | {off:.2f} | **{on / off:.2f}×** | ≤ 2× |")
    on, off = n_tokens / med(pred[True]), n_tokens / med(pred[False])
    rows.append(f"| `nerwin predict`, whole process, {n_tokens:,} tokens (tokens/s) | {on:,.0f} | {off:,.0f} | "
                f"**{on / off:.2f}×** | ≥ 0.5× |")
    rows.append(f"| model.npz (MB) | {size[True]:.1f} | {size[False]:.1f} | {size[True] / size[False]:.2f}× | "
                f"< 10 MB |")
    npy = med(cold["numpy"])
    rows.append(f"| cold start: one sentence piped to `nerwin predict` (s) | {med(cold[True]):.3f} "
                f"({med(cold[True]) / npy:.1f}× import numpy) | {med(cold[False]):.3f} "
                f"({med(cold[False]) / npy:.1f}×) | {med(cold[True]) / med(cold[False]):.2f}× | ≤ 4× import numpy |")
    table = "\n".join(rows) + (
        f"\n\nMedians of {a.repeats} (cold start: 10) runs taking turns; `python -c \"import numpy\"` took "
        f"{npy:.3f} s. The pause probe lost {lost[0]:.0%} of its wall time before and {lost[1]:.0%} after. "
        "`python scripts/bench/bench_chars.py`.")
    print(table)
    if not a.no_docs:
        replace_section("chars-cost", table)


if __name__ == "__main__":
    main()
