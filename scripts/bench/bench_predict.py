"""Predict: cold start against `python -c "import numpy"`, and streaming memory on 1M vs 5M tokens.

Usage: python scripts/bench/bench_predict.py [--runs 10] [--passes 9] [--no-docs]
Trains a model on the sample corpus first (default GloVe). The streaming inputs are
made from ../shared/corpora/btc/test.conll tokens when present, else from the sample.
Wall clock is the whole command. Because this VM pauses (scripts/timing.py), the stream's
own rate is also measured in this process: the input is cut into predict's chunks
(tagger.BATCH sentences), `nerwin.apply.predict.predict` runs on each chunk --passes times, and
the fastest pass of each chunk is kept.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402  (scripts/ is on sys.path when run)
from timing import pause_probe, peak_rss, wall  # noqa: E402

NERWIN = Path(sys.executable).with_name("nerwin")


def make_text(path: Path, tokens: list[str], n_tokens: int, rng: random.Random) -> None:
    with open(path, "w", encoding="utf-8") as f:
        done = 0
        while done < n_tokens:
            k = rng.randint(5, 30)
            f.write(" ".join(rng.choice(tokens) for _ in range(k)) + "\n")
            done += k


def stream_rate(model: Path, text: Path, passes: int) -> float:
    """Tokens/s of predict's own loop (read, tokenize, tag, write), each chunk's fastest pass."""
    from nerwin.apply.predict import predict
    from nerwin.apply.tagger import Tagger
    from nerwin.text.corpus import BATCH
    tagger = Tagger.load(model)
    lines = text.read_text(encoding="utf-8").splitlines(keepends=True)
    parts = []
    for i in range(0, len(lines), BATCH):
        parts.append(text.with_name(f"{text.stem}.{i}.txt"))
        parts[-1].write_text("".join(lines[i:i + BATCH]), encoding="utf-8")
    best = [float("inf")] * len(parts)
    with open(os.devnull, "wb") as out:
        for _ in range(passes):
            for j, part in enumerate(parts):
                t0 = time.perf_counter()
                predict(tagger, str(part), out)
                best[j] = min(best[j], time.perf_counter() - t0)
    return sum(len(line.split()) for line in lines) / sum(best)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--passes", type=int, default=9)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    model = tmp / "model"
    all_model = tmp / "all"
    subprocess.run([str(NERWIN), "train", "--out", str(model), "-q"], check=True)
    subprocess.run([str(NERWIN), "train", "--target", "all", "--out", str(all_model), "-q"], check=True)
    sentence = b"The museums in Paris are amazing .\n"
    predict = [str(NERWIN), "predict", "--model", str(model)]
    cmds = {"numpy": [sys.executable, "-c", "import numpy"], "binary": predict,
            "all": [str(NERWIN), "predict", "--model", str(all_model)]}
    for c in cmds.values():                        # warm the page cache (and numba's cache)
        wall(c, sentence)
    t = {k: [] for k in cmds}
    for _ in range(a.runs):                        # interleaved, so drift hits all alike
        for k, c in cmds.items():
            t[k].append(wall(c, sentence))
    med = {k: statistics.median(v) for k, v in t.items()}
    echo = "`echo \"The museums in Paris are amazing .\" \\| nerwin predict --model DIR`"
    cold = ("| command | median wall (s) | ratio |\n|---|---|---|\n"
            f"| `python -c \"import numpy\"` | {med['numpy']:.3f} | 1.00× |\n"
            f"| {echo}, binary LOC model (the default) | {med['binary']:.3f} | **{med['binary'] / med['numpy']:.2f}×** |\n"
            f"| {echo}, all types, sentence loss | {med['all']:.3f} | "
            f"{med['all'] / med['numpy']:.2f}× |\n\n"
            f"Median of {a.runs} interleaved runs each; target ≤ 4× for the default model. "
            "`python scripts/bench/bench_predict.py`.")
    print(cold, flush=True)

    from nerwin.text.corpus import read_conll
    btc = ROOT.parent / "shared" / "corpora" / "btc" / "test.conll"
    src = btc if btc.exists() else ROOT / "nerwin" / "sample" / "test.conll"
    tokens = [t for s in read_conll(src) for t in s.tokens if t]
    rss = {}
    rows = ["| model | input | tokens | peak RSS (MB) | wall (s) | tokens/s, wall | tokens/s, the stream's fastest "
            "passes |", "|---|---|---|---|---|---|---|"]
    lost = [pause_probe()]
    for name, m, n in (("binary LOC", model, 1_000_000), ("binary LOC", model, 5_000_000),
                       ("all types, sentence loss (Viterbi), characters", all_model, 1_000_000)):
        cmd = [str(NERWIN), "predict", "--model", str(m)]
        f = tmp / f"in{n}.txt"
        if not f.exists():
            make_text(f, tokens, n, random.Random(n))
        mb, secs = peak_rss(cmd + [str(f)])
        if name == "binary LOC":
            rss[n] = mb
        rate = f"**{stream_rate(m, f, a.passes):,.0f}**" if n == 1_000_000 else "–"
        rows.append(f"| {name} | {f.stat().st_size / 1e6:.0f} MB of text ({src.parent.name} tokens) | {n:,} | "
                    f"{mb:.0f} | {secs:.1f} | {n / secs:,.0f} | {rate} |")
        print(rows[-1], flush=True)
    lost.append(pause_probe())
    stream = "\n".join(rows) + (f"\n\nPeak RSS at 5M tokens is {rss[5_000_000] / rss[1_000_000]:.3f}× that at 1M "
                                f"(target: within 10%). The pause probe lost {lost[0]:.0%} of its wall time before "
                                f"these runs and {lost[1]:.0%} after them; the last column keeps each chunk's fastest "
                                f"of {a.passes} passes. `python scripts/bench/bench_predict.py`.")
    print(stream)
    if not a.no_docs:
        replace_section("coldstart", cold)
        replace_section("stream", stream)


if __name__ == "__main__":
    main()
