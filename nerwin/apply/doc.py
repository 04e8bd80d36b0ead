"""What tagging returns: a Doc per sentence, with its entities and their character offsets."""
from __future__ import annotations

from dataclasses import dataclass, field

from nerwin.text.schemes import spans


@dataclass(frozen=True)
class Entity:
    """Tokens start..end (exclusive) of one type; start_char/end_char index the text the user
    passed (None when the input was tokens). confidence: the model's probability of exactly this
    entity; for a sentence-loss model, that the tag path holds exactly this span (docs/results.md
    says what it is for each kind of model)."""
    start: int
    end: int
    type: str
    confidence: float
    text: str
    start_char: int | None = None
    end_char: int | None = None

    def to_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "type": self.type, "confidence": round(self.confidence, 4),
                "text": self.text, "start_char": self.start_char, "end_char": self.end_char}


@dataclass
class Doc:
    """One tagged sentence: per token, its label and the probability of that label; confidences
    {(start, end): the model's probability of exactly that entity}, as the head decoded them.
    With text, offsets[i] = (start_char, end_char) of token i in it, found when first asked for."""
    tokens: list[str]
    labels: list[str]
    probs: list[float]
    text: str | None = None
    confidences: dict[tuple[int, int], float] | None = field(default=None, repr=False, compare=False)

    @property
    def offsets(self) -> list[tuple[int, int]] | None:
        if self.text is None:
            return None
        if self.__dict__.get("_offsets") is None:
            self.__dict__["_offsets"] = align(self.text, self.tokens)
        return self.__dict__["_offsets"]

    @property
    def entities(self) -> list[Entity]:
        out, offsets = [], self.offsets
        for t, a, b in spans(self.labels):
            conf = self.confidences[(a, b)] if self.confidences is not None else sum(self.probs[a:b]) / (b - a)
            if offsets is not None:
                s, e = offsets[a][0], offsets[b - 1][1]
                out.append(Entity(a, b, t, conf, self.text[s:e], s, e))
            else:
                out.append(Entity(a, b, t, conf, " ".join(self.tokens[a:b])))
        return out

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        marks = {a: (b, t) for t, a, b in spans(self.labels)}
        out, i = [], 0
        while i < len(self.tokens):
            if i in marks:
                b, t = marks[i]
                out.append(f"[{' '.join(self.tokens[i:b])}]{t}")
                i = b
            else:
                out.append(self.tokens[i])
                i += 1
        return f"Doc({' '.join(out)!r})"

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "labels": self.labels, "probs": [round(q, 4) for q in self.probs],
                "offsets": self.offsets, "entities": [e.to_dict() for e in self.entities]}

    def keep(self, min_confidence: float, p_outside: list[float]) -> "Doc":
        """Only the entities at least min_confidence sure: the others' tokens become O, each with
        its probability of O (p_outside, one per token)."""
        labels, probs = list(self.labels), list(self.probs)
        for e in self.entities:
            if e.confidence < min_confidence:
                labels[e.start:e.end] = ["O"] * (e.end - e.start)
                probs[e.start:e.end] = p_outside[e.start:e.end]
        kept = {(e.start, e.end): e.confidence for e in self.entities if e.confidence >= min_confidence}
        return Doc(self.tokens, labels, probs, self.text, kept)


def align(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Character span of each token in text; tokens are substrings of it, in order."""
    out, pos = [], 0
    for t in tokens:
        i = text.find(t, pos)
        if i < 0:
            raise ValueError(f"token {t!r} is not in the text after position {pos}")
        out.append((i, i + len(t)))
        pos = i + len(t)
    return out
