"""nerwin: the CS224n window-based named-entity classifier, with hand-derived backprop in numpy."""

__version__ = "0.1.0"
