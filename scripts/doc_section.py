"""Put a benchmark's table into the docs page that holds `<!-- NAME:start -->` and `<!-- NAME:end -->`."""
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def replace_section(name: str, body: str) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pages = [p for p in sorted(DOCS.glob("*.md")) if start in p.read_text()]
    if len(pages) != 1:
        raise SystemExit(f"section {name}: found in {len(pages)} pages of docs/, expected 1")
    text = pages[0].read_text()
    i, j = text.index(start) + len(start), text.index(end)
    pages[0].write_text(text[:i] + "\n" + body + "\n" + text[j:])
