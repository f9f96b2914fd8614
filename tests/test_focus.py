"""FocusedDetector on a real 1080p 3x3 call gallery: small faces found and kept, close-ups unchanged."""

import subprocess
import sys

import av
import numpy as np
import pytest

from confcam.detect.blazeface import BlazeFaceDetector, MultiRangeDetector
from confcam.detect.focus import FocusConfig, FocusedDetector
from tests.conftest import REPO, VIDEOS, video


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> list[np.ndarray]:
    """45 frames of the benchmark gallery (nine shared clips, faces from close-up to ~5 % of the width)."""
    video("lp_s18.mp4")
    out = tmp_path_factory.mktemp("gallery") / "gallery.mp4"
    script = REPO / "benchmarks" / "make_gallery.py"
    subprocess.run([sys.executable, str(script), str(VIDEOS), str(out), "--seconds", "1.5"], check=True, capture_output=True)
    with av.open(str(out)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def focused(**changes) -> FocusedDetector:
    return FocusedDetector(BlazeFaceDetector("short", pooled=True), BlazeFaceDetector("full", pooled=True), FocusConfig(**changes))


def counts(detector, frames: list[np.ndarray]) -> np.ndarray:
    return np.array([len(detector.detect(frame)) for frame in frames])


def test_gallery_faces_are_all_found_once_the_sweep_has_gone_round(gallery):
    found = counts(focused(), gallery)
    assert found.shape == (45,) and gallery[0].shape == (1080, 1920, 3)
    assert found[9:].mean() >= 8.5
    assert found.max() <= 9


def test_a_whole_frame_detector_misses_the_small_gallery_faces(gallery):
    assert counts(MultiRangeDetector.from_variants(), gallery[:10]).mean() < 6


@pytest.mark.parametrize("looks", [3, 5, 9])
def test_limiting_close_looks_per_frame_keeps_every_face(gallery, looks):
    """With max_carry=2, three looks a frame reach nine faces before any waits too long."""
    found = counts(focused(close_looks_per_frame=looks), gallery)
    assert found[18:].mean() >= 8.0


@pytest.mark.parametrize("clip", ["WolfgangLanger_Pexels.mp4", "lp_s18.mp4", "lp_d0.mp4"])
def test_close_up_clips_keep_one_face_per_frame(clip):
    with av.open(str(video(clip))) as container:
        frames = [f.to_ndarray(format="bgr24") for i, f in zip(range(60), container.decode(video=0))]
    assert (counts(focused(), frames) == 1).all()


def test_reset_forgets_where_faces_were(gallery):
    detector = focused()
    for frame in gallery[:12]:
        detector.detect(frame)
    assert detector.close_looks_planned(1920, 1080) > 0
    detector.reset()
    assert detector.close_looks_planned(1920, 1080) == 0
