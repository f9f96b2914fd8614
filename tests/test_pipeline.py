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
