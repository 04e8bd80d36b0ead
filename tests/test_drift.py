"""The lecture's TV / telly / television experiment on the real GloVe vectors."""
import json

import numpy as np
import pytest

from nerwin.tools.drift import effect_holds, experiment, read_words
from nerwin.settings import Settings
from nerwin.vectors import open_store

from conftest import DATA, assert_clean_error, run

DEFAULTS = dict(window=0, hidden=10, lr=0.01, epochs=200, batch_size=4, l2=1e-3)   # as the CLI's


def test_effect_holds_in_at_least_4_of_5_seeds():
    store, _ = open_store(None)
    rows, classes = read_words(DATA / "drift_words.txt")
    held = []
    for seed in range(40, 45):   # seeds 0-39 were used to choose the word lists
        res = experiment(rows, classes, store, Settings(seed=seed, **DEFAULTS))
        words = {r["word"]: r for r in res["words"]}
        assert words["television"]["moved"] == 0.0
        assert words["tv"]["moved"] > 0 and words["telly"]["moved"] > 0
        assert all(r["moved"] == 0.0 for r in res["words"] if not r["seen"])
        held.append(effect_holds(res))
    assert sum(held) >= 4, held


def test_cli_table_verdict_and_json(tmp_path):
    r = run("drift-demo", "--json", tmp_path / "d.json", "--epochs", "200")
    assert r.returncode == 0, r.stderr
    assert "television" in r.stdout and "moved" in r.stdout
    j = json.loads((tmp_path / "d.json").read_text())
    assert j["anchor"] == "television" and len(j["verdict"]) == 3
    tele = next(w for w in j["words"] if w["word"] == "television")
    assert tele["seen"] is False and tele["cos_before"] == pytest.approx(1.0)
    assert all(line in r.stdout for line in j["verdict"])


def test_plot_renders(tmp_path):
    pytest.importorskip("matplotlib")
    r = run("drift-demo", "--plot", tmp_path / "d.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_labels_do_not_overlap_and_the_shading_has_no_gaps(tmp_path):
    pytest.importorskip("matplotlib")
    from nerwin.tools.drift import plot
    store, _ = open_store(None)
    rows, classes = read_words(DATA / "drift_words.txt")
    res = experiment(rows, classes, store, Settings(seed=0, **DEFAULTS))
    panels = plot(res, tmp_path / "d.png")
    assert len(panels) == 2
    for boxes in panels:
        assert len(boxes) == len(res["words"])            # every word labelled
        overlaps = [(i, j) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
        assert not overlaps, overlaps
    from PIL import Image
    img = np.asarray(Image.open(tmp_path / "d.png").convert("RGB")).astype(int)
    h, w, _ = img.shape
    inner = img[int(h * 0.5):int(h * 0.55), int(w * 0.1):int(w * 0.15)]   # background inside the left panel
    assert (inner.sum(axis=2) < 3 * 250).all(), "white gaps in the shading"


def test_missing_word_is_named(tmp_path):
    f = tmp_path / "w.txt"
    f.write_text("train a tv\ntrain b radio\ntest a qqxxyyzzword\n")
    r = run("drift-demo", "--words", f)
    assert_clean_error(r, "qqxxyyzzword")
    f.write_text("train a tv\nnonsense\n")
    assert_clean_error(run("drift-demo", "--words", f), f"{f}:2:")
    # a test word seen in training: the verdict would call it "never seen" and report how far it moved
    f.write_text("train a tv\ntrain b radio\ntest a tv\ntest b piano\n")
    assert_clean_error(run("drift-demo", "--words", f), f"{f}:3:", "first at line 1")


def test_plot_without_matplotlib_says_so_and_exits_2(tmp_path):
    import subprocess
    import sys
    code = ("import sys; sys.modules['matplotlib'] = None; sys.argv = ['nerwin'] + sys.argv[1:]; "
            "from nerwin.cli import main; main()")
    r = subprocess.run([sys.executable, "-c", code, "drift-demo", "--plot", str(tmp_path / "d.png")],
                       capture_output=True, text=True)
    assert_clean_error(r, "pip install 'nerwin[plot]'")
    assert not (tmp_path / "d.png").exists()


def test_telly_is_far_from_tv_in_glove_as_the_readme_says():
    import numpy as np
    store, _ = open_store(None)
    v = store.lookup(["tv", "telly", "television"])
    cos = lambda a, b: float(v[a] @ v[b] / np.linalg.norm(v[a]) / np.linalg.norm(v[b]))
    assert cos("tv", "television") > 0.95 and cos("tv", "telly") < 0.3 and cos("telly", "television") < 0.25
    M = np.asarray(store.vectors)
    sims = M @ v["telly"] / (np.linalg.norm(M, axis=1) * np.linalg.norm(v["telly"]) + 1e-12)
    nearest = [store.word(int(i)) for i in np.argsort(-sims)[:2]]
    assert nearest == ["telly", "savalas"]


def test_the_picture_puts_television_where_each_classifier_does_in_the_full_space():
    """The plot's plane passes through television, and its shading is the full-space probability:
    in the default run, television stands on the side of each boundary that its label says."""
    import numpy as np

    from nerwin.tools.drift import plane, plane_prob
    store, _ = open_store(None)
    rows, classes = read_words(DATA / "drift_words.txt")
    res = experiment(rows, classes, store, Settings(seed=0, **DEFAULTS))
    origin, axes = plane(res)
    np.testing.assert_allclose(axes @ axes.T, np.eye(2), atol=1e-9)          # orthonormal axes
    tele = next(r for r in res["words"] if r["word"] == "television")
    at = (res["E_before"][[r["word"] for r in res["words"]].index("television")] - origin) @ axes.T
    np.testing.assert_allclose(at, 0, atol=1e-9)
    for mode, key in (("frozen", "p_frozen"), ("fine-tuned", "p_fine_tuned")):
        shaded = float(plane_prob(res, mode, at[None])[0])
        assert (shaded >= 0.5) == (tele[key] >= 0.5) and shaded == pytest.approx(tele[key], abs=1e-5), mode
    assert tele["p_frozen"] >= 0.5 > tele["p_fine_tuned"]        # the lecture's effect, drawn truthfully


def test_drift_outputs_and_words_folder(tmp_path):
    assert_clean_error(run("drift-demo", "--json", tmp_path / "no" / "d.json"), "--json")
    assert_clean_error(run("drift-demo", "--plot", tmp_path / "no" / "d.png"), "--plot")
    assert_clean_error(run("drift-demo", "--words", tmp_path), str(tmp_path), "directory")
