"""nerwin inside spaCy, against spaCy's own NER trained on the same corpus, in one run.

Usage: python scripts/bench/bench_spacy.py [--corpus btc] [--runs 3] [--work DIR] [--no-docs]
Needs spaCy (`pip install -e '.[spacy]'`) and ../shared/corpora/. Both systems train on the same
train and dev files and are scored on the same test file, on its gold tokens, with nerwin's
span-exact entity F1 (checked against seqeval in tests/test_entity_metrics.py):
- nerwin: `nerwin train --target all`, defaults otherwise (GloVe 6B 50d);
- spaCy: `spacy init config --pipeline ner --optimize efficiency`, with the same GloVe 6B 50d
  vectors as static vectors (looked up by the lower-cased word, as GloVe is), `spacy train`
  with its defaults (patience 1600 steps, at most 20,000).
A DocBin cannot hold an empty token, so the lines whose token is empty
are dropped from all three files for both systems (BTC: 7 empty or blank, all O). Train times are whole processes, wall clock,
one run each; tokens/s are nlp.pipe or tag_many over the test sentences as text, the median of
--runs runs taking turns, each counted in the tokens that path produced.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402


ALONE = "Tagger.tag_many (nerwin's tokenizer)"


def without_empty_tokens(src: Path, dest: Path) -> int:
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for ln in lines if not (ln.strip() and not ln.split("\t")[0].strip())]
    dest.write_text("".join(kept), encoding="utf-8")
    return len(lines) - len(kept)


def spacy_vectors(out: Path) -> None:
    """GloVe 6B 50d from nerwin's cache as a spaCy pipeline's vectors, keyed by LOWER."""
    import spacy
    from spacy.vectors import Vectors
    from nerwin.vectors import open_store
    store, _ = open_store(None)
    words, matrix = store.top(len(store.vectors))
    nlp = spacy.blank("en")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=matrix, keys=[nlp.vocab.strings.add(w) for w in words],
                                attr="LOWER")
    nlp.to_disk(out)


def spacy_config(path: Path) -> None:
    subprocess.run([sys.executable, "-m", "spacy", "init", "config", str(path), "--lang", "en", "--pipeline", "ner",
                    "--optimize", "efficiency", "--force"], check=True, capture_output=True)
    text = path.read_text()
    assert "include_static_vectors = false" in text
    path.write_text(text.replace("include_static_vectors = false", "include_static_vectors = true"))


def timed(cmd: list, log: Path) -> float:
    """Wall clock of a whole process; what it printed goes to log."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        subprocess.run([str(c) for c in cmd], check=True, stdout=f, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0


def train(work: Path) -> dict:
    """Both systems on the same files; whole processes, wall clock."""
    return {
        "nerwin": timed([sys.executable, "-m", "nerwin", "train", "--train", work / "train.conll", "--dev",
                         work / "dev.conll", "--target", "all", "--out", work / "nerwin"], work / "nerwin.log"),
        "spaCy": timed([sys.executable, "-m", "spacy", "train", work / "ner.cfg", "--output", work / "spacy",
                        "--paths.train", work / "train.spacy", "--paths.dev", work / "dev.spacy",
                        "--paths.vectors", work / "vectors"], work / "spacy.log"),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="btc")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", type=Path, help="keep the data and both models here (default: a temporary folder)")
    ap.add_argument("--reuse", action="store_true", help="with --work: keep the models and train times found there")
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    src = CORPORA / a.corpus
    if not (src / "train.conll").exists():
        print(f"skipped: {src} is missing")
        return
    import spacy
    from spacy.tokens import Doc
    import nerwin
    from nerwin.text.corpus import read_conll
    from nerwin.text.docbin import tags_of
    from nerwin.text.metrics import entity_prf

    work = a.work or Path(tempfile.mkdtemp(prefix="bench_spacy."))
    work.mkdir(parents=True, exist_ok=True)
    dropped = 0
    for part in ("train", "dev", "test"):
        dropped += without_empty_tokens(src / f"{part}.conll", work / f"{part}.conll")
        subprocess.run([sys.executable, "-m", "nerwin", "convert", work / f"{part}.conll", work / f"{part}.spacy"],
                       check=True, capture_output=True)
    spacy_vectors(work / "vectors")
    spacy_config(work / "ner.cfg")

    times = work / "train_seconds.json"
    reused = a.reuse and times.exists()
    if reused:
        train_s = json.loads(times.read_text())
    else:
        train_s = train(work)
        times.write_text(json.dumps(train_s))

    progress = [ln.split() for ln in (work / "spacy.log").read_text().splitlines() if ln.strip()[:1].isdigit()]
    epochs, steps = (int(progress[-1][0]) + 1, int(progress[-1][1])) if progress else (0, 0)
    test = read_conll(work / "test.conll")
    gold = [s.tags for s in test]
    texts = [" ".join(s.tokens) for s in test]
    tagger = nerwin.load(work / "nerwin")
    ner = spacy.load(work / "spacy" / "model-best")
    blank, with_nerwin = spacy.blank("en"), spacy.blank("en")
    with_nerwin.add_pipe("nerwin", config={"model": str(work / "nerwin")})

    f1 = {"nerwin": tagger.evaluate(work / "test.conll")["f1"],
          "spaCy": entity_prf(gold, [tags_of(d)[1] for d in ner.pipe(Doc(ner.vocab, words=s.tokens) for s in test)])["f1"]}

    paths = {
        ALONE: lambda: sum(len(d.tokens) for d in tagger.tag_many(texts)),
        "nlp.pipe, spacy.blank + nerwin": lambda: sum(len(d) for d in with_nerwin.pipe(texts, batch_size=1000)),
        "nlp.pipe, spaCy NER (efficiency)": lambda: sum(len(d) for d in ner.pipe(texts, batch_size=1000)),
        "nlp.pipe, spacy.blank (tokenizer only)": lambda: sum(len(d) for d in blank.pipe(texts, batch_size=1000)),
    }
    speed = {k: [] for k in paths}
    for _ in range(a.runs):
        for k, f in paths.items():
            t0 = time.perf_counter()
            n = f()
            speed[k].append(n / (time.perf_counter() - t0))
    rate = {k: statistics.median(v) for k, v in speed.items()}
    ref = rate["nlp.pipe, spaCy NER (efficiency)"]

    rows = ["| | train (s, whole process) | test entity F1 |", "|---|---|---|",
            f"| nerwin, `--target all` | {train_s['nerwin']:.0f} | **{f1['nerwin']:.3f}** |",
            f"| spaCy NER, efficiency config + GloVe 6B 50d | {train_s['spaCy']:.0f} | **{f1['spaCy']:.3f}** |",
            "", "| tagging the test set as text | tokens/s | ÷ spaCy NER |", "|---|---|---|"]
    rows += [f"| {k} | {v:,.0f} | {v / ref:.2f}× |" for k, v in rate.items()]
    n_tok = sum(len(s.tokens) for s in test)
    inside = rate["nlp.pipe, spacy.blank + nerwin"]
    table = "\n".join(rows) + (
        f"\n\nnerwin trains in {train_s['nerwin'] / train_s['spaCy']:.0%} of spaCy's time and scores "
        f"{f1['nerwin'] - f1['spaCy']:+.3f} F1. Inside spaCy the component tags at "
        f"{inside / rate[ALONE]:.0%} of the Tagger's own speed, "
        f"{inside / ref:.1f}× spaCy's NER."
        f"\n\n{a.corpus} train, dev and test ({len(test):,} sentences, {n_tok:,} tokens; {dropped} empty-token "
        f"lines dropped), spaCy {spacy.__version__}, numpy {np.__version__}, 2 cores; train: one run each{' (an earlier run of this script, whose models these are)' if reused else ''}, "
        f"spaCy stopping at step {steps:,} (epoch {epochs}) by its patience or its 20,000-step cap; "
        f"tokens/s: median of {a.runs} runs taking turns. `python scripts/bench/bench_spacy.py`.")
    print(table)
    if not a.no_docs:
        replace_section("spacy-bench", table)


if __name__ == "__main__":
    main()
