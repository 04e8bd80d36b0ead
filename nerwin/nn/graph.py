"""One window's computation graph, gate by gate (CS231n lecture 4, CSC321 lecture 6): each node's
forward value v and its v̄ = ∂J/∂v, found by the network's own code (network.forward and
window_backward, the head's loss and logits, each feature's backward) on one window, in float64.

    E rows, feature tables, W, b, the head's weight and bias         the leaves
    e[i], c[i], r[i], ...    lookup     each slot's parts
    x                        concat     x̄ = δ_window
    W·x                      multiply   W̄ = z̄ xᵀ, x̄ = Wᵀ z̄: each input's gradient scaled by the other
    z = W·x + b              add        hands z̄ = δ to W·x and to b unchanged
    h = f(z)                 f          z̄ = h̄ ∘ f′(z)
    V·h (u·h), s = V·h + c   multiply, add
    J                        loss       against the label given, or the predicted one

Where a value feeds several nodes (a word twice in the window, <s> padding twice) its v̄ is the sum
of what each sends back: the rows' sums are embed_backward's. For the sentence loss, J is the loss
of the whole sentence and the graph follows what reaches this window's emissions f_t, the others
held as they are.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nerwin.nn import network
from nerwin.nn.gradcheck import rel_error
from nerwin.nn.heads import Head
from nerwin.nn.layers import FPRIME, act_backward, act_forward, affine_forward, concat_backward, embed_backward
from nerwin.nn.nodes import Node

EPS = 1e-4          # central differences, float64: smaller steps meet the loss's own roundoff
W_SAMPLE = 20       # entries of W checked numerically: the 10 largest |W̄| and 10 drawn at random


@dataclass
class Graph:
    nodes: list[Node]                  # forward (topological) order
    J: float
    token: int                         # the window's centre, 0-based in its sentence
    words: list[str]                   # the window's 2w+1 words
    label: str                         # the label J is measured against
    against: str                       # "gold" (given) or "predicted"
    check: dict[str, float] = field(default_factory=dict)   # largest relative error, numeric vs v̄
    step: dict | None = None

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


def norm(a) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64)))


def window_graph(p, E, ids, head: Head, act: str, features, feats, y, t: int, s, lengths, words: list[str],
                 row_names: list[str], label: str, against: str, lr: float | None = None, trains=None) -> Graph:
    """The graph of the window ids (1, n) (rows of E; feats: what the features read of it alone)
    centred on token t of a sentence whose logits are s and path y (class ids, (N,)); row_names:
    each slot's row of E as the graph names it. lr: also take one SGD step of size lr on this
    window; trains(row) is None for a row of E that the step moves, else why it does not."""
    p64 = {k: np.asarray(v, np.float64) for k, v in p.items()}
    rows, local = np.unique(ids[0], return_inverse=True)
    E64 = np.asarray(E[rows], np.float64)
    ids_l = local.reshape(1, -1)
    S64 = np.asarray(s, np.float64)

    def loss_of(s_t):
        """J and the loss's cache, from this window's logits (1,) or (1, K)."""
        if head.whole_sentences:
            S = S64.copy()
            S[t] = s_t[0]
            return head.loss_forward(S, y, lengths, p64)
        return head.loss_forward(s_t, y[t:t + 1], None, p64, compiled=False)

    def J_of(pp, EE, ii, ff):
        """J of each window of a batch."""
        h, _ = network.forward(pp, EE, ii, act, None, features, ff)
        s_b = head.logits_forward(h, pp)[0]
        return np.array([loss_of(s_b[i:i + 1])[0] for i in range(len(s_b))])

    # forward and backward, by the network's own code
    h, cache = network.forward(p64, E64, ids_l, act, None, features, feats)
    s_t, c_out = head.logits_forward(h, p64)
    J, c_loss = loss_of(s_t)
    ds, _ = head.loss_backward(c_loss)
    ds = ds[t:t + 1] if head.whole_sentences else ds
    more, dh = head.logits_backward(ds, c_out, p64)
    back = {}
    d_parts, grads = network.window_backward(dh, cache, p64, 0.0, features, trace=back)
    grads.update(more)
    e_rows, dE = embed_backward(d_parts["E"], cache.embed)
    x, W = cache.affine
    z, _, _ = cache.act
    n = ids.shape[1]
    w = n // 2
    offsets = [f"{i - w:+d}" for i in range(n)]

    # the leaves: the rows of E, the features' nodes, then W, b
    nodes: list[Node] = []
    slots = ids_l[0].tolist()
    e_names = {r: f"E[{row_names[slots.index(r)]}]" for r in e_rows.tolist()}
    for r, g in zip(e_rows.tolist(), dE):
        k = slots.count(r)
        nodes.append(Node(e_names[r], "param", E64[r], g, note=f"row {int(rows[r])} of E",
                          rule=("Ē = " + " + ".join(f"ē[{offsets[i]}]" for i in range(n) if slots[i] == r)
                                + (": a branch, its gradients sum" if k > 1 else ""))))
    sources = {"E": [e_names[r] for r in slots]}
    for f, caches in zip(features, cache.features):
        more_nodes, src = f.trace(p64, feats[f.name], caches, [d_parts[part] for part, _, _ in f.parts()], words)
        nodes += more_nodes
        sources.update(src)

    # each slot's parts, then x
    slot_nodes, x_inputs = [], {}
    x_parts = dict(zip(cache.parts, concat_backward(x, cache.concat)))   # x cut as delta_window is
    for i in range(n):
        for part, d_part in d_parts.items():
            name = f"{part.lower()}[{offsets[i]}]"
            g, value = d_part[0, i], x_parts[part][0, i]
            src = sources.get(part)
            slot_nodes.append(Node(name, "lookup", value, g, {src[i]: norm(g)} if src else {},
                                   f"slot {offsets[i]}'s slice of x̄ = δ_window", local_note="1: a copy of its row",
                                   note=f"{words[i]}: its {part} part"))
            x_inputs[name] = norm(g)
    nodes += slot_nodes
    delta, delta_window = back["delta"][0], back["delta_window"][0]
    b_name, c_name, hw = "b", "c", head.weight
    g_ = head.graph
    fp = FPRIME[act]
    nodes += [
        Node("x", "concat", x[0], delta_window, x_inputs, "x̄ = δ_window = Wᵀ z̄",
             local_note="1: each part keeps its slice", note="the window: every slot's parts, concatenated"),
        Node("W", "param", W, grads["W"], rule="W̄ = z̄ xᵀ (the multiply gate: scaled by the other input, x)"),
        Node("W·x", "multiply", z[0] - p64["b"], delta, {"W": norm(grads["W"]), "x": norm(delta_window)},
             "(W·x)̄ = z̄: the add gate hands it on", local_note="x (to W), W (to x)"),
        Node(b_name, "param", p64["b"], grads["b"], rule="b̄ = z̄: the add gate hands it on unchanged"),
        Node("z", "add", z[0], delta, {"W·x": norm(delta), b_name: norm(grads["b"])}, "z̄ = δ = h̄ ∘ f′(z)",
             local_note="1 (to each input)", note="z = W·x + b"),
        Node("h", "f", h[0], dh[0], {"z": norm(delta)}, g_["h_rule"], local=act_backward(np.ones_like(h), cache.act)[0][0],
             local_note=f"f′(z) = {fp}", note=f"h = {act}(z)"),
        Node(hw, "param", p64[hw], more[hw], rule=g_["weight_rule"] + " (the multiply gate)"),
        Node(g_["product"], "multiply", np.asarray(s_t[0] - p64["c"]), ds[0], {"h": norm(dh), hw: norm(more[hw])},
             f"({g_['product']})̄ = {g_['score']}̄: the add gate hands it on", local_note=f"h (to {hw}), {hw} (to h)"),
        Node(c_name, "param", p64["c"], more["c"], rule=f"c̄ = {g_['score']}̄"),
        Node(g_["score"], "add", np.asarray(s_t[0]), ds[0], {g_["product"]: norm(ds), c_name: norm(more["c"])},
             g_["score_rule"], local_note="1 (to each input)", note=f"{g_['score']} = {g_['product']} + c"),
        Node("J", "loss", np.asarray(J), np.asarray(1.0), {g_["score"]: norm(ds)}, "J̄ = 1",
             local=ds[0], local_note=g_["score_rule"], note=f"{g_['loss']}, against {label} ({against})"),
    ]
    graph = Graph(nodes, float(J), t, list(words), label, against)

    # two ways to a gradient: central differences against v̄
    D = x.shape[1]
    X = np.repeat(x, 2 * D, axis=0)
    X[np.arange(D) * 2, np.arange(D)] += EPS
    X[np.arange(D) * 2 + 1, np.arange(D)] -= EPS

    def J_of_x(X):
        zz = affine_forward(X, p64["W"], p64["b"])[0]
        s_b = head.logits_forward(act_forward(zz, act)[0], p64)[0]
        return np.array([loss_of(s_b[i:i + 1])[0] for i in range(len(s_b))])

    Jx = J_of_x(X)
    graph.check["x"] = rel_error(delta_window, (Jx[0::2] - Jx[1::2]) / (2 * EPS))
    R, d = E64.shape
    B = 2 * R * d
    EE = np.tile(E64, (B, 1))
    k = np.arange(B // 2)
    EE[2 * k * R + k // d, k % d] += EPS
    EE[(2 * k + 1) * R + k // d, k % d] -= EPS
    Je = J_of(p64, EE, ids_l + R * np.arange(B)[:, None], feats.take(np.zeros(B, np.int64)))
    num_E = ((Je[0::2] - Je[1::2]) / (2 * EPS)).reshape(R, d)
    graph.check["word rows"] = rel_error(dE, num_E[e_rows])
    dW = grads["W"]
    order = np.argsort(-np.abs(dW).ravel(), kind="stable")[:W_SAMPLE // 2]
    pick = np.concatenate([order, np.random.default_rng(0).choice(dW.size, W_SAMPLE - len(order), replace=False)])
    num_W = []
    for i in pick:
        pp = dict(p64, W=p64["W"].copy())
        pp["W"].flat[i] += EPS
        jp = J_of(pp, E64, ids_l, feats)[0]
        pp["W"].flat[i] -= 2 * EPS
        num_W.append((jp - J_of(pp, E64, ids_l, feats)[0]) / (2 * EPS))
    graph.check["W sample"] = rel_error(dW.flat[pick], np.array(num_W))

    if lr is not None:
        graph.step = one_step(lr, p64, E64, rows, e_rows, dE, grads, slots, row_names, offsets, trains,
                              lambda pp, EE: J_of(pp, EE, ids_l, feats)[0], float(J))
    return graph


def one_step(lr, p64, E64, rows, e_rows, dE, grads, slots, row_names, offsets, trains, J_of, J) -> dict:
    """What one SGD step of size lr on this window's J does: how far each word's row moves (0 when
    fine-tuning is off and the row is pretrained), and J after the step."""
    pp = {k: v.copy() for k, v in p64.items()}
    for k, g in grads.items():
        if k in pp:
            if isinstance(g, tuple):              # a row table: (rows, their sums)
                pp[k][g[0]] -= lr * g[1]
            else:
                pp[k] -= lr * g
    EE = E64.copy()
    moved = {}
    for r, g in zip(e_rows.tolist(), dE):
        held = trains(int(rows[r]))
        if held is None:
            EE[r] -= lr * g
        moved[r] = (held, lr * norm(g) if held is None else 0.0)
    words = [{"offset": offsets[i], "word": row_names[i], "row": int(rows[r]), "moves": moved[r][0] is None,
              "distance": moved[r][1], "held": moved[r][0]} for i, r in enumerate(slots)]
    return {"lr": lr, "J_before": J, "J_after": float(J_of(pp, EE)), "words": words}
