"""A line on stderr that says how far long work has got: rewritten every 2 s once the work has
taken that long, and only when stderr is a terminal (a log file gets no carriage returns)."""
from __future__ import annotations

import sys
import time


class ProgressLine:
    EVERY = 2.0     # seconds between rewrites, and before the first

    def __init__(self, size: int = 0):
        """size: the bytes the work reads in all, when known (0: a stream)."""
        self.size = size
        self.on = sys.stderr is not None and sys.stderr.isatty()
        self.t0 = self.last = time.perf_counter()

    def through(self, done: int, now: float) -> str:
        """"45% of the file, about 6 s left", with `done` of the size's bytes read by now."""
        share = min(done / self.size, 1.0) if self.size else 0.0
        left = (now - self.t0) * (1 - share) / share if share > 0 else 0.0
        return f"{100 * share:.0f}% of the file, about {left:,.0f} s left"

    def rewrite(self, line) -> None:
        """line(now) -> the text; called only when it is shown, so building it costs nothing otherwise."""
        now = time.perf_counter()
        if self.on and now - self.last > self.EVERY:
            self.last = now
            print("\r" + line(now) + "   ", end="", file=sys.stderr)

    def finish(self, line, always: bool = False) -> None:
        """line(seconds taken) -> the last text, said only if a line was shown, unless always."""
        shown = self.on and self.last > self.t0
        if shown or always:
            print("\r" * shown + line(time.perf_counter() - self.t0) + " " * 30 * shown, file=sys.stderr)
