"""--sink none: run the pipeline (e.g. to benchmark or to write only events) without showing anything."""

from __future__ import annotations

from confcam.sinks.base import Sink
from confcam.plugins import Entry
from confcam.types import Result


class NullSink(Sink):
    """Takes every result and drops it."""

    name = "none"
    needs_image = False

    def __init__(self) -> None:
        self.frames = 0

    def write(self, result: Result) -> None:
        self.frames += 1


ENTRY = Entry("none", "Run the pipeline and show nothing (benchmarks, events only).", NullSink)
