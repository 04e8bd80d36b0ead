"""Same data, flags and seed: the same weights, bit for bit, as an earlier commit's code; and the
same labels and probabilities from the same model.

Trains every kind of model (binary, softmax, sentence loss) at batch 64 and 2048, each with three
sets of word features (none; casing only; casing, affixes, characters, word dropout and hidden
dropout), every setting spelled out on the command line, with the code of REV (a git worktree in
a temp folder) and with this checkout, each through its own `python -m nerwin train`, and
compares every array the earlier model saved with the array of the same name in the new one.
Only the configs may differ. Then both codes run `nerwin predict` with the earlier code's model
(so a model saved by REV is read by this code) on BTC test and WNUT-17 test, and the outputs are
compared byte for byte. Both run BLAS on one thread, the same for both: OpenBLAS rounds a GEMM
differently with another thread count.

Arrays that differ are named with their largest difference relative to the array's largest
entry, so a change that only reorders additions shows as differences in the last bits. Exits 1
when an array is missing or has another shape, or when predict's outputs differ.

    python scripts/tools/compare_before.py --rev HEAD~5 [--train F --dev F] [--epochs 2] [--section NAME] [--no-docs]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"
BTC = CORPORA / "btc"
KINDS = {"binary": ["--target", "LOC", "--loss", "window"], "softmax": ["--target", "all", "--loss", "window"],
         "sentence": ["--target", "all", "--loss", "sentence"]}
# every other setting spelled out, so that no default of either code decides anything
COMMON = ["--window", "2", "--hidden", "100", "--activation", "tanh", "--optimizer", "adam", "--lr", "0.001",
          "--l2", "1e-5", "--patience", "0", "--lr-decay", "0", "--fine-tune", "--char-dim", "16",
          "--char-width", "3", "--bundle-vectors", "50000", "--seed", "0", "--dtype", "float32"]
FEATURES = {"no word features": ["--casing", "0", "--affixes", "0", "--chars", "0", "--word-dropout", "0",
                                 "--dropout", "0"],
            "casing": ["--casing", "5", "--affixes", "0", "--chars", "0", "--word-dropout", "0", "--dropout", "0"],
            "casing, affixes, characters, word and hidden dropout":
                ["--casing", "5", "--affixes", "4", "--chars", "16", "--word-dropout", "0.25", "--dropout", "0.3"]}
ONE_THREAD = dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"), "1")


def arrays(npz: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(npz) as z:
        names = [n[:-4] for n in z.namelist()]
    with np.load(npz, allow_pickle=False) as f:
        return {n: f[n] for n in names if n != "config_json"}


def difference(name: str, a: dict, b: dict) -> str:
    """name, with the largest |a - b| over the largest |a| when both have that array and shape."""
    if name not in a or name not in b or a[name].shape != b[name].shape:
        return name
    x, y = a[name].astype(np.float64), b[name].astype(np.float64)
    return f"{name} ({np.abs(x - y).max() / max(np.abs(x).max(), 1e-300):.0e})"


def train(tree: Path, out: Path, args, kind: str, batch: int, features: str) -> None:
    cmd = [sys.executable, "-m", "nerwin", "train", "--train", str(args.train), "--dev", str(args.dev),
           "--epochs", str(args.epochs), "--batch-size", str(batch), "--out", str(out), "--quiet", *KINDS[kind],
           *COMMON, *FEATURES[features]]
    env = dict(os.environ, PYTHONPATH=str(tree))
    r = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{tree}: {' '.join(cmd)}\n{r.stderr}")


def predict(tree: Path, model: Path, test: Path) -> str:
    """predict's output (token, label, probability) for a CoNLL file, by the code in tree."""
    env = dict(os.environ, PYTHONPATH=str(tree), **ONE_THREAD)
    return subprocess.run([sys.executable, "-m", "nerwin", "predict", str(test), "--model", str(model),
                           "--input-format", "conll"], cwd=tree, env=env, capture_output=True, text=True,
                          check=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rev", required=True, help="the commit to compare against")
    ap.add_argument("--train", type=Path, default=BTC / "train.conll")
    ap.add_argument("--dev", type=Path, default=BTC / "dev.conll")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--section", default="same-bits", help="the docs section to write")
    ap.add_argument("--no-docs", action="store_true", help="print the table only: a check, not the docs' comparison")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.rev], check=True,
                       capture_output=True)
        try:
            failed, lines = 0, []
            for kind in KINDS:
                for feats in FEATURES:
                    for batch in (64, 2048):
                        tag = f"{kind}-{batch}-{list(FEATURES).index(feats)}"
                        old, new = Path(tmp) / f"old-{tag}", Path(tmp) / f"new-{tag}"
                        train(base, old, args, kind, batch, feats)
                        train(ROOT, new, args, kind, batch, feats)
                        a, b = arrays(old / "model.npz"), arrays(new / "model.npz")
                        bad = [k for k in a if k not in b or a[k].shape != b[k].shape or a[k].dtype != b[k].dtype
                               or a[k].tobytes() != b[k].tobytes()] + [k for k in b if k not in a]
                        failed += any(k not in a or k not in b or a[k].shape != b[k].shape for k in bad)
                        lines.append(f"| {kind} | {feats} | weights after {args.epochs} epochs at batch {batch} | "
                                     f"{len(a)} arrays, " + ("**identical, bit for bit**" if not bad
                                                            else "differ: " + ", ".join(map(
                                                                lambda k: difference(k, a, b), bad))) + " |")
                        print(lines[-1], flush=True)
                        if batch != 64 or feats == "no word features":
                            continue
                        for corpus in ("btc", "wnut17"):
                            test = CORPORA / corpus / "test.conll"
                            outs = [predict(tree, old, test) for tree in (base, ROOT)]
                            failed += outs[0] != outs[1]
                            lines.append(f"| {kind} | {feats} | `predict` on {corpus} test with the earlier "
                                         f"model | {outs[0].count(chr(10)):,} lines, "
                                         + ("**identical, byte for byte**" if outs[0] == outs[1] else "DIFFER")
                                         + " |")
                            print(lines[-1], flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
    if not args.no_docs:
        replace_section(args.section, "| model | word features | what | result |\n|---|---|---|---|\n" + "\n".join(lines) +
                        f"\n\nBTC train and dev, against commit `{args.rev}`; "
                        f"`python scripts/tools/compare_before.py --rev {args.rev} --epochs {args.epochs}"
                        + (f" --section {args.section}" if args.section != "same-bits" else "") + "`.")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
