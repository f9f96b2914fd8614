"""Sinks fed with real annotated frames: virtual camera (in-process backend), file, events, windows."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam import PixelFormat
from pyvirtualcam.util import decode_fourcc

from confcam.errors import SinkError
from confcam.render.emoji import EmojiAnnotator
from confcam.sinks.events import EventsSink
from confcam.sinks.file import FileSink
from confcam.sinks.null import NullSink
from confcam.sinks.panel import PanelSink
from confcam.sinks.virtualcam import (
    VirtualCameraSink,
    find_confcam_device,
    install_hint,
    virtualcam_status,
)
from confcam.sinks.window import WindowSink
from confcam.types import Detections, Frame, Result
from tests.conftest import Recording, video

CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
# Measured by eye on frame 0 of WolfgangLanger_Pexels.mp4 (640x360): brows to chin, cheek to cheek.
FACE_BOX = (335.0, 110.0, 540.0, 345.0)
FRAMES = 24


@pytest.fixture(scope="module")
def clip() -> list[Frame]:
    """The first FRAMES frames of a real clip, with their media timestamps."""
    frames = []
    with av.open(str(video("WolfgangLanger_Pexels.mp4"))) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            frames.append(Frame(decoded.to_ndarray(format="bgr24"), index, float(decoded.time)))
            if len(frames) == FRAMES:
                break
    return frames


def labelled_face(label: str = "happy", track_id: int = 7) -> Detections:
    logits = np.array([0.1, -1.0, 0.3, 2.2, 0.0, 0.4, 1.1], dtype=np.float32)
    probs = np.exp(logits) / np.exp(logits).sum()
    return Detections(
        boxes=np.array([FACE_BOX], dtype=np.float32),
        scores=np.array([0.93], dtype=np.float32),
        landmarks=np.zeros((1, 6, 2), dtype=np.float32),
        track_ids=np.array([track_id], dtype=np.int64),
        probs=probs[None, :],
        smoothed=probs[None, :],
        labels=[label],
        confidences=np.array([probs.max()], dtype=np.float32),
    )


@pytest.fixture(scope="module")
def results(clip: list[Frame]) -> list[Result]:
    """The clip with an emoji drawn over the hand-measured face, as the runner would hand it to sinks."""
    annotator = EmojiAnnotator()
    out = []
    for frame in clip:
        faces = labelled_face()
        image = annotator.annotate(frame.image.copy(), faces, CLASS_NAMES)
        out.append(Result(frame=frame, faces=faces, class_names=CLASS_NAMES, image=image))
    return out


def run_sink(sink, results: list[Result], fps: float = 23.976) -> None:
    height, width = results[0].image.shape[:2]
    sink.open(width, height, fps)
    with sink:
        for result in results:
            sink.write(result)


# --- virtual camera -------------------------------------------------------------------------------


@pytest.fixture
def broken_backend() -> Iterator[str]:
    """A backend that fails to open, as v4l2loopback does when no loopback device exists."""
    name = "confcam-test-broken"

    class MissingDevice:
        def __init__(self, **kw) -> None:
            raise RuntimeError("No v4l2 loopback device found")

    pyvirtualcam.register_backend(name, MissingDevice)
    yield name
    pyvirtualcam.camera.BACKENDS.pop(name, None)


def test_virtual_camera_receives_every_frame_in_bgr_with_the_overlay(
    recording_backend: tuple[str, Recording], results: list[Result]
) -> None:
    name, recording = recording_backend
    run_sink(VirtualCameraSink(backend=name), results)
    opened = recording.opened[0]
    assert (opened["width"], opened["height"]) == (640, 360)
    assert decode_fourcc(opened["fourcc"]) == PixelFormat.BGR.value
    assert len(recording.frames) == len(results)
    assert recording.closed == 1
    for sent, result in zip(recording.frames, results):
        picture = sent.reshape(360, 640, 3)
        changed = np.any(picture != result.frame.image, axis=2)
        rows, cols = np.nonzero(changed)
        assert rows.size > 500, "the emoji reached the camera"
        assert rows.max() < FACE_BOX[1] and cols.min() >= FACE_BOX[0] and cols.max() <= FACE_BOX[2]


@pytest.mark.parametrize(("pace", "fps", "at_least_s", "at_most_s"), [(False, 5.0, 0.0, 1.0), (True, 40.0, 0.2, 5.0)])
def test_virtual_camera_paces_only_when_asked(
    recording_backend: tuple[str, Recording],
    results: list[Result],
    pace: bool,
    fps: float,
    at_least_s: float,
    at_most_s: float,
) -> None:
    name, recording = recording_backend
    start = time.perf_counter()
    run_sink(VirtualCameraSink(backend=name, pace=pace), results[:12], fps=fps)
    elapsed = time.perf_counter() - start
    assert len(recording.frames) == 12
    assert at_least_s <= elapsed <= at_most_s


def test_virtual_camera_without_a_usable_backend_says_how_to_install_one(broken_backend: str) -> None:
    with pytest.raises(SinkError) as error:
        VirtualCameraSink(backend=broken_backend).open(640, 360, 30)
    message = str(error.value)
    assert "\n" not in message
    assert install_hint() in message and "No v4l2 loopback device found" in message


def test_unknown_virtual_camera_backend_is_a_sink_error() -> None:
    with pytest.raises(SinkError, match="unknown virtual camera backend 'nonesuch'"):
        VirtualCameraSink(backend="nonesuch").open(640, 360, 30)


@pytest.mark.parametrize(
    ("system", "expected"),
    [
        (
            "Linux",
            "sudo apt install v4l2loopback-dkms && "
            "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=confcam",
        ),
        ("Windows", "OBS Studio"),
        ("Darwin", "OBS Studio"),
    ],
)
def test_install_hint_names_the_backend_of_each_os(system: str, expected: str) -> None:
    assert expected in install_hint(system)


def test_virtualcam_status_reports_a_usable_backend(recording_backend: tuple[str, Recording]) -> None:
    name, recording = recording_backend
    status = virtualcam_status(backend=name)
    assert status["usable"] is True and status["backend"] == name
    assert name in status["backends"]
    assert recording.closed == 1, "the probe camera is released"


def test_virtualcam_status_reports_why_no_backend_is_usable(broken_backend: str) -> None:
    status = virtualcam_status(backend=broken_backend)
    assert status["usable"] is False
    assert status["hint"] in status["error"]


@pytest.mark.parametrize(
    ("names", "expected"),
    [({"video0": "Integrated Camera", "video2": "confcam"}, "/dev/video2"), ({"video0": "OBS Cam"}, None)],
)
def test_confcam_loopback_device_is_found_by_its_card_label(
    tmp_path: Path, names: dict[str, str], expected: str | None
) -> None:
    for node, label in names.items():
        (tmp_path / node).mkdir()
        (tmp_path / node / "name").write_text(label + "\n")
    assert find_confcam_device(tmp_path) == expected


# --- file -----------------------------------------------------------------------------------------


def decode(path: Path) -> tuple[list[np.ndarray], list[float], str]:
    with av.open(str(path)) as container:
        codec = container.streams.video[0].codec_context.name
        decoded = list(container.decode(video=0))
    return [f.to_ndarray(format="bgr24") for f in decoded], [float(f.time) for f in decoded], codec


def test_file_sink_writes_an_mp4_with_every_frame(tmp_path: Path, results: list[Result]) -> None:
    path = tmp_path / "call.mp4"
    run_sink(FileSink(path), results)
    pictures, _, codec = decode(path)
    assert len(pictures) == len(results)
    assert pictures[0].shape == (360, 640, 3)
    assert codec == ("h264" if "libx264" in av.codecs_available else "mpeg4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call.mp4"]


def test_file_sink_keeps_the_emoji_visible(tmp_path: Path, results: list[Result]) -> None:
    path = tmp_path / "call.mp4"
    run_sink(FileSink(path), results[:6])
    pictures, _, _ = decode(path)
    x1, y1, x2, _ = (int(v) for v in FACE_BOX)
    above = (slice(0, y1), slice(x1, x2))
    encoded_error = np.abs(pictures[3][above].astype(int) - results[3].image[above].astype(int)).mean()
    overlay_signal = np.abs(results[3].image[above].astype(int) - results[3].frame.image[above].astype(int)).mean()
    assert encoded_error < overlay_signal / 3


def test_file_sink_times_frames_by_their_timestamps(tmp_path: Path, results: list[Result]) -> None:
    gappy = [
        Result(Frame(r.image, i, 0.25 * i), r.faces, r.class_names, r.image) for i, r in enumerate(results[:8])
    ]
    path = tmp_path / "gappy.mp4"
    run_sink(FileSink(path), gappy, fps=30.0)
    _, times, _ = decode(path)
    assert times[-1] == pytest.approx(0.25 * 7, abs=0.02)


def test_file_sink_crops_odd_sizes_to_even(tmp_path: Path, results: list[Result]) -> None:
    odd = [Result(r.frame, r.faces, r.class_names, r.image[:359, :639]) for r in results[:5]]
    path = tmp_path / "odd.mp4"
    run_sink(FileSink(path), odd)
    pictures, _, _ = decode(path)
    assert len(pictures) == 5 and pictures[0].shape == (358, 638, 3)


def test_file_appears_only_when_the_run_finishes(tmp_path: Path, results: list[Result]) -> None:
    path = tmp_path / "call.mp4"
    sink = FileSink(path)
    sink.open(640, 360, 24.0)
    for result in results[:4]:
        sink.write(result)
    assert not path.exists()
    sink.close()
    assert path.is_file()


def test_failed_file_run_leaves_nothing_behind(tmp_path: Path, results: list[Result]) -> None:
    path = tmp_path / "call.mp4"
    sink = FileSink(path)
    sink.open(640, 360, 24.0)
    with pytest.raises(RuntimeError, match="source lost"):
        with sink:
            for result in results[:5]:
                sink.write(result)
            raise RuntimeError("source lost")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("call.avi", "use one of"),
        ("call.txt", "use one of"),
        ("missing-folder/call.mp4", "does not exist"),
        ("a-file/call.mp4", "does not exist"),
        ("a-folder.mp4", "it is a folder"),
    ],
)
def test_unwritable_video_paths_fail_at_open(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder.mp4").mkdir()
    before = sorted(tmp_path.iterdir())
    with pytest.raises(SinkError, match=message):
        FileSink(tmp_path / name).open(640, 360, 24.0)
    assert sorted(tmp_path.iterdir()) == before


# --- events ---------------------------------------------------------------------------------------


def test_events_sink_writes_one_json_line_per_frame_matching_the_contract(
    tmp_path: Path, results: list[Result]
) -> None:
    empty = Result(Frame(results[0].image, 99, 4.1), Detections.empty(), CLASS_NAMES, results[0].image)
    path = tmp_path / "timeline.jsonl"
    run_sink(EventsSink(path), results[:10] + [empty])
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 11
    for line, result in zip(lines, results[:10]):
        assert set(line) == {"frame", "t", "size", "tracks"}
        assert line["frame"] == result.frame.index
        assert line["size"] == [result.frame.width, result.frame.height]
        assert line["t"] == pytest.approx(result.frame.timestamp, abs=1e-4)
        (track,) = line["tracks"]
        assert set(track) == {"id", "box", "label", "confidence", "probs"}
        assert track["id"] == int(result.faces.track_ids[0])
        assert track["box"] == pytest.approx(list(result.faces.xywh[0]), abs=1e-4)
        assert track["label"] == result.faces.labels[0]
        assert len(track["probs"]) == len(CLASS_NAMES)
        assert track["probs"] == pytest.approx(list(result.faces.probs[0]), abs=1e-4)
        assert all(p == round(p, 4) for p in track["probs"] + [track["confidence"]])
    assert lines[-1] == {"frame": 99, "t": 4.1, "size": [640, 360], "tracks": []}


def test_events_of_unclassified_faces_have_null_label_and_probs(tmp_path: Path, clip: list[Frame]) -> None:
    faces = Detections(
        boxes=np.array([FACE_BOX], dtype=np.float32),
        scores=np.array([0.9], dtype=np.float32),
        landmarks=np.zeros((1, 6, 2), dtype=np.float32),
        track_ids=np.array([3], dtype=np.int64),
    )
    path = tmp_path / "timeline.jsonl"
    run_sink(EventsSink(path), [Result(clip[0], faces, CLASS_NAMES, clip[0].image)])
    (track,) = json.loads(path.read_text(encoding="utf-8"))["tracks"]
    assert track["id"] == 3 and track["label"] is None and track["probs"] is None and track["confidence"] is None


def test_failed_events_run_leaves_nothing_behind(tmp_path: Path, results: list[Result]) -> None:
    sink = EventsSink(tmp_path / "timeline.jsonl")
    sink.open(640, 360, 24.0)
    sink.write(results[0])
    sink.close(success=False)
    assert list(tmp_path.iterdir()) == []


def test_events_need_a_jsonl_path(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match="jsonl"):
        EventsSink(tmp_path / "timeline.csv").open(640, 360, 24.0)


def test_null_sink_takes_frames_without_needing_pictures(results: list[Result]) -> None:
    sink = NullSink()
    run_sink(sink, results[:3])
    assert sink.frames == 3 and sink.needs_image is False


# --- windows under Xvfb ---------------------------------------------------------------------------


def window_ids(display_name: str, title: str) -> list[int]:
    """Viewable X windows whose WM_NAME is exactly this title."""
    from Xlib import X
    from Xlib.display import Display

    display = Display(display_name)
    found = []
    pending = [display.screen().root]
    while pending:
        window = pending.pop()
        name = window.get_wm_name()
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        if name == title and window.get_attributes().map_state == X.IsViewable:
            found.append(window.id)
        pending.extend(window.query_tree().children)
    display.close()
    return found


def ask_to_close(display_name: str, window_id: int) -> None:
    """What a window manager sends when the user clicks the close button."""
    from Xlib import X
    from Xlib.display import Display
    from Xlib.protocol import event

    display = Display(display_name)
    window = display.create_resource_object("window", window_id)
    protocols = display.intern_atom("WM_PROTOCOLS")
    message = event.ClientMessage(
        window=window,
        client_type=protocols,
        data=(32, [display.intern_atom("WM_DELETE_WINDOW"), X.CurrentTime, 0, 0, 0]),
    )
    window.send_event(message)
    display.flush()
    display.close()


SCREEN_SINKS = {
    "window": lambda: WindowSink(title="confcam-test-window"),
    "panel": lambda: PanelSink(title="confcam-test-panel"),
}


def show_until_stopped(sink, result: Result, attempts: int = 150, again=None) -> bool:
    """Keeps showing frames until the sink asks to stop; `again` repeats the user's request every half
    second (on a loaded machine the GUI toolkit may not listen yet when the first request arrives)."""
    for attempt in range(attempts):
        if again is not None and attempt and attempt % 25 == 0:
            again()
        sink.write(result)
        if sink.stop_requested:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.display
@pytest.mark.parametrize("kind", list(SCREEN_SINKS))
def test_screen_sink_shows_a_window_that_can_be_found_by_title(
    xvfb: str, monkeypatch: pytest.MonkeyPatch, results: list[Result], kind: str
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb)
    sink = SCREEN_SINKS[kind]()
    sink.open(640, 360, 24.0)
    for result in results[:3]:
        sink.write(result)
    assert len(window_ids(xvfb, sink.window.title)) == 1
    assert not sink.stop_requested
    sink.close()


@pytest.mark.display
@pytest.mark.parametrize("key", ["q", "Escape"])
@pytest.mark.parametrize("kind", list(SCREEN_SINKS))
def test_pressing_q_or_escape_ends_the_run(
    xvfb: str, monkeypatch: pytest.MonkeyPatch, results: list[Result], kind: str, key: str
) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    monkeypatch.setenv("DISPLAY", xvfb)
    sink = SCREEN_SINKS[kind]()
    sink.open(640, 360, 24.0)
    sink.write(results[0])
    (window_id,) = window_ids(xvfb, sink.window.title)
    subprocess.run(["xdotool", "key", "--window", str(window_id), key], check=True, capture_output=True)
    assert show_until_stopped(sink, results[1])
    sink.close()


@pytest.mark.display
@pytest.mark.parametrize("kind", list(SCREEN_SINKS))
def test_closing_the_window_ends_the_run(
    xvfb: str, monkeypatch: pytest.MonkeyPatch, results: list[Result], kind: str
) -> None:
    monkeypatch.setenv("DISPLAY", xvfb)
    sink = SCREEN_SINKS[kind]()
    sink.open(640, 360, 24.0)
    sink.write(results[0])
    (window_id,) = window_ids(xvfb, sink.window.title)
    ask_to_close(xvfb, window_id)
    assert show_until_stopped(sink, results[1], again=lambda: ask_to_close(xvfb, window_id))
    sink.close()
    assert window_ids(xvfb, sink.window.title) == []


@pytest.mark.parametrize("kind", list(SCREEN_SINKS))
def test_no_display_is_a_sink_error(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SinkError, match="DISPLAY is not set"):
        SCREEN_SINKS[kind]().open(640, 360, 24.0)


@pytest.mark.parametrize("kind", list(SCREEN_SINKS))
def test_unreachable_display_is_a_sink_error(monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    number = next(n for n in range(4242, 4400) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    monkeypatch.setenv("DISPLAY", f":{number}")
    with pytest.raises(SinkError, match=f"display :{number}"):
        SCREEN_SINKS[kind]().open(640, 360, 24.0)


@pytest.mark.display
def test_window_reports_a_library_clash_instead_of_hanging(xvfb: str) -> None:
    script = (
        "import av\n"
        "from confcam.errors import SinkError\n"
        "from confcam.sinks.window import WindowSink\n"
        "try:\n"
        "    WindowSink().open(640, 360, 24.0)\n"
        "except SinkError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env={**os.environ, "DISPLAY": xvfb}, capture_output=True, text=True, timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert "import cv2 before av" in done.stdout


@pytest.mark.display
def test_panel_opens_at_the_right_edge_of_the_screen(xvfb: str, monkeypatch: pytest.MonkeyPatch, results: list[Result]) -> None:
    """Away from the meeting window it would otherwise cover (and be captured from)."""
    from Xlib.display import Display

    monkeypatch.setenv("DISPLAY", xvfb)
    sink = PanelSink()
    sink.open(640, 360, 24.0)
    for result in results[:3]:
        sink.write(result)
    (window_id,) = window_ids(xvfb, sink.window.title)
    display = Display(xvfb)
    window = display.create_resource_object("window", window_id)
    origin = window.translate_coords(display.screen().root, 0, 0)
    geometry = window.get_geometry()
    screen_width = display.screen().width_in_pixels
    display.close()
    sink.close()
    assert -origin.x + geometry.width >= screen_width - 40
