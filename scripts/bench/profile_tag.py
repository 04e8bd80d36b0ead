"""Where a `tag()` call's time goes, for a binary and a sentence-loss model: cProfile over 2,000 BTC
test sentences the models have not seen, one call each, grouped by job. Writes the docs section
`tag-profile`.

    python scripts/bench/profile_tag.py
"""
import cProfile
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"


def jobs(stats) -> dict[str, float]:
    """Seconds of each job, without overlap: cumulative times of nerwin's functions, less the
    ones they call."""
    cum = {}
    for (f, _, fn), v in stats.items():
        if "nerwin" in f:
            key = (Path(f).name, fn)
            cum[key] = cum.get(key, 0.0) + v[3]
    c = lambda f, fn: cum.get((f, fn), 0.0)  # noqa: E731
    total = c("tagger.py", "tag")
    vit, fb = c("schemes.py", "viterbi_batch"), c("crf.py", "forward_backward")
    return {"tokenizer": c("tokenize.py", "tokenize"),
            "vocabulary: rows of unseen words": c("lexicon.py", "ids"),
            "window and shape matrices": c("tagger.py", "windows") - c("lexicon.py", "ids"),
            "the network: gather, GEMMs, activation, logits": c("tagger.py", "logits") - c("tagger.py", "windows"),
            "decoding: Viterbi": vit,
            "decoding: forward-backward (marginals)": fb,
            "decoding: the rest (labels, Docs)": c("tagger.py", "decode") - vit - fb,
            "the call itself (checks, the text)": total - c("tokenize.py", "tokenize") - c("tagger.py", "logits")
            - c("tagger.py", "decode")}, total


def main() -> None:
    import nerwin
    from nerwin.text.corpus import read_conll
    sents = [" ".join(s.tokens) for s in read_conll(BTC / "test.conll")][:2000]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, flags in (("binary", ["--target", "LOC"]), ("sentence loss", ["--target", "all"])):
            m = Path(d) / name.replace(" ", "_")
            subprocess.run([sys.executable, "-m", "nerwin", "train", "--train", BTC / "train.conll", "--dev",
                            BTC / "dev.conll", *flags, "--epochs", "2", "--out", m, "-q"], check=True)
            tagger = nerwin.load(m)
            tagger.tag("warm up .")
            prof = cProfile.Profile()
            prof.runcall(lambda: [tagger.tag(s) for s in sents])
            shares, total = jobs(pstats.Stats(prof).stats)
            rows.append((name, total, shares))
    order = list(rows[-1][2])
    head = "| job | " + " | ".join(f"{n}: share of `tag()`" for n, _, _ in rows) + " |"
    lines = [head, "|---|" + "---|" * len(rows)]
    for k in order:
        lines.append(f"| {k} | " + " | ".join(f"{s.get(k, 0) / t:.0%}" for _, t, s in rows) + " |")
    lines.append("| ms per call | " + " | ".join(f"{1e3 * t / 2000:.2f}" for _, t, _ in rows) + " |")
    table = "\n".join(lines) + ("\n\ncProfile (which slows every call) over 2,000 calls of `tag()` on BTC test sentences, models trained on BTC "
                                "train for 2 epochs. `python scripts/bench/profile_tag.py`.")
    print(table)
    replace_section("tag-profile", table)


if __name__ == "__main__":
    main()
