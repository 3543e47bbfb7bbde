"""What a benchmark run says while it works: timestamped steps and progress bars, on stderr."""

from __future__ import annotations

import sys
import time

STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class Progress:
    """A progress bar on stderr: redrawn in place on a terminal, a line per quarter otherwise."""

    WIDTH = 30
    SHOWN_FROM = 5_000  # rows; smaller inserts take a moment and get no bar

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, max(1, total), 0
        self.is_shown = total >= self.SHOWN_FROM
        self.is_tty = sys.stderr.isatty()
        self._last_quarter = -1
        self._draw()

    def advance(self, count: int) -> None:
        self.done = min(self.total, self.done + count)
        self._draw()

    def close(self) -> None:
        self.done = self.total
        self._draw()
        if self.is_tty and self.is_shown:
            print(file=sys.stderr, flush=True)

    def _draw(self) -> None:
        if not self.is_shown:
            return
        share = self.done / self.total
        bar = "#" * int(share * self.WIDTH) + "." * (self.WIDTH - int(share * self.WIDTH))
        line = f"    {self.label:<24} [{bar}] {self.done:>9,}/{self.total:,}"
        if self.is_tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
            return
        quarter = int(share * 4)
        if quarter != self._last_quarter:
            self._last_quarter = quarter
            print(line, file=sys.stderr, flush=True)
