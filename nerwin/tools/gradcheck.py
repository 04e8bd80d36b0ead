"""`nerwin gradcheck`: the hand-derived gradients against central differences, on real windows."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nerwin import sample
from nerwin.errors import NerwinError
from nerwin.model.window_model import features_for
from nerwin.nn.features import FeatureIds
from nerwin.nn.gradcheck import STEPS, check, sample_problem, sentence_problem
from nerwin.nn.heads import choose
from nerwin.nn.layers import ACTIVATIONS
from nerwin.settings import Settings
from nerwin.text.corpus import Sentence, entity_types, read_conll
from nerwin.text.spelling import MAX_CHARS
from nerwin.text.windows import BOS, EOS, build_vocab, candidates, window_matrix
from nerwin.vectors import open_store


# every word feature, small: numerical gradients cost two losses per element
SPELLING = dict(casing=3, affixes=2, chars=4, char_dim=3, char_width=3)
# entries of W at most: each costs two losses, each loss grows with them, so the time grows with
# their square (the default, 6 x 250, takes seconds; 25,000 takes minutes)
MAX_W = 25_000


def check_size(s: Settings, dim: int) -> None:
    """Refuse, before any work, a problem whose central differences would run for hours."""
    D = (2 * s.window + 1) * dim
    if s.hidden * D > MAX_W:
        most = MAX_W // D
        fix = f"try --hidden {most} or less" if most else "try a smaller --window"
        raise NerwinError(f"--hidden {s.hidden:,} and --window {s.window} give W {s.hidden:,} x {D:,} = "
                          f"{s.hidden * D:,} entries; gradcheck differentiates each one, two losses apiece, and "
                          f"takes minutes at {MAX_W:,}. The formulas are the same at any size: {fix}")


def real_windows(train_file, store, s: Settings):
    """-> sentences, their entity types, E (float64), the windows (N, 2w+1) of the corpus, every
    word feature (small, as SPELLING), what they read of the windows, and hard_words' windows
    and words."""
    sents, must, words = hard_words(read_conll(train_file), SPELLING["char_width"])
    found = store.lookup(candidates(t for x in sents for t in x.tokens))
    vocab, E, _ = build_vocab((x.tokens for x in sents), found, store.dim, np.random.default_rng(s.seed))
    toks = [x.tokens for x in sents]
    X = window_matrix(vocab.ids(toks), s.window, vocab.index[BOS], vocab.index[EOS])
    features = features_for(replace(s, **SPELLING), toks)
    feats = FeatureIds({f.name: f.ids(toks, s.window) for f in features})
    return sents, entity_types(sents), E.astype(np.float64), X, features, feats, must, words


# real words for the cases a corpus may lack (the bundled sample is short and ASCII)
HARD = "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch is not in São Paulo or Zürich : x".split()


def hard_words(sents, k: int) -> tuple[list, list[int], list[str]]:
    """Windows centred on the words a character CNN finds hardest: one character, longer than a
    filter, longer than MAX_CHARS (clipped), and not ASCII, the first of each in the corpus; a
    sentence of HARD joins the corpus for the cases it lacks. -> sentences, window indices, words."""
    tests = {"one character": lambda t: len(t) == 1, f"longer than the filter ({k})": lambda t: len(t) > k,
             f"over {MAX_CHARS} characters": lambda t: len(t) > MAX_CHARS, "not ASCII": lambda t: not t.isascii()}
    found = {}

    def search(tokens):
        for t in tokens:
            for name in [n for n in tests if n not in found and tests[n](t)]:
                found[name] = t
    search(t for x in sents for t in x.tokens)
    if len(found) < len(tests):
        sents = [*sents, Sentence(HARD, ["O"] * len(HARD), 0)]
        search(HARD)
    index = {}
    for i, t in enumerate(t for x in sents for t in x.tokens):
        index.setdefault(t, i)
    return sents, [index[t] for t in found.values()], [f"{t!r} ({name})" for name, t in found.items()]


@contextmanager
def counting(p: dict, E: np.ndarray):
    """-> tick(): a bar over one case's central differences, one per element of p and E (it
    grows with H·D: minutes at --hidden 50), shown on a terminal only and gone when done."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with Progress(TextColumn("central differences"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task, done = bar.add_task("", total=sum(a.size for a in p.values()) + E.size), [0]

        def tick():                 # the bar's own advance costs about as much as a loss
            done[0] += 1
            if done[0] % 256 == 0:
                bar.update(task, completed=done[0])
        yield tick


def shown(errs: dict, steps: dict) -> str:
    """Each parameter's relative error, with the step it kept where the first one's failed."""
    return "  ".join(f"{k} {v:.1e}" + (f" (h = {steps[k]:g})" if k in steps else "") for k, v in errs.items())


def run_all(s: Settings, train_file=None, vectors=None, vectors_format=None, activation: str | None = None,
            tolerance: float = 1e-6, say=print) -> bool:
    """Every activation on the lecture's binary model, then softmax with dropout and every part of
    a word's spelling (on real windows that include the hardest words for characters), then the
    sentence loss with the spelling too, on real windows; says each parameter's error and returns whether all pass.
    A corpus without entity tags is checked with random labels on its real windows."""
    acts = [activation] if activation else list(ACTIVATIONS)
    train_file = train_file or sample.path("train.conll")
    store, _ = open_store(vectors, vectors_format)
    check_size(s, store.dim)
    sents, types, E, X, features, feats, must, words = real_windows(train_file, store, s)
    rng = np.random.default_rng(s.seed)
    if not types:
        say(f"{train_file}: no entity tags; checking with random labels on its real windows")
    tags = [x.tags for x in sents]
    y = choose(types[0], types, "window").gold(tags) if types else rng.integers(0, 2, len(X)).astype(np.float64)
    worst, retried = 0.0, False

    def case(title, p, Es, ids, yy, head, act, mask, feats_on, fs, lengths=None) -> None:
        """One problem's check, said under its title; worst and retried keep the run's account."""
        nonlocal worst, retried
        steps = {}
        with counting(p, Es) as tick:
            errs = check(p, Es, ids, yy, head, act, s.l2, mask, features if feats_on else (), fs, lengths,
                         tick=tick, tolerance=tolerance, steps=steps)
        worst, retried = max(worst, *errs.values()), retried or bool(steps)
        say(f"{title}\n    " + shown(errs, steps))

    cases = [(a, a, 1, False, 0.0) for a in acts] + [
        (f"{a} + softmax, dropout, casing, affixes, characters; words {', '.join(words)}", a, 4, True, 0.3)
        for a in acts[:1]]
    for name, a, K, spell, drop in cases:
        p, Es, ids, yy, fs, head = sample_problem(E, X, y, s.hidden, K, s.seed, features=features if spell else (),
                                                  feats=feats if spell else None, must=must if spell else ())
        mask = None
        if drop:  # a fixed mask: dropout is then a deterministic function to differentiate
            mask = (np.random.default_rng(s.seed).random((len(ids), s.hidden)) >= drop) / (1 - drop)
        case(name, p, Es, ids, yy, head, a, mask, spell, fs)
    # the sentence loss: A, the emissions and everything below, on real sentences of 1 and 40 words
    head = choose("all", types or ["X"], "sentence")
    y = head.gold(tags) if types else rng.integers(0, 2, len(X))          # O and B-X: always a valid path
    lengths = (1, min(40, len(X) - 1)) if len(X) > 1 else (1,)        # real sentences of 1 and 40 words
    p, Es, ids, yy, fs, lengths, head = sentence_problem(E, X, y, s.hidden, head.classes, s.seed, lengths,
                                                         features, feats)
    case(f"{acts[0]} + sentence loss (A), casing, affixes, characters; sentences of "
         f"{' and '.join(map(str, lengths))} words", p, Es, ids, yy, head, acts[0], None, True, fs, lengths)
    # a second window layer (W2, b2, the padding vector P) under each loss, on sentences of 1, 2 and 40 words
    lengths = tuple(n for n in (1, 2, 40) if n < len(X)) or (1,)
    for head in (choose("all", types or ["X"], "window"), choose("all", types or ["X"], "sentence")):
        y = head.gold(tags) if types else rng.integers(0, 2, len(X))
        p, Es, ids, yy, fs, L, head = sentence_problem(E, X, y, s.hidden, head.classes, s.seed, lengths, features,
                                                       feats, window2=1, head=head)
        mask = (np.random.default_rng(s.seed).random((len(ids), s.hidden)) >= 0.3) / 0.7
        case(f"{acts[0]} + a second window layer (w2 = 1, dropout), {head.loss_name} loss, casing, affixes, "
             f"characters; sentences of {', '.join(map(str, L))} words", p, Es, ids, yy, head, acts[0], mask, True,
             fs, L)
    ok = worst <= tolerance
    say(f"largest relative error {worst:.2e}: {'PASS' if ok else 'FAIL'} (tolerance {tolerance:g})")
    if retried:
        say(f"(h = {STEPS[1]:g}: where central differences with h = {STEPS[0]:g} were over the tolerance, the "
            "parameter was differenced again with the larger step, whose roundoff is ten times smaller)")
    return ok
