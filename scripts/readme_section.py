"""Put a benchmark's table into README.md between `<!-- NAME:start -->` and `<!-- NAME:end -->`."""
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def replace_section(name: str, body: str) -> None:
    text = README.read_text()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    i, j = text.index(start) + len(start), text.index(end)
    README.write_text(text[:i] + "\n" + body + "\n" + text[j:])
