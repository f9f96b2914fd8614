"""Runner: drives frames from a Source through the FacePipeline and the annotators into the Sinks."""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np

from confcam.errors import SourceError
from confcam.pipeline import FacePipeline
from confcam.render.base import Annotator
from confcam.sinks.base import Sink
from confcam.sources.base import Source
from confcam.signals import StopRequested
from confcam.sources.latest import LatestFrameReader
from confcam.types import Frame, Result


_KEPT_SAMPLES = 20_000
"""Timing samples kept per series: enough for stable medians, flat memory over hours."""


@dataclass
class RunStats:
    frames: int = 0
    dropped: int = 0
    """Stale frames a live source produced while the pipeline was busy (skipped, never queued)."""
    elapsed_s: float = 0.0
    latency_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_KEPT_SAMPLES))
    """Capture -> all sinks written, per frame."""
    faces: deque[int] = field(default_factory=lambda: deque(maxlen=_KEPT_SAMPLES))
    """Faces shown per frame."""
    stage_ms: dict[str, deque[float]] = field(default_factory=dict)
    interrupted: StopRequested | None = None
    """Set when Ctrl+C, SIGTERM or SIGHUP stopped the run; the sinks' outputs were finished all the same."""
    source_ended: str | None = None
    """Why a live source went away mid-run (window closed, peer left, camera unplugged); what was recorded is kept."""

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def median_stage_ms(self) -> dict[str, float]:
        return {name: statistics.median(v) for name, v in self.stage_ms.items() if v}

    def latency_percentile(self, q: float) -> float:
        return float(np.percentile(self.latency_ms, q)) if self.latency_ms else 0.0


class Runner:
    """One run of the product: open everything, loop until the source ends or a stop is asked, close."""

    def __init__(
        self,
        source: Source,
        pipeline: FacePipeline,
        annotators: Sequence[Annotator],
        sinks: Sequence[Sink],
        max_frames: int | None = None,
        on_frame: Callable[[Result], None] | None = None,
        read_timeout_s: float = 10.0,
        draw: bool | None = None,
        warmup: int = 0,
    ) -> None:
        """draw: force drawing on (benchmarks) or off; None draws when a sink shows pictures.
        warmup: frames processed before any timing is recorded (model and cache warm-up)."""
        self.source = source
        self.pipeline = pipeline
        self.annotators = list(annotators)
        self.sinks = list(sinks)
        self.max_frames = max_frames
        self.on_frame = on_frame
        self.read_timeout_s = read_timeout_s
        self.stats = RunStats()
        self.warmup = warmup
        self._seen = 0
        self._started = 0.0
        self.draw = any(s.needs_image for s in self.sinks) if draw is None else draw

    def run(self, on_started: Callable[[], None] | None = None) -> RunStats:
        """Sinks are closed with success=False on any error, so no output is left half-written.

        A stop (Ctrl+C, SIGTERM, SIGHUP) finishes the outputs, as does a live source that goes away
        mid-run. on_started runs once the source and sinks are open, so nothing is announced for a
        run that cannot start."""
        try:
            with ExitStack() as stack:
                stack.enter_context(self.source)
                width, height = self.source.size
                for sink in self.sinks:
                    stack.enter_context(sink)
                    sink.open(width, height, self.source.fps)
                read = self._reader(stack)
                if on_started is not None:
                    on_started()
                self._started = time.perf_counter()
                try:
                    self._loop(read)
                finally:
                    self.stats.elapsed_s = time.perf_counter() - self._started
        except KeyboardInterrupt as stop:
            self.stats.interrupted = stop if isinstance(stop, StopRequested) else StopRequested()
        return self.stats

    def _loop(self, read: Callable[[], Frame | None]) -> None:
        while not self._done():
            asked = time.perf_counter()
            try:
                frame = read()
            except SourceError as lost:
                if not self.source.is_live or self._seen == 0:
                    raise
                self.stats.source_ended = str(lost)
                return
            if frame is None:
                self.stats.source_ended = self.source.end_reason
                return
            self._step(frame, capture_ms=(time.perf_counter() - asked) * 1000)

    def _reader(self, stack: ExitStack) -> Callable[[], Frame | None]:
        """Live sources are read on their own thread so the pipeline always takes the newest frame."""
        if not self.source.is_live:
            return self.source.read
        reader = stack.enter_context(LatestFrameReader(self.source))

        def read() -> Frame | None:
            frame = reader.read(timeout=self.read_timeout_s)
            self.stats.dropped = reader.dropped
            return frame

        return read

    def _done(self) -> bool:
        if self.max_frames is not None and self._seen >= self.max_frames:
            return True
        return any(s.stop_requested for s in self.sinks)

    def _step(self, frame: Frame, capture_ms: float) -> None:
        faces = self.pipeline.process(frame)
        t0 = time.perf_counter()
        image = frame.image
        if self.draw and self.annotators:
            image = image.copy()
            for annotator in self.annotators:
                image = annotator.annotate(image, faces, self.pipeline.class_names)
        t1 = time.perf_counter()
        result = Result(frame=frame, faces=faces, class_names=self.pipeline.class_names, image=image)
        for sink in self.sinks:
            sink.write(result)
        t2 = time.perf_counter()
        self._seen += 1
        if self._seen > self.warmup:
            self._record(result, {"capture": capture_ms, "render": (t1 - t0) * 1000, "sink": (t2 - t1) * 1000}, t2)
        elif self._seen == self.warmup:
            self._started = time.perf_counter()
        if self.on_frame is not None:
            self.on_frame(result)

    def _record(self, result: Result, extra_ms: dict[str, float], finished: float) -> None:
        stats = self.stats
        frame = result.frame
        stats.frames += 1
        stats.faces.append(len(result.faces))
        if frame.captured_at:
            stats.latency_ms.append((finished - frame.captured_at) * 1000)
        for name, ms in {**self.pipeline.times.ms, **extra_ms}.items():
            stats.stage_ms.setdefault(name, deque(maxlen=_KEPT_SAMPLES)).append(ms)
