"""Timing on a machine that pauses: this VM stops for 50-700 ms several times a second, so
benchmarks time small pieces of work and keep the ones no pause hit (a median of steps, or
the fastest of several passes over the same chunk), and say how much wall time pauses took."""
import subprocess
import sys
import time

import numpy as np


def wall(cmd, stdin_bytes=None, env=None, quiet=False) -> float:
    """Wall seconds of a whole command (stdout dropped; stderr too when quiet); fails if it fails."""
    t0 = time.perf_counter()
    subprocess.run(list(map(str, cmd)), input=stdin_bytes, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL if quiet else None)
    return time.perf_counter() - t0


# Linux counts the RSS a child had before exec in its peak, and a fork starts with its parent's
# memory: a benchmark's own peak would land in every figure. A small launcher forks each command.
LAUNCH = ("import os, subprocess, sys, time; t0 = time.perf_counter(); "
          "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL); _, status, ru = os.wait4(p.pid, 0); "
          "print(ru.ru_maxrss, time.perf_counter() - t0, os.waitstatus_to_exitcode(status))")


def peak_rss(cmd, env=None, cwd=None) -> tuple[float, float]:
    """-> the command's peak RSS (MB) and its wall seconds; fails if it fails."""
    out = subprocess.run([sys.executable, "-c", LAUNCH, *map(str, cmd)], env=env, cwd=cwd, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[2] == "0", cmd
    return int(out[0]) / 1024, float(out[1])


def pause_probe(seconds: float = 2.0) -> float:
    """The share of wall time a bare in-place numpy loop spends in gaps of 5 ms or more."""
    a, lost = np.ones(4096, np.float32), 0.0
    t0 = last = time.perf_counter()
    while last - t0 < seconds:
        a += 1
        now = time.perf_counter()
        if now - last > 0.005:
            lost += now - last
        last = now
    return lost / (last - t0)


def btc_lines(btc, tokens: int) -> list[str]:
    """The sentences of BTC's train, dev and test files, one a line, repeated up to `tokens` tokens;
    read without nerwin, so that any commit's code can be timed on the very same text."""
    sents = []
    for split in ("train", "dev", "test"):
        blocks = (btc / f"{split}.conll").read_text(encoding="utf-8").split("\n\n")
        sents += [" ".join(l.split("\t")[0] for l in b.splitlines() if l.strip()) for b in blocks if b.strip()]
    lines, n = [], 0
    while n < tokens:
        for s in sents:
            lines.append(s)
            n += len(s.split())
            if n >= tokens:
                break
    return lines
