"""File, image and sample sources on the shared real clips, and the newest-frame reader in front of them."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from tests.conftest import VIDEOS, video

from confcam.errors import SourceError
from confcam.paths import sample_clip
from confcam.sources.camera import CameraSource, list_cameras
from confcam.sources.file import FileSource
from confcam.sources.image import ImageSource, is_image_path
from confcam.sources.latest import LatestFrameReader
from confcam.sources.sample import SampleSource


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def read_all(source: FileSource | ImageSource) -> list:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
    return frames


class OpenCvReading:
    """What OpenCV's own decoder says about a clip: the independent reference for FileSource."""

    def __init__(self, path: Path) -> None:
        capture = cv2.VideoCapture(str(path))
        self.size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.fps = capture.get(cv2.CAP_PROP_FPS)
        ok, self.first = capture.read()
        assert ok
        self.count = 1
        while capture.grab():
            self.count += 1
        capture.release()


@pytest.mark.parametrize(
    "clip", ["single_face.mp4", "lp_d0.mp4", "lp_s32.mp4", "face_noface.mov"]
)
def test_file_source_agrees_with_opencv_on_size_rate_count_and_pixels(clip: str) -> None:
    path = video(clip)
    reference = OpenCvReading(path)
    with FileSource(path) as source:
        frames = read_all(source)
        assert source.size == reference.size
        assert source.fps == pytest.approx(reference.fps, rel=1e-3)
        assert source.frame_count == reference.count
        assert not source.is_live
    assert len(frames) == reference.count
    assert [f.index for f in frames] == list(range(reference.count))
    assert frames[0].timestamp == 0.0
    assert all(b.timestamp > a.timestamp for a, b in zip(frames, frames[1:]))
    assert frames[-1].timestamp == pytest.approx((reference.count - 1) / reference.fps, rel=0.05)
    first = frames[0].image
    assert first.dtype == np.uint8 and first.shape == (reference.size[1], reference.size[0], 3)
    assert mean_abs_diff(first, reference.first) < 2.0


def test_looping_file_restarts_with_increasing_timestamps() -> None:
    path = video("single_face.mp4")
    with FileSource(path, loop=True) as source:
        passes = source.frame_count
        assert passes is not None
        frames = [source.read() for _ in range(passes + 30)]
    assert all(f is not None for f in frames)
    assert [f.index for f in frames] == list(range(passes + 30))
    assert all(b.timestamp > a.timestamp for a, b in zip(frames, frames[1:]))
    assert frames[passes].timestamp == pytest.approx(passes / source.fps, rel=0.01)
    assert mean_abs_diff(frames[passes].image, frames[0].image) < 0.5
    assert mean_abs_diff(frames[passes + 10].image, frames[10].image) < 0.5


def test_paced_file_plays_in_real_time_and_counts_as_live() -> None:
    path = video("single_face.mp4")
    frames_to_read = 15
    with FileSource(path, pace=True) as source:
        assert source.is_live
        started = time.perf_counter()
        frames = [source.read() for _ in range(frames_to_read)]
        elapsed = time.perf_counter() - started
    media_span = frames[-1].timestamp - frames[0].timestamp
    assert media_span == pytest.approx((frames_to_read - 1) / source.fps, rel=0.01)
    assert elapsed >= 0.9 * media_span
    assert all(b.captured_at > a.captured_at for a, b in zip(frames, frames[1:]))


def write_tone(path: Path) -> None:
    """A real audio-only file: a container that opens fine but holds no video stream."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        t = np.arange(8000, dtype=np.float32) / 8000
        samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def make_bad_input(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """The bad path for `kind` and a word the error must contain."""
    if kind == "missing":
        return tmp_path / "no_such_clip.mp4", "no such file"
    if kind == "text":
        path = tmp_path / "notes.mp4"
        path.write_text("not a video at all\n" * 50)
        return path, "not a video"
    if kind == "empty":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
        return path, "not a video"
    if kind == "directory":
        path = tmp_path / "clips.mp4"
        path.mkdir()
        return path, "directory"
    path = tmp_path / "tone.wav"
    write_tone(path)
    return path, "no video stream"


@pytest.mark.parametrize("kind", ["missing", "text", "empty", "directory", "audio_only"])
def test_bad_video_path_raises_one_line_source_error_naming_the_file(kind: str, tmp_path: Path) -> None:
    path, problem = make_bad_input(kind, tmp_path)
    with pytest.raises(SourceError) as caught:
        FileSource(path).open()
    message = str(caught.value)
    assert path.name in message
    assert problem in message
    assert "\n" not in message


@pytest.mark.parametrize("suffix, exact", [(".png", True), (".jpg", False), (".webp", False)])
def test_image_source_serves_a_saved_frame_as_a_clip(tmp_path: Path, suffix: str, exact: bool) -> None:
    with FileSource(video("WolfgangLanger_Pexels.mp4")) as clip:
        still = clip.read().image
    path = tmp_path / f"still{suffix}"
    assert cv2.imwrite(str(path), still)
    with ImageSource(path, repeat=4) as source:
        frames = read_all(source)
        assert source.size == (still.shape[1], still.shape[0])
        assert not source.is_live
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.timestamp for f in frames] == pytest.approx([i / source.fps for i in range(4)])
    for frame in frames:
        assert frame.image.shape == still.shape
        assert mean_abs_diff(frame.image, still) < (0.01 if exact else 4.0)
    frames[0].image[:] = 0
    assert mean_abs_diff(frames[1].image, still) < (0.01 if exact else 4.0)


def test_image_source_reads_gif_through_pillow(tmp_path: Path) -> None:
    from PIL import Image

    with FileSource(video("single_face.mp4")) as clip:
        still = clip.read().image
    path = tmp_path / "still.gif"
    Image.fromarray(cv2.cvtColor(still, cv2.COLOR_BGR2RGB)).save(path)
    with ImageSource(path, repeat=1) as source:
        frame = source.read()
        assert source.read() is None
    assert frame.image.shape == still.shape
    assert mean_abs_diff(frame.image, still) < 12.0


@pytest.mark.parametrize(
    "name, repeat, problem",
    [
        ("broken.png", 3, "not a readable image"),
        ("missing.jpg", 3, "no such file"),
        ("fine.png", 0, "at least 1 frame"),
    ],
)
def test_unusable_image_raises_source_error(tmp_path: Path, name: str, repeat: int, problem: str) -> None:
    if name == "broken.png":
        (tmp_path / name).write_text("this is text, not a PNG")
    if name == "fine.png":
        cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(SourceError, match=problem):
        ImageSource(tmp_path / name, repeat=repeat).open()


@pytest.mark.parametrize(
    "path, expected",
    [("a/photo.JPG", True), ("x.jpeg", True), ("x.png", True), ("x.webp", True), ("x.mp4", False), ("x.mov", False), ("png", False)],
)
def test_is_image_path_goes_by_extension(path: str, expected: bool) -> None:
    assert is_image_path(path) is expected


def test_sample_source_is_the_bundled_wolfgang_langer_clip() -> None:
    shared = video("WolfgangLanger_Pexels.mp4")
    assert sample_clip().is_file()
    assert (sample_clip().parent / "LICENSE.sample").is_file()
    with SampleSource() as sample, FileSource(shared) as original:
        assert sample.size == original.size
        assert sample.fps == pytest.approx(original.fps)
        assert sample.frame_count == original.frame_count
        for _ in range(3):
            assert mean_abs_diff(sample.read().image, original.read().image) == 0.0


def test_sample_source_paced_and_looping_is_live() -> None:
    source = SampleSource(pace=True, loop=True)
    assert source.pace and source.loop
    with source:
        assert source.is_live
        assert source.read().index == 0


def test_missing_camera_names_the_index_and_how_to_list_cameras() -> None:
    present = {c["index"] for c in list_cameras(max_index=64)}
    missing = next(i for i in range(64) if i not in present)
    with pytest.raises(SourceError) as caught:
        CameraSource(missing).open()
    message = str(caught.value)
    assert f"camera {missing}" in message
    assert "confcam devices" in message
    assert "\n" not in message


def test_negative_camera_index_is_refused() -> None:
    with pytest.raises(SourceError, match="0 or more"):
        CameraSource(-1).open()


def capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("capture ")]


def test_latest_reader_drops_stale_frames_for_a_slow_consumer_and_ends_cleanly() -> None:
    path = video("single_face.mp4")
    received = []
    with FileSource(path, pace=True) as source, LatestFrameReader(source) as reader:
        while (frame := reader.read(timeout=2.0)) is not None:
            received.append(frame)
            time.sleep(3.0 / source.fps)
        total = source.frame_count
        assert reader.read(timeout=0.5) is None
        dropped, captured = reader.dropped, reader.captured
    assert captured == total
    assert dropped > total // 2
    assert len(received) + dropped == total
    indices = [f.index for f in received]
    assert indices == sorted(set(indices))
    assert indices[-1] == total - 1
    assert not capture_threads()


def test_latest_reader_drops_next_to_nothing_for_a_fast_consumer() -> None:
    path = video("single_face.mp4")
    with FileSource(path, pace=True) as source, LatestFrameReader(source) as reader:
        indices = []
        while (frame := reader.read(timeout=2.0)) is not None:
            indices.append(frame.index)
        assert reader.dropped < source.frame_count // 10
    assert indices[0] == 0 and indices[-1] == source.frame_count - 1
    assert len(indices) + reader.dropped == source.frame_count


def write_slow_clip(path: Path, fps: int, frames: int) -> None:
    """A real clip so slow that a paced reader waits seconds between frames."""
    with FileSource(VIDEOS / "single_face.mp4") as clip:
        picture = clip.read().image
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(fps, 1))
        stream.width, stream.height, stream.pix_fmt = picture.shape[1], picture.shape[0], "yuv420p"
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_latest_reader_reports_a_stalled_source_instead_of_hanging(tmp_path: Path) -> None:
    path = tmp_path / "one_frame_a_second.mp4"
    write_slow_clip(path, fps=1, frames=3)
    with FileSource(path, pace=True) as source, LatestFrameReader(source) as reader:
        assert reader.read(timeout=2.0).index == 0
        started = time.perf_counter()
        with pytest.raises(SourceError, match=r"no frame from file one_frame_a_second\.mp4 for 0\.2 s"):
            reader.read(timeout=0.2)
        assert time.perf_counter() - started < 0.6
    assert not capture_threads()
