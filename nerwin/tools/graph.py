"""`nerwin graph`'s views of one window's computation graph (nn/graph.py): text in forward and then
backward order, as CSC321's pseudo-code runs; JSON with every array; and an SVG drawing, alone
in a page (--html) or in the served page, where hovering or focusing a node shows its v and v̄."""
from __future__ import annotations

import json
from html import escape as E
from importlib.resources import files

import numpy as np

SMALL = 8          # a vector of up to this many entries is printed whole
TOP = 3            # a larger one: its norm and its largest entries
COLORS = {"param": "#e7f5ff", "lookup": "#fff9db", "concat": "#f3f0ff", "multiply": "#ffe3e3", "add": "#ebfbee",
          "f": "#fff4e6", "max": "#e6fcf5", "affine": "#ffe3e3", "loss": "#f1f3f5"}
GATES = {"param": "a parameter (a leaf)", "lookup": "a row of a table, copied", "concat": "concatenation",
         "multiply": "multiply gate", "add": "add gate", "f": "the activation f", "max": "max gate",
         "affine": "multiply and add gates", "loss": "the loss"}


def fmt(a, small: int = SMALL) -> str:
    a = np.asarray(a, np.float64)
    if a.ndim == 0:
        return f"{float(a):+.6g}"
    if a.size <= small:
        return "[" + ", ".join(f"{v:+.4g}" for v in a.ravel()) + "]"
    flat = a.ravel()
    top = np.argsort(-np.abs(flat), kind="stable")[:TOP]
    where = [np.unravel_index(i, a.shape) for i in top]
    entries = ", ".join(f"[{','.join(map(str, w))}] {flat[i]:+.4g}" for w, i in zip(where, top))
    return f"‖·‖ {np.linalg.norm(flat):.4g}, largest {entries}"


def shape(a) -> str:
    dims = np.shape(a)
    return "scalar" if not dims else "×".join(map(str, dims))


def graph_text(g, kind: str) -> str:
    """Forward, then backward (reverse topological order), then the checks and the step."""
    out = [f"The computation graph of token {g.token} “{g.words[len(g.words) // 2]}”, window "
           f"{' '.join(g.words)} ({kind} model)",
           f"J = {g.J:.6g}, against {g.label} ({'the label given' if g.against == 'gold' else 'the predicted label'})",
           "", "forward: v, node by node in topological order"]
    for i, n in enumerate(g.nodes, 1):
        src = f" ← {', '.join(n.inputs)}" if n.inputs else ""
        out.append(f"{i:>3} {n.name:<14} {n.gate:<8} {shape(n.value):<8} {fmt(n.value)}{src}"
                   + (f"   ({n.note})" if n.note else ""))
    out += ["", "backward: v̄ = ∂J/∂v, in reverse order (each line: the rule, then v̄)"]
    for i, n in enumerate(reversed(g.nodes), 1):
        local = f"; local gradient {n.local_note}" if n.local_note else ""
        out.append(f"{i:>3} {n.name:<14} {n.rule}{local}")
        out.append(f"    {'':<14} v̄ = {fmt(n.grad)}")
    out += ["", "numerical check: central differences against v̄ (float64), largest relative error: "
            + ", ".join(f"{k} {v:.1e}" for k, v in g.check.items())]
    if g.step:
        step = g.step
        out += ["", f"one SGD step of size {step['lr']:g} on this window: J {step['J_before']:.6g} → "
                    f"{step['J_after']:.6g}"]
        for w in step["words"]:
            out.append(f"    {w['offset']:>3} {w['word']:<16} row {w['row']:<7} "
                       + (f"moves {w['distance']:.3g}" if w["moves"] else f"does not move ({w['held']})"))
    return "\n".join(out)


def graph_dict(g, kind: str) -> dict:
    """Every node with its full arrays, and every edge with the norm of the gradient it carries."""
    def arr(a):
        return None if a is None else np.asarray(a, np.float64).tolist()
    nodes = [{"name": n.name, "gate": n.gate, "shape": list(np.shape(n.value)), "value": arr(n.value),
              "grad": arr(n.grad), "rule": n.rule, "local": arr(n.local), "local_note": n.local_note, "note": n.note}
             for n in g.nodes]
    edges = [{"from": a, "to": n.name, "grad_norm": v} for n in g.nodes for a, v in n.inputs.items()]
    return {"kind": kind, "token": g.token, "words": g.words, "label": g.label, "against": g.against, "J": g.J,
            "check": g.check, "step": g.step, "nodes": nodes, "edges": edges}


def layout(g) -> dict[str, tuple[int, int]]:
    """(column, row) of each node: each as late as its consumers allow, so that J ends the graph and
    a parameter sits just before the gate that reads it; rows keep the forward order."""
    consumers = {n.name: [] for n in g.nodes}
    for n in g.nodes:
        for a in n.inputs:
            consumers[a].append(n.name)
    depth = {}
    for n in reversed(g.nodes):
        depth[n.name] = min((depth[c] for c in consumers[n.name]), default=1) - 1
    low = min(depth.values())
    rows: dict[int, int] = {}
    out = {}
    for n in g.nodes:
        c = depth[n.name] - low
        out[n.name] = (c, rows.get(c, 0))
        rows[c] = rows.get(c, 0) + 1
    return out


def graph_svg(g) -> str:
    """The graph as SVG: one box per node (its name and gate), edges labelled with the norm of the
    gradient they carry back; each node is focusable and carries its name in data-node."""
    pos = layout(g)
    cw, rh, bw, bh, pad = 140, 38, 96, 28, 10
    cols = max(c for c, _ in pos.values()) + 1
    rows = max(r for _, r in pos.values()) + 1
    height = [max(r for c2, r in pos.values() if c2 == c) + 1 for c in range(cols)]

    def xy(name):
        c, r = pos[name]
        return pad + c * cw, pad + (r + (rows - height[c]) / 2) * rh

    W, H = pad * 2 + (cols - 1) * cw + bw, pad * 2 + rows * rh
    parts = [f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H:.0f}" '
             f'viewBox="0 0 {W} {H:.0f}" role="img" aria-label="the computation graph of one window">']
    for n in g.nodes:
        x2, y2 = xy(n.name)
        for a, v in n.inputs.items():
            x1, y1 = xy(a)
            x1, y1, y2c = x1 + bw, y1 + bh / 2, y2 + bh / 2
            mid = (x1 + x2) / 2
            parts.append(f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{mid:.0f},{y1:.0f} {mid:.0f},{y2c:.0f} '
                         f'{x2:.0f},{y2c:.0f}"/><text class="norm" x="{mid:.0f}" y="{(y1 + y2c) / 2 - 2:.0f}" '
                         f'text-anchor="middle">{v:.2g}</text>')
    for n in g.nodes:
        x, y = xy(n.name)
        parts.append(f'<g class="node" tabindex="0" data-node="{E(n.name)}"><title>{E(n.name)}: {E(GATES[n.gate])}</title>'
                     f'<rect x="{x}" y="{y:.0f}" width="{bw}" height="{bh}" rx="5" fill="{COLORS[n.gate]}"/>'
                     f'<text x="{x + bw / 2:.0f}" y="{y + 12:.0f}" text-anchor="middle">{E(n.name[:16])}</text>'
                     f'<text class="gate" x="{x + bw / 2:.0f}" y="{y + 24:.0f}" text-anchor="middle">{E(n.gate)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def script() -> str:
    """The page's code that shows a node's numbers: shared by --html and the served page."""
    return files("nerwin.tools").joinpath("graph.js").read_text(encoding="utf-8")


STYLE = """svg.graph .edge{fill:none;stroke:#adb5bd;stroke-width:1.2}svg.graph .norm{font:9px system-ui,sans-serif;fill:#5c636a;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg.graph .node text{font:11px system-ui,sans-serif;fill:#212529}svg.graph .node .gate{font-size:9px;fill:#495057}
svg.graph rect{stroke:#868e96}svg.graph .node:focus rect,svg.graph .node.sel rect{stroke:#1c7ed6;stroke-width:2.5}
svg.graph .node{cursor:pointer;outline:none}.graph-box{overflow:auto;max-height:80vh;border:1px solid #eee}
#graph-detail{font:13px ui-monospace,monospace;white-space:pre-wrap;word-break:break-word}"""


def json_for_script(obj) -> str:
    """JSON safe inside a <script> element: no "</script>" can close it early."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")


def graph_html(g, kind: str) -> str:
    d = graph_dict(g, kind)
    centre = g.words[len(g.words) // 2]
    checks = ", ".join(f"{k} {v:.1e}" for k, v in g.check.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>nerwin graph: {E(centre)}</title>
<style>body{{font:15px/1.45 system-ui,sans-serif;color:#1d1d1f;margin:0 auto;padding:14px;max-width:1400px}}
h1{{font-size:20px}}.meta{{color:#555;font-size:13px}}.panel{{display:flex;flex-wrap:wrap;gap:16px}}
#graph-detail{{min-height:8.5em;background:#f8f9fa;border-radius:6px;padding:6px 10px;margin-bottom:8px}}
{STYLE}</style></head><body>
<h1>The computation graph of “{E(centre)}” (token {g.token})</h1>
<p class="meta">{E(kind)} model; window {E(" ".join(g.words))}; J = {g.J:.6g} against {E(g.label)}
({'the label given' if g.against == 'gold' else 'the predicted label'}). Edges carry the norm of the gradient
flowing back along them. Numerical check, largest relative error: {E(checks)}.</p>
<div id="graph-detail" aria-live="polite">Hover over a node, or focus it with Tab, to see its value v and v̄ = ∂J/∂v.</div>
<div class="graph-box">{graph_svg(g)}</div>
<script type="application/json" id="graph-data">{json_for_script(d)}</script>
<script>{script()}
showGraph(document.querySelector("svg.graph"), JSON.parse(document.getElementById("graph-data").textContent),
          document.getElementById("graph-detail"));</script>
</body></html>"""
