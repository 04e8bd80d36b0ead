"""Applying a model at the speed users measure, against an earlier commit's code in the same run.

Every figure is wall clock, median of --runs runs, on 1M tokens of BTC text (train, dev and test
sentences, repeated) and with models trained on BTC train by the earlier code (so both codes
apply the very same models):
  - `nerwin predict FILE`: the whole process, start-up included; binary and sentence-loss models;
  - `tag()` in a loop over 2,000 BTC test sentences it has not seen, per 20 tokens (the loop only);
  - `tag_many` over the 1M tokens in-process (the loop only);
  - `nerwin predict --workers 2` (this code only).
Also checks that the labels and probabilities are the same, bit for bit, as the earlier code's,
for every line both codes tokenize alike.
Run it with nothing else on the machine. Writes the docs section `apply`.

    python scripts/bench/bench_apply.py --rev 2bc37cb [--runs 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402
from timing import btc_lines, pause_probe  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"
TOKENS = 1_000_000

LOOPS = """
import json, sys, time
import nerwin
from nerwin.{corpus} import read_conll
tagger = nerwin.load(sys.argv[1])
sents = [" ".join(s.tokens) for s in read_conll(sys.argv[2])][:2000]
lines = open(sys.argv[3], encoding="utf-8").read().splitlines()
tagger.tag("warm up .")
t0 = time.perf_counter(); n = 0
for s in sents:
    n += len(tagger.tag(s).tokens)
per20 = (time.perf_counter() - t0) / n * 20
t0 = time.perf_counter()
m = sum(len(d.tokens) for d in tagger.tag_many(lines))
print(json.dumps({{"tag_ms_per_20": per20 * 1e3, "tag_many_tps": m / (time.perf_counter() - t0)}}))
"""


def records(out: bytes) -> list[list[bytes]]:
    """predict's CoNLL output as records; the earlier code wrote nothing for an empty line."""
    recs, cur = [], []
    for line in out.split(b"\n")[:-1]:
        if line:
            cur.append(line)
        else:
            recs.append(cur)
            cur = []
    return recs


def compare(before: list, now: list) -> tuple[int, int, int]:
    """(records, those tokenized alike by both codes, those of them with the same labels and
    probabilities, byte for byte): a tokenizer's change since `before` splits some lines otherwise."""
    assert len(before) == len(now), (len(before), len(now))
    tokens = lambda r: [line.split(b"\t")[0] for line in r]     # noqa: E731
    alike = [(x, y) for x, y in zip(before, now) if tokens(x) == tokens(y)]
    return len(before), len(alike), sum(x == y for x, y in alike)


def run(tree: Path, args, stdin=None, stdout=None) -> float:
    env = dict(os.environ, PYTHONPATH=str(tree))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, *map(str, args)], cwd=tree, env=env, input=stdin,
                       stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode:
        sys.exit(f"{tree}: {args}\n{r.stderr.decode()}")
    return time.perf_counter() - t0


def loops(tree: Path, model: Path, text: Path, corpus_module: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", LOOPS.format(corpus=corpus_module), model, BTC / "test.conll", text],
                         cwd=tree, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", required=True, help="the earlier commit")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    if not BTC.exists():
        sys.exit(f"needs {BTC}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        old = d / "old"
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", old, a.rev], check=True, capture_output=True)
        try:
            text = d / "btc.txt"
            text.write_text("\n".join(btc_lines(BTC, TOKENS)) + "\n", encoding="utf-8")
            models = {"binary (`--target LOC`)": d / "bin", "sentence loss (`--target all`)": d / "all"}
            for flags, m in zip((["--target", "LOC"], ["--target", "all"]), models.values()):
                run(old, ["-m", "nerwin", "train", "--train", BTC / "train.conll", "--dev", BTC / "dev.conll",
                          *flags, "--out", m, "-q"])
            probe = pause_probe()
            rows, same = [], {}
            for name, m in models.items():
                outs = {}
                for label, tree in (("before", old), ("now", ROOT)):
                    with open(d / f"{label}.out", "wb") as f:
                        run(tree, ["-m", "nerwin", "predict", text, "--model", m], stdout=f)
                    outs[label] = (d / f"{label}.out").read_bytes()
                same[name] = compare(records(outs["before"]), [r for r in records(outs["now"]) if r])
                t = {"before": [], "now": [], "workers": [], "loops_before": [], "loops_now": []}
                for _ in range(a.runs):                        # the codes take turns
                    t["before"].append(run(old, ["-m", "nerwin", "predict", text, "--model", m]))
                    t["now"].append(run(ROOT, ["-m", "nerwin", "predict", text, "--model", m]))
                    t["workers"].append(run(ROOT, ["-m", "nerwin", "predict", text, "--model", m, "--workers", "2"]))
                    t["loops_before"].append(loops(old, m, text, "corpus"))
                    t["loops_now"].append(loops(ROOT, m, text, "text.corpus"))
                med = {k: statistics.median(v) for k, v in t.items() if not k.startswith("loops")}
                lp = {k: {q: statistics.median(x[q] for x in t[k]) for q in t[k][0]} for k in ("loops_before", "loops_now")}
                rows.append((name, med, lp))
            probe_after = pause_probe()
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", old], capture_output=True)
    lines = ["| model | measure | before | now | now ÷ before | target |", "|---|---|---|---|---|---|"]
    for name, med, lp in rows:
        before, now, work = TOKENS / med["before"], TOKENS / med["now"], TOKENS / med["workers"]
        target = "≥ 300k" if name.startswith("binary") else "≥ 150k"
        lines += [f"| {name} | `nerwin predict`, tokens/s, whole process | {before:,.0f} | **{now:,.0f}** | "
                  f"{now / before:.2f}× | {target} |",
                  f"| | same, `--workers 2` | – | {work:,.0f} | {work / now:.2f}× one process | uses the cores |",
                  f"| | `tag()`, ms per 20 tokens, new sentences | {lp['loops_before']['tag_ms_per_20']:.3f} | "
                  f"**{lp['loops_now']['tag_ms_per_20']:.3f}** | "
                  f"{lp['loops_before']['tag_ms_per_20'] / lp['loops_now']['tag_ms_per_20']:.2f}× faster | ≤ 0.5 |",
                  f"| | `tag_many`, tokens/s | {lp['loops_before']['tag_many_tps']:,.0f} | "
                  f"**{lp['loops_now']['tag_many_tps']:,.0f}** | "
                  f"{lp['loops_now']['tag_many_tps'] / lp['loops_before']['tag_many_tps']:.2f}× | ≥ 400k |"]
    same_line = "; ".join(f"{n}: of {total:,} records, {alike:,} tokenized alike, and of those "
                          + ("all" if equal == alike else f"{alike - equal:,} NOT")
                          + " with the same labels and probabilities, byte for byte"
                          for n, (total, alike, equal) in same.items())
    table = "\n".join(lines) + (
        f"\n\nBTC text, {TOKENS:,} tokens; wall clock, median of {a.runs} runs taking turns; `before` is commit "
        f"`{a.rev}`, applying the same models. `predict`'s output against `before` on every non-empty line (`before` wrote nothing for an empty one): {same_line}. The pause probe "
        f"(`scripts/timing.py`) lost {probe:.0%} of its wall time before the runs and {probe_after:.0%} after. "
        f"{os.cpu_count()} cores. `python scripts/bench/bench_apply.py --rev {a.rev}`.")
    print(table)
    replace_section("apply", table)


if __name__ == "__main__":
    main()
