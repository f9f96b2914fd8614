"""Factories: typed configs in, ready-to-run stage objects out. The only place that knows every class."""

from __future__ import annotations

import os
import sys
from dataclasses import replace

from confcam.classify.crop import FaceCropper
from confcam.classify.model import ExpressionModel
from confcam.classify.registry import ModelRegistry
from confcam.classify.smoother import ExpressionSmoother
from confcam.config import PipelineConfig, SinkConfig, SourceConfig, SourceKind, Style
from confcam.detect.base import FaceDetector
from confcam.detect.blazeface import BlazeFaceDetector
from confcam.detect.focus import FocusConfig, FocusedDetector
from confcam.detect.grid import GridConfig, GridDetector
from confcam.errors import ModelError, SinkError
from confcam.onnx_session import SessionPool
from confcam.pipeline import FacePipeline
from confcam.render import build_annotators as _annotators_for_style
from confcam.render.base import Annotator
from confcam.sinks import sink_registry
from confcam.sinks.base import Sink
from confcam.sources.base import Source
from confcam.track.tracker import FaceTracker


def build_pipeline(
    config: PipelineConfig, registry: ModelRegistry | None = None, sessions: SessionPool | None = None
) -> FacePipeline:
    """A fresh pipeline (its own tracker and smoother state); pipelines given the same `sessions` share
    their onnxruntime sessions."""
    registry = registry or ModelRegistry()
    model = ExpressionModel(registry.resolve(config.model, "expression").path, threads=config.threads, sessions=sessions)
    detector = build_detector(config.detector, registry, config.focus, sessions, config.grid)
    tracker = FaceTracker(replace(config.tracker, window=model.info.window))
    return FacePipeline(
        detector=detector,
        tracker=tracker,
        cropper=FaceCropper(model.info.input_size, model.info.crop),
        model=model,
        smoother=ExpressionSmoother(model.info.labels, config.smoother),
        detect_interval_s=config.detect_interval_s,
        classify_interval_s=config.classify_interval_s,
    )


def build_detector(
    spec: str | None,
    registry: ModelRegistry,
    focus: FocusConfig,
    sessions: SessionPool | None = None,
    grid: GridConfig = GridConfig(),
) -> FaceDetector:
    """One BlazeFace file on whole frames, or 'near+far': the near-range net on the whole frame and on
    close looks at small faces, the far-range net sweeping tiles for new small faces (FocusedDetector);
    on a gallery grid, the near-range net on each tile instead (GridDetector)."""
    infos = registry.resolve_all(spec, "detector")
    if len(infos) == 1:
        return BlazeFaceDetector(infos[0].path, sessions=sessions)
    if len(infos) != 2:
        raise ModelError(f"a detector spec names one model or two joined by '+' (near+far), got {spec!r}")
    near, far = (BlazeFaceDetector(info.path, pooled=True, sessions=sessions) for info in infos)
    focused = FocusedDetector(near, far, focus)
    return GridDetector(near, focused, grid) if grid.enabled else focused


def build_annotators(style: Style) -> list[Annotator]:
    return _annotators_for_style(style.value)


def build_source(config: SourceConfig, window: int = 5) -> Source:
    """The Source for a config; imports lazily so a missing optional backend only matters when used."""
    kind = config.kind
    if kind is SourceKind.sample:
        from confcam.sources.sample import SampleSource

        return SampleSource(pace=config.pace, loop=config.loop)
    if kind is SourceKind.file:
        from confcam.sources.image import NOMINAL_FPS, STILL_SECONDS, ImageSource, is_image_path

        assert config.input is not None, "SourceConfig requires an input for a file source"
        if is_image_path(config.input):
            return ImageSource(config.input, repeat=max(window, round(STILL_SECONDS * NOMINAL_FPS)))
        from confcam.sources.file import FileSource

        return FileSource(config.input, pace=config.pace, loop=config.loop)
    if kind is SourceKind.screen:
        from confcam.sources.screen import ScreenSource

        return ScreenSource(monitor=config.monitor, region=config.region)
    if kind is SourceKind.window:
        from confcam.sources.window import WindowSource

        assert config.window_title is not None, "SourceConfig requires a title for a window source"
        return WindowSource(config.window_title)
    if kind is SourceKind.camera:
        from confcam.sources.camera import CameraSource

        return CameraSource(config.camera)
    from confcam.sources.webrtc import WebRtcSource

    from confcam.web.ingest import SinglePeerServer

    return WebRtcSource(SinglePeerServer(config.web))


def has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def default_sink_kinds() -> tuple[tuple[str, ...], str]:
    """With no --sink: the virtual camera when a backend is usable, else the side panel; says which and why."""
    from confcam.sinks.virtualcam import virtualcam_status

    status = virtualcam_status()
    if status.get("usable"):
        return ("virtualcam",), "sending to the virtual camera (select \"confcam\" in your meeting app)"
    if has_display():
        return ("panel",), f"no virtual camera backend ({status.get('hint', 'none found')}); showing the side panel"
    raise SinkError(
        "no virtual camera backend and no display for the side panel; choose a sink, e.g. --sink file --output out.mp4"
    )


def build_sinks(config: SinkConfig) -> list[Sink]:
    registry = sink_registry()
    return [registry.get(kind).build(config.options) for kind in config.kinds]
