"""What a model learned, for people: `nerwin report`'s page.

The page is one HTML file, inline CSS and SVG, no script and nothing fetched, so it opens
offline. Every string that comes from a corpus or a path is escaped: tweets hold markup.
Its scores are the dict Tagger.evaluate returns, the one `nerwin evaluate --json` prints.
"""
from __future__ import annotations

import html
import math
from collections import Counter
from pathlib import Path

import numpy as np

from nerwin.apply.tagger import Tagger
from nerwin.text.corpus import Sentence
from nerwin.text.schemes import spans

MAX_ERRORS = 25   # sentences shown per kind of error
KINDS = ("missed", "spurious", "wrong type", "wrong boundary")
esc = html.escape


# ---- errors and confusion -----------------------------------------------------------------

def gold_view(tagger: Tagger, tags: list[str]) -> list[str]:
    """Gold tags as the model's labels (IOB2 for an all-types model, target/O for a binary one)."""
    labels = tagger.labels
    return [labels[int(i)] for i in tagger.head.gold([tags])]


def errors(gold: list[str], pred: list[str]) -> list[tuple[str, tuple | None, tuple | None]]:
    """(kind, gold span, predicted span) for each entity-level error of one sentence."""
    G, P = set(spans(gold)), set(spans(pred))
    extra = sorted(P - G, key=lambda x: (x[1], x[2], x[0]))     # in the sentence's order, not the set's (hashes vary)
    out = []
    for g in sorted(G - P, key=lambda x: x[1]):
        same = [p for p in extra if p[1:] == g[1:]]
        near = [p for p in extra if p[1] < g[2] and g[1] < p[2]]
        if same:
            out.append(("wrong type", g, same[0]))
        elif near:
            out.append(("wrong boundary", g, near[0]))
        else:
            out.append(("missed", g, None))
    for p in extra:
        if not any(g[1] < p[2] and p[1] < g[2] for g in G):
            out.append(("spurious", None, p))
    return out


# ---- the page -------------------------------------------------------------------------------

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;max-width:1150px;margin:24px auto;padding:0 20px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:13px}table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:3px 9px;border:1px solid #ddd;text-align:right}th{background:#f4f4f6}td.l,th.l{text-align:left}
tr.micro td{font-weight:600;background:#fafafa}
.cm td{min-width:46px}.cm th{font-size:12px}
.sent{margin:6px 0 12px;padding:8px 10px;border:1px solid #e2e2e6;border-radius:6px;background:#fcfcfd}
.row{margin:2px 0;line-height:2}.who{display:inline-block;width:78px;color:#666;font-size:12px}
.tok{padding:1px 3px;border-radius:3px;margin-right:1px;white-space:pre-wrap;overflow-wrap:anywhere;unicode-bidi:isolate}
.ent{border:1px solid rgba(0,0,0,.25)}.err{outline:2px solid #d33;outline-offset:1px}
.kind{font-size:13px;color:#555}.more{color:#a33;font-size:13px}
.bars{display:grid;grid-template-columns:110px 150px 60px 150px 60px;gap:1px 8px;font-size:12px;margin:6px 0 0 78px;align-items:center}
.bars.chars{grid-template-columns:110px 130px 50px 130px 55px 130px 55px}.bars .w{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.b{height:9px;background:#4a7bd0;border-radius:2px}.pos{background:#2f9e44}.neg{background:#d9480f}
.scroll{overflow-x:auto;max-width:100%}
@media (max-width:600px){body{padding:0 10px}.bars,.errs,.why{margin-left:0}.who{display:block;width:auto}}
.summary{font-size:15px;margin:10px 0}.errs{margin:4px 0 0 78px}.errs,.why{overflow-wrap:anywhere}
.legend span{margin-right:12px}.why{margin:6px 0 0 78px;font-size:13px;color:#444}svg text{font:11px system-ui,sans-serif;fill:#333}
"""
PALETTE = ["#ffd8a8", "#a5d8ff", "#b2f2bb", "#eebefa", "#ffec99", "#99e9f2", "#fcc2d7", "#d0bfff"]


def colors(types: list[str]) -> dict[str, str]:
    return {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(types)}


def label_types(labels: list[str]) -> list[str]:
    """The entity types of a model's labels, sorted."""
    return sorted({l[2:] if l[1:2] == "-" else l for l in labels if l != "O"})


def type_colors(labels: list[str]) -> dict[str, str]:
    """Each type's colour, the same in the report and on the served page."""
    return colors(label_types(labels))


def fig(value, key: str, fmt: str = ".3f") -> str:
    """A figure, with its exact value for the tests that compare the page with evaluate --json."""
    shown = f"{value:{fmt}}" if isinstance(value, float) else str(value)
    return f'<td data-key="{esc(key)}" data-value="{esc(repr(value))}">{shown}</td>'


def scores_table(m: dict, binary: bool, target: str) -> str:
    cols = ("precision", "recall", "f1", "tp", "fp", "fn", "support")
    head = "".join(f"<th>{c}</th>" for c in cols)
    rows = []
    if not binary:
        for t, x in m["per_type"].items():
            rows.append(f'<tr><td class="l">{esc(t)}</td>' + "".join(fig(x[c], f"per_type.{t}.{c}") for c in cols) + "</tr>")
    name = "micro average" if not binary else f"{esc(target)} (token level)"
    rows.append(f'<tr class="micro"><td class="l">{name}</td>' + "".join(fig(m[c], c) for c in cols) + "</tr>")
    return (f'<div class="scroll"><table><tr><th class="l">{"type" if not binary else "class"}</th>{head}</tr>'
            f'{"".join(rows)}</table></div>')


def confusion_table(labels: list[str], cm: np.ndarray) -> str:
    head = "".join(f"<th>{esc(l)}</th>" for l in labels)
    rows = []
    for i, l in enumerate(labels):
        total = cm[i].sum()
        cells = []
        for j in range(len(labels)):
            share = cm[i, j] / total if total else 0.0
            bg = f"rgba({'47,158,68' if i == j else '217,72,15'},{0.08 + 0.8 * share:.2f})" if cm[i, j] else "#fff"
            cells.append(f'<td style="background:{bg}" title="{share:.1%} of gold {esc(l)}">{cm[i, j]:,}</td>')
        rows.append(f'<tr><th class="l">{esc(l)}</th>{"".join(cells)}<td>{total:,}</td></tr>')
    return (f'<div class="scroll"><table class="cm"><tr><th class="l">gold \\ predicted</th>{head}<th>gold total</th>'
            f'</tr>{"".join(rows)}</table></div><p class="kind">Tokens; shading is the share of the gold row '
            "(green: right, red: wrong).</p>")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) that cover lo..hi."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0) * 0.1
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = [first + k * step for k in range(int(math.ceil((hi - first) / step)) + 1)]
    return [round(t, 12) for t in ticks]


def tick_label(t: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{t:.{decimals + (1 if round(step / 10 ** math.floor(math.log10(step)), 6) == 2.5 else 0)}f}"


def chart(xs, series, title, best, ymin=None, ymax=None, w=500, h=210) -> str:
    """An SVG line chart: series = [(name, values, colour)], the kept epoch marked. The y axis
    spans the data (from ymin when given) with round ticks."""
    pad_l, pad_r, pad_t, pad_b = 46, 12, 24, 30
    vals = [v for _, ys, _ in series for v in ys if v is not None]
    ticks = nice_ticks(min(vals) if ymin is None else ymin, max(vals) if ymax is None else ymax)
    lo, hi = ticks[0], ticks[-1]
    X = lambda x: pad_l + (w - pad_l - pad_r) * ((x - xs[0]) / max(xs[-1] - xs[0], 1))  # noqa: E731
    Y = lambda y: pad_t + (h - pad_t - pad_b) * (1 - (y - lo) / (hi - lo))  # noqa: E731
    parts = [f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" style="max-width:100%;height:auto" '
             f'role="img" aria-label="{esc(title)}">',
             f'<text x="{pad_l}" y="15" style="font-weight:600">{esc(title)}</text>',
             f'<line x1="{pad_l}" y1="{h - pad_b}" x2="{w - pad_r}" y2="{h - pad_b}" stroke="#999"/>',
             f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{h - pad_b}" stroke="#999"/>']
    for y in ticks:
        parts.append(f'<text x="{pad_l - 6}" y="{Y(y) + 4:.1f}" text-anchor="end">{tick_label(y, ticks[1] - ticks[0])}'
                     f'</text><line x1="{pad_l}" y1="{Y(y):.1f}" x2="{w - pad_r}" y2="{Y(y):.1f}" stroke="#eee"/>')
    step = max(1, len(xs) // 10)
    for x in xs[::step]:
        parts.append(f'<text x="{X(x):.1f}" y="{h - pad_b + 14}" text-anchor="middle">{x}</text>')
    parts.append(f'<text x="{w - pad_r}" y="{h - 2}" text-anchor="end">epoch</text>')
    if best is not None:
        right = X(best) > w - 90                         # near the right edge: label on the left
        parts.append(f'<line x1="{X(best):.1f}" y1="{pad_t}" x2="{X(best):.1f}" y2="{h - pad_b}" stroke="#d33" '
                     f'stroke-dasharray="4 3"/><text x="{X(best) + (-4 if right else 4):.1f}" y="{h - pad_b - 6}" '
                     f'style="fill:#d33" text-anchor="{"end" if right else "start"}">kept: epoch {best}</text>')
    for i, (name, ys, col) in enumerate(series):
        pts = " ".join(f"{X(x):.1f},{Y(y):.1f}" for x, y in zip(xs, ys) if y is not None)
        parts.append(f'<polyline fill="none" stroke="{col}" stroke-width="2" points="{pts}"/>')
        parts += [f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="2.5" fill="{col}"/>' for x, y in zip(xs, ys) if y is not None]
        parts.append(f'<text x="{pad_l + 110 + 90 * i}" y="15" style="fill:{col}">— {esc(name)}</text>')   # a style: pages' CSS sets svg text's fill
    return "".join(parts) + "</svg>"


def curves(history: dict | None) -> str:
    if not history or not history.get("epochs"):
        return "<p>No training history in the model directory (models from nerwin 0.1 have none).</p>"
    ep = history["epochs"]
    xs = [r["epoch"] for r in ep]
    dev = [r.get("dev") for r in ep]
    loss = chart(xs, [("train loss", [r["loss"] for r in ep], "#4a7bd0")]
                 + ([("dev loss", [d.get("loss") for d in dev], "#f08c00")] if all(dev) else []),
                 "loss per word", history.get("best_epoch"), ymin=0)
    f1 = chart(xs, [("dev F1", [d["f1"] for d in dev], "#2f9e44")], "dev F1", history.get("best_epoch")) \
        if all(dev) else "<p>No dev file: the kept epoch is the lowest training loss.</p>"
    return loss + f1


def unit_square(title: str, xlabel: str, ylabel: str, w: int, h: int, below: int = 0):
    """An SVG frame with both axes from 0 to 1, and `below` pixels under it for a legend: -> X, Y
    (value to pixel) and its opening parts."""
    pad_l, pad_b, pad_t, pad_r = 40, 34, 26, 18
    X = lambda v: pad_l + (w - pad_l - pad_r) * v  # noqa: E731
    Y = lambda v: h - pad_b - (h - pad_b - pad_t) * v  # noqa: E731
    parts = [f'<svg width="{w}" height="{h + below}" viewBox="0 0 {w} {h + below}" style="max-width:100%;height:auto" '
             f'role="img" aria-label="{esc(title)}">',
             f'<text x="{pad_l}" y="15" style="font-weight:600">{esc(title)}</text>',
             f'<text x="{(X(0) + X(1)) / 2:.1f}" y="{h - 4}" text-anchor="middle">{esc(xlabel)}</text>',
             f'<text x="12" y="{(Y(0) + Y(1)) / 2:.1f}" transform="rotate(-90 12 {(Y(0) + Y(1)) / 2:.1f})" '
             f'text-anchor="middle">{esc(ylabel)}</text>']
    for v in (0, 0.25, 0.5, 0.75, 1):
        parts.append(f'<text x="{pad_l - 5}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>'
                     f'<text x="{X(v):.1f}" y="{h - pad_b + 14}" text-anchor="middle">{v:.2f}</text>'
                     f'<line x1="{pad_l}" y1="{Y(v):.1f}" x2="{w - pad_r}" y2="{Y(v):.1f}" stroke="#eee"/>')
    return X, Y, parts


def reliability_svg(cal: dict, title: str, w: int = 300, h: int = 260) -> str:
    """A reliability diagram: per confidence bin, how often the predictions were right (bars), against
    the diagonal of perfect calibration; bins without predictions are left empty."""
    X, Y, parts = unit_square(f"{title}: ECE {cal['ece']:.3f}", "confidence", "share right", w, h)
    for b in cal["bins"]:
        if not b["n"]:
            continue
        x0, x1 = X(b["lo"]) + 1, X(b["hi"]) - 1
        parts.append(f'<rect x="{x0:.1f}" y="{Y(b["accuracy"]):.1f}" width="{x1 - x0:.1f}" '
                     f'height="{Y(0) - Y(b["accuracy"]):.1f}" fill="#4a7bd0" opacity="0.75">'
                     f'<title>{b["n"]:,} with confidence {b["lo"]:.1f}–{b["hi"]:.1f}: right {b["accuracy"]:.1%}'
                     f'</title></rect>')
    parts.append(f'<line x1="{X(0)}" y1="{Y(0)}" x2="{X(1)}" y2="{Y(1)}" stroke="#d33" stroke-dasharray="4 3"/>')
    return "".join(parts) + "</svg>"


def pr_svg(conf: dict, w: int = 360, h: int = 260) -> str:
    """Precision against recall of the predicted entities as the confidence threshold falls, with
    the thresholds 0.5, 0.8 and 0.9 marked."""
    marks = ("#d33", "#e67700", "#7048e8")
    X, Y, parts = unit_square("entities kept at confidence ≥ p", "recall", "precision", w, h, 16 * len(conf["at"]) + 4)
    # a threshold that keeps no entity has no precision: the curve starts at the first kept one
    pts = " ".join(f"{X(c['recall']):.1f},{Y(c['precision']):.1f}" for c in conf["curve"] if c["recall"] > 0)
    parts.append(f'<polyline fill="none" stroke="#2f9e44" stroke-width="2" points="{pts}"/>')
    for i, (t, x) in enumerate(sorted(conf["at"].items(), key=lambda kv: -float(kv[0]))):
        col = marks[i % len(marks)]
        if x["kept"]:
            parts.append(f'<circle cx="{X(x["recall"]):.1f}" cy="{Y(x["precision"]):.1f}" r="4" fill="{col}"/>')
        y = h + 12 + 16 * i                              # the legend under the axes, never on the curve
        parts.append(f'<circle cx="{X(0) + 4:.1f}" cy="{y - 4}" r="4" fill="{col}"/>'
                     f'<text x="{X(0) + 12:.1f}" y="{y}" data-threshold="{esc(t)}" '
                     f'data-precision="{x["precision"]!r}">p ≥ {esc(t)}: precision {x["precision"]:.2f}, recall '
                     f'{x["recall"]:.2f} ({x["kept"]:,} kept)</text>')
    return "".join(parts) + "</svg>"


def sentence_html(tokens, tags, wrong: set, col) -> str:
    """The sentence with its entities coloured by type; the spans in wrong outlined."""
    ents = {a: (t, b) for t, a, b in spans(tags)}
    out, i = [], 0
    while i < len(tokens):
        if i in ents:
            t, b = ents[i]
            err = " err" if (t, i, b) in wrong else ""
            text = " ".join(esc(x) for x in tokens[i:b])
            out.append(f'<span class="tok ent{err}" style="background:{col.get(t, "#eee")}" title="{esc(t)}">{text}'
                       f' <small>{esc(t)}</small></span>')
            i = b
        else:
            out.append(f'<span class="tok">{esc(tokens[i])}</span>')
            i += 1
    return " ".join(out)


def bars_html(row: dict) -> str:
    """explain's bars for one token: |g| and g·x of each window word, and g·r, its characters'
    share, when the model reads characters."""
    chars = any("chars" in w.get("parts", {}) for w in row["window"])
    sn = max(w["norm"] for w in row["window"]) or 1.0
    sp = max(max(abs(w["push"]), abs(w.get("parts", {}).get("chars", 0.0))) for w in row["window"]) or 1.0

    def signed(v):
        return (f'<span><div class="b {"pos" if v >= 0 else "neg"}" style="width:{100 * abs(v) / sp:.0f}%"></div>'
                f'</span><span>{v:+.3f}</span>')
    cells = ['<span></span><span class="kind">|g|: push on the vector</span><span></span>'
             '<span class="kind">g·x: push on the decision</span><span></span>'
             + ('<span class="kind">g·r: its characters\' push</span><span></span>' if chars else '')]
    for w in row["window"]:
        cells.append(f'<span class="w" title="{esc(w["word"])}">{esc(w["word"])}</span><span><div class="b" '
                     f'style="width:{100 * w["norm"] / sn:.0f}%"></div></span><span>{w["norm"]:.3f}</span>'
                     + signed(w["push"]) + (signed(w["parts"]["chars"]) if chars else ""))
    return (f'<div class="why">why "<bdi>{esc(row["token"])}</bdi>" → {esc(row["label"])} ({row["prob"]:.2f}): each word of its window'
            f'</div><div class="scroll"><div class="bars{" chars" if chars else ""}">{"".join(cells)}</div></div>')


def html_report(tagger: Tagger, path, model_dir, history: dict | None, max_errors: int = MAX_ERRORS) -> tuple[str, dict]:
    """-> (the page, the metrics it shows)."""
    binary = not tagger.head.entity_level
    labels = tagger.labels
    index = {l: i for i, l in enumerate(labels)}
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    found: dict[str, list] = {k: [] for k in KINDS}       # each sentence once, under its first error's kind
    counts: Counter = Counter()
    size = Counter()

    def look(s: Sentence, doc) -> None:                   # each sentence as it is tagged: none is kept but these
        gold = gold_view(tagger, s.tags)
        size.update(sentences=1, tokens=len(s.tokens))
        np.add.at(cm, ([index[g] for g in gold], [index[p] for p in doc.labels]), 1)
        errs = errors(gold, doc.labels)
        counts.update(kind for kind, _, _ in errs)
        if errs and len(found[errs[0][0]]) < max_errors:
            found[errs[0][0]].append((s, gold, doc, errs))
    metrics = tagger.evaluate(path, collect=look)         # the corpus is read and tagged once
    types = label_types(labels)
    col = colors(types)
    st = tagger.settings
    model_line = (f"target {esc(tagger.target)}; {esc(tagger.head.kind)} head, {len(labels)} labels; "
                  f"window w={st.window}; H={st.hidden}; {esc(st.activation)}; casing {st.casing}; "
                  f"{st.chars} character filters; vectors "
                  f"{esc(str(tagger.config.get('vectors', {}).get('source')))}")
    name, model_name = Path(str(path)).name, Path(str(model_dir)).name      # no paths of this machine
    kinds = [k for k in KINDS if not (binary and k == "wrong type")]       # one type: never a wrong one
    summary = " · ".join(f'<a href="#{k.replace(" ", "-")}">{esc(k)}: {counts[k]:,}</a>'
                         for k in sorted(kinds, key=lambda k: -counts[k]))
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>nerwin report: {esc(name)}</title>"
             f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head><body>',
             f"<h1>nerwin report: {esc(name)}</h1>",
             f'<p class="meta">model “{esc(model_name)}”: {model_line}. {size["sentences"]:,} sentences, '
             f"{size['tokens']:,} tokens.</p>",
             f'<p class="summary"><b>{metrics["f1"]:.3f}</b> {"token" if binary else "entity"} F1 · '
             f"{sum(counts.values()):,} errors: {summary}</p>",
             f"<h2>Scores ({'token level' if binary else 'entity level, span-exact, as conlleval'})</h2>",
             scores_table(metrics, binary, tagger.target),
             "<h2>How sure, and how right</h2>",
             f'<p class="kind">An entity\'s confidence is the model\'s probability of exactly that entity; '
             f'temperature {metrics["calibration"]["temperature"]:.3f}, fitted on dev. Hover a bar for its '
             "figures.</p>",
             reliability_svg(metrics["calibration"]["entity"], "entities")
             + reliability_svg(metrics["calibration"]["token"], "tokens") + pr_svg(metrics["confidence"]),
             "<h2>Learning curves of the training run</h2>", curves(history),
             "<h2>Confusion matrix (tokens, gold rows × predicted columns)</h2>", confusion_table(labels, cm),
             "<h2>Errors</h2>",
             '<p class="legend">' + "".join(f'<span class="tok ent" style="background:{c}">{esc(t)}</span>'
                                            for t, c in col.items()) +
             ' <span class="tok err">the error</span></p>']
    for kind in sorted(kinds, key=lambda k: -counts[k]):
        n = counts[kind]
        parts.append(f'<h3 id="{kind.replace(" ", "-")}">{esc(kind)}: {n:,}</h3>')
        for s, gold, doc, errs in found[kind]:
            at = (errs[0][2] or errs[0][1])[1]
            explained = tagger.explain(s.tokens, read=True)          # BTC test holds an empty token
            also = ", ".join(f"{esc(k)} {esc((g or p)[0])} “<bdi>{esc(' '.join(s.tokens[(g or p)[1]:(g or p)[2]]))}</bdi>”"
                             for k, g, p in errs)
            parts.append('<div class="sent">'
                         f'<div class="row"><span class="who">gold</span>'
                         f'{sentence_html(s.tokens, gold, {g for _, g, _ in errs if g}, col)}</div>'
                         f'<div class="row"><span class="who">predicted</span>'
                         f'{sentence_html(s.tokens, doc.labels, {p for _, _, p in errs if p}, col)}</div>'
                         f'<div class="kind errs">{len(errs)} error{"s" if len(errs) != 1 else ""}: {also}</div>'
                         f'{bars_html(explained[at])}</div>')
        shown = sum(k == kind for x in found.values() for _, _, _, errs in x for k, _, _ in errs)
        if n > shown:
            parts.append(f'<p class="more">{n - shown:,} more {esc(kind)} errors are in sentences not shown.</p>')
    parts.append("</body></html>")
    return "\n".join(parts), metrics
