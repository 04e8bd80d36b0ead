"""The docs pictures: `explain` on the lecture's sentence, the report screenshot, the drift plot.

Usage: python scripts/tools/doc_pictures.py [--no-docs] [--serve-only]
Trains `--target all` (defaults) on ../shared/corpora/btc, writes its report on BTC test,
takes a screenshot with headless Chromium (Debian's `chromium` package) and shrinks it to a
palette PNG under 200 KB in docs/img/report.png, draws docs/img/drift.png with `nerwin drift-demo`,
puts the explain table into docs/usage.md, and takes a screenshot of `nerwin serve`'s page in
docs/img/serve.png and serve-narrow.png, at 1280 and 400 px (selenium with Debian's chromium-driver).
"""
import argparse
import base64
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTC = ROOT.parent / "shared" / "corpora" / "btc"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: doc_section, timing
from doc_section import replace_section  # noqa: E402

NERWIN = [sys.executable, "-m", "nerwin"]
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def screenshot(page: Path, png: Path, width: int = 1150, height: int = 1900) -> None:
    from PIL import Image
    with tempfile.TemporaryDirectory() as profile:
        raw = Path(profile) / "shot.png"
        subprocess.run(CHROMIUM + [f"--user-data-dir={profile}", f"--window-size={width},{height}",
                                   f"--screenshot={raw}", page.as_uri()], check=True, capture_output=True)
        img = Image.open(raw).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
        img.save(png, optimize=True)
    print(f"{png}: {png.stat().st_size / 1024:.0f} KB")


def serve_shot(model: Path, png: Path) -> None:
    """`nerwin serve` with the BTC model: its whole page after tagging a sentence, clicking a word and
    drawing its graph, at 1280 px (png) and at 400 px (png's name + -narrow)."""
    import os
    import socket
    import urllib.request
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    os.environ["SE_AVOID_STATS"] = "true"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(NERWIN + ["serve", "--model", model, "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        for width, out in ((1280, png), (400, png.with_name(png.stem + "-narrow.png"))):
            opts = webdriver.ChromeOptions()
            for a in ("--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1250", "--hide-scrollbars"):
                opts.add_argument(a)
            driver = webdriver.Chrome(options=opts, service=Service(executable_path=shutil.which("chromedriver")))
            try:                           # the viewport itself (a headless window is at least 500 px wide)
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                       {"width": width, "height": 1250, "deviceScaleFactor": 1, "mobile": False})
                driver.get(f"http://127.0.0.1:{port}/")
                wait = WebDriverWait(driver, 30)
                wait.until(lambda d: "entities" in d.find_element(By.ID, "status").text)
                word = next(t for t in driver.find_elements(By.CSS_SELECTOR, ".tok[data-i]") if t.text == "Berlin")
                word.click()
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#explain tr[data-word]"))
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#graph svg.graph .node"))
                height = driver.execute_script("return document.documentElement.scrollHeight")
                shot = driver.execute_cdp_cmd("Page.captureScreenshot", {   # the whole page, curves included
                    "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": height,
                                                            "scale": 1}})
                raw = out.with_suffix(".raw.png")
                raw.write_bytes(base64.b64decode(shot["data"]))
            finally:
                driver.quit()
            Image.open(raw).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
            raw.unlink()
            print(f"{out}: {out.stat().st_size / 1024:.0f} KB")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--serve-only", action="store_true", help="only the served page's screenshots")
    a = ap.parse_args()
    if not BTC.exists() or not shutil.which("chromium"):
        print("skipped: needs ../shared/corpora/btc and chromium (apt-get install chromium)")
        return
    with tempfile.TemporaryDirectory() as d:
        model = Path(d) / "btc"
        subprocess.run(NERWIN + ["train", "--train", BTC / "train.conll", "--dev", BTC / "dev.conll", "--target", "all",
                                 "--out", model, "-q"], check=True)
        if a.serve_only:
            serve_shot(model, ROOT / "docs" / "img" / "serve.png")
            return
        sentence = "The museums in Paris are amazing ."
        out = subprocess.run(NERWIN + ["explain", "--model", model, sentence, "--token", "3"], check=True,
                             capture_output=True, text=True).stdout
        page = Path(d) / "report.html"
        t0 = time.perf_counter()
        subprocess.run(NERWIN + ["report", BTC / "test.conll", "--model", model, "--html", page], check=True)
        secs = time.perf_counter() - t0
        size = page.stat().st_size
        screenshot(page, ROOT / "docs" / "img" / "report.png")
        wnut = BTC.parent / "wnut17"                       # the report on the full WNUT-17 test set
        subprocess.run(NERWIN + ["train", "--train", wnut / "train.conll", "--dev", wnut / "dev.conll", "--target",
                                 "all", "--out", Path(d) / "wnut", "-q"], check=True)
        t0 = time.perf_counter()
        subprocess.run(NERWIN + ["report", wnut / "test.conll", "--model", Path(d) / "wnut", "--html",
                                 Path(d) / "wnut.html"], check=True)
        wnut_secs, wnut_size = time.perf_counter() - t0, (Path(d) / "wnut.html").stat().st_size
        serve_shot(model, ROOT / "docs" / "img" / "serve.png")
    subprocess.run(NERWIN + ["drift-demo", "--plot", ROOT / "docs" / "img" / "drift.png"], check=True, capture_output=True)
    print(out)
    if not a.no_docs:
        replace_section("explain", f"```\n$ nerwin explain --model btc-all \"{sentence}\" --token 3\n{out.rstrip()}\n```\n\n"
                                   "`python scripts/tools/doc_pictures.py`.")
        replace_section("report", f"![nerwin report on BTC test](img/report.png)\n\nThe top of `nerwin report` on BTC "
                                  f"test (2,001 sentences): {size / 1024:.0f} KB of HTML, written in {secs:.1f} s "
                                  f"including start-up. On the full WNUT-17 test set (1,287 sentences, 23,394 tokens): "
                                  f"{wnut_size / 1024:.0f} KB in {wnut_secs:.1f} s. `python scripts/tools/doc_pictures.py` "
                                  "makes the pages and the screenshot.")


if __name__ == "__main__":
    main()
