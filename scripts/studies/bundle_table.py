"""How many pretrained rows a model should carry: size and test F1 with the vectors source gone.

Trains one `--target all --casing 5 --loss window --chars 0 --dropout 0` model per corpus (BTC, WNUT-17; GloVe 6B 50d), then for
each bundle size N saves it, and scores the test split twice: with the vectors source present,
and as on a machine that never saw it (the source record points nowhere). Also counts how many
predicted labels change. Writes the docs section `bundle`. Run: python scripts/studies/bundle_table.py
"""
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

import nerwin  # noqa: E402
from nerwin.text.corpus import read_conll  # noqa: E402
from nerwin.apply.tagger import Tagger  # noqa: E402
from nerwin.vectors import Bundle, open_store  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora"
SIZES = (0, 5000, 20000, 50000, 100000)


def main() -> None:
    store, _ = open_store(None)
    rows = ["| corpus | N (bundled rows) | model.npz (MB) | test F1, source present | test F1, source gone | "
            "labels unchanged |", "|---|---|---|---|---|---|"]
    for name in ("btc", "wnut17"):
        c = CORPORA / name
        with tempfile.TemporaryDirectory() as d:
            tagger, _ = nerwin.train(c / "train.conll", c / "dev.conll", out=Path(d) / "m", target="all", casing=5,
                                     loss="window", chars=0, dropout=0.0, bundle_vectors=0, quiet=True)
            test = read_conll(c / "test.conll")
            present = tagger.evaluate(test)
            labels = [doc.labels for doc in tagger.tag_sentences([s.tokens for s in test])]
            for n in SIZES:
                bundle = Bundle.build(store, n, set(tagger.vocab.words))
                m = tagger.model                                # its vectors source gone: only the bundle serves
                gone_source = dict(m.vectors, source="/gone/vectors.txt")
                m.with_weights(m.params, m.E, bundle=bundle, vectors=gone_source).save(Path(d) / "b")
                size = (Path(d) / "b" / "model.npz").stat().st_size / 1e6
                gone = Tagger.load(Path(d) / "b")
                f1 = gone.evaluate(test)["f1"]
                gone_labels = [doc.labels for doc in gone.tag_sentences([s.tokens for s in test])]
                same = sum(a == b for x, y in zip(labels, gone_labels) for a, b in zip(x, y)) / sum(map(len, labels))
                rows.append(f"| {name} | {n:,} | {size:.1f} | {present['f1']:.3f} | {f1:.3f} | {same:.2%} |")
                print(rows[-1], flush=True)
    body = "\n".join(rows) + "\n\nOne model per corpus (`--target all --casing 5 --loss window --chars 0 --dropout 0`, seed 0), GloVe 6B 50d; " \
        "`python scripts/studies/bundle_table.py`."
    replace_section("bundle", body)


if __name__ == "__main__":
    main()
