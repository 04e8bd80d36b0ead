"""Casing: a trainable vector for the word's shape (lower, UPPER, Title, ...). GloVe 6B is
lowercased, so this is how the network sees the capital in "Paris"."""
from __future__ import annotations

from nerwin.nn.features.base import EmbeddingFeature, Ids
from nerwin.text.windows import PAD_SHAPE, SHAPES, shape, windowed


class Casing(EmbeddingFeature):
    name = "casing"

    def parts(self):
        return [("C", self.settings.casing, "casing")]

    def shapes(self):
        return {"C": (len(SHAPES), self.settings.casing)}

    def row_name(self, table, row):
        return SHAPES[row]

    def ids(self, token_lists, w):
        return Ids([windowed(token_lists, w, shape, PAD_SHAPE)])
