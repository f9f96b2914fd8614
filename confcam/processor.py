"""The per-frame work every driver shares: one frame through the pipeline and the annotators into a Result,
timed into one RunStats.

`Runner` (start, analyze, bench, demo: frames pulled from a Source) and each web client's `FrameAnalyser`
(frames pushed by a WebRTC peer) differ only in where frames come from and where results go; what happens
to a frame, how it is drawn and what is measured about it lives here once.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from confcam.pipeline import FacePipeline
from confcam.render.base import Annotator
from confcam.signals import StopRequested
from confcam.types import Frame, Result

KEPT_SAMPLES = 20_000
"""Timing samples kept per series: enough for stable medians, flat memory over hours."""


@dataclass
class RunStats:
    """What one run or one web session measured."""

    frames: int = 0
    """Frames processed (after any warm-up)."""
    received: int = 0
    """Frames that arrived (web sessions; a live source's are `frames + dropped`)."""
    dropped: int = 0
    """Stale frames a live source produced while the pipeline was busy (skipped, never queued)."""
    sent: int = 0
    """Annotated frames handed back to a web peer."""
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    """User + system CPU time of the whole process (every thread) over `elapsed_s`."""
    kept: int = KEPT_SAMPLES
    """Samples kept per series below (the newest)."""
    latency_ms: deque[float] = field(init=False)
    """Capture (or receipt) -> output written (or sent), per frame."""
    faces: deque[int] = field(init=False)
    """Faces shown per frame."""
    stage_ms: dict[str, deque[float]] = field(default_factory=dict)
    sent_at: deque[float] = field(init=False)
    interrupted: StopRequested | None = None
    """Set when Ctrl+C, SIGTERM or SIGHUP stopped the run; the sinks' outputs were finished all the same."""
    source_ended: str | None = None
    """Why a live source went away mid-run (window closed, peer left, camera unplugged); what was recorded is kept."""

    def __post_init__(self) -> None:
        self.latency_ms = deque(maxlen=self.kept)
        self.faces = deque(maxlen=self.kept)
        self.sent_at = deque(maxlen=self.kept)

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cores(self) -> float:
        """CPU cores kept busy on average: what running confcam beside a meeting app costs."""
        return self.cpu_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def record(self, result: Result, stage_ms: dict[str, float], finished: float | None = None) -> None:
        """One processed frame: its faces, its stage times and, when the frame carries its capture time
        and `finished` is given, its latency."""
        self.frames += 1
        self.faces.append(len(result.faces))
        if finished is not None and result.frame.captured_at:
            self.latency_ms.append((finished - result.frame.captured_at) * 1000)
        for name, ms in stage_ms.items():
            self.stage_ms.setdefault(name, deque(maxlen=self.kept)).append(ms)

    def record_sent(self, received_at: float) -> None:
        """A web session's annotated frame left for the peer."""
        now = time.perf_counter()
        self.sent += 1
        self.sent_at.append(now)
        self.latency_ms.append((now - received_at) * 1000.0)

    def median_stage_ms(self) -> dict[str, float]:
        return {name: statistics.median(v) for name, v in self.stage_ms.items() if v}

    def latency_percentile(self, q: float) -> float:
        return float(np.percentile(self.latency_ms, q)) if self.latency_ms else 0.0

    def recent_fps(self, window_s: float = 5.0) -> float:
        """Frames sent per second over the last `window_s` seconds (a live web session's rate)."""
        now = time.perf_counter()
        recent = [t for t in self.sent_at if now - t <= window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def as_dict(self) -> dict[str, Any]:
        """The figures `/stats` reports for a web session."""
        latencies = list(self.latency_ms)
        work = list(self.stage_ms.get("total", ()))
        return {
            "received": self.received,
            "sent": self.sent,
            "dropped": self.dropped,
            "fps": round(self.recent_fps(), 2),
            "latency_ms_p50": round(statistics.median(latencies), 2) if latencies else None,
            "latency_ms_max": round(max(latencies), 2) if latencies else None,
            "analyse_ms_p50": round(statistics.median(work), 2) if work else None,
        }


class FrameProcessor:
    """Runs the pipeline on a frame and draws the annotators on a copy of it (when `draw`)."""

    def __init__(self, pipeline: FacePipeline, annotators: Sequence[Annotator], draw: bool = True) -> None:
        self.pipeline = pipeline
        self.annotators = list(annotators)
        self.draw = draw

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.pipeline.class_names

    def process(self, frame: Frame, draw: bool | None = None) -> tuple[Result, dict[str, float]]:
        """The frame's Result and what each stage cost (ms): the pipeline's stages, `render` and `total`.
        draw: for this frame only (a web client in practice mode hides the labels); None: `self.draw`."""
        started = time.perf_counter()
        faces = self.pipeline.process(frame)
        analysed = time.perf_counter()
        image = frame.image
        if (self.draw if draw is None else draw) and self.annotators:
            image = image.copy()
            for annotator in self.annotators:
                image = annotator.annotate(image, faces, self.class_names)
        done = time.perf_counter()
        result = Result(frame=frame, faces=faces, class_names=self.class_names, image=image)
        stage_ms = {**self.pipeline.times.ms, "render": (done - analysed) * 1000, "total": (done - started) * 1000}
        return result, stage_ms
