"""How well nerwin's confidences are calibrated on real test sets, before and after the temperature
fitted on dev, and what precision --min-confidence buys.

For BTC and WNUT-17, --seeds seeds each: train with the defaults (`--target all`, sentence loss)
on train, keep the best dev epoch, fit T on dev, and score test at T = 1 and at the fitted T:
expected calibration error (10 bins) of entity confidences and of token probabilities, and
precision and recall of the entities kept at confidence >= 0.5, 0.8 and 0.9. Writes the docs
section `calibration`.

    python scripts/studies/calibration.py [--seeds 3]
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"


def ms(xs) -> str:
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    import nerwin
    rows, pr = [], []
    for name in ("btc", "wnut17"):
        c = CORPORA / name
        got = {k: [] for k in ("T", "f1", "e1", "eT", "t1", "tT")}
        at = {t: {"precision": [], "recall": []} for t in ("0.5", "0.8", "0.9")}
        base_p = []
        for seed in range(a.seeds):
            with tempfile.TemporaryDirectory() as d:
                tagger, _ = nerwin.train(c / "train.conll", c / "dev.conll", out=Path(d) / "m", target="all",
                                         seed=seed, quiet=True)
                m1 = tagger.evaluate(c / "test.conll", temperature=1.0)
                mT = tagger.evaluate(c / "test.conll")
            got["T"].append(tagger.temperature)
            got["f1"].append(mT["f1"])
            got["e1"].append(m1["calibration"]["entity"]["ece"])
            got["eT"].append(mT["calibration"]["entity"]["ece"])
            got["t1"].append(m1["calibration"]["token"]["ece"])
            got["tT"].append(mT["calibration"]["token"]["ece"])
            base_p.append(mT["precision"])
            for t, x in mT["confidence"]["at"].items():
                at[t]["precision"].append(x["precision"])
                at[t]["recall"].append(x["recall"])
            print(name, seed, {k: v[-1] for k, v in got.items()}, flush=True)
        rows.append(f"| {name} | {ms(got['f1'])} | {ms(got['T'])} | {ms(got['e1'])} | **{ms(got['eT'])}** | "
                    f"{ms(got['t1'])} | **{ms(got['tT'])}** |")
        pr.append(f"| {name} | {ms(base_p)} | " + " | ".join(
            f"{ms(at[t]['precision'])} / {ms(at[t]['recall'])}" for t in ("0.5", "0.8", "0.9")) + " |")
    table = "\n".join([
        "| corpus | test entity F1 | T fitted on dev | entity ECE at T = 1 | entity ECE at T | token ECE at T = 1 | "
        "token ECE at T |", "|---|---|---|---|---|---|---|", *rows, "",
        "| corpus | precision of all entities | confidence ≥ 0.5: precision / recall | ≥ 0.8 | ≥ 0.9 |",
        "|---|---|---|---|---|", *pr, "",
        f"Test splits, defaults (`--target all`: sentence loss), mean ± sd of {a.seeds} seeds; ECE over 10 "
        f"equal-width bins. `python scripts/studies/calibration.py --seeds {a.seeds}`."])
    print(table)
    replace_section("calibration", table)


if __name__ == "__main__":
    main()
