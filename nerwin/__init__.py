"""nerwin: the CS224n window-based named-entity classifier, with hand-derived backprop in numpy."""

__version__ = "0.1.0"


def load(model_dir, vectors=None, vectors_format=None):
    """A Tagger for a model directory: `nerwin.load("model").tag("The museums in Paris are amazing .")`."""
    from nerwin.tagger import Tagger
    return Tagger.load(model_dir, vectors, vectors_format)


def train(train=None, dev=None, test=None, out=None, **kwargs):
    """Train and save to `out`, as `nerwin train` does; returns (Tagger, metrics).
    kwargs: vectors, vectors_format, vectors_limit, log, quiet, and Settings' fields."""
    from nerwin.training import MODEL, train as run
    return run(train, dev, test, MODEL if out is None else out, **kwargs)
