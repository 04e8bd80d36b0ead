"""The models the scripts share: the default `--target all` model of each seed, for the studies
that look inside its output, and the speed benchmarks' model."""
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


def speed_model(train: Path, target: str = "LOC", batch: int = 256, package: str = "nerwin", **more):
    """The benchmarks' model, fresh: GloVe 50d, w=2, H=100, tanh, Adam, word vectors alone (no
    casing, no characters), the window loss, no dropout; `more` sets other settings, these too. package:
    the code that builds it (speed_before.py loads an earlier commit's as another name).
    -> (WindowModel, its training Data, its Settings)."""
    mod = lambda name: __import__(f"{package}.{name}", fromlist=["_"])  # noqa: E731
    s = mod("settings").Settings.of(**{"target": target, "batch_size": batch, "epochs": 1, "casing": 0,
                                       "loss": "window", "chars": 0, "dropout": 0.0, **more})
    model, data, _, _ = mod("training.data").prepare(train, None, mod("vectors").open_store(None)[0], s)
    return model, data, model.settings
