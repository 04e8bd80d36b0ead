"""docs/img/displacy.png: spaCy's displacy on a nerwin component's entities.

Usage: python scripts/tools/spacy_picture.py
Trains the default `--target all` model on BTC train (seed 0), adds it to `spacy.blank("en")`,
renders two tweets with `displacy.render(style="ent")` as a page and takes a screenshot with
headless Chromium.
"""
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"
from doc_pictures import screenshot  # noqa: E402

TEXTS = ["Watching the Lakers beat Boston at the Staples Center with @jimmykimmel tonight",
         "Theresa May meets Angela Merkel in Berlin on Monday , says the BBC"]


def main():
    import spacy
    from spacy import displacy
    with tempfile.TemporaryDirectory() as d:
        model = Path(d) / "btc"
        subprocess.run([sys.executable, "-m", "nerwin", "train", "--train", BTC / "train.conll", "--dev",
                        BTC / "dev.conll", "--target", "all", "--out", model, "-q"], check=True)
        nlp = spacy.blank("en")
        nlp.add_pipe("nerwin", config={"model": str(model)})
        docs = list(nlp.pipe(TEXTS))
        for doc in docs:
            print([(e.text, e.label_, round(e._.confidence, 3)) for e in doc.ents])
        page = Path(d) / "displacy.html"
        page.write_text(displacy.render(docs, style="ent", page=True), encoding="utf-8")
        screenshot(page, ROOT / "docs" / "img" / "displacy.png", width=900, height=370)


if __name__ == "__main__":
    main()
