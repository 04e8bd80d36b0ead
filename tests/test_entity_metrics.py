"""Entity-level metrics equal seqeval's (strict, IOB2) on the real BTC and WNUT-17 files."""
import json

import pytest

from nerwin.text.corpus import read_conll
from nerwin.text.metrics import entity_prf

from conftest import corpus, run

seqeval = pytest.importorskip("seqeval")
from seqeval.metrics import classification_report  # noqa: E402
from seqeval.scheme import IOB2  # noqa: E402


@pytest.mark.parametrize("name", ["btc", "wnut17"])
def test_evaluate_equals_seqeval_on_real_files(tmp_path, name):
    train, test = corpus(name, "train"), corpus(name, "test")
    r = run("train", "--train", train, "--dev", corpus(name, "dev"), "--target", "all", "--epochs", "2",
            "--casing", "4", "--out", tmp_path / "m", "-q")
    assert r.returncode == 0, r.stderr
    ours = json.loads(run("evaluate", test, "--model", tmp_path / "m", "--json").stdout)
    pred = run("predict", test, "--model", tmp_path / "m", "--input-format", "conll")
    assert pred.returncode == 0, pred.stderr
    blocks = [b for b in pred.stdout.split("\n\n") if b.strip()]
    y_pred = [[l.split("\t")[1] for l in b.splitlines()] for b in blocks]
    y_true = [s.tags for s in read_conll(test)]
    assert [len(p) for p in y_pred] == [len(t) for t in y_true]
    ref = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    assert ours["support"] == ref["micro avg"]["support"]
    for k, rk in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
        assert ours[k] == pytest.approx(ref["micro avg"][rk], abs=1e-12)
    for t, m in ours["per_type"].items():
        if m["support"]:
            assert m["f1"] == pytest.approx(ref[t]["f1-score"], abs=1e-12), t
    assert ours["f1"] > 0.05      # the model learned something, so the comparison is not all zeros
    thrice = tmp_path / "thrice.conll"                     # over evaluate's blocks of 2,000 sentences
    thrice.write_text((test.read_text(encoding="utf-8").rstrip("\n") + "\n\n") * 3, encoding="utf-8")
    big = json.loads(run("evaluate", thrice, "--model", tmp_path / "m", "--json").stdout)
    assert [big[k] for k in ("tp", "fp", "fn", "support")] == [3 * ours[k] for k in ("tp", "fp", "fn", "support")]
    assert big["f1"] == pytest.approx(ours["f1"], abs=1e-12)
    assert big["calibration"]["token"]["n"] == 3 * ours["calibration"]["token"]["n"]
    # a sentence's probabilities move in their last bits with the rows the GEMM batches it with
    assert big["calibration"]["token"]["ece"] == pytest.approx(ours["calibration"]["token"]["ece"], abs=1e-8)


def test_entity_prf_counts():
    m = entity_prf([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]])
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1)
    assert m["per_type"]["LOC"]["f1"] == 1.0 and m["per_type"]["PER"]["f1"] == 0.0
