"""What a window cannot see on wikigold: missed entities whose name the same article gave earlier.

Usage: python scripts/studies/articles.py [--seeds 3] [--no-docs]
wikigold is Wikipedia articles, each opened by `-DOCSTART-`; nerwin reads sentences and drops the
article marks. For the default `--target all` model of each seed this tags wikigold test and
counts, over the gold entities it misses (span and type not both found):
- those whose exact string is a gold entity in an earlier sentence of the same article;
- those with a name word that is part of a gold entity earlier in the article ("Smith" after
  "John Smith"); a name word is capitalized and never written in lower case in wikigold train
  (so "The" and "Of" are not);
- the same two, with the model's own correct entities earlier in the article instead of gold:
  what a second pass over the article, reading the first pass's output, could lean on.
and puts the table into docs/results.md (section "articles").
"""
import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIKIGOLD = ROOT.parent / "shared" / "corpora" / "wikigold"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, models
from doc_section import replace_section  # noqa: E402
from models import default_taggers  # noqa: E402


def articles(path: Path) -> list[list[tuple[list[str], list[str]]]]:
    """The file's articles, each a list of (tokens, tags) sentences; tags as the file has them."""
    out, sent = [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        cols = line.split()
        if not cols or cols[0] == "-DOCSTART-":
            if sent:
                out[-1].append(([c[0] for c in sent], [c[-1] for c in sent]))
                sent = []
            if cols:
                out.append([])
            continue
        if not out:
            out.append([])
        sent.append(cols)
    return [a for a in out if a]


def earlier(names: list[set[str]], words: list[set[str]], k: int) -> tuple[set[str], set[str]]:
    """Entity strings and their name words in sentences 0..k-1 of an article."""
    return set().union(*names[:k]), set().union(*words[:k])


def count(tagger, arts, common: set[str]) -> dict[str, int]:
    """common: the words written in lower case in train; their capitalized forms are not name words."""
    from nerwin.text.schemes import spans, to_iob2
    got = {"gold entities": 0, "missed": 0, "same string earlier (gold)": 0, "a name word earlier (gold)": 0,
           "same string earlier (found by the model)": 0, "a name word earlier (found by the model)": 0}
    named = lambda ws: {w for w in ws if w[:1].isupper() and w.lower() not in common}  # noqa: E731
    for art in arts:
        tags = [to_iob2(t) for _, t in art]
        preds = [d.labels for d in tagger.tag_many([toks for toks, _ in art])]
        gold = [{(t, a, b) for t, a, b in spans(g)} for g in tags]
        found = [g & {(t, a, b) for t, a, b in spans(p)} for g, p in zip(gold, preds)]

        def strings(sets):
            names = [{" ".join(toks[a:b]) for _, a, b in s} for (toks, _), s in zip(art, sets)]
            words = [named(w for n in ns for w in n.split()) for ns in names]
            return names, words
        g_names, g_words = strings(gold)
        f_names, f_words = strings(found)
        for k, ((toks, _), g, f) in enumerate(zip(art, gold, found)):
            got["gold entities"] += len(g)
            for _, a, b in g - f:
                name = " ".join(toks[a:b])
                caps = named(toks[a:b])
                got["missed"] += 1
                for who, (names, words) in (("gold", earlier(g_names, g_words, k)),
                                            ("found by the model", earlier(f_names, f_words, k))):
                    got[f"same string earlier ({who})"] += name in names
                    got[f"a name word earlier ({who})"] += bool(caps & words)
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not WIKIGOLD.exists():
        print(f"skipped: {WIKIGOLD} is missing")
        return
    arts = articles(WIKIGOLD / "test.conll")
    common = {w for art in articles(WIKIGOLD / "train.conll") for toks, _ in art for w in toks if w.islower()}
    rows: dict[str, list[int]] = {}
    for tagger in default_taggers(WIKIGOLD, a.seeds):
        for k, v in count(tagger, arts, common).items():
            rows.setdefault(k, []).append(v)
    missed = rows["missed"]

    def cell(v):
        share = [x / m for x, m in zip(v, missed)]
        spread = f" ± {statistics.stdev(v):.1f}" if len(v) > 1 else ""
        return f"{statistics.mean(v):.1f}{spread} | {statistics.mean(share):.0%}"
    table = ["| wikigold test, default `--target all` model | entities | share of the missed |", "|---|---|---|"]
    table += [f"| {k} | {statistics.mean(v):.0f} | |" if k == "gold entities" else f"| {k} | {cell(v)} |"
              for k, v in rows.items()]
    body = (f"{len(arts)} articles in wikigold test.\n\n" + "\n".join(table) +
            f"\n\n{a.seeds} seeds (mean ± sd). A missed entity is a gold span whose span and type the model did "
            "not both find. `python scripts/studies/articles.py`.")
    print(body)
    if not a.no_docs:
        replace_section("articles", body)


if __name__ == "__main__":
    main()
