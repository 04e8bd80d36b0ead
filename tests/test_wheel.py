"""A wheel installed outside the checkout: the defaults find their data through importlib.resources."""
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_a_wheel_installed_outside_the_checkout_trains_drifts_checks_and_predicts(tmp_path):
    dist = tmp_path / "dist"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist,
                        ROOT], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    wheel = next(dist.glob("nerwin-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    py = venv / "bin" / "python"
    r = subprocess.run([py, "-m", "pip", "install", "--no-deps", "-q", wheel], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # the dependencies come from this environment; nerwin itself only from the wheel
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    nerwin = [venv / "bin" / "nerwin"]

    def sh(*args, stdin=None):
        r = subprocess.run(nerwin + [str(a) for a in args], cwd=work, env=env, input=stdin, capture_output=True,
                           text=True)
        assert r.returncode == 0, (args, r.stderr)
        return r
    where = subprocess.run([py, "-c", "import nerwin.sample, nerwin; print(nerwin.__file__); "
                                      "print(nerwin.sample.path('train.conll'))"],
                           cwd=work, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(venv)) and Path(where[1]).is_file() and str(ROOT) not in where[1]
    assert "compiling" in sh("train", "--epochs", "2").stderr
    assert (work / "model" / "model.npz").exists()
    out = sh("predict", "--model", "model", stdin="The museums in Paris are amazing .\n").stdout
    assert out.count("\n") == 8 and "Paris\t" in out
    assert "PASS" in sh("gradcheck", "--activation", "tanh").stdout
    assert "television" in sh("drift-demo", "--epochs", "20").stdout
    assert sh("--version").stdout.startswith("nerwin ")
