"""Every setting of a model and its training, declared once: type, default, bounds or choices, help,
and which part it belongs to: what a model *is* (saved in the model and checked on load) or how
it was *trained* (logged beside it).

`nerwin train`'s options are made from these declarations (cli.py), `nerwin.train(...)` takes
them as keywords, and both go through `Settings.resolved()`, as do gradcheck, drift-demo and
model loading. Bounds are wide: they refuse what cannot work, not what is unusual. Settings only
declares: the choices are literals (a test holds them equal to the registries they name), and
what follows from them (a model's kind, its shapes) is the model's to decide.
"""
from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields, replace

from nerwin.errors import SettingError, SettingTypeError, plain

LOSSES = ("auto", "window", "sentence")                            # nn.heads.LOSSES
ACTIVATIONS = ("tanh", "relu", "sigmoid", "hardtanh", "leaky-relu")   # nn.layers.ACTIVATIONS
OPTIMIZERS = ("sgd", "adagrad", "adam")                            # nn.optim.OPTIMIZERS
DTYPES = ("float32", "float64")
MAX_CHAR_WIDTH = 9


def setting(default, help: str, *, lo=None, hi=None, choices=None, above=None, flag=None, auto=None, part="training"):
    """A field with its declaration. lo/hi: inclusive bounds; above: an exclusive lower bound;
    auto = (value, with --target all, for one type): a value outside the bounds that resolve_auto()
    replaces by the measured choice for the target; part: "model" (what a model is) or "training"."""
    return field(default=default, metadata=dict(help=help, lo=lo, hi=hi, above=above, choices=choices, flag=flag,
                                                auto=auto, part=part))


@dataclass(frozen=True)
class Settings:
    target: str = setting("LOC", "Entity type of the positive class, as the corpus spells it (case-insensitive), "
                                 "or `all` for every type.", part="model")
    loss: str = setting("auto", "window: cross-entropy per word; sentence: Collobert's sentence log-likelihood "
                                "with learned transitions (needs --target all); auto: sentence for --target all, "
                                "else window.", choices=LOSSES, part="model")
    window: int = setting(2, "w: a window holds 2w+1 words.", lo=0, hi=50, part="model")
    hidden: int = setting(100, "H, the size of the hidden layer h.", lo=1, hi=100_000, part="model")
    activation: str = setting("tanh", "f in h = f(Wx + b).", choices=ACTIVATIONS, part="model")
    layers: int = setting(1, "Window layers: 2 adds a window of 2w2+1 of layer 1's hidden vectors h1, "
                             "z2 = W2 [h1_{t-w2}; ...; h1_{t+w2}] + b2, below the head.", lo=1, hi=2, part="model")
    window2: int = setting(1, "w2: layer 2's window holds 2w2+1 of layer 1's vectors (with --layers 2).",
                           lo=1, hi=20, part="model")
    optimizer: str = setting("adam", "How each step moves the parameters.", choices=OPTIMIZERS)
    lr: float = setting(0.001, "Learning rate.", above=0.0)
    batch_size: int = setting(64, "Windows a step (window loss), or about that many words of whole sentences "
                                  "(sentence loss).", lo=1, hi=10_000_000)
    epochs: int = setting(10, "Passes over the training data; the best dev epoch is kept.", lo=1, hi=100_000)
    l2: float = setting(1e-5, "lambda of the L2 penalty (lambda/2)(|W|^2 + |u|^2); biases are not penalized.",
                        lo=0.0, hi=1e6)
    dropout: float = setting(-1.0, "Inverted dropout on h: the share of hidden units dropped each step (-1: 0.3 "
                                   "with --target all, 0 for one type, as measured).",
                             lo=0.0, hi=0.95, auto=(-1.0, 0.3, 0.0))
    patience: int = setting(0, "Stop after this many epochs without a better dev F1 (0: never).", lo=0, hi=100_000)
    lr_decay: int = setting(0, "Halve the learning rate every this many epochs (0: never).", lo=0, hi=100_000)
    fine_tune: bool = setting(True, "Move the pretrained word vectors, or keep them as loaded "
                                    "(<UNK>, <s>, </s> train either way).", flag=("--fine-tune", "--freeze"))
    casing: int = setting(5, "Size of the trainable word-shape vector joined to each word's vector (0: off).",
                          lo=0, hi=10_000, part="model")
    affixes: int = setting(0, "Size of the trainable prefix and suffix vectors (a word's first and last 3 letters, "
                              "lowercased) joined to each word's vector (0: off).", lo=0, hi=10_000, part="model")
    chars: int = setting(-1, "Filters of the character CNN: each word's vector is joined by the max over positions "
                             "of a convolution over its characters, so unseen words get more than <UNK> (0: off; "
                             "-1: 32 with --target all, 0 for one type, as measured).",
                         lo=0, hi=10_000, auto=(-1, 32, 0), part="model")
    char_dim: int = setting(16, "Size of each character's trainable vector (with --chars).", lo=1, hi=10_000, part="model")
    char_width: int = setting(3, "k: characters each filter of the character CNN reads (with --chars).",
                              lo=1, hi=MAX_CHAR_WIDTH, part="model")
    gazetteer_dim: int = setting(5, "Size of the trainable vector that marks a word inside a gazetteer entry "
                                    "(with --gazetteer).", lo=1, hi=10_000, part="model")
    word_dropout: float = setting(0.0, "During training, the chance that a word seen once in train has its "
                                       "vector replaced by <UNK>, so the network learns to tag from its spelling and "
                                       "context when the vector is missing.", lo=0.0, hi=0.95)
    bundle_vectors: int = setting(50_000, "Keep this many of the most frequent pretrained rows in the model, so it "
                                          "tags unseen words without the vectors file (0: none).",
                                  lo=0, hi=100_000_000)
    seed: int = setting(0, "Random seed: the same seed on the same machine gives the same model, bit for bit.",
                        lo=0, hi=2 ** 32 - 2)
    dtype: str = setting("float32", "Floating-point type of every parameter.", choices=DTYPES, part="model")

    def resolved(self) -> "Settings":
        """A checked copy with each `auto` value (chars, dropout) resolved by the target; self is
        unchanged. `loss` stays as given: the head it names is chosen with the corpus (heads.choose).
        Raises SettingTypeError (a TypeError) or SettingError (a ValueError) naming the setting."""
        for f in fields(self):
            check(f, getattr(self, f.name))
        target = self.target.strip()
        if not target:
            raise SettingError("target", "must name an entity type or `all`, got an empty string")
        every = target.lower() == "all"
        if self.loss == "sentence" and not every:
            raise SettingError("loss", "sentence scores whole tag sequences: it needs --target all")
        return resolve_auto(replace(self, target="all" if every else target))

    @classmethod
    def of(cls, **values) -> "Settings":
        """From keywords, refusing unknown names with the list of known ones."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise SettingTypeError(unknown[0], f"is not a setting; settings are {', '.join(sorted(names))}")
        return cls(**{k: plain(v) for k, v in values.items()}).resolved()

    def to_dict(self) -> dict:
        return asdict(self)

    def part(self, name: str) -> dict:
        """The settings of one part: "model" (what a model is) or "training" (how it was trained)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["part"] == name}


def resolve_auto(s: Settings) -> Settings:
    """Each `auto` value replaced by the measured choice for the target: the binary lecture
    model keeps its shape (no characters, no dropout), every type gets both (docs/results.md)."""
    every = s.target.lower() == "all"
    auto = {f.name: f.metadata["auto"][1 if every else 2] for f in fields(s)
            if f.metadata["auto"] is not None and getattr(s, f.name) == f.metadata["auto"][0]}
    return replace(s, **auto)


FIELDS = {f.name: f for f in fields(Settings)}
MODEL_FIELDS = tuple(n for n, f in FIELDS.items() if f.metadata["part"] == "model")


def kind(f) -> type:
    return type(f.default) if f.default is not MISSING else str


def check(f, value, name: str | None = None) -> None:
    """One value against its declaration; name overrides the field's name in messages."""
    name = name or f.name
    m, t = f.metadata, kind(f)
    if t is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, t) and (t is bool or not isinstance(value, bool))
    if not ok:
        raise SettingTypeError(name, f"must be {describe(t)}, got {type(value).__name__} {value!r:.40}")
    if t is float and not math.isfinite(value):
        raise SettingError(name, f"must be a finite number, got {value}")
    if m["auto"] is not None and value == m["auto"][0]:
        return
    if m["choices"] is not None and value not in m["choices"]:
        raise SettingError(name, f"must be one of {', '.join(m['choices'])}, got {value!r}")
    if m["lo"] is not None and value < m["lo"]:
        raise SettingError(name, f"must be at least {m['lo']}, got {value}")
    if m["above"] is not None and value <= m["above"]:
        raise SettingError(name, f"must be more than {m['above']}, got {value}")
    if m["hi"] is not None and value > m["hi"]:
        raise SettingError(name, f"must be at most {m['hi']:,}, got {value}")


def describe(t: type) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[t]


def bounds(f) -> str:
    """The declared range or choices, as help shows them."""
    m = f.metadata
    if m["choices"] is not None:
        return "one of: " + ", ".join(m["choices"])
    num = lambda v: f"{v:,}" if isinstance(v, int) else f"{v:g}"   # noqa: E731
    lo = f"> {num(m['above'])}" if m["above"] is not None else (f"≥ {num(m['lo'])}" if m["lo"] is not None else "")
    hi = f"≤ {num(m['hi'])}" if m["hi"] is not None else ""
    auto = f", or {num(m['auto'][0])}: by target" if m["auto"] is not None else ""
    return ", ".join(x for x in (lo, hi) if x) + auto
