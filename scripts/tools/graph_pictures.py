"""The computation graph in the docs: `nerwin graph` on one real window of the sample corpus.

Usage: python scripts/tools/graph_pictures.py [--no-docs]
Trains the default binary LOC model on the bundled sample, takes the first LOC word of its dev
file (its window's lower-case words all read one casing row: a branch), and
- puts `nerwin graph ... --step 0.1` into docs/model.md (section "graph");
- writes the --html page and screenshots it with headless Chromium at 1280 px and 400 px wide, a
  node focused (docs/img/graph.png, docs/img/graph-narrow.png);
- times the graph (Tagger.graph in one process after a first call, median of 20), the whole
  `nerwin graph` process (median of 3), and the page's load in Chromium (median of 5 loads).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

NERWIN = [sys.executable, "-m", "nerwin"]


def first_window(dev: Path) -> tuple[str, int]:
    for block in dev.read_text().strip().split("\n\n"):
        rows = [line.split("\t") for line in block.splitlines()]
        for i, r in enumerate(rows):
            if r[1] == "B-LOC":
                return " ".join(r[0] for r in rows), i
    raise SystemExit("no LOC word in the sample's dev file")


def shots(page: Path, out_wide: Path, out_narrow: Path) -> list[float]:
    """Screenshots with node z focused; -> the page's load times (ms), five loads."""
    os.environ["SE_AVOID_STATS"] = "true"
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900"):
        opts.add_argument(a)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=shutil.which("chromedriver")))
    loads = []
    try:
        for width, png, height in ((1280, out_wide, 900), (400, out_narrow, 1000)):
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            driver.get(page.as_uri())
            driver.execute_script("document.querySelector(\".node[data-node='z']\").focus()")
            raw = png.with_suffix(".raw.png")
            driver.save_screenshot(str(raw))
            Image.open(raw).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
            raw.unlink()
            print(f"{png}: {png.stat().st_size / 1024:.0f} KB")
        for _ in range(5):
            driver.get(page.as_uri())
            loads.append(driver.execute_script("const t = performance.getEntriesByType('navigation')[0]; "
                                               "return t.loadEventEnd - t.startTime;"))
    finally:
        driver.quit()
    return loads


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-docs", action="store_true")
    a = ap.parse_args()
    sentence, token = first_window(ROOT / "nerwin" / "sample" / "dev.conll")
    with tempfile.TemporaryDirectory() as d:
        model, page = Path(d) / "model", Path(d) / "graph.html"
        subprocess.run(NERWIN + ["train", "--out", model, "-q"], check=True)
        args = ["graph", sentence, "--token", str(token), "--model", str(model), "--step", "0.1"]
        out = subprocess.run(NERWIN + args + ["--html", page], check=True, capture_output=True, text=True).stdout
        procs = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(NERWIN + args, check=True, capture_output=True)
            procs.append(time.perf_counter() - t0)
        import nerwin
        tagger = nerwin.load(model)
        tagger.graph(sentence, token)                     # the first call loads numba's cache
        calls = []
        for _ in range(20):
            t0 = time.perf_counter()
            tagger.graph(sentence, token)
            calls.append(time.perf_counter() - t0)
        loads = shots(page, ROOT / "docs" / "img" / "graph.png", ROOT / "docs" / "img" / "graph-narrow.png") \
            if shutil.which("chromedriver") else []
    figures = (f"The graph of this window takes {1000 * statistics.median(calls):.0f} ms in a process that has "
               f"the model loaded (median of 20, numerical check included), and the whole `nerwin graph` command "
               f"{statistics.median(procs):.1f} s (median of 3, start-up and model load included)")
    figures += (f"; Chromium loads and draws the `--html` page in {statistics.median(loads):.0f} ms (median of 5)."
                if loads else ".")
    print(out)
    print(figures)
    if not a.no_docs:
        replace_section("graph", f"```\n$ nerwin graph \"{sentence}\" --token {token} --step 0.1\n{out.rstrip()}\n```\n\n"
                                 f"{figures} `python scripts/tools/graph_pictures.py` makes all of this.")


if __name__ == "__main__":
    main()
