"""BTC's @-mentions, counted both ways, and tweets as users type them.

Usage: python scripts/studies/mentions.py [--seeds 3] [--no-docs]
BTC splits `@name` into `@` and `name` and labels the lone `@` as an entity of its own (the
script counts them). For the default `--target all` model of each seed this prints:
- test F1 on the corpus's own tokens, every entity counted (the headline);
- the same without the lone-@ entities, in gold and in the predictions;
- raw tweets: each `@ name` pair of the test set joined back into `@name`, the sentence given as
  one string to `Tagger.tag`, and entities matched by their character spans in that string:
  with the tokenizer as the model learned it from train (BTC: split), and with @mentions kept
  whole (nerwin 0.3's tokenizer).
and puts the table into docs/results.md (section "mentions").
"""
import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402
from models import default_taggers  # noqa: E402


def f1(gold: set, pred: set) -> float:
    tp = len(gold & pred)
    p = tp / len(pred) if pred else 0.0
    r = tp / len(gold) if gold else 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


def raw(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The tweet as typed: `@ name` joined; -> the text and each gold token's character span."""
    text, spans, i = "", [], 0
    while i < len(tokens):
        glue = i > 0 and tokens[i - 1] == "@" and tokens[i][:1].isalnum()
        if text and not glue:
            text += " "
        spans.append((len(text), len(text) + len(tokens[i])))
        text += tokens[i]
        i += 1
    return text, spans


def scores(tagger, sents) -> dict[str, float]:
    from nerwin.apply.doc import align
    from nerwin.text.schemes import spans
    gold_all, pred_all, gold_no, pred_no = set(), set(), set(), set()
    docs = tagger.tag_read([s.tokens for s in sents])
    for k, (s, doc) in enumerate(zip(sents, docs)):
        for t, a, b in spans(s.tags):
            gold_all.add((k, t, a, b))
            if s.tokens[a:b] != ["@"]:
                gold_no.add((k, t, a, b))
        for e in doc.entities:
            pred_all.add((k, e.type, e.start, e.end))
            if doc.tokens[e.start:e.end] != ["@"]:
                pred_no.add((k, e.type, e.start, e.end))
    out = {"corpus tokens, every entity (the headline)": f1(gold_all, pred_all),
           "corpus tokens, without the lone-@ entities": f1(gold_no, pred_no)}
    for style in ("split", "whole"):
        tagger.model.mentions = style
        gold, pred = set(), set()
        for k, s in enumerate(sents):
            text, where = raw(s.tokens)
            for t, a, b in spans(s.tags):
                gold.add((k, t, where[a][0], where[b - 1][1]))
            doc = tagger.tag(text)
            at = align(text, doc.tokens)
            for e in doc.entities:
                pred.add((k, e.type, at[e.start][0], at[e.end - 1][1]))
        out[f"raw tweets, @mentions {'split as BTC does' if style == 'split' else 'kept whole'}"] = f1(gold, pred)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not BTC.exists():
        print(f"skipped: {BTC} is missing")
        return
    from nerwin.text.corpus import read_conll
    sents = [s for s in read_conll(BTC / "test.conll") if s.tokens]
    rows: dict[str, list[float]] = {}
    learned = None
    for tagger in default_taggers(BTC, a.seeds):
        learned = tagger.model.mentions
        for k, v in scores(tagger, sents).items():
            rows.setdefault(k, []).append(v)
    from nerwin.text.schemes import spans
    gold = [(s, a, b) for s in sents for _, a, b in spans(s.tags)]
    lone = sum(s.tokens[a:b] == ["@"] for s, a, b in gold)
    table = ["| BTC test | entity F1 (micro) |", "|---|---|"] + [
        f"| {k} | {statistics.mean(v):.3f} ± {statistics.stdev(v):.3f} |" if len(v) > 1 else f"| {k} | {v[0]:.3f} |"
        for k, v in rows.items()]
    print("\n".join(table))
    print(f"mentions learned from BTC train: {learned}")
    if not a.no_docs:
        replace_section("mentions", f"{lone:,} of BTC test's {len(gold):,} entities are a lone `@`.\n\n"
                        + "\n".join(table) + f"\n\n{a.seeds} seeds (mean ± sd), the default `--target all` "
                        f"model; the tokenizer style learned from BTC train: `{learned}`. These models train on all "
                        "of BLAS's threads; `benchmark_quality.py --jobs 2` trains two at a time on one thread each, "
                        "which rounds differently, so the same seeds give models within each other's spread, not "
                        "the same ones. `python scripts/studies/mentions.py`.")


if __name__ == "__main__":
    main()
