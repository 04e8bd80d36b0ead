"""nerwin: the CS224n window-based named-entity classifier, with hand-derived backprop in numpy.

    import nerwin
    tagger, metrics = nerwin.train(target="all")       # the bundled sample corpus
    doc = tagger.tag("The museums in Paris are amazing .")
"""
import importlib

from nerwin.version import __version__

# `import nerwin` stays light (PEP 562): the API's names load on first use, so the command can
# catch Ctrl-C from its first moment
_API = {"Doc": "nerwin.apply.doc", "Entity": "nerwin.apply.doc", "Tagger": "nerwin.apply.tagger",
        "NerwinError": "nerwin.errors", "NerwinTypeError": "nerwin.errors", "Settings": "nerwin.settings"}
__all__ = [*_API, "__version__", "load", "sample", "train"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name == "sample":
        return importlib.import_module("nerwin.sample")
    raise AttributeError(f"module 'nerwin' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)


def load(model_dir, vectors=None, vectors_format=None):
    """A Tagger for a model directory: `nerwin.load("model").tag("The museums in Paris are amazing .")`."""
    from nerwin.apply.tagger import Tagger            # on first use, as above
    return Tagger.load(model_dir, vectors, vectors_format)


def train(train=None, dev=None, test=None, out="model", **kwargs):
    """Train and save to `out`, as `nerwin train` does; returns (Tagger, metrics).
    kwargs: vectors, vectors_format, vectors_limit, log, quiet, and Settings' fields."""
    from nerwin.training.run import train as run     # the training code and numba: only when training
    return run(train, dev, test, out, **kwargs)
