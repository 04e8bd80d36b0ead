"""Outside anchors for the quality table: a feature CRF and the same window model in PyTorch.

Usage: python scripts/studies/anchors.py [--no-docs]
Needs ../shared/corpora and the bench extras: pip install -e '.[bench]' (torch==2.13.0,
sklearn-crfsuite). Neither is ever imported by nerwin.
- CRF: sklearn-crfsuite (L-BFGS, c1 = c2 = 0.1, 100 iterations) with the usual hand-made
  features of the word and its two neighbours on each side (lowercase, prefixes, suffixes,
  casing, digits) on IOB2 tags: the classic strong baseline a practitioner would train.
- PyTorch: nerwin's `--target all --casing 5` model written with autograd (same windows,
  GloVe rows, init, Adam, batch 64, 10 epochs, best dev epoch, the same IOB2 Viterbi).
Scores: test entity micro-F1 (nerwin.text.metrics, equal to seqeval's) and LOC token F1 from
the same all-types predictions. Writes the docs section `anchors`.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section

ROOT = Path(__file__).resolve().parents[2]
CORPORA = ROOT.parent / "shared" / "corpora"
LOC = {"btc": "LOC", "wnut17": "location"}


def features(toks, i):
    f = {"bias": 1.0}
    for o in (-2, -1, 0, 1, 2):
        j = i + o
        if not 0 <= j < len(toks):
            f[f"{o}:pad"] = 1.0
            continue
        w = toks[j]
        f.update({f"{o}:lower": w.lower(), f"{o}:title": w.istitle(), f"{o}:upper": w.isupper(),
                  f"{o}:digit": any(c.isdigit() for c in w), f"{o}:at": w.startswith("@"),
                  f"{o}:hash": w.startswith("#")})
        if o == 0:
            f.update({"suf3": w[-3:], "suf2": w[-2:], "pre3": w[:3], "pre2": w[:2], "len": min(len(w), 10)})
    return f


def loc_token_f1(gold, pred, loc):
    from nerwin.text.metrics import token_prf
    from nerwin.text.schemes import parse
    g = np.array([parse(t)[1] == loc for s in gold for t in s])
    p = np.array([parse(t)[1] == loc for s in pred for t in s])
    return token_prf(g, p)["f1"]


def crf(name):
    import sklearn_crfsuite

    from nerwin.text.corpus import read_conll
    from nerwin.text.metrics import entity_prf
    from nerwin.text.schemes import to_iob2
    c = CORPORA / name
    train, test = read_conll(c / "train.conll"), read_conll(c / "test.conll")
    m = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=100)
    t0 = time.perf_counter()
    m.fit([[features(s.tokens, i) for i in range(len(s.tokens))] for s in train], [to_iob2(s.tags) for s in train])
    secs = time.perf_counter() - t0
    pred = m.predict([[features(s.tokens, i) for i in range(len(s.tokens))] for s in test])
    gold = [s.tags for s in test]
    return entity_prf(gold, pred)["f1"], loc_token_f1(gold, pred, LOC[name]), secs


def pytorch(name, seed=0):
    import torch

    from nerwin.text.metrics import entity_prf
    from nerwin.text.schemes import decode_iob2, transitions
    from nerwin.apply.lexicon import Lexicon
    from nerwin.settings import Settings
    from nerwin.training.data import encode, prepare
    from nerwin.vectors import open_store

    torch.manual_seed(seed)
    c = CORPORA / name
    s = Settings.of(target="all", casing=5, seed=seed, loss="window", chars=0, dropout=0.0)   # the twin: no characters
    store, _ = open_store(None)
    m, tr, dev_sents, _ = prepare(c / "train.conll", c / "dev.conll", store, s)
    vocab, E, head, p0 = m.vocab, m.E, m.head, m.params       # the twin starts where nerwin's model does
    classes = head.classes
    from nerwin.text.corpus import read_conll
    test_sents = read_conll(c / "test.conll")
    emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(E.copy()), freeze=False)
    P = {k: torch.nn.Parameter(torch.from_numpy(v.copy())) for k, v in p0.items()}
    opt = torch.optim.Adam([emb.weight, *P.values()], lr=s.lr)
    X, S, y = torch.from_numpy(tr.X.astype(np.int64)), torch.from_numpy(tr.feats["casing"][0].astype(np.int64)), torch.from_numpy(tr.y)
    rules = transitions(classes)

    def logits(Xb, Sb, Eb):
        x = torch.cat([Eb[Xb], P["C"][Sb]], dim=2).reshape(len(Xb), -1)
        return torch.tanh(x @ P["W"].T + P["b"]) @ P["V"].T + P["c"]

    def score(sents):
        rows = Lexicon(emb.weight.detach().numpy(), vocab, {}, E.shape[1], store=store)   # unseen words' rows
        v, Ex = rows.rows([x.tokens for x in sents])
        d = encode(sents, m.with_weights(m.params, Ex, vocab=v))
        with torch.no_grad():
            prob = torch.softmax(logits(torch.from_numpy(d.X.astype(np.int64)), torch.from_numpy(d.feats["casing"][0].astype(np.int64)),
                                        torch.from_numpy(Ex)), dim=1).numpy()
        pred, i = [], 0
        for x in sents:
            pred.append(decode_iob2(classes, prob[i:i + len(x.tokens)], rules)[0])
            i += len(x.tokens)
        return [x.tags for x in sents], pred

    rng = np.random.default_rng(seed + 1)
    best, t0 = (-1, None), time.perf_counter()
    for epoch in range(s.epochs):
        perm = rng.permutation(len(y))
        for k in range(0, len(y), s.batch_size):
            idx = torch.from_numpy(perm[k:k + s.batch_size])
            J = torch.nn.functional.cross_entropy(logits(X[idx], S[idx], emb.weight), y[idx])
            J = J + 0.5 * s.l2 * (P["W"].pow(2).sum() + P["V"].pow(2).sum())
            opt.zero_grad()
            J.backward()
            opt.step()
        f1 = entity_prf(*score(dev_sents))["f1"]
        if f1 > best[0]:
            gold, pred = score(test_sents)
            best = (f1, (entity_prf(gold, pred)["f1"], loc_token_f1(gold, pred, LOC[name])))
    return (*best[1], time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    if not CORPORA.exists():
        print(f"skipped: {CORPORA} is missing")
        return
    rows = ["| corpus | system | test entity F1 (micro) | LOC token F1 | train s |", "|---|---|---|---|---|"]
    for name in ("btc", "wnut17"):
        for system, fn in (("feature CRF (sklearn-crfsuite)", crf),
                           ("window model in PyTorch (`--loss window --casing 5 --chars 0 --dropout 0`)", pytorch)):
            ent, loc, secs = fn(name)
            rows.append(f"| {name} | {system} | {ent:.3f} | {loc:.3f} | {secs:.0f} |")
            print(rows[-1], flush=True)
    table = "\n".join(rows) + "\n\nOne seed each; `python scripts/studies/anchors.py`."
    print(table)
    if not a.no_docs:
        replace_section("anchors", table)


if __name__ == "__main__":
    sys.exit(main())
