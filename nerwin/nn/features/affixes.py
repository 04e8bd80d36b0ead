"""Affixes: trainable vectors for a word's first and last three letters, lowercased. The lists
of known prefixes and suffixes come from the training tokens and travel in the model."""
from __future__ import annotations

from nerwin.nn.features.base import EmbeddingFeature, Ids
from nerwin.text.spelling import AFFIX_PAD, AFFIX_UNSEEN, frequent, prefix, suffix, word_list
from nerwin.text.windows import windowed


class Affixes(EmbeddingFeature):
    name = "affixes"
    row_tables = ("Pre", "Suf")

    def __init__(self, settings, prefixes: list[str] = (), suffixes: list[str] = ()):
        super().__init__(settings)
        self.prefixes, self.suffixes = list(prefixes), list(suffixes)
        self.prefix_index = {a: i for i, a in enumerate(self.prefixes, AFFIX_UNSEEN + 1)}
        self.suffix_index = {a: i for i, a in enumerate(self.suffixes, AFFIX_UNSEEN + 1)}

    @classmethod
    def build(cls, settings, token_lists, inputs=None):
        return cls(settings, frequent(token_lists, lambda t: [prefix(t)]), frequent(token_lists, lambda t: [suffix(t)]))

    @classmethod
    def from_config(cls, settings, d):
        return cls(settings, word_list(d, "prefixes"), word_list(d, "suffixes"))

    def config(self):
        return {"prefixes": self.prefixes, "suffixes": self.suffixes}

    def parts(self):
        a = self.settings.affixes
        return [("Pre", a, "prefix"), ("Suf", a, "suffix")]

    def shapes(self):
        a = self.settings.affixes
        return {"Pre": (AFFIX_UNSEEN + 1 + len(self.prefixes), a), "Suf": (AFFIX_UNSEEN + 1 + len(self.suffixes), a)}

    def row_name(self, table, row):
        known = self.prefixes if table == "Pre" else self.suffixes
        return "pad" if row == AFFIX_PAD else "unseen" if row == AFFIX_UNSEEN else known[row - AFFIX_UNSEEN - 1]

    def ids(self, token_lists, w):
        pi, si = self.prefix_index, self.suffix_index
        return Ids([windowed(token_lists, w, lambda t: pi.get(prefix(t), AFFIX_UNSEEN), AFFIX_PAD),
                    windowed(token_lists, w, lambda t: si.get(suffix(t), AFFIX_UNSEEN), AFFIX_PAD)])
