"""One client's synchronous work: a decoded frame in, the annotated frame and its `predictions` message out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from confcam.classify.smoother import STEADINESS_PRESETS, SmootherConfig
from confcam.pipeline import FacePipeline
from confcam.processor import FrameProcessor
from confcam.records import frame_record
from confcam.types import Frame, Result
from confcam.web.practice import WebPractice


@dataclass(frozen=True)
class Analysed:
    """One client frame's outcome: the video frame to send back, the `predictions` message, and the
    Result and stage times for the session's RunStats."""

    frame: av.VideoFrame
    message: dict[str, Any]
    result: Result
    stage_ms: dict[str, float]


class FrameAnalyser:
    """Owns a client's pipeline and annotators; used from that client's worker thread only.

    Each client gets its own analyser, so track ids, crop windows and smoothing never mix between people
    who happen to use the page at the same time.
    """

    def __init__(self, build: Callable[[], FrameProcessor], class_names: tuple[str, ...]) -> None:
        """build: makes this client's pipeline and annotators, on the first frame (the worker thread), so
        an offer that never connects (a closed tab, a hostile page) costs no pipeline at all."""
        self._build = build
        self._processor: FrameProcessor | None = None
        self.class_names = class_names
        self.practice = WebPractice(class_names)
        """Practice mode, off until the page turns it on; while on, labels are hidden from the video and
        from this session's messages (see confcam/web/practice.py)."""
        self._wanted: SmootherConfig | None = None

    @property
    def processor(self) -> FrameProcessor:
        if self._processor is None:
            self._processor = self._build()
        return self._processor

    @property
    def built(self) -> bool:
        """Whether this client's pipeline exists yet (it does once a frame arrived)."""
        return self._processor is not None

    @property
    def pipeline(self) -> FacePipeline:
        return self.processor.pipeline

    @property
    def steadiness(self) -> str | None:
        """The preset the smoother uses now; None for a custom time in seconds (--steadiness 0.7)."""
        return steadiness_name(self.pipeline.smoother.config)

    def request_steadiness(self, name: str) -> None:
        """Safe from any thread: only the worker thread touches the pipeline, at the start of its next frame.
        Each face keeps its smoothed state; only the time constants change."""
        self._wanted = SmootherConfig.preset(name)

    def analyse(self, video: av.VideoFrame, index: int, t: float) -> Analysed:
        """The returned frame keeps the incoming pts, so the browser plays it on the sender's clock.
        Stage `total` covers the colour conversions too: all the worker thread spent on the frame."""
        started = time.perf_counter()
        wanted = self._wanted
        if wanted is not None and wanted != self.pipeline.smoother.config:
            self.pipeline.smoother.config = wanted
        refused = self.practice.prepare()
        frame = Frame(image=video.to_ndarray(format="bgr24"), index=index, timestamp=t)
        result, stage_ms = self.processor.process(frame, draw=not self.practice.on)
        image, shown, practice = result.image, result.faces, None
        if self.practice.on:
            image, practice = self.practice.step(frame.image, result.faces, t, refused)
            shown = result.faces.with_fields(labels=None, confidences=None, probs=None, smoothed=None)
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24").reformat(format="yuv420p")
        out.pts, out.time_base = video.pts, video.time_base
        message = frame_record(index, t, shown, size=(video.width, video.height))
        if practice is not None:
            message["practice"] = practice
        return Analysed(out, message, result, {**stage_ms, "total": (time.perf_counter() - started) * 1000})


def steadiness_name(config: SmootherConfig) -> str | None:
    """The --steadiness preset a smoother config is, or None when it is not one of them."""
    return next((name for name in STEADINESS_PRESETS if SmootherConfig.preset(name) == config), None)
