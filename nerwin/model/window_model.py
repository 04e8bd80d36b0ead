"""One trained window classifier as one object: what it is (its settings, head and word features),
what it knows (vocabulary, E, the other parameters, bundled vectors) and how sure it is (the
temperature). Everything that follows from these is computed here and only here: the width of
W's input, every parameter's shape, the features' ids of token lists. It saves itself to a model
directory and loads itself from one (checkpoint.py: the files, no pickle).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nerwin.errors import NerwinError
from nerwin.model import checkpoint
from nerwin.nn import network
from nerwin.nn.features import FEATURES, FeatureIds, WordFeature
from nerwin.nn.heads import Head
from nerwin.settings import FIELDS, MODEL_FIELDS, Settings
from nerwin.text.windows import SPECIALS, Vocab
from nerwin.vectors import DEFAULT, DEFAULT_FORMAT, FORMATS, Bundle

# what an old model's settings mean when it was written before a setting existed: the feature was off
BEFORE = {"affixes": 0, "chars": 0, "word_dropout": 0.0, "layers": 1}


def features_for(settings: Settings, token_lists, inputs: dict | None = None) -> list[WordFeature]:
    """The features these settings (and training inputs: word lists) switch on, built from the
    training tokens, in slot order."""
    token_lists = list(token_lists)
    return [f.build(settings, token_lists, inputs) for f in FEATURES.values() if f.enabled(settings, inputs)]


@dataclass
class WindowModel:
    settings: Settings
    head: Head
    features: list[WordFeature]
    vocab: Vocab
    E: np.ndarray                        # (|V|, d) the word vectors, <UNK>, <s>, </s> first
    params: dict                         # W, b, the head's and the features' tables
    vectors: dict                        # the pretrained source: {"source", "format", "limit"}
    bundle: Bundle | None = None         # pretrained rows of words outside the vocabulary
    temperature: float = 1.0
    info: dict = field(default_factory=dict)    # train_file, oov_rate, best_epoch: for people
    mentions: str = "whole"              # how the training corpus spells @mentions: "whole" or "split" (@ name)

    # ---- what follows from what the model is -------------------------------------------
    @property
    def n(self) -> int:
        """Words a window: 2w+1."""
        return 2 * self.settings.window + 1

    @property
    def dim(self) -> int:
        return int(self.E.shape[1])

    @property
    def slot_width(self) -> int:
        """A word's slot of x: its vector and its features' parts."""
        return self.dim + sum(f.width for f in self.features)

    @property
    def input_width(self) -> int:
        """D, the width of x and of W's input: the one place it is decided."""
        return self.n * self.slot_width

    def shapes(self) -> dict[str, tuple]:
        """Every parameter's shape, E's included."""
        H = self.settings.hidden
        out = {"E": (len(self.vocab), self.dim), "W": (H, self.input_width), "b": (H,), **self.head.shapes(H)}
        for f in self.features:
            out.update(f.shapes())
        if self.settings.layers == 2:
            out.update(network.context_shapes(H, self.settings.window2))
        return out

    @property
    def reach(self) -> int:
        """How many words either side of a token its label depends on: w, plus w2 with layer 2."""
        s = self.settings
        return s.window + (s.window2 if s.layers == 2 else 0)

    @property
    def whole_sentences(self) -> bool:
        """Whether training batches must hold whole sentences: the loss reads them, or layer 2 does."""
        return self.head.whole_sentences or self.settings.layers == 2

    def row_tables(self) -> tuple[str, ...]:
        """The tables updated only in the rows a batch touched, besides E."""
        return tuple(t for f in self.features for t in f.row_tables)

    def part_labels(self) -> dict[str, str]:
        """Each part of a slot -> the name explain gives it."""
        return {"E": "word", **{part: label for f in self.features for part, _, label in f.parts()}}

    def feature_ids(self, token_lists: list[list[str]]) -> FeatureIds:
        """What every feature reads of every window of these sentences."""
        return FeatureIds({f.name: f.ids(token_lists, self.settings.window) for f in self.features})

    # ---- making one ----------------------------------------------------------------------
    @classmethod
    def new(cls, settings: Settings, head: Head, features: list[WordFeature], vocab: Vocab, E: np.ndarray,
            vectors: dict, bundle=None, info: dict | None = None, check=None, mentions: str = "whole") -> "WindowModel":
        """A model with freshly drawn parameters (network.init_params, seeded by settings.seed);
        check(model) runs before they are drawn (training's memory check)."""
        m = cls(settings, head, features, vocab, E, {}, vectors, bundle, 1.0, dict(info or {}), mentions)
        if check is not None:
            check(m)
        m.params = network.init_params(m.input_width, settings.hidden, head, np.random.default_rng(settings.seed),
                                       E.dtype, features, settings.window2 if settings.layers == 2 else None)
        return m

    def with_weights(self, params: dict, E: np.ndarray, **changes) -> "WindowModel":
        return replace(self, params=params, E=E, **changes)

    # ---- its files -----------------------------------------------------------------------
    def config(self, shown: bool = False) -> dict:
        """What the model saves of itself; shown: as config.json shows it to people (features'
        long lists as their sizes)."""
        return {"model": self.settings.part("model"), "training": self.settings.part("training"),
                **self.head.config(),
                "features": {f.name: f.summary() if shown else f.config() for f in self.features},
                "dim": self.dim, "vectors": self.vectors, "temperature": self.temperature, **self.info,
                "tokenizer": {"mentions": self.mentions}, "vocabulary": self.vocab.words}

    def save(self, out, history: dict | None = None) -> None:
        """Replace the model directory out as one unit; refuses weights that are not finite."""
        checkpoint.save(Path(out), {**self.params, "E": self.E}, self.config(), self.bundle, history,
                        self.config(shown=True))

    @classmethod
    def load(cls, model_dir) -> "WindowModel":
        """Refuses pickles, newer versions, configs that make no sense, shapes that disagree with
        the config (before reading those arrays) and weights that are not finite."""
        d = Path(model_dir)
        config, npz = checkpoint.read_config(d)
        try:
            model = cls.from_config(config)
            expect = model.shapes()
        except NerwinError as e:
            if e.path is None:      # a setting out of range: still the file's fault
                raise NerwinError(f"config is damaged ({e}); retrain the model", npz) from None
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise NerwinError(f"config is damaged ({type(e).__name__}: {e}); retrain the model", npz) from None
        arrays = checkpoint.read_arrays(npz, expect, model.head.kind)
        model.E = arrays.pop("E")
        model.params = arrays
        model.bundle = checkpoint.read_bundle(npz, model.dim)
        return model

    @classmethod
    def from_config(cls, config: dict) -> "WindowModel":
        """The model a config describes, with empty arrays; raises ValueError naming the first bad
        field. Configs from 0.3 and before (every setting under "settings", word lists under
        "spelling") are read too."""
        if "model" in config:
            given, features = config["model"], config.get("features")
            if not isinstance(given, dict) or not isinstance(features, dict):
                raise ValueError("model and features must be objects")
            training = config.get("training", {})
            if not isinstance(training, dict):
                raise ValueError("training must be an object")
            unknown = set(given) - set(MODEL_FIELDS)
            if unknown:
                raise ValueError(f"model has fields that are not model settings: {', '.join(sorted(unknown))}")
            values = {"layers": 1, **{k: v for k, v in training.items() if k in FIELDS and k not in MODEL_FIELDS},
                      **given}
        else:                                                    # written by 0.3 or before
            given = config["settings"]
            if not isinstance(given, dict):
                raise ValueError("settings must be an object")
            values = {**BEFORE, **given}
            lists = config.get("spelling", {})
            features = {name: lists for name, f in FEATURES.items() if not f.from_inputs}
            if (values.get("affixes") or values.get("chars")) and "spelling" not in config:
                raise ValueError("the settings use affixes or characters, but no spelling lists them")
        settings = Settings.of(**values)
        head = Head.from_config(config)
        settings = replace(settings, loss=head.loss_name)
        feats = []
        for name, f in FEATURES.items():
            if f.from_inputs and name in features:
                feats.append(f.from_config(settings, features[name]))
            elif f.enabled(settings):
                if name not in features:
                    raise ValueError(f"the settings use {name}, but the model lists no {name} feature")
                feats.append(f.from_config(settings, features[name]))
        extra = set(features) - set(FEATURES) if "model" in config else set()
        if extra:
            raise ValueError(f"unknown features {', '.join(sorted(extra))}")
        T = config.get("temperature", 1.0)
        if isinstance(T, bool) or not isinstance(T, (int, float)) or not 0 < T < 1e6:
            raise ValueError(f"temperature must be a positive number below 1e6, not {T!r}")
        dim = config["dim"]
        if type(dim) is not int or not 1 <= dim <= 100_000:
            raise ValueError(f"dim must be an integer from 1 to 100,000, not {dim!r}")
        rec = config.get("vectors")
        if not (isinstance(rec, dict) and isinstance(rec.get("source"), str)
                and rec.get("format") in (None, *FORMATS, *((DEFAULT_FORMAT,) if rec["source"] == DEFAULT else ()))
                and (rec.get("limit") is None or (type(rec.get("limit")) is int and rec["limit"] >= 1))):
            raise ValueError("vectors must record a source path, one of its formats and a limit (null or >= 1)")
        words = config["vocabulary"]
        if not (isinstance(words, list) and all(isinstance(w, str) for w in words) and words[:3] == list(SPECIALS)):
            raise ValueError("vocabulary must be a list of strings starting with <UNK>, <s>, </s>")
        if len(set(words)) < len(words):      # a word's row would be whichever of its rows came last
            raise ValueError("vocabulary lists a word twice")
        info = {k: config[k] for k in ("train_file", "oov_rate", "best_epoch") if k in config}
        tok = config.get("tokenizer", {})
        mentions = tok.get("mentions", "whole") if isinstance(tok, dict) else None
        if mentions not in ("whole", "split"):
            raise ValueError(f"tokenizer.mentions must be whole or split, not {mentions!r}")
        return cls(settings, head, feats, Vocab(words), np.zeros((0, dim), np.dtype(settings.dtype)), {}, rec,
                   None, float(T), info, mentions)
