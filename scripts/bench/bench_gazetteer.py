"""What a big gazetteer costs a model that carries it: its file, and the time and memory to load it
and tag.

Usage: python scripts/bench/bench_gazetteer.py [--entries 1000000] [--runs 3] [--rev REV] [--no-docs]
Writes a synthetic list of made-up place names (one to three capitalized tokens, as GeoNames'
are) to a temp dir, trains a binary LOC model on the bundled sample for one epoch with it
(`--gazetteer LOC=...`) and one without, then times `nerwin predict` of the sample's test file
with each, in a fresh process: wall clock and peak RSS, median of --runs. --rev REV adds the
same predict with REV's code (`git archive` into a temp folder) on the same model.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section
from doc_section import replace_section  # noqa: E402
from timing import peak_rss  # noqa: E402

SYLLABLES = ["ka", "lo", "mi", "ter", "son", "ber", "an", "el", "is", "or", "ven", "ra", "du", "sh", "qu", "ix",
             "bur", "ton", "ville", "grad", "dorf", "ham", "ford", "mont"]


def names(n: int, rng: random.Random) -> list[str]:
    word = lambda: "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()  # noqa: E731
    out: dict[str, None] = {}
    while len(out) < n:
        out[" ".join(word() for _ in range(rng.choice((1, 1, 2, 2, 2, 3))))] = None
    return list(out)


def unpack(rev: str, into: Path) -> Path:
    """REV's nerwin package into a folder, for PYTHONPATH."""
    blob = subprocess.run(["git", "archive", rev, "nerwin"], cwd=ROOT, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as t:
        t.extractall(into, filter="data")
    return into


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rev", default=None, help="also predict with this commit's code")
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    from nerwin import sample
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        places = tmp / "places.txt"
        places.write_text("\n".join(names(a.entries, random.Random(0))) + "\n", encoding="utf-8")
        base = dict(os.environ, PYTHONPATH=str(ROOT))
        for name, flags in (("with", ["--gazetteer", f"LOC={places}"]), ("without", [])):
            subprocess.run([sys.executable, "-m", "nerwin", "train", "--target", "LOC", "--epochs", "1", *flags,
                            "--out", str(tmp / name), "-q"], check=True, env=base, cwd=tmp)
        codes = [("this code", base)]
        if a.rev:
            codes.append((f"`{a.rev}`", dict(os.environ, PYTHONPATH=str(unpack(a.rev, tmp / "before")))))
        rows = []
        for label, model in (("a list of {:,} entries", "with"), ("no list", "without")):
            for code, env in codes if model == "with" else codes[:1]:
                cmd = [sys.executable, "-m", "nerwin", "predict", "--model", str(tmp / model),
                       "--input-format", "conll", str(sample.path("test.conll"))]
                got = [peak_rss(cmd, env, tmp) for _ in range(a.runs)]     # tmp: `python -m` reads the
                                                                            # working folder before PYTHONPATH
                mb, s = statistics.median(g[0] for g in got), statistics.median(g[1] for g in got)
                size = (tmp / model / "model.npz").stat().st_size / 2**20
                rows.append(f"| {label.format(a.entries)} | {code} | {size:.1f} | **{s:.1f}** | **{mb:.0f}** |")
    table = ("| model | code | model.npz (MiB) | `nerwin predict`, wall (s) | peak RSS (MB) |\n"
             "|---|---|---|---|---|\n" + "\n".join(rows) +
             f"\n\nA binary LOC model trained one epoch on the bundled sample; `predict` loads it and tags the "
             f"sample's test file in a fresh process, median of {a.runs}. The list is made-up place names of one "
             f"to three tokens. `python scripts/bench/bench_gazetteer.py"
             + (f" --rev {a.rev}" if a.rev else "") + "`.")
    print(table)
    if not a.no_docs:
        replace_section("gazetteer-cost", table)


if __name__ == "__main__":
    main()
