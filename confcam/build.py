"""Factories: typed configs in, ready-to-run stage objects out. The only place that knows every class."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from functools import partial

from confcam.classify.crop import FaceCropper
from confcam.classify.model import ExpressionModel
from confcam.classify.registry import ModelRegistry
from confcam.classify import smoother_registry
from confcam.classify.base import SmootherContext
from confcam.config import PipelineConfig, SinkConfig, SourceConfig, WebConfig
from confcam.detect import build_net
from confcam.detect.base import CandidateDetector, DetectorContext, FaceDetector
from confcam.detect.focus import FocusConfig, FocusedDetector
from confcam.detect.grid import GridConfig, GridDetector
from confcam.errors import ModelError, SinkError
from confcam.onnx_session import SessionPool
from confcam.pipeline import FacePipeline
from confcam.render import build_annotators as _annotators_for_style
from confcam.render.base import Annotator
from confcam.sinks import sink_registry
from confcam.sinks.base import Sink
from confcam.sources import source_registry
from confcam.sources.base import Source, SourceContext
from confcam.sources.webrtc import PeerServer
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
    smoother = smoother_registry().get(config.smoothing).build({}, SmootherContext(model.info.labels, config.smoother))
    return FacePipeline(
        detector=detector,
        tracker=tracker,
        cropper=FaceCropper(model.info.input_size, model.info.crop),
        model=model,
        smoother=smoother,
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
    """One detector file on whole frames, or 'near+far': the near-range net on the whole frame and on
    close looks at small faces, the far-range net sweeping tiles for new small faces (FocusedDetector);
    on a gallery grid, the near-range net on each tile instead (GridDetector). Each file's arch picks the
    detector that reads it (confcam.detect.detector_registry)."""
    infos = registry.resolve_all(spec, "detector")
    if len(infos) == 1:
        return build_net(infos[0].arch, DetectorContext(infos[0].path, sessions=sessions))
    if len(infos) != 2:
        raise ModelError(f"a detector spec names one model or two joined by '+' (near+far), got {spec!r}")
    near, far = (build_net(info.arch, DetectorContext(info.path, pooled=True, sessions=sessions)) for info in infos)
    if not (isinstance(near, CandidateDetector) and isinstance(far, CandidateDetector)):
        raise ModelError(f"--detector {spec}: near+far needs detectors that report candidates (as BlazeFace does)")
    focused = FocusedDetector(near, far, focus)
    return GridDetector(near, focused, grid) if grid.enabled else focused


def build_annotators(style: str) -> list[Annotator]:
    return _annotators_for_style(style)


def build_source(config: SourceConfig, window: int = 5) -> Source:
    """The Source a config names, from the source registry; `window` is the expression model's."""
    context = SourceContext(pace=config.pace, window=window, peer_server=partial(_peer_server, config.web))
    return source_registry().get(config.kind).build(config.options, context)


def _peer_server(web: WebConfig) -> PeerServer:
    """The web layer's page server, imported only by a run that uses it."""
    from confcam.web.ingest import SinglePeerServer

    return SinglePeerServer(web)


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
