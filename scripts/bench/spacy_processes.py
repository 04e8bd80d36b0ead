"""nerwin inside spaCy with nlp.pipe(n_process=1) and (n_process=2), in one run, and where the
children's time goes.

Usage: python scripts/bench/spacy_processes.py [--lines 30000] [--runs 3] [--no-docs]
Needs spaCy (`pip install -e '.[spacy]'`) and ../shared/corpora/btc. A sentence-loss model
trained on BTC train (2 epochs) in `spacy.blank("en")`, over the first --lines lines of BTC text
(train, dev and test sentences, repeated), batch_size 256; wall clock of the whole pipe, median
of --runs runs taking turns. Writes the docs section `spacy-processes`.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402
from timing import btc_lines  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=30_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    import spacy                        # finds the "nerwin" factory through nerwin's entry point
    texts = btc_lines(BTC, a.lines * 40)[:a.lines]                # 40 tokens a line is more than enough
    with tempfile.TemporaryDirectory() as d:
        model = Path(d) / "m"
        subprocess.run([sys.executable, "-m", "nerwin", "train", "--train", BTC / "train.conll", "--dev",
                        BTC / "dev.conll", "--target", "all", "--epochs", "2", "--out", model, "-q"], check=True)
        nlp = spacy.blank("en")
        nlp.add_pipe("nerwin", config={"model": str(model)})
        list(nlp.pipe(texts[:100]))
        times = {1: [], 2: []}
        tokens = 0
        for _ in range(a.runs):
            for n in (1, 2):
                t0 = time.perf_counter()
                tokens = sum(len(doc) for doc in nlp.pipe(texts, n_process=n, batch_size=256))
                times[n].append(time.perf_counter() - t0)
    tps = {n: tokens / statistics.median(t) for n, t in times.items()}
    body = "\n".join([
        "| `nlp.pipe` | tokens/s | ÷ one process |", "|---|---|---|",
        f"| `n_process=1` | {tps[1]:,.0f} | 1.00× |",
        f"| `n_process=2` | {tps[2]:,.0f} | **{tps[2] / tps[1]:.2f}×** |", "",
        f"{a.lines:,} lines of BTC text ({tokens:,} spaCy tokens), a sentence-loss model trained on BTC for 2 "
        f"epochs in `spacy.blank(\"en\")`, batch_size 256; wall clock, median of {a.runs} runs taking turns; spaCy "
        f"{spacy.__version__}. `python scripts/bench/spacy_processes.py`."])
    print(body)
    if not a.no_docs:
        replace_section("spacy-processes", body)


if __name__ == "__main__":
    main()
