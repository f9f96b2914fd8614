"""`confcam web`: the demo page served with the user's pipeline settings, until Ctrl+C."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from confcam.config import PipelineConfig, WebConfig
from confcam.web.analyser import FrameAnalyser
from confcam.web.server import ICE_TIMEOUT_S, WebApp, WebServer, demo_sessions, exposure_note


WEB_INFERENCE_THREADS = 1
"""Each client already has its own worker thread, and the browser's codecs and aiortc's share the same
cores: extra onnxruntime threads only contend (measured on 2 cores: 50 ms -> 16 ms per 640x480 frame)."""


def analyser_factory(config: PipelineConfig) -> Callable[[], FrameAnalyser]:
    """A fresh analyser per call: each client gets its own tracker and smoother state (built on its first
    frame), while all clients share the model sessions (one copy of the weights however many clients come
    and go)."""
    from confcam.build import build_annotators, build_pipeline
    from confcam.classify.registry import ModelRegistry
    from confcam.onnx_session import SessionPool
    from confcam.processor import FrameProcessor

    config = replace(config, threads=WEB_INFERENCE_THREADS)
    sessions = SessionPool()
    labels = ModelRegistry().resolve(config.model, "expression").labels

    def build() -> FrameProcessor:
        return FrameProcessor(build_pipeline(config, sessions=sessions), build_annotators(config.style))

    def make() -> FrameAnalyser:
        return FrameAnalyser(build, labels)

    return make


def demo_server(web: WebConfig, config: PipelineConfig, ice_timeout_s: float = ICE_TIMEOUT_S) -> WebServer:
    """Not started yet; raises ModelError here if the model is unusable."""
    return WebServer(WebApp(demo_sessions(analyser_factory(config), ice_timeout_s), web))


def run_demo(web: WebConfig, config: PipelineConfig, announce: Callable[[str], None]) -> None:
    """Serve until Ctrl+C; every session is closed on the way out."""
    server = demo_server(web, config).start()
    try:
        announce(f"confcam web: open {server.page_url} in a browser and press Start (Ctrl+C to stop)")
        announce(exposure_note(web.host, server.port))
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
