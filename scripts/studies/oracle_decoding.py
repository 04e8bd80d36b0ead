"""Why `--target all` predicts IOB2 tags and not one class per type: the ceiling of each scheme.

Usage: python scripts/studies/oracle_decoding.py
Takes the gold tags of each real test file, keeps only what a scheme's classes can say
(the type of each token, or its IOB2 tag), decodes that back to spans as nerwin does,
and scores it against the gold spans. A perfect classifier cannot beat these figures.
"""
from pathlib import Path

import numpy as np

from nerwin.text.corpus import entity_types, read_conll
from nerwin.text.metrics import entity_prf
from nerwin.text.schemes import decode_iob2, iob2_classes, to_iob2

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


def ceiling(sents, types_only: bool) -> float:
    types = entity_types(sents)
    classes = ["O"] + types if types_only else iob2_classes(types)
    index = {c: i for i, c in enumerate(classes)}
    gold, pred = [], []
    for s in sents:
        tags = to_iob2(s.tags)
        keys = [t[2:] if types_only and t != "O" else t for t in tags]
        onehot = np.eye(len(classes))[[index[k] for k in keys]]
        if types_only:   # a run of one type is one entity
            out, prev = [], "O"
            for k in keys:
                out.append("O" if k == "O" else ("I-" if k == prev else "B-") + k)
                prev = k
        else:
            out = decode_iob2(classes, onehot)[0]
        gold.append(s.tags)
        pred.append(out)
    return entity_prf(gold, pred)["f1"]


def main():
    if not CORPORA.exists():
        print(f"skipped: {CORPORA} is missing")
        return
    print("| test file | entity F1 ceiling, one class per type | with IOB2 classes |\n|---|---|---|")
    for name in ("btc", "wnut17"):
        sents = read_conll(CORPORA / name / "test.conll")
        print(f"| {name} | {ceiling(sents, True):.3f} | {ceiling(sents, False):.3f} |")


if __name__ == "__main__":
    main()
