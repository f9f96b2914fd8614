"""SessionPool: web clients share one copy of each model, and sharing changes no answer."""

from __future__ import annotations

import shutil
import threading

import cv2
import numpy as np
import pytest

from confcam.build import build_pipeline
from confcam.classify.model import ExpressionModel
from confcam.config import PipelineConfig
from confcam.detect.blazeface import BlazeFaceDetector
from confcam.errors import ModelError
from confcam.onnx_session import SessionPool
from confcam.paths import models_dir
from confcam.web.demo import analyser_factory
from tests.conftest import video


def blazefaces(detector) -> list:
    """The BlazeFace nets inside a (grid, focused or plain) detector."""
    if hasattr(detector, "fallback"):
        return [detector.near, *blazefaces(detector.fallback)]
    return [detector.near, detector.far] if hasattr(detector, "far") else [detector]


def sessions_of(pipeline) -> set[int]:
    return {id(d.session) for d in blazefaces(pipeline.detector)} | {id(pipeline.model.session)}


@pytest.mark.parametrize("detector", [None, "blazeface-short", "blazeface-short+blazeface-full"])
def test_pipelines_built_with_one_pool_share_every_session(detector):
    pool = SessionPool()
    config = PipelineConfig(detector=detector) if detector else PipelineConfig()
    first, second = (build_pipeline(config, sessions=pool) for _ in range(2))
    assert sessions_of(first) == sessions_of(second)
    assert len(pool) == len(sessions_of(first))


def test_pipelines_without_a_pool_open_their_own_sessions():
    first, second = build_pipeline(PipelineConfig()), build_pipeline(PipelineConfig())
    assert not sessions_of(first) & sessions_of(second)


def test_web_clients_share_sessions_but_not_tracker_state():
    make = analyser_factory(PipelineConfig())
    one, two = make(), make()
    assert sessions_of(one.pipeline) == sessions_of(two.pipeline)
    assert one.pipeline.tracker is not two.pipeline.tracker
    assert one.pipeline.smoother is not two.pipeline.smoother


def test_a_model_file_replaced_on_disk_gets_a_new_session(tmp_path):
    path = tmp_path / "model.onnx"
    shutil.copy(models_dir() / "minixception-2d.onnx", path)
    pool = SessionPool()
    before = ExpressionModel(path, sessions=pool).session
    assert ExpressionModel(path, sessions=pool).session is before
    shutil.copy(models_dir() / "minixception-2d-ferplus.onnx", path)
    assert ExpressionModel(path, sessions=pool).session is not before


def test_a_missing_file_through_the_pool_is_the_usual_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        ExpressionModel(tmp_path / "gone.onnx", sessions=SessionPool())


def real_frames(count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video("WolfgangLanger_Pexels.mp4")))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def test_a_shared_detector_session_gives_the_same_faces_from_several_threads():
    frames = real_frames(12)
    pool = SessionPool()
    alone = [BlazeFaceDetector("full").detect(f).boxes for f in frames]
    results: dict[int, list[np.ndarray]] = {}

    def client(index: int) -> None:
        detector = BlazeFaceDetector("full", sessions=pool)
        results[index] = [detector.detect(f).boxes for f in frames]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pool) == 1
    for boxes in results.values():
        assert all(len(a) > 0 for a in alone)
        for got, want in zip(boxes, alone):
            np.testing.assert_allclose(got, want, atol=1e-3)


def test_a_web_client_that_never_sends_a_frame_costs_no_pipeline():
    make = analyser_factory(PipelineConfig())
    idle = make()
    assert not idle.built and idle.class_names  # labels known without a pipeline
    assert idle.pipeline is not None and idle.built  # built on first use
