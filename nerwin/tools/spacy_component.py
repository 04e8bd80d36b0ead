"""nerwin inside spaCy: a pipeline component (`nlp.add_pipe("nerwin", config={"model": DIR})`) and
converters between CoNLL and spaCy's DocBin.

The component tags spaCy's own tokens with a Tagger and sets `doc.ents`, each span with its
confidence in `span._.confidence`. An entity that overlaps one already set is dropped, unless
`overwrite_ents` is true, as spaCy's EntityRuler does. `nlp.pipe` batches through `tag_many`.
`nlp.to_disk` writes the model files into the component's folder and `spacy.load` reads them from
there alone, without pickle. Registered through the `spacy_factories` entry point (`pip install
'nerwin[spacy]'`).
"""
from __future__ import annotations

from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from nerwin.apply.tagger import Tagger
from nerwin.errors import NerwinError

if not Span.has_extension("confidence"):
    Span.set_extension("confidence", default=None)


class NerwinComponent:
    def __init__(self, nlp: Language, name: str, model: str, overwrite_ents: bool, batch_size: int):
        self.name, self.overwrite_ents, self.batch_size = name, overwrite_ents, batch_size
        self.model_dir = model
        self.tagger = load(model) if model else None

    def _words(self, doc: Doc) -> list[int]:
        """The tokens nerwin reads: spaCy's whitespace tokens are skipped."""
        return [i for i, t in enumerate(doc) if not t.is_space]

    def _set(self, doc: Doc, keep: list[int], tagged) -> Doc:
        new = []
        for e in tagged.entities:
            span = Span(doc, keep[e.start], keep[e.end - 1] + 1, label=e.type)
            span._.confidence = e.confidence
            new.append(span)
        old = list(doc.ents)
        if self.overwrite_ents:
            taken = {i for s in new for i in range(s.start, s.end)}
            old = [s for s in old if not any(i in taken for i in range(s.start, s.end))]
            doc.ents = filter_spans(new + old)
        else:
            taken = {i for s in old for i in range(s.start, s.end)}
            doc.ents = old + [s for s in new if not any(i in taken for i in range(s.start, s.end))]
        return doc

    def _need(self):
        if self.tagger is None:
            raise ValueError(f"[nerwin] the component {self.name!r} has no model: give config={{'model': DIR}}")
        return self.tagger

    def __call__(self, doc: Doc) -> Doc:
        keep = self._words(doc)
        return self._set(doc, keep, self._need().tag([doc[i].text for i in keep]))

    def pipe(self, docs, batch_size: int | None = None):
        tagger, size = self._need(), batch_size or self.batch_size
        block = []
        for doc in docs:
            block.append(doc)
            if len(block) >= size:
                yield from self._block(tagger, block)
                block = []
        yield from self._block(tagger, block)

    def _block(self, tagger, block):
        keeps = [self._words(d) for d in block]
        for doc, keep, tagged in zip(block, keeps, tagger.tag_many([[d[i].text for i in k] for d, k in zip(block, keeps)])):
            yield self._set(doc, keep, tagged)

    def to_disk(self, path, exclude=()):
        path = Path(path)
        self._need().save(path)
        self._unpin(path.parent / "config.cfg")

    def _unpin(self, cfg_path: Path) -> None:
        """nlp.to_disk writes config.cfg before its components: point this component's `model` there
        at nothing, so that spacy.load reads the model from the pipeline's folder alone and a
        pipeline copied elsewhere loads without the folder it was built from."""
        from spacy.util import load_config
        if not cfg_path.is_file():
            return                          # to_disk called on the component alone
        cfg = load_config(cfg_path, interpolate=False)
        if cfg.get("components", {}).get(self.name, {}).get("factory") == "nerwin":
            cfg["components"][self.name]["model"] = ""
            cfg.to_disk(cfg_path)

    def from_disk(self, path, exclude=()):
        self.tagger = load(path)
        return self


def load(model) -> Tagger:
    """A Tagger, or spaCy's kind of error naming the path."""
    p = Path(model)
    if not p.is_dir():
        raise ValueError(f"[nerwin] no model folder at {p}")
    try:
        return Tagger.load(p)
    except NerwinError as e:
        raise ValueError(f"[nerwin] cannot load the model at {p}: {e}") from None


@Language.factory("nerwin", default_config={"model": "", "overwrite_ents": False, "batch_size": 256})
def make_nerwin(nlp: Language, name: str, model: str, overwrite_ents: bool, batch_size: int) -> NerwinComponent:
    return NerwinComponent(nlp, name, model, overwrite_ents, batch_size)
