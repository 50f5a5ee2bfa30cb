"""A tiny text progress bar for long CLI steps (stderr, no dependency).

>>> import io
>>> out = io.StringIO()
>>> bar = Progress(4, "rows", stream=out)
>>> bar.update(4); bar.close()
>>> "4/4 rows" in out.getvalue()
True
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``[#####.....] 50% 2/4 rows`` redrawn in place at most 10 times a second.

    Callers enable it only on a terminal (``stream.isatty()``): in a log file the ``\\r``
    redraws would be dozens of lines of noise.
    """

    def __init__(self, total: int, unit: str = "", stream: TextIO | None = None,
                 enabled: bool = True, width: int = 30) -> None:
        self.total = max(total, 1)
        self.unit = unit
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.width = width
        self._last = 0.0
        self._done = 0

    def update(self, done: int) -> None:
        self._done = done
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done < self.total):
            return
        self._last = now
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r  [{bar}] {100 * done // self.total:3d}% {done}/{self.total} "
                          f"{self.unit}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(self._done)
            self.stream.write("\n")
            self.stream.flush()
