"""A frame-rate pacer shared by the screen and window sources (their grabber lives in confcam.displays)."""

from __future__ import annotations

import time


class FramePacer:
    """Spaces live captures at a nominal rate; a late caller is not made to catch up with a burst."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._due: float | None = None

    def wait(self) -> None:
        now = time.perf_counter()
        if self._due is None or now - self._due > self.period:
            self._due = now
        elif self._due > now:
            time.sleep(self._due - now)
        self._due += self.period
