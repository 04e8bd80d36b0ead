"""`nerwin explain`'s table: for each token, how each word of its window bears on its label."""
from __future__ import annotations

from nerwin.errors import plural

WIDTH = 16


def bar(x: float, scale: float, width: int = WIDTH) -> str:
    n = int(round(width * abs(x) / scale)) if scale > 0 else 0
    return ("█" * n).ljust(width) if x >= 0 else ("▒" * n).ljust(width)


def explain_text(rows: list[dict], w: int) -> str:
    """A table per token: each window word's |g_i| and g_i . x_i with bars on one scale for every
    token shown, so bars compare across tokens; then what the columns mean."""
    scale_n = max((x["norm"] for r in rows for x in r["window"]), default=1.0)
    chars = any("chars" in x.get("parts", {}) for r in rows for x in r["window"])
    scale_p = max((abs(v) for r in rows for x in r["window"]
                   for v in (x["push"], x.get("parts", {}).get("chars", 0.0))), default=1.0)
    out = []
    for r in rows:
        e = r.get("entity")
        inside = f"; in {e['type']} entity “{e['text']}”, confidence {e['confidence']:.3f}" if e else ""
        out.append(f"[{r['index']}] {r['token']}  ->  {r['label']}  (probability {r['prob']:.3f}, score s "
                   f"{r['score']:+.3f}{inside})")
        for x in r["window"]:
            line = (f"    {x['offset']:+d} {x['word'][:18]:<18} |g| {x['norm']:6.3f} {bar(x['norm'], scale_n)}"
                    f"  g.x {x['push']:+7.3f} {bar(x['push'], scale_p)}")
            if chars:
                c = x["parts"]["chars"]
                line += f"  chars g.x {c:+7.3f} {bar(c, scale_p)}"
            out.append(line)
    out += [
        f"{plural(len(rows), 'token')} shown; each has a window of {plural(2 * w + 1, 'word')} (offsets -{w}..+{w}); "
        "<s> and </s> pad the windows that reach past the sentence's edges.",
        "s: the score of the label shown (its logit; for a binary model, minus the logit when the label is O).",
        "g = ds/dx for that word's slot of x: the slice of delta_window it gets.",
        "|g|: how hard fine-tuning would push that word's vector.",
        "g.x: how much the word's vector pushed s (first order: f is not linear, so these do not add up to s).",
        *(["chars g.x: the same for the word's character vector (the character CNN's output), which unseen "
           "words have too."] if chars else []),
        "Bars share one scale across all tokens shown; █ pushes toward the label, ▒ against it.",
        "An entity's confidence: the model's probability of exactly that entity (at its fitted temperature).",
    ]
    return "\n".join(out)
