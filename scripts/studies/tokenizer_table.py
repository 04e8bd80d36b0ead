"""How well nerwin's plain-text tokenizer reproduces gold tokens, and the OOV rate of its tokens.

For each gold sentence of BTC and WNUT-17 test: join the tokens with single spaces, tokenize,
and compare with the gold tokens. OOV: share of tokens that are in GloVe 6B neither as they
are nor lowercased. Writes the docs section `tokenizer`. Run: python scripts/studies/tokenizer_table.py
"""
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

from nerwin.text.corpus import read_conll  # noqa: E402
from nerwin.text.tokenize import tokenize  # noqa: E402
from nerwin.vectors import open_store  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"


def main() -> None:
    store, _ = open_store(None)
    rows = ["| corpus | sentences | tokens equal to gold | OOV rate vs GloVe 6B (tokenizer's tokens) | "
            "OOV rate (gold tokens) |", "|---|---|---|---|---|"]
    for name in ("btc", "wnut17"):
        sents = read_conll(CORPORA / name / "test.conll")
        same, misses, got_all, gold_all, glued = 0, Counter(), [], [], 0
        for s in sents:
            gold = [t for t in s.tokens if t.strip()]
            got = tokenize(" ".join(gold))
            same += got == gold
            got_all += got
            gold_all += gold
            if got != gold:
                misses.update(t for t in gold if tokenize(t) != [t])
                glued += any(re.fullmatch(r"#\w+[^\w\s]+", t) for t in gold)
        def oov(toks):
            vocab = {w.lower() for w in toks} | set(toks)
            found = store.lookup(vocab)
            return sum(t not in found and t.lower() not in found for t in toks) / len(toks)
        rows.append(f"| {name} test | {len(sents):,} | **{same / len(sents):.1%}** ({(same + glued) / len(sents):.1%} "
                    f"without {glued} glued hashtags) | {oov(got_all):.1%} | {oov(gold_all):.1%} |")
        print(name, same / len(sents), misses.most_common(25))
    body = "\n".join(rows) + ("\n\nEach gold sentence's tokens joined with single spaces, then tokenized; target ≥ 99%."
                              " A glued hashtag is a gold token like `#Ukraine.` or `#live,`: BTC's own tokenizer"
                              " kept the punctuation on the hashtag, which nerwin splits off (a hashtag stays whole,"
                              " its sentence's full stop is a token). `python scripts/studies/tokenizer_table.py`.")
    replace_section("tokenizer", body)
    print(body)


if __name__ == "__main__":
    main()
