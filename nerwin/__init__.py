"""nerwin: the CS224n window-based named-entity classifier, with hand-derived backprop in numpy.

    import nerwin
    tagger, metrics = nerwin.train(target="all")       # the bundled sample corpus
    doc = tagger.tag("The museums in Paris are amazing .")
"""
from nerwin import sample
from nerwin.apply.doc import Doc, Entity
from nerwin.apply.tagger import Tagger
from nerwin.errors import NerwinError, NerwinTypeError
from nerwin.settings import Settings
from nerwin.version import __version__

__all__ = ["Doc", "Entity", "NerwinError", "NerwinTypeError", "Settings", "Tagger", "__version__", "load", "sample", "train"]


def load(model_dir, vectors=None, vectors_format=None) -> Tagger:
    """A Tagger for a model directory: `nerwin.load("model").tag("The museums in Paris are amazing .")`."""
    return Tagger.load(model_dir, vectors, vectors_format)


def train(train=None, dev=None, test=None, out="model", **kwargs) -> tuple[Tagger, dict]:
    """Train and save to `out`, as `nerwin train` does; returns (Tagger, metrics).
    kwargs: vectors, vectors_format, vectors_limit, log, quiet, and Settings' fields."""
    from nerwin.training.run import train as run     # the training code and numba: only when training
    return run(train, dev, test, out, **kwargs)
