"""spaCy's training data, both ways: a `.spacy` DocBin or spaCy's JSONL read as sentences with IOB2
tags, and sentences written as a DocBin, as JSONL or as CoNLL (`nerwin convert`). spaCy is imported only
here, and only when one of these runs (`pip install 'nerwin[spacy]'`)."""
from __future__ import annotations

import json
import zlib
from itertools import accumulate
from pathlib import Path

from nerwin.errors import NerwinError
from nerwin.text.corpus import Sentence, bounded_lines, open_text, spacy_format
from nerwin.text.schemes import breaks_line, parse, spans

MAX_DOCBIN = 1 << 30       # bytes a DocBin may decompress to (BTC train: about 5 MB)


def spacy():
    try:
        import spacy as sp
        from spacy.tokens import DocBin  # noqa: F401
    except ImportError:
        raise NerwinError("reading or writing spaCy's formats needs spaCy: pip install 'nerwin[spacy]' (from a "
                          "checkout: pip install -e '.[spacy]')") from None
    return sp


def tags_of(doc) -> tuple[list[str], list[str]]:
    """A spaCy Doc's tokens and IOB2 tags, its whitespace tokens left out."""
    tags = ["O"] * len(doc)
    for e in doc.ents:
        tags[e.start:e.end] = [f"B-{e.label_}"] + [f"I-{e.label_}"] * (len(e) - 1)
    keep = [i for i, t in enumerate(doc) if not t.is_space]
    return [doc[i].text for i in keep], [tags[i] for i in keep]


def read_docbin(path) -> list[Sentence]:
    """A DocBin is zlib-compressed msgpack: its size once decompressed is checked against
    MAX_DOCBIN before spaCy reads it, so a small file cannot fill memory. (Its numpy arrays are
    made with frombuffer, which refuses object dtypes: nothing is unpickled.)"""
    sp = spacy()
    from spacy.tokens import DocBin
    p = Path(path)
    if not p.is_file():
        raise NerwinError("no such file; check the path" if not p.exists() else "is not a regular file", path)
    raw = p.read_bytes()
    try:
        d = zlib.decompressobj()
        d.decompress(raw, MAX_DOCBIN)
        if d.unconsumed_tail:
            raise NerwinError(f"would decompress to more than {MAX_DOCBIN:,} bytes; not a DocBin nerwin reads", path)
        docs = list(DocBin().from_bytes(raw).get_docs(sp.blank("xx").vocab))
    except (zlib.error, ValueError, KeyError, TypeError) as e:
        if isinstance(e, NerwinError):
            raise
        raise NerwinError(f"not a spaCy DocBin ({type(e).__name__}: {e})", path) from None
    for k, d in enumerate(docs, 1):
        for e in d.ents:
            if bad_label(e.label_):
                raise NerwinError(f"doc {k} has an entity labelled {e.label_!r}; {LABELS}", path)
    return [Sentence(*tags_of(d), k + 1) for k, d in enumerate(docs)]


LABELS = "a label is a non-empty string without tabs or line breaks, as a CoNLL tag is"


def bad_label(label) -> bool:
    return not isinstance(label, str) or not label.strip() or breaks_line(label)


# keys other tools keep entities under (spaCy v2's and Doccano's exports): a record with one of
# them and no "spans" would otherwise read as all O
OTHER_ANNOTATIONS = ("entities", "ents", "label", "labels", "annotations")


TAG_KEYS = ("ner_tags", "tags", "labels")      # Hugging Face datasets', and predict's own JSONL


def tagged_tokens(r: dict, path, line: int) -> Sentence:
    """A record of tokens and a tag each: Hugging Face datasets' token classification,
    {"tokens": [...], "ner_tags": [...]} (or "tags"), with the tags as their names, or a record
    of `nerwin predict --output-format jsonl` ("labels"), corrected by hand or not."""
    key = next(k for k in TAG_KEYS if k in r)
    toks, tags = r["tokens"], r[key]
    if not (isinstance(toks, list) and all(isinstance(t, str) for t in toks)):
        raise NerwinError('"tokens" must be a list of strings', path, line)
    if not isinstance(tags, list) or len(tags) != len(toks):
        raise NerwinError(f'{len(tags) if isinstance(tags, list) else "no list of"} {key} for {len(toks)} tokens',
                          path, line)
    if any(isinstance(t, int) for t in tags):
        raise NerwinError(f"the {key} are numbers, the ids of a Hugging Face dataset's labels; nerwin needs their "
                          f"names: export them with the dataset's features['{key}'].feature.int2str, or as CoNLL",
                          path, line)
    for k, t in enumerate(tags, 1):
        if not isinstance(t, str) or breaks_line(t):
            raise NerwinError(f"tag {k} is {t!r}; a tag is a string without tabs or line breaks", path, line)
        try:
            parse(t)
        except ValueError as e:
            raise NerwinError(f"tag {k}: {e}", path, line) from None
    return Sentence(toks, tags, line)


def read_spacy_jsonl(path) -> list[Sentence]:
    """spaCy's JSONL of annotated examples: {"text", "spans": [{"start", "end", "label"}]} or
    {"tokens": [{"text"}...] (or plain strings), "spans": [{"token_start", "token_end", "label"}]},
    one a line; or tokens and their tags (tagged_tokens: Hugging Face datasets', predict's), which
    need no spaCy."""
    nlp, out = None, []
    with open_text(path) as f:
        for i, line in enumerate(bounded_lines(f, path), 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                if isinstance(r, dict) and "tokens" in r and "spans" not in r and any(k in r for k in TAG_KEYS):
                    out.append(tagged_tokens(r, path, i))
                    continue
                nlp = nlp or spacy().blank("xx")
                other = next((k for k in OTHER_ANNOTATIONS if k in r), None) if isinstance(r, dict) else None
                if other and "spans" not in r:
                    raise NerwinError(f"its entities are under {other!r}, which nerwin does not read; spaCy's "
                                      'JSONL has them as "spans": [{"start", "end", "label"}] (or "token_start" '
                                      'and "token_end" with "tokens")', path, i)
                if "tokens" in r:
                    from spacy.tokens import Doc, Span
                    doc = Doc(nlp.vocab, words=[t["text"] if isinstance(t, dict) else t for t in r["tokens"]])
                    doc.ents = [Span(doc, a, b + 1, label=span["label"])
                                for span, (a, b) in bounded(r, len(doc), "token_start", "token_end", 1, path, i)]
                else:
                    doc = nlp.make_doc(r["text"])
                    ents = [doc.char_span(a, b, label=span["label"], alignment_mode="expand")
                            for span, (a, b) in bounded(r, len(r["text"]), "start", "end", 0, path, i)]
                    blank = next((k for k, e in enumerate(ents, 1) if e is None or all(t.is_space for t in e)), None)
                    if blank:
                        raise NerwinError(f"span {blank} covers only whitespace, so no token", path, i)
                    doc.ents = ents
            except NerwinError:
                raise
            except (ValueError, KeyError, TypeError, IndexError) as e:
                raise NerwinError(f"not a spaCy JSONL example ({type(e).__name__}: {e})", path, i) from None
            out.append(Sentence(*tags_of(doc), i))
    return out


def bounded(r: dict, n: int, first: str, last: str, inclusive: int, path, line):
    """Each span of record r with its (first, last) offsets, or an error naming the span that
    does not lie inside the n characters or tokens: spaCy's char_span would drop it silently."""
    for k, span in enumerate(r.get("spans", []), 1):
        a, b = span[first], span[last]
        if bad_label(span["label"]):
            raise NerwinError(f"span {k} is labelled {span['label']!r}; {LABELS}", path, line)
        if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, int) and isinstance(b, int)
                                                              and 0 <= a < b + inclusive <= n):
            raise NerwinError(f"span {k} ({first} {a!r}, {last} {b!r}) does not lie inside the "
                              f"{'tokens' if inclusive else 'text'} ({n} {'tokens' if inclusive else 'characters'})",
                              path, line)
        yield span, (a, b)


def write_docbin(sents: list[Sentence], path, source=None) -> None:
    sp = spacy()
    from spacy.tokens import Doc, DocBin, Span
    vocab, out = sp.blank("xx").vocab, DocBin(store_user_data=False)
    spacy_tokens(sents, source)
    for s in sents:
        doc = Doc(vocab, words=s.tokens or [])
        doc.ents = [Span(doc, a, b, label=t) for t, a, b in spans(s.tags or [])]
        out.add(doc)
    out.to_disk(Path(path))


def spacy_tokens(sents: list[Sentence], source) -> None:
    """An error naming the line of the first token a spaCy Doc cannot hold: empty or blank. A
    JSONL sentence is one line; a CoNLL one has a line per token."""
    per_token = source is None or not spacy_format(source)
    for s in sents:
        for k, t in enumerate(s.tokens):
            if not t or t.isspace():
                raise NerwinError(f"token {k + 1} of this sentence is {'empty' if not t else 'blank'}; a spaCy Doc "
                                  "cannot hold it (give it a character, or drop the line)", source,
                                  s.line + k * per_token)


def jsonl_text(sents: list[Sentence], source=None) -> str:
    """spaCy's (and Prodigy's) JSONL, one example a line: the tokens joined by spaces as "text",
    each token with its characters, and each entity span by characters and by tokens (token_end
    inclusive), so read_spacy_jsonl reads back every token and tag."""
    spacy_tokens(sents, source)
    out = []
    for s in sents:
        starts = [0, *accumulate(len(t) + 1 for t in s.tokens)][:len(s.tokens)]
        toks = [{"text": t, "start": a, "end": a + len(t), "id": k} for k, (t, a) in enumerate(zip(s.tokens, starts))]
        ents = [{"start": starts[a], "end": starts[b - 1] + len(s.tokens[b - 1]), "token_start": a, "token_end": b - 1,
                 "label": t} for t, a, b in spans(s.tags or [])]
        out.append(json.dumps({"text": " ".join(s.tokens), "tokens": toks, "spans": ents}, ensure_ascii=False) + "\n")
    return "".join(out)


def conll_text(sents: list[Sentence], source=None) -> str:
    """CoNLL lines, token<TAB>tag: a token may hold a space (a spaCy Doc's merged "New York"), as
    the reader splits at tabs first; one holding a tab or a line break is refused."""
    for s in sents:
        for k, t in enumerate(s.tokens):
            if breaks_line(t):
                where = f"doc {s.line}, " if str(source).endswith(".spacy") else ""
                raise NerwinError(f"{where}token {k + 1} ({t!r}) holds a tab or a line break, which a CoNLL line "
                                  "cannot", source, None if where else s.line)
    return "".join("".join(f"{t}\t{g}\n" for t, g in zip(s.tokens, s.tags or ["O"] * len(s.tokens))) + "\n"
                   for s in sents)
