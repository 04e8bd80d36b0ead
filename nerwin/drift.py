"""The lecture's pitfall of retraining word vectors (CS224n L4: TV, telly, television).

A one-word window (w=0) trained with the same model, loop and optimizers as
`nerwin train`, once with frozen vectors and once fine-tuned, from the same seed.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from nerwin import model
from nerwin.errors import NerwinError
from nerwin.training import SAMPLE, Data, Run, Settings, fit

WORDS = SAMPLE / "drift_words.txt"


def read_words(path: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """-> [(split, class, word)], [positive class, negative class]."""
    rows, classes = [], []
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except FileNotFoundError:
        raise NerwinError("no such words file", path) from None
    except IsADirectoryError:
        raise NerwinError("is a directory, expected a words file", path) from None
    except OSError as e:
        raise NerwinError(f"cannot read ({e.strerror})", path) from None
    except UnicodeDecodeError:
        raise NerwinError("not valid UTF-8", path) from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ("train", "test"):
            raise NerwinError("expected `train|test CLASS WORD`", path, n)
        if parts[1] not in classes:
            classes.append(parts[1])
        rows.append(tuple(parts))
    if len(classes) != 2:
        raise NerwinError(f"needs exactly two classes, found {len(classes)}: {', '.join(classes)}", path)
    if not any(s == "train" for s, _, _ in rows) or not any(s == "test" for s, _, _ in rows):
        raise NerwinError("needs both train and test words", path)
    return rows, classes


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def experiment(rows, classes, store, s: Settings, anchor: str = "television") -> dict:
    """Train frozen and fine-tuned from the same seed; every figure the table and plot need."""
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
    train = Data(train_idx[:, None].astype(np.int32), y_all[train_idx], [])
    all_ids = np.arange(len(words), dtype=np.int32)[:, None]
    out = {"classes": classes, "anchor": anchor, "settings": vars(s).copy(), "runs": {}}
    for mode, fine in (("frozen", False), ("fine-tuned", True)):
        ss = replace(s, fine_tune=fine, window=0)
        p = model.init_params(E0.shape[1], ss.hidden, 1, np.random.default_rng(ss.seed), E0.dtype)
        E = E0.copy()
        fit(Run(), p, E, train, ss, trainable=None if fine else np.zeros(len(E), dtype=bool))
        prob = model.predict_proba(p, E, all_ids, ss.activation)
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


def plot(res: dict, path: Path) -> None:
    """2-D PCA of the words before and after fine-tuning, arrows for moved words,
    and each classifier's p = 0.5 boundary within that plane."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    E0, E1 = res["E_before"].astype(np.float64), res["runs"]["fine-tuned"]["E"].astype(np.float64)
    both = np.vstack([E0, E1])
    mean = both.mean(axis=0)
    _, _, Vt = np.linalg.svd(both - mean, full_matrices=False)
    P = Vt[:2]                                          # (2, d) principal axes
    a0, a1 = (E0 - mean) @ P.T, (E1 - mean) @ P.T
    fig, ax = plt.subplots(figsize=(9, 7))
    pad = 0.8
    lo, hi = np.minimum(a0.min(0), a1.min(0)) - pad, np.maximum(a0.max(0), a1.max(0)) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    grid = np.stack([gx.ravel(), gy.ravel()], 1) @ P + mean   # the plane, back in R^d
    s = res["settings"]
    for mode, style in (("frozen", "--"), ("fine-tuned", "-")):
        r = res["runs"][mode]
        p = {k: v.astype(np.float64) for k, v in r["params"].items()}
        prob = model.predict_proba(p, grid, np.arange(len(grid))[:, None], s["activation"]).reshape(gx.shape)
        cs = ax.contour(gx, gy, prob, levels=[0.5], colors="k", linestyles=style, linewidths=1.2)
        ax.clabel(cs, fmt={0.5: f"{mode} boundary"}, fontsize=8)
    colors = {res["classes"][0]: "tab:orange", res["classes"][1]: "tab:blue"}
    for i, r in enumerate(res["words"]):
        c = colors[r["class"]]
        if r["moved"] > 0:
            ax.scatter(*a0[i], facecolors="none", edgecolors=c, s=40)
            ax.annotate("", xy=a1[i], xytext=a0[i], arrowprops=dict(arrowstyle="->", color=c, alpha=0.7))
        mark = "o" if r["seen"] else "*"
        ax.scatter(*a1[i], c=c, marker=mark, s=150 if mark == "*" else 40, edgecolors="k", linewidths=0.5)
        bold = r["word"] in ("tv", "telly", res["anchor"])
        ax.annotate(r["word"], a1[i], xytext=(4, 4), textcoords="offset points", fontsize=10 if bold else 8,
                    fontweight="bold" if bold else "normal")
    for name, c in colors.items():
        ax.scatter([], [], c=c, label=f"class {name}")
    ax.scatter([], [], facecolors="none", edgecolors="gray", label="before fine-tuning")
    ax.scatter([], [], c="gray", marker="*", s=150, label="unseen in training (never moves)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Fine-tuning moves the words seen in training; the unseen synonym stays behind")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    fig.tight_layout()
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


def to_json(res: dict) -> dict:
    return {"classes": res["classes"], "anchor": res["anchor"], "settings": res["settings"],
            "words": res["words"], "effect_holds": effect_holds(res), "verdict": verdict(res)}
