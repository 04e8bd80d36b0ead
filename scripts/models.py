"""The default `--target all` model of each seed, for the studies that look inside its output."""
import subprocess
import sys
import tempfile
from pathlib import Path


def default_taggers(corpus: Path, seeds: int):
    """Yield a Tagger for seeds 0..seeds-1, each trained on the corpus's train.conll with its
    dev.conll picking the epoch; the models live in a temporary folder while the loop runs."""
    import nerwin
    with tempfile.TemporaryDirectory() as d:
        for seed in range(seeds):
            out = Path(d) / f"m{seed}"
            subprocess.run([sys.executable, "-m", "nerwin", "train", "--train", corpus / "train.conll", "--dev",
                            corpus / "dev.conll", "--target", "all", "--seed", str(seed), "--out", out, "-q"],
                           check=True)
            yield nerwin.load(out)
