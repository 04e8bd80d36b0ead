"""The output layer of the window network, one object per kind of model.

A head owns what differs between the lecture's binary classifier, its softmax extension and
Collobert's sentence-level loss: its parameters and their init, the logits s from h, the
training loss with its hand-derived backward pass, decoding, the probabilities it reports,
and the gold labels it trains on. Nothing outside this module asks what kind a model is:
`choose` picks the head for a training run, the kind is written in the model's config (`head`),
and `Head.from_config` reads it back.

Each head also says how sure it is of each entity it decodes (`decode` returns a Decoded, with
every entity's confidence), and takes a temperature T that scales its probabilities and
confidences, never its decisions.

Shapes: B windows (one per word), H hidden units, K classes.
    binary    s = u.h + c      (B,)    y_hat = sigma(s)          J = mean binary cross-entropy
    softmax   s = V h + c      (B, K)  p = softmax(s)            J = mean cross-entropy
    sentence  f = V h + c      (B, K)  paths scored with A       J = sentence log-likelihood (crf.py)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nerwin.nn.crf import crf_scores, forward_backward, groups, pad, sll_backward, sll_forward
from nerwin.nn.layers import (add_scaled, affine_backward, affine_forward, column_sum, kernels, mean, outer, row_max,
                              row_sum, sigmoid, softmax, xavier)
from nerwin.errors import SettingError
from nerwin.text.schemes import (binary_labels, breaks_line, class_ids, iob2_classes, parse, spans, transitions,
                                 viterbi_batch)

# ---- the losses, each a forward/backward pair ---------------------------------------------

def sigmoid_ce_forward(s, y):
    """s (B,) logits, y (B,) in {0, 1} -> J, cache. J = mean BCE, computed stably."""
    y_hat = sigmoid(s)
    J = mean(np.logaddexp(0.0, s) - y * s)
    return J, (y_hat, y)


def sigmoid_ce_backward(cache):
    """-> ds (B,) = dJ/ds = (y_hat - y) / B."""
    y_hat, y = cache
    return (y_hat - y) / y.shape[0]


class Ready(NamedTuple):
    """A loss's backward already done by its forward's compiled pass: dJ/ds."""
    ds: np.ndarray


def softmax_ce_forward(s, y, compiled=False):
    """s (B, K), y (B,) int -> J, cache. J uses log p = shifted s - log sum exp(shifted s):
    finite for any logit gap, even in float32. compiled (training): the rows' max, sums and
    s̄ in compiled passes around numpy's exp and log (kernels.softmax_ce), the same bits; the
    cache is then s̄ itself (Ready)."""
    if compiled and len(y) and s.flags.c_contiguous:
        shifted = kernels().shift_rows(s)
        total, picked, ds = kernels().softmax_ce(shifted, np.exp(shifted), y)
        return -mean(picked - np.log(total)), Ready(ds)
    shifted = s - row_max(s)
    e = np.exp(shifted)
    total = row_sum(e)
    rows = np.arange(y.shape[0])
    J = -mean(shifted[rows, y] - np.log(total[:, 0]))
    return J, (e / total, y)


def softmax_ce_backward(cache):
    """-> ds (B, K) = dJ/ds = (p - onehot(y)) / B."""
    if isinstance(cache, Ready):
        return cache.ds
    p, y = cache
    ds = p.copy()
    ds[np.arange(y.shape[0]), y] -= 1.0
    ds /= y.shape[0]
    return ds


# ---- the heads ------------------------------------------------------------------------------

class Decoded(NamedTuple):
    """What decoding gives for N tokens of S sentences: each token's class on its sentence's best
    path (N,), the probability of that class (N,), and per sentence {(a, b): confidence} for each
    entity on tokens a..b-1 of that path."""
    path: np.ndarray
    probs: np.ndarray
    confidences: list[dict[tuple[int, int], float]]


class Head:
    """The interface every head implements. `labels` names the classes that decoding returns
    indices into; `classes` are what the model was trained on."""
    kind: str                  # written in config["head"]
    loss_name: str             # the Settings.loss that trains it
    multiclass: bool = True    # every entity type (target "all"), or one
    whole_sentences = False    # the loss reads whole sentences: batches must not cut them
    weight: str                # the output weight the L2 penalty covers
    entity_level = True        # scored by entity spans (all types), or by tokens of the target (binary)
    # the head's gates in a graph (nn/graph.py): its product's name, its score's, J's, and the rules
    graph = {"product": "V·h", "score": "s", "loss": "J = −log softmax(s)[y]", "score_rule": "s̄ = softmax(s) − onehot(y)",
             "h_rule": "h̄ = Vᵀ s̄", "weight_rule": "V̄ = s̄ hᵀ"}

    def __init__(self, target: str, classes: list[str]):
        self.target, self.classes = target, list(classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.classes)})"

    @staticmethod
    def from_config(config: dict) -> "Head":
        """Raises ValueError for a config that names no valid head."""
        kind = config.get("head")
        if kind is None:       # models saved before heads had names: their kind follows from these
            kind = choose_kind(config.get("classes") is not None, config.get("settings", {}).get("loss")).kind
        if kind not in HEADS:
            raise ValueError(f"unknown head {kind!r}; expected one of {', '.join(HEADS)}")
        target = config.get("target")
        if not isinstance(target, str) or not target or breaks_line(target):
            raise ValueError("target must be a non-empty string without tabs or line breaks")   # printed as a tag
        return HEADS[kind].checked(target, config.get("classes"))

    @classmethod
    def checked(cls, target: str, classes) -> "Head":
        raise NotImplementedError

    def config(self) -> dict:
        return {"head": self.kind, "target": self.target, "classes": self.classes}

    @property
    def K(self) -> int:
        return len(self.classes)

    @property
    def labels(self) -> list[str]:
        return self.classes

    def label_ids(self, labels: list[str]) -> np.ndarray:
        """Predicted label names -> class indices."""
        index = {c: i for i, c in enumerate(self.labels)}
        return np.array([index[l] for l in labels], dtype=np.int64)

    # what each head defines
    def init(self, H: int, rng: np.random.Generator, dtype) -> dict:
        raise NotImplementedError

    def shapes(self, H: int) -> dict:
        raise NotImplementedError

    def gold(self, tag_lists) -> np.ndarray:
        """(N,) the class of every token of these tag lists, as the loss reads it."""
        raise NotImplementedError

    def logits_forward(self, h, p):
        raise NotImplementedError

    def logits_backward(self, ds, cache, p, compiled=False) -> tuple[dict, np.ndarray]:
        """ds -> the head's weight gradients and dh (B, H); compiled: training's (layers.outer's)."""
        raise NotImplementedError

    def loss_forward(self, s, y, lengths, p, compiled: bool = True):
        raise NotImplementedError

    def loss_backward(self, cache) -> tuple[np.ndarray, dict]:
        """-> dJ/ds and the gradients of any parameters the loss itself holds."""
        raise NotImplementedError

    def score_dh(self, p, cls) -> np.ndarray:
        """d s_cls / dh (B, H) for classes cls (B,): what `explain` sends down the network."""
        raise NotImplementedError

    def class_score(self, s, cls) -> np.ndarray:
        """The score of class cls (B,) in the logits s: what `explain` explains."""
        raise NotImplementedError

    def distribution(self, s, lengths, p, T: float = 1.0) -> np.ndarray:
        """(N, len(labels)): each token's probability of every label, at temperature T."""
        raise NotImplementedError

    def decode(self, s, lengths, p, T: float = 1.0) -> Decoded:
        raise NotImplementedError

    # shared by every head
    def loss(self, h, y, lengths, p, lam: float):
        """J (with the penalty on this head's weight), its grads, and dh (B, H), as training
        computes them (compiled loops where it has them)."""
        s, c_out = self.logits_forward(h, p)
        J, c_loss = self.loss_forward(s, y, lengths, p)
        ds, grads = self.loss_backward(c_loss)
        more, dh = self.logits_backward(ds, c_out, p, compiled=True)
        add_scaled(more[self.weight], lam, p[self.weight], compiled=True)    # V̄ += λV, one pass
        grads.update(more)
        return J + 0.5 * lam * float(np.vdot(p[self.weight], p[self.weight])), grads, dh

    def dev_loss(self, s, y, lengths, p) -> float:
        """The training loss without the penalty, by the same formulas: per word."""
        return self.loss_forward(s, y, lengths, p, compiled=False)[0] if len(y) else 0.0

    def temper(self, s, p, T: float):
        """Logits and parameters whose probabilities are the model's at temperature T."""
        return (s, p) if T == 1.0 else (s / T, p)

    def describe(self, p) -> dict:
        """What a person may want to see of this head's own parameters (the server shows it)."""
        return {}

    def decoded(self, path, probs, lengths, confidence) -> Decoded:
        """Every entity's confidence(k, a, b) on the decoded paths, found now."""
        labels = np.array(self.labels, dtype=object)[path].tolist()
        out, i = [], 0
        for k, n in enumerate(lengths.tolist()):
            out.append({(a, b): confidence(k, a, b) for _, a, b in spans(labels[i:i + n])})
            i += n
        return Decoded(path, probs, out)


class SoftmaxHead(Head):
    """A softmax over IOB2 tags, the window loss; decoding is Viterbi under IOB2's rules.

    s = V h + c (B, K), p = softmax(s), J = mean cross-entropy."""
    kind, loss_name, weight = "softmax", "window", "V"

    @classmethod
    def checked(cls, target: str, classes) -> "Head":
        if not (isinstance(classes, list) and len(classes) >= 3 and all(isinstance(c, str) for c in classes)
                and classes == iob2_classes([c[2:] for c in classes[1::2]])
                and len(set(classes)) == len(classes) and not any(breaks_line(c) for c in classes)):
            raise ValueError("classes must be O and then B-T, I-T for each type T, distinct, without tabs or line "
                             "breaks (as training writes them)")
        for c in classes:
            parse(c)
        return cls(target, classes)

    def init(self, H, rng, dtype):
        return {"V": xavier(self.K, H, rng, dtype), "c": np.zeros(self.K, dtype)}

    def shapes(self, H):
        return {"V": (self.K, H), "c": (self.K,)}

    def gold(self, tag_lists):
        return np.fromiter((v for tags in tag_lists for v in class_ids(tags, self.classes)), dtype=np.int64)

    def logits_forward(self, h, p):
        """h (B, H) -> s (B, K)."""
        return affine_forward(h, p["V"], p["c"])

    def logits_backward(self, ds, cache, p, compiled=False):
        """ds (B, K) -> {dV, dc}, dh (B, H); compiled: training's (layers.column_sum's)."""
        dV, dc, dh = affine_backward(ds, cache, column_sum(ds, compiled))
        return {"V": dV, "c": dc}, dh

    def loss_forward(self, s, y, lengths, p, compiled=True):
        return softmax_ce_forward(s, y, compiled)

    def loss_backward(self, cache):
        return softmax_ce_backward(cache), {}

    def score_dh(self, p, cls):
        return p["V"][cls]

    def class_score(self, s, cls):
        return s[np.arange(len(cls)), cls]

    def distribution(self, s, lengths, p, T=1.0):
        return softmax(s / T)

    @property
    def inside(self) -> dict[int, int]:
        """B-T's class index -> I-T's."""
        return {k: self.classes.index("I-" + c[2:]) for k, c in enumerate(self.classes) if c.startswith("B-")}

    def decode(self, s, lengths, p, T=1.0):
        """s (N, K) of whole sentences of these lengths -> each token's class on its sentence's
        best valid IOB2 path, the probability of that class, and each entity's confidence. The
        path is decided at T = 1; T scales only the numbers. A window-loss entity's confidence is
        the probability of exactly that span if each token's tag were drawn on its own from its
        softmax: B-T, I-T to its end, and no I-T after it."""
        q = softmax(s)
        emit = np.log(np.maximum(q, 1e-30))
        (trans, start), end = transitions(self.classes), None
        path = np.zeros(len(q), dtype=np.int64)
        for idx, F, mask, _ in groups(emit, lengths):
            path[idx] = viterbi_batch(F, mask, trans, start, end)[mask]
        qT = q if T == 1.0 else softmax(s / T)
        first, inside = np.cumsum(lengths) - lengths, self.inside

        def confidence(k: int, a: int, b: int) -> float:
            f, n = int(first[k]), int(lengths[k])
            B = int(path[f + a])
            c = float(qT[f + a, B] * np.prod(qT[f + a + 1:f + b, inside[B]]))
            return c * float(1.0 - qT[f + b, inside[B]]) if b < n else c
        return self.decoded(path, qT[np.arange(len(q)), path], lengths, confidence)


class SentenceHead(SoftmaxHead):
    """Collobert's sentence-level log-likelihood: the emissions f = Vh + c and transitions A."""
    kind, loss_name, weight, whole_sentences = "sentence", "sentence", "V", True
    graph = dict(SoftmaxHead.graph, score="f", loss="J = the sentence loss of the whole sentence, a word",
                 score_rule="f̄ = (P(y_t = k | sentence) − [y_t = k]) / N, row t of ∂J/∂f", h_rule="h̄ = Vᵀ f̄",
                 weight_rule="V̄ = f̄ hᵀ")

    def __init__(self, target: str, classes: list[str]):
        super().__init__(target, classes)
        self.rules = transitions(self.classes)        # float64 0 / -inf: exact in any dtype

    def init(self, H, rng, dtype):
        return dict(super().init(H, rng, dtype), A=np.zeros((self.K + 1, self.K + 1), dtype))

    def shapes(self, H):
        return dict(super().shapes(H), A=(self.K + 1, self.K + 1))

    def loss_forward(self, s, y, lengths, p, compiled=True):
        A = p["A"]
        return sll_forward(s, y, lengths, A, tuple(r.astype(A.dtype) for r in self.rules), compiled)

    def loss_backward(self, cache):
        df, dA = sll_backward(cache)
        return df, {"A": dA}

    def temper(self, s, p, T):
        return (s, p) if T == 1.0 else (s / T, dict(p, A=p["A"] / T))

    def describe(self, p):
        """The learned transition scores A: row `start` is from the sentence start, column `end` to
        its end; null where IOB2 forbids the transition (its score is -inf, whatever A holds)."""
        A = np.asarray(p["A"], dtype=np.float64)
        trans, start, _ = crf_scores(A, self.rules)
        K = self.K
        shown = np.vstack([np.column_stack([trans, A[:K, K]]), np.append(start, A[K, K])])
        return {"transitions": {"from": [*self.classes, "start"], "to": [*self.classes, "end"],
                                "scores": [[float(v) if np.isfinite(v) else None for v in row] for row in shown]}}

    def distribution(self, s, lengths, p, T=1.0):
        """The path marginals P(y_t = k | sentence)."""
        sT, pT = self.temper(s.astype(np.float64), p, T)
        trans, start, end = crf_scores(pT["A"].astype(np.float64), self.rules)
        out = np.zeros(sT.shape)
        for idx, F, mask, _ in groups(sT, lengths):
            alpha, beta, logZ = forward_backward(F, mask, trans, start, end)
            out[idx] = np.exp(alpha + beta - logZ[:, None, None])[mask]
        return out

    def decode(self, s, lengths, p, T=1.0):
        """Viterbi with A; each token's probability is its path marginal P(y_t | sentence), and an
        entity's confidence the probability that the tag path holds exactly that span."""
        emit = s.astype(np.float64)
        trans, start, end = crf_scores(p["A"].astype(np.float64), self.rules)
        sT, pT = self.temper(emit, p, T)
        transT, startT, endT = crf_scores(pT["A"].astype(np.float64), self.rules)
        path, prob = np.zeros(len(s), dtype=np.int64), np.zeros(len(s))
        where, kept = {}, []                                  # sentence -> (group, row); each group's recursions
        for idx, F, mask, sel in groups(emit, lengths):
            best = viterbi_batch(F, mask, trans, start, end)
            path[idx] = best[mask]
            if T != 1.0:
                F = pad(sT[idx], mask.sum(axis=1))[0]
            alpha, beta, logZ = forward_backward(F, mask, transT, startT, endT)
            marg = np.exp(alpha + beta - logZ[:, None, None])
            prob[idx] = np.take_along_axis(marg, best[:, :, None], axis=2)[:, :, 0][mask]
            kept.append((alpha, beta, F, logZ))
            where.update((int(k), (len(kept) - 1, r)) for r, k in enumerate(sel))
        first, inside = np.cumsum(lengths) - lengths, self.inside

        def confidence(k: int, a: int, b: int) -> float:
            g, r = where[k]
            alpha, beta, F, logZ = kept[g]
            B = int(path[first[k] + a])
            return span_marginal(alpha[r], beta[r], F[r], transT, logZ[r], a, b, int(lengths[k]), B, inside[B])
        return self.decoded(path, prob, lengths, confidence)


class BinaryHead(Head):
    """The lecture's model: y_hat = sigma(u.h + c), "is the centre word of type T"."""
    kind, loss_name, weight, multiclass = "binary", "window", "u", False
    graph = {"product": "u·h", "score": "s", "loss": "J = −y log σ(s) − (1 − y) log(1 − σ(s))",
             "score_rule": "s̄ = σ(s) − y", "h_rule": "h̄ = s̄ u", "weight_rule": "ū = s̄ h"}

    @classmethod
    def checked(cls, target, classes):
        if classes is not None and classes != [target]:
            raise ValueError("a binary model has no classes")
        return cls(target, [target])

    def config(self):
        return {"head": self.kind, "target": self.target, "classes": None}

    @property
    def labels(self):
        return ["O", self.target]

    entity_level = False

    def init(self, H, rng, dtype):
        return {"u": xavier(1, H, rng, dtype)[0], "c": np.zeros((), dtype)}

    def shapes(self, H):
        return {"u": (H,), "c": ()}

    def gold(self, tag_lists):
        return np.fromiter((v for tags in tag_lists for v in binary_labels(tags, self.target)), dtype=np.float32)

    def logits_forward(self, h, p):
        """h (B, H) -> s (B,)."""
        return h @ p["u"] + p["c"], h

    def logits_backward(self, ds, h, p, compiled=False):
        """ds (B,) -> {du, dc}, dh = ds u^T (B, H)."""
        return {"u": h.T @ ds, "c": ds.sum()}, outer(ds, p["u"], compiled)

    def loss_forward(self, s, y, lengths, p, compiled=True):
        return sigmoid_ce_forward(s, y)

    def loss_backward(self, cache):
        return sigmoid_ce_backward(cache), {}

    def loss(self, h, y, lengths, p, lam):
        """Head.loss with the sums and products after numpy's tanh and logaddexp in one compiled
        pass (kernels.binary_ce), the same bits: a dozen numpy calls fewer a step."""
        u = p["u"]
        if not (len(y) and h.dtype == u.dtype == y.dtype):
            return super().loss(h, y, lengths, p, lam)
        s, _ = self.logits_forward(h, p)
        total, ds, dc, dh = kernels().binary_ce(s, np.tanh(0.5 * s), np.logaddexp(0.0, s), y, u)
        J = float(s.dtype.type(total / len(y)))          # layers.mean's rounding
        du = h.T @ ds
        add_scaled(du, lam, u, compiled=True)             # ū += λu
        return J + 0.5 * lam * float(np.vdot(u, u)), {"u": du, "c": dc[0]}, dh

    def distribution(self, s, lengths, p, T=1.0):
        q = sigmoid(s / T)
        return np.stack([1 - q, q], axis=1)

    def score_dh(self, p, cls):
        """s is u.h + c for the target and -(u.h + c) for O."""
        return np.where(cls == 1, 1.0, -1.0)[:, None] * p["u"][None, :]

    def class_score(self, s, cls):
        return np.where(cls == 1, s, -s)

    def decode(self, s, lengths, p, T=1.0):
        """A token is the target where q = sigma(s) >= 0.5. An entity (a run of target tokens) is as
        sure as all its tokens being the target and its neighbours not, each token on its own."""
        q = sigmoid(s)
        pos = q >= 0.5
        qT = q if T == 1.0 else sigmoid(s / T)
        first = np.cumsum(lengths) - lengths

        def confidence(k: int, a: int, b: int) -> float:
            f, n = int(first[k]), int(lengths[k])
            c = float(np.prod(qT[f + a:f + b]))
            c *= float(1.0 - qT[f + a - 1]) if a > 0 else 1.0
            return c * float(1.0 - qT[f + b]) if b < n else c
        return self.decoded(pos.astype(np.int64), np.where(pos, qT, 1 - qT), lengths, confidence)


HEADS = {h.kind: h for h in (BinaryHead, SoftmaxHead, SentenceHead)}
LOSSES = ("auto", "window", "sentence")     # Settings.loss's choices: auto, then each head's loss_name


def choose_kind(every: bool, loss: str) -> type[Head]:
    """The one place a model's kind is decided: from whether it tags every type and its loss
    (auto: the sentence loss for every type, the window loss for one)."""
    if loss in (None, "auto"):
        loss = "sentence" if every else "window"
    for h in HEADS.values():
        if h.multiclass == every and h.loss_name == loss:
            return h
    raise SettingError("loss", "sentence scores whole tag sequences: it needs --target all")


def choose(target: str, types: list[str], loss: str) -> Head:
    """The head for a training run: target "all" takes every type of the corpus."""
    every = target == "all"
    return choose_kind(every, loss)(target, iob2_classes(types) if every else [target])


def span_marginal(alpha, beta, F, trans, logZ, a: int, b: int, n: int, B: int, I: int) -> float:
    """P(the tag path holds exactly the span a..b-1: B at a, I from a+1 to b-1, and no I at b),
    from one sentence's forward and backward variables (alpha, beta, F: (L, K), n words):
    alpha at its start, the span's own transitions and emissions, and beta after its end."""
    score, last = alpha[a, B], B
    for t in range(a + 1, b):
        score += trans[last, I] + F[t, I]
        last = I
    if b == n:
        score += beta[b - 1, last]                    # at the last word, beta is the end score
    else:
        rest = trans[last] + F[b] + beta[b]           # every next tag but I
        rest[I] = -np.inf
        m = rest.max()
        score += m + np.log(np.exp(rest - m).sum()) if np.isfinite(m) else -np.inf
    return float(np.exp(score - logZ))
