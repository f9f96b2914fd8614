"""FacePipeline on real frames: how often it looks for faces follows the frames' own time, and frames in
between keep every face with its id."""

from __future__ import annotations

import numpy as np
import pytest

from confcam.build import build_pipeline
from confcam.config import PipelineConfig
from confcam.detect.blazeface import BlazeFaceDetector
from confcam.sources.file import FileSource
from confcam.types import Detections, Frame
from tests.conftest import video


class CountingDetector(BlazeFaceDetector):
    """The real short-range detector, counting the frames it was asked to search."""

    calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        self.calls += 1
        return super().detect(image)


def clip_frames(count: int) -> list[np.ndarray]:
    with FileSource(video("WolfgangLanger_Pexels.mp4")) as source:
        return [source.read().image for _ in range(count)]


@pytest.mark.parametrize(
    "fps,interval,searched",
    [(30, 0.06, 6), (60, 0.06, 3), (15, 0.06, 12), (5, 0.06, 12), (30, 0.0, 12)],
)
def test_faces_are_searched_at_most_once_per_interval_of_the_frames_own_time(fps, interval, searched):
    pipeline = build_pipeline(PipelineConfig(detect_interval_s=interval, detector="blazeface-short"))
    pipeline.detector = detector = CountingDetector("short")
    shown = [pipeline.process(Frame(image, i, i / fps)) for i, image in enumerate(clip_frames(12))]
    assert detector.calls == searched
    ids = {tuple(faces.track_ids.tolist()) for faces in shown[3:]}
    assert ids == {(shown[-1].track_ids[0],)}  # one face, one id, on searched and carried frames alike


def test_a_source_that_jumps_back_in_time_is_searched_at_once():
    pipeline = build_pipeline(PipelineConfig(detector="blazeface-short"))
    pipeline.detector = detector = CountingDetector("short")
    images = clip_frames(3)
    for t in (5.0, 5.01, 0.0):
        pipeline.process(Frame(images[0], 0, t))
    assert detector.calls == 2


@pytest.mark.parametrize("fps,interval,read_every", [(30, 0.1, 3), (10, 0.1, 1), (30, 0.0, 1)])
def test_each_face_is_read_at_most_once_per_interval_and_keeps_its_reading_between(fps, interval, read_every):
    pipeline = build_pipeline(PipelineConfig(classify_interval_s=interval, detector="blazeface-short"))
    shown = [pipeline.process(Frame(image, i, i / fps)) for i, image in enumerate(clip_frames(24))]
    probs = [faces.probs[0] for faces in shown if len(faces)]
    changes = sum(not np.array_equal(a, b) for a, b in zip(probs, probs[1:]))
    assert len(probs) >= 20
    assert abs(changes - (len(probs) - 1) / read_every) <= 2, changes


def test_faces_that_appear_together_fall_due_on_different_frames():
    pipeline = build_pipeline(PipelineConfig(classify_interval_s=0.1))
    ids = np.arange(1, 10)
    windows = np.random.default_rng(0).random((9, 1, 64, 64)).astype(np.float32)
    pipeline._read(ids, windows, 0.0)
    due_next = [sum(pipeline._reading_due(int(i), t) for i in ids) for t in (1 / 30, 2 / 30, 3 / 30)]
    assert 0 < due_next[0] < 9 and due_next[-1] == 9
