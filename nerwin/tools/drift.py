"""The lecture's pitfall of retraining word vectors (CS224n L4: TV, telly, television).

A one-word window (w=0) trained with the same model, loop and optimizers as
`nerwin train`, once with frozen vectors and once fine-tuned, from the same seed.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from nerwin import sample
from nerwin.errors import NerwinError, refuse_utf16
from nerwin.model import WindowModel
from nerwin.nn import network
from nerwin.nn.heads import BinaryHead
from nerwin.nn.layers import sigmoid
from nerwin.settings import Settings
from nerwin.text.windows import Vocab
from nerwin.training.data import Data
from nerwin.training.loop import Run, fit

WORDS = sample.path("drift_words.txt")


def read_words(path: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """-> [(split, class, word)], [positive class, negative class]."""
    rows, classes, seen = [], [], {}
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise NerwinError("no such words file", path) from None
    except IsADirectoryError:
        raise NerwinError("is a directory, expected a words file", path) from None
    except OSError as e:
        raise NerwinError(f"cannot read ({e.strerror})", path) from None
    except UnicodeDecodeError:
        with open(path, "rb") as f:                        # the first two bytes, not the file again
            refuse_utf16(f.read(2), path)
        raise NerwinError("not valid UTF-8", path) from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ("train", "test"):
            raise NerwinError("expected `train|test CLASS WORD`", path, n)
        split, cls, word = parts
        if word in seen:      # a test word seen in training would be "never seen" in the verdict
            k, (split0, cls0) = seen[word]
            raise NerwinError(f"{word!r} is listed again (first at line {k}, as {split0} {cls0}); each word "
                              "may appear once, and a test word must be one the training never saw", path, n)
        seen[word] = n, (split, cls)
        if cls not in classes:
            classes.append(cls)
        rows.append((split, cls, word))
    if len(classes) != 2:
        raise NerwinError(f"needs exactly two classes, found {len(classes)}: {', '.join(classes)}", path)
    if not any(split == "train" for split, _, _ in rows) or not any(split == "test" for split, _, _ in rows):
        raise NerwinError("needs both train and test words", path)
    return rows, classes


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


# the lecture's model: one word, its vector only, no dropout
LECTURE = dict(window=0, casing=0, affixes=0, chars=0, word_dropout=0.0, dropout=0.0)


def experiment(rows, classes, store, s: Settings, anchor: str = "television") -> dict:
    """Train frozen and fine-tuned from the same seed; every figure the table and plot need."""
    s = replace(s, **LECTURE)
    words = [w for _, _, w in rows]
    found = store.lookup(words)
    missing = [w for w in words if w not in found]
    if missing:
        raise NerwinError(f"not in the vectors: {', '.join(missing)}; change the words file (--words)")
    if anchor not in words:
        anchor = next(w for sp, _, w in rows if sp == "test")
    E0 = np.stack([found[w] for w in words]).astype(s.dtype)
    y_all = np.array([1.0 if c == classes[0] else 0.0 for _, c, _ in rows], dtype=s.dtype)
    train_idx = np.array([i for i, (sp, _, _) in enumerate(rows) if sp == "train"])
    train = Data(train_idx[:, None].astype(np.int32), y_all[train_idx], [])    # one-word windows of the train rows
    all_ids = np.arange(len(words), dtype=np.int32)[:, None]
    out = {"classes": classes, "anchor": anchor, "settings": s.to_dict(), "runs": {}}
    head = BinaryHead(classes[0], [classes[0]])
    for mode, fine in (("frozen", False), ("fine-tuned", True)):
        ss = replace(s, fine_tune=fine, window=0)
        m = WindowModel.new(ss, head, [], Vocab(words), E0.copy(), {"source": "drift", "format": None, "limit": None})
        fit(Run(), m, train, ss, trainable=None if fine else np.zeros(len(m.E), dtype=bool))
        p, E = m.params, m.E
        prob = sigmoid(network.scores(p, E, all_ids, head, ss.activation))    # P(first class)
        out["runs"][mode] = {"E": E, "params": p, "prob": prob}
    E1 = out["runs"]["fine-tuned"]["E"]
    a = words.index(anchor)
    out["words"] = [{
        "word": w, "class": c, "seen": sp == "train",
        "cos_before": cosine(E0[i], E0[a]), "cos_after": cosine(E1[i], E1[a]),
        "moved": float(np.linalg.norm(E1[i] - E0[i])),
        "p_frozen": float(out["runs"]["frozen"]["prob"][i]),
        "p_fine_tuned": float(out["runs"]["fine-tuned"]["prob"][i]),
    } for i, (sp, c, w) in enumerate(rows)]
    out["E_before"] = E0
    return out


def verdict(res: dict) -> list[str]:
    pos, neg = res["classes"]
    a = next(r for r in res["words"] if r["word"] == res["anchor"])
    right = (lambda q: q >= 0.5) if a["class"] == pos else (lambda q: q < 0.5)
    seen = [r for r in res["words"] if r["word"] in ("tv", "telly") and r["seen"]] or \
        sorted((r for r in res["words"] if r["seen"]), key=lambda r: -r["cos_before"])[:2]
    moved = ", ".join(f"{r['word']} by {r['moved']:.2f}" for r in seen)
    lab = lambda q: pos if q >= 0.5 else neg
    return [
        f"Fine-tuning moved the words seen in training ({moved}); {a['word']}, never seen, moved {a['moved']:.1f}.",
        f"Frozen vectors: {a['word']} -> {lab(a['p_frozen'])} (P({pos}) = {a['p_frozen']:.2f}), "
        f"{'correct' if right(a['p_frozen']) else 'wrong'}: the classifier generalizes through the pretrained space.",
        f"Fine-tuned vectors: {a['word']} -> {lab(a['p_fine_tuned'])} (P({pos}) = {a['p_fine_tuned']:.2f}), "
        f"{'correct' if right(a['p_fine_tuned']) else 'wrong'}: "
        + ("its synonyms moved and it was left behind. With a small training set, don't fine-tune the word vectors."
           if not right(a["p_fine_tuned"]) else "this time the effect did not appear."),
    ]


def effect_holds(res: dict) -> bool:
    """Frozen right, fine-tuned wrong, anchor did not move, seen words moved."""
    pos = res["classes"][0]
    a = next(r for r in res["words"] if r["word"] == res["anchor"])
    right = (lambda q: q >= 0.5) if a["class"] == pos else (lambda q: q < 0.5)
    return (right(a["p_frozen"]) and not right(a["p_fine_tuned"]) and a["moved"] == 0.0
            and all(r["moved"] > 0 for r in res["words"] if r["seen"]))


def table(res: dict) -> list[str]:
    a = res["anchor"]
    head = (f"{'word':<12} {'class':<11} {'seen':<5} {'cos→' + a + ' before':>20} {'after':>6} "
            f"{'moved (L2)':>10} {'P(' + res['classes'][0] + ') frozen':>20} {'fine-tuned':>10}")
    lines = [head, "-" * len(head)]
    for r in res["words"]:
        lines.append(f"{r['word']:<12} {r['class']:<11} {'yes' if r['seen'] else 'no':<5} {r['cos_before']:>20.3f} "
                     f"{r['cos_after']:>6.3f} {r['moved']:>10.3f} {r['p_frozen']:>20.3f} {r['p_fine_tuned']:>10.3f}")
    return lines


def plane(res: dict) -> tuple[np.ndarray, np.ndarray]:
    """-> origin (d,), axes (2, d): the plane through the anchor (television), whose first axis
    is the direction in which the frozen classifier's score changes fastest there (the one
    that separates the classes for it), and whose second is the largest remaining variance
    of the words before and after fine-tuning. The anchor never moves, so one plane serves
    both classifiers, and each shows the anchor on the side its full-space probability says."""
    words = [r["word"] for r in res["words"]]
    origin = res["E_before"][words.index(res["anchor"])].astype(np.float64)
    p = {k: v.astype(np.float64) for k, v in res["runs"]["frozen"]["params"].items()}
    head = BinaryHead(res["classes"][0], [res["classes"][0]])
    g, _ = network.score_gradient(p, origin[None], np.zeros((1, 1), dtype=np.int64), head, res["settings"]["activation"],
                                np.array([1]))["E"]
    u1 = g[0, 0] / np.linalg.norm(g[0, 0])
    pts = np.vstack([res["E_before"], res["runs"]["fine-tuned"]["E"]]).astype(np.float64) - origin
    rest = pts - np.outer(pts @ u1, u1)
    u2 = np.linalg.svd(rest - rest.mean(0), full_matrices=False)[2][0]
    return origin, np.stack([u1, u2])


def plane_prob(res: dict, mode: str, coords: np.ndarray) -> np.ndarray:
    """The classifier's P(first class) at plane coordinates (M, 2), computed in the full space."""
    origin, axes = plane(res)
    x = coords @ axes + origin
    p = {k: v.astype(np.float64) for k, v in res["runs"][mode]["params"].items()}
    head = BinaryHead(res["classes"][0], [res["classes"][0]])
    return sigmoid(network.scores(p, x, np.arange(len(x))[:, None], head, res["settings"]["activation"]))


def place_labels(ax, points, names, bold, renderer) -> list:
    """Greedy placement: each label takes the first nearby spot that overlaps no earlier label and
    no marker, farther out when the near ones are taken. -> the labels' boxes (display units)."""
    from matplotlib.transforms import Bbox
    xy = ax.transData.transform(points)
    markers = [Bbox.from_bounds(px - 6, py - 6, 12, 12) for px, py in xy]
    boxes = []
    for i, ((x, y), name, b) in enumerate(zip(points, names, bold)):
        for r in (5, 9, 14, 20, 28, 38, 50, 64):
            for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)):
                t = ax.annotate(name, (x, y), xytext=(dx * r, dy * r), textcoords="offset points",
                                fontsize=9.5 if b else 8, fontweight="bold" if b else "normal",
                                ha="left" if dx >= 0 else "right", va="bottom" if dy >= 0 else "top",
                                arrowprops=dict(arrowstyle="-", color="0.6", lw=0.6) if r > 20 else None)
                box = t.get_window_extent(renderer).expanded(1.05, 1.15)
                if not any(box.overlaps(o) for o in boxes + markers):
                    boxes.append(box)
                    break
                t.remove()
            else:
                continue
            break
        else:
            raise RuntimeError(f"no room for the label {name!r}")
    return boxes


def plot(res: dict, path: Path) -> list[list]:
    """Frozen and fine-tuned side by side, in the plane of `plane()`: the background is each
    classifier's probability in the full space, the markers are the words (filled with their
    own full-space prediction), arrows show where fine-tuning moved them. -> each panel's label
    boxes (the tests check that none overlap)."""
    import matplotlib                     # optional: only --plot needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    origin, axes = plane(res)
    E0, E1 = res["E_before"].astype(np.float64), res["runs"]["fine-tuned"]["E"].astype(np.float64)
    a0, a1 = (E0 - origin) @ axes.T, (E1 - origin) @ axes.T
    pad = 0.6
    lo, hi = np.minimum(a0.min(0), a1.min(0)) - pad, np.maximum(a0.max(0), a1.max(0)) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 220), np.linspace(lo[1], hi[1], 220))
    pos, neg = res["classes"]
    colors = {pos: "tab:orange", neg: "tab:blue"}
    fig, axs = plt.subplots(1, 2, figsize=(15, 7), sharex=True, sharey=True)
    fig.subplots_adjust(left=0.05, right=0.9, bottom=0.14, top=0.88, wspace=0.06)
    renderer = fig.canvas.get_renderer()
    placed = []
    for ax, mode, at in ((axs[0], "frozen", a0), (axs[1], "fine-tuned", a1)):
        prob = plane_prob(res, mode, np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
        shade = ax.imshow(prob, extent=(lo[0], hi[0], lo[1], hi[1]), origin="lower", cmap="RdYlBu_r", vmin=0, vmax=1,
                          alpha=0.45, aspect="auto", interpolation="bilinear")     # one image: no seams
        ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1.5)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        key = "p_frozen" if mode == "frozen" else "p_fine_tuned"
        for i, r in enumerate(res["words"]):
            c = colors[r["class"]]
            if mode == "fine-tuned" and r["moved"] > 0:
                ax.annotate("", xy=a1[i], xytext=a0[i], arrowprops=dict(arrowstyle="->", color="0.35", alpha=0.7))
            star = not r["seen"]
            face = colors[pos] if r[key] >= 0.5 else colors[neg]
            ax.scatter(*at[i], c=face, marker="*" if star else "o", s=260 if r["word"] == res["anchor"] else
                       (120 if star else 45), edgecolors=c, linewidths=2.0, zorder=3)
        placed.append(place_labels(ax, at, [r["word"] for r in res["words"]],
                                   [r["word"] in ("tv", "telly", res["anchor"]) for r in res["words"]], renderer))
        a = next(r for r in res["words"] if r["word"] == res["anchor"])
        ax.set_title(f"{mode}: {res['anchor']} P({pos}) = {a[key]:.2f} → {pos if a[key] >= 0.5 else neg}",
                     fontsize=12)
        ax.set_xlabel(f"axis 1: where the frozen classifier's score rises fastest at {res['anchor']}")
    axs[0].set_ylabel("axis 2: largest remaining variance of the words")
    handles = [plt.Line2D([], [], marker="o", ls="", mfc="white", mec=c, mew=2, label=f"true class: {n}")
               for n, c in colors.items()]
    handles += [plt.Line2D([], [], marker="o", ls="", mfc=c, mec="none", label=f"predicted: {n}")
                for n, c in colors.items()]
    handles += [plt.Line2D([], [], marker="*", ls="", mfc="gray", mec="gray", ms=12, label="not in training"),
                plt.Line2D([], [], color="k", label="p = 0.5, in the full space")]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=9, frameon=False)
    bar = fig.colorbar(shade, cax=fig.add_axes((0.92, 0.14, 0.015, 0.74)))
    bar.set_label(f"P({pos}), the classifier's probability in the full space")
    bar.solids.set_alpha(0.45)
    fig.suptitle("A plane through television: the background is each classifier's probability in all "
                 f"{E0.shape[1]} dimensions", fontsize=13)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return placed


def to_json(res: dict) -> dict:
    return {"classes": res["classes"], "anchor": res["anchor"], "settings": res["settings"],
            "words": res["words"], "effect_holds": effect_holds(res), "verdict": verdict(res)}
