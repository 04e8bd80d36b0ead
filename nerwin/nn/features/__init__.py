"""The features of a word's slot of x, beside its row of E: one file each (base.py says what a
feature is). FEATURES lists them in slot order; a model reads those its settings switch on.
A new feature is a new file and one line here."""
from __future__ import annotations

from nerwin.nn.features.affixes import Affixes
from nerwin.nn.features.base import FeatureIds, WordFeature
from nerwin.nn.features.casing import Casing
from nerwin.nn.features.characters import Characters
from nerwin.nn.features.gazetteer import Gazetteer

FEATURES: dict[str, type[WordFeature]] = {f.name: f for f in (Casing, Affixes, Characters, Gazetteer)}


def register(feature: type[WordFeature]) -> type[WordFeature]:
    """Add a feature after the others (a slot's parts keep their order, so old models still read)."""
    FEATURES[feature.name] = feature
    return feature
