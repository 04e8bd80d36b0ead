"""Gazetteers: a trainable vector for "inside an entry of a TYPE list" (B or I, exact case or
not) joins each word's slot, as casing does (Collobert et al. 2011, section 6.4). The lists are
the user's (`--gazetteer TYPE=FILE`); they travel inside the model, so it tags without the files."""
from __future__ import annotations


from nerwin.nn.features.base import EmbeddingFeature, Ids
from nerwin.text.gazetteer import PAD, Matcher, read_gazetteers, well_formed
from nerwin.text.windows import window_matrix


class Gazetteer(EmbeddingFeature):
    name = "gazetteer"
    from_inputs = True            # on when lists are given (training) or saved (the model)

    def __init__(self, settings, lists: dict[str, list[str]]):
        super().__init__(settings)
        self.lists = lists
        self.matcher = Matcher(lists)

    @classmethod
    def enabled(cls, settings, inputs=None) -> bool:
        return bool((inputs or {}).get("gazetteers")) and settings.gazetteer_dim > 0

    @classmethod
    def build(cls, settings, token_lists, inputs=None):
        return cls(settings, read_gazetteers(inputs["gazetteers"], inputs["types"]))

    @classmethod
    def from_config(cls, settings, d):
        lists = d.get("lists") if isinstance(d, dict) else None
        if not (isinstance(lists, dict) and lists and all(isinstance(t, str) and well_formed(v)
                                                         for t, v in lists.items())):
            raise ValueError("gazetteer must hold lists: {type: [entries]}, none empty, each entry's tokens "
                             "joined by single spaces")
        return cls(settings, lists)

    def config(self):
        return {"lists": self.lists}

    def summary(self):
        return {"lists": {t: f"{len(v):,} entries (model.npz holds them)" for t, v in self.lists.items()}}

    def parts(self):
        return [("G", self.settings.gazetteer_dim, "gazetteer")]

    def shapes(self):
        return {"G": (2 + 4 * len(self.lists), self.settings.gazetteer_dim)}

    def ids(self, token_lists, w):
        return Ids([window_matrix([self.matcher.marks(t) for t in token_lists], w, PAD, PAD)])

    def row_name(self, table, row):
        return self.matcher.name(row)
