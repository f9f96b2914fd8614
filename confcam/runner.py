"""Runner: drives frames from a Source through the FacePipeline and the annotators into the Sinks."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack

from confcam.errors import SourceError
from confcam.pipeline import FacePipeline
from confcam.processor import FrameProcessor, RunStats
from confcam.render.base import Annotator
from confcam.signals import DeferredSignals, StopRequested
from confcam.sinks.base import Sink
from confcam.sources.base import Source
from confcam.sources.latest import LatestFrameReader
from confcam.types import Frame, Result


class Runner:
    """One run of the product: open everything, loop until the source ends or a stop is asked, close."""

    def __init__(
        self,
        source: Source,
        pipeline: FacePipeline,
        annotators: Sequence[Annotator],
        sinks: Sequence[Sink],
        max_frames: int | None = None,
        read_timeout_s: float = 10.0,
        draw: bool | None = None,
        warmup: int = 0,
    ) -> None:
        """draw: force drawing on (benchmarks) or off; None draws when a sink shows pictures.
        warmup: frames processed before any timing is recorded (model and cache warm-up)."""
        self.source = source
        self.sinks = list(sinks)
        self.max_frames = max_frames
        self.read_timeout_s = read_timeout_s
        self.stats = RunStats()
        self.warmup = warmup
        self._seen = 0
        self._started = 0.0
        self._cpu_started = 0.0
        self._signals = DeferredSignals()
        self.processor = FrameProcessor(pipeline, annotators, any(s.needs_image for s in self.sinks) if draw is None else draw)

    @property
    def pipeline(self) -> FacePipeline:
        return self.processor.pipeline

    def run(
        self, on_started: Callable[[], None] | None = None, on_frame: Callable[[Result], None] | None = None
    ) -> RunStats:
        """Sinks are closed with success=False on any error, so no output is left half-written.

        A stop (Ctrl+C, SIGTERM, SIGHUP) finishes the outputs, as does a live source that goes away
        mid-run. on_started runs once the source and sinks are open, so nothing is announced for a
        run that cannot start; on_frame gets each frame's Result after the sinks (progress, probes)."""
        try:
            with ExitStack() as stack:
                stack.enter_context(self.source)
                width, height = self.source.size
                for sink in self.sinks:
                    stack.enter_context(sink)
                    sink.open(width, height, self.source.fps)
                stack.enter_context(self._signals)
                read = self._reader(stack)
                if on_started is not None:
                    on_started()
                self._start_clocks()
                try:
                    self._loop(read, on_frame)
                finally:
                    self.stats.elapsed_s = time.perf_counter() - self._started
                    self.stats.cpu_s = time.process_time() - self._cpu_started
        except KeyboardInterrupt as stop:
            self.stats.interrupted = stop if isinstance(stop, StopRequested) else StopRequested()
        return self.stats

    def _loop(self, read: Callable[[], Frame | None], on_frame: Callable[[Result], None] | None) -> None:
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
            self._step(frame, (time.perf_counter() - asked) * 1000, on_frame)

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

    def _start_clocks(self) -> None:
        """Wall and CPU time count from here: the run's start, or the end of its warm-up."""
        self._started = time.perf_counter()
        self._cpu_started = time.process_time()

    def _step(self, frame: Frame, capture_ms: float, on_frame: Callable[[Result], None] | None) -> None:
        result, stage_ms = self.processor.process(frame)
        t1 = time.perf_counter()
        with self._signals.held():
            for sink in self.sinks:
                sink.write(result)
        t2 = time.perf_counter()
        self._seen += 1
        if self._seen > self.warmup:
            self.stats.record(result, {**stage_ms, "capture": capture_ms, "sink": (t2 - t1) * 1000}, finished=t2)
        elif self._seen == self.warmup:
            self._start_clocks()
        if on_frame is not None:
            on_frame(result)
