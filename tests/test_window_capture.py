"""Screen and window capture under Xvfb, against a real clip played in a real "Zoom Meeting" window.

Needs the Debian package xvfb (the tests skip with that reason without it); one test also runs the
openbox window manager (Debian package openbox; skipped without it). The window is an OpenCV (Qt)
window in a child process; it is moved and resized with python-xlib, as a window manager would,
and closed by ending the process. Xvfb runs with -noreset: without it the server resets whenever
its last client leaves and drops connections made meanwhile.
"""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from contextlib import contextmanager

import av
import mss
import numpy as np
import pytest
from tests.conftest import XVFB_SCREEN, start_xvfb, video

from confcam.errors import SourceError
from confcam.sources.file import FileSource
from confcam.sources.latest import LatestFrameReader
from confcam.displays import list_monitors
from confcam.sources.screen import ScreenSource
from confcam.sources.window import WindowSource, letterbox, list_windows

pytestmark = pytest.mark.display

SCREEN = XVFB_SCREEN
CLIP = "WolfgangLanger_Pexels.mp4"
STEP, SHOWN = 12, 6
"""The player cycles through every STEP-th frame of the clip, SHOWN of them."""
MEETING_AT = (200, 100)

PLAYER = """
import sys, time
import cv2
import numpy as np

path, x, y = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
frames = list(np.load(path))
flags = cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL
cv2.namedWindow("Zoom Meeting", flags)
cv2.moveWindow("Zoom Meeting", x, y)
cv2.namedWindow("Zoom", flags)
cv2.moveWindow("Zoom", 0, 520)
toolbar = np.full((135, 240, 3), 90, np.uint8)
deadline = time.monotonic() + 60
k = 0
while time.monotonic() < deadline:
    cv2.imshow("Zoom Meeting", frames[k % len(frames)])
    cv2.imshow("Zoom", toolbar)
    cv2.waitKey(100)
    if k == 0:
        print("ready", flush=True)
    k += 1
"""


@pytest.fixture
def display(xvfb: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISPLAY", xvfb)
    return xvfb


@pytest.fixture(scope="module")
def shown_frames() -> list[np.ndarray]:
    """The frames the player shows, decoded by FileSource: what a capture must match."""
    frames = []
    with FileSource(video(CLIP)) as clip:
        for i in range(STEP * SHOWN):
            frame = clip.read()
            if i % STEP == 0:
                frames.append(frame.image)
    return frames


@contextmanager
def running_player(frames: list[np.ndarray], attempts: int = 3) -> Iterator[subprocess.Popen]:
    """A "Zoom Meeting" window (the clip, 640x360) and a small "Zoom" toolbar window, on $DISPLAY.

    The player gets decoded frames and imports only OpenCV (PyAV bundles its own libxcb). Its Qt window
    now and then never paints under a loaded Xvfb (blank black or white); such a player is replaced,
    since what is under test is the capture, not the player."""
    with tempfile.TemporaryDirectory() as folder:
        np.save(Path(folder) / "frames.npy", np.stack(frames))
        for attempt in range(1, attempts + 1):
            process = subprocess.Popen(
                [sys.executable, "-c", PLAYER, str(Path(folder) / "frames.npy"), *map(str, MEETING_AT)],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            try:
                ready, _, _ = select.select([process.stdout], [], [], 20)
                if not ready or process.stdout.readline().strip() != "ready":
                    pytest.fail("the OpenCV player window did not come up under Xvfb")
                wait_for(lambda: any(w["title"] == "Zoom Meeting" for w in list_windows()), "the player window")
                if poll(meeting_is_painted, 10.0):
                    yield process
                    return
                if attempt == attempts:
                    pytest.fail(f"the player did not paint the clip in {attempts} attempts")
            finally:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def player(display: str, shown_frames: list[np.ndarray]) -> Iterator[subprocess.Popen]:
    with running_player(shown_frames) as process:
        yield process


def meeting_is_painted() -> bool:
    """The inside of the meeting window shows a picture, not a blank fill; checked with mss directly, not
    with the sources under test (a window manager may shift the window a little)."""
    with (getattr(mss, "MSS", None) or mss.mss)() as screen:
        shot = screen.grab({"left": MEETING_AT[0] + 40, "top": MEETING_AT[1] + 40, "width": 560, "height": 280})
    pixels = np.asarray(shot)[:, :, :3]
    return 10 < float(pixels.mean()) < 245 and float(pixels.std()) > 5


def poll(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether condition became true within timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    if not poll(condition, timeout):
        pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def distance_to_clip(image: np.ndarray, shown: list[np.ndarray]) -> float:
    """Mean absolute difference to the closest frame the player shows (0 for an exact capture)."""
    return min(float(np.abs(image.astype(np.int16) - f.astype(np.int16)).mean()) for f in shown)


def distance_between_shown(shown: list[np.ndarray]) -> float:
    """How different two shown frames are: a capture of the wrong thing is at least this far off."""
    return min(
        float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) for a, b in zip(shown, shown[1:])
    )


class XWindowMover:
    """Moves and resizes a window the way a window manager would (ConfigureWindow)."""

    def __init__(self, handle: int) -> None:
        from Xlib import display

        self._display = display.Display()
        self._window = self._display.create_resource_object("window", handle)

    def configure(self, **geometry: int) -> None:
        self._window.configure(**geometry)
        self._display.sync()

    def close(self) -> None:
        self._display.close()


def test_list_monitors_reports_the_xvfb_screen(display: str) -> None:
    monitors = list_monitors()
    assert [(m["index"], m["width"], m["height"]) for m in monitors] == [(1, *SCREEN)]


def test_screen_region_captures_what_the_meeting_window_shows(
    player: subprocess.Popen, shown_frames: list[np.ndarray]
) -> None:
    height, width = shown_frames[0].shape[:2]
    with ScreenSource(monitor=1, region=(*MEETING_AT, width, height)) as source:
        assert source.size == (width, height)
        frames = [source.read() for _ in range(3)]
    assert [f.index for f in frames] == [0, 1, 2]
    for frame in frames:
        assert frame.image.shape == (height, width, 3)
        assert distance_to_clip(frame.image, shown_frames) < 1.0
    with ScreenSource(monitor=1) as whole:
        assert whole.size == SCREEN
        screen = whole.read().image
    x, y = MEETING_AT
    assert distance_to_clip(screen[y : y + height, x : x + width], shown_frames) < 1.0


@pytest.mark.parametrize(
    "monitor, region, problem",
    [
        (2, None, "no monitor 2"),
        (-1, None, "no monitor -1"),
        (1, (1000, 0, 400, 100), "does not fit monitor 1"),
        (1, (0, 600, 100, 200), "does not fit monitor 1"),
        (1, (-5, 0, 100, 100), "does not fit monitor 1"),
        (1, (0, 0, 0, 100), "does not fit monitor 1"),
    ],
)
def test_screen_source_rejects_bad_monitor_or_region(
    display: str, monitor: int, region: tuple[int, int, int, int] | None, problem: str
) -> None:
    with pytest.raises(SourceError) as caught:
        ScreenSource(monitor=monitor, region=region).open()
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "action",
    [
        lambda: ScreenSource().open(),
        lambda: WindowSource("zoom").open(),
        list_monitors,
        list_windows,
    ],
    ids=["screen", "window", "list_monitors", "list_windows"],
)
def test_missing_x_display_is_reported_as_such(monkeypatch: pytest.MonkeyPatch, action: Callable[[], object]) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(SourceError, match="DISPLAY is not set"):
        action()


def test_screen_rate_is_paced_to_the_requested_fps(display: str) -> None:
    with ScreenSource(monitor=1, region=(0, 0, 64, 64), fps=20) as source:
        source.read()
        started = time.perf_counter()
        for _ in range(6):
            source.read()
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.9 * 6 / 20


def test_list_windows_gives_titles_and_client_rectangles(player: subprocess.Popen) -> None:
    windows = {w["title"]: w for w in list_windows()}
    meeting = windows["Zoom Meeting"]
    assert (meeting["x"], meeting["y"], meeting["w"], meeting["h"]) == (*MEETING_AT, 640, 360)
    assert (windows["Zoom"]["w"], windows["Zoom"]["h"]) == (240, 135)


def test_window_found_by_part_of_its_title_is_the_largest_match_and_shows_the_clip(
    player: subprocess.Popen, shown_frames: list[np.ndarray]
) -> None:
    with WindowSource("zoom") as source:
        assert source.window is not None and source.window.title == "Zoom Meeting"
        assert source.size == (640, 360)
        frames = [source.read() for _ in range(4)]
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert all(b.timestamp > a.timestamp for a, b in zip(frames, frames[1:]))
    for frame in frames:
        assert distance_to_clip(frame.image, shown_frames) < 1.0
    assert distance_between_shown(shown_frames) > 5.0


def test_window_capture_follows_the_window_when_it_moves(
    player: subprocess.Popen, shown_frames: list[np.ndarray]
) -> None:
    with WindowSource("Zoom Meeting") as source:
        assert distance_to_clip(source.read().image, shown_frames) < 1.0
        mover = XWindowMover(source.window.handle)
        try:
            mover.configure(x=560, y=330)
        finally:
            mover.close()
        time.sleep(0.3)
        moved = [source.read() for _ in range(3)]
        with ScreenSource(monitor=1, region=(*MEETING_AT, 640, 360)) as old_place:
            left_behind = old_place.read().image
    for frame in moved:
        assert frame.image.shape == (360, 640, 3)
        assert distance_to_clip(frame.image, shown_frames) < 1.0
    assert distance_to_clip(left_behind, shown_frames) > 5.0


def test_resized_window_is_letterboxed_to_the_size_it_had_at_open(
    player: subprocess.Popen, shown_frames: list[np.ndarray]
) -> None:
    with WindowSource("zoom meeting") as source:
        mover = XWindowMover(source.window.handle)
        try:
            mover.configure(width=320, height=360)
        finally:
            mover.close()
        time.sleep(0.3)
        frame = source.read()
    assert source.size == (640, 360)
    assert frame.image.shape == (360, 640, 3)
    left_bar, middle, right_bar = frame.image[:, :160], frame.image[:, 160:480], frame.image[:, 480:]
    assert left_bar.max() == 0 and right_bar.max() == 0
    assert middle.mean() > 20


def test_window_source_ends_soon_after_the_window_is_closed(player: subprocess.Popen) -> None:
    with WindowSource("zoom meeting") as source:
        assert source.read() is not None
        player.kill()
        player.wait(timeout=10)
        started = time.perf_counter()
        results = [source.read() for _ in range(5)]
        ended_after = time.perf_counter() - started
        assert results[-1] is None
        assert results.count(None) >= 4
    assert ended_after < 2.0


def test_unknown_title_is_refused_with_the_open_windows(player: subprocess.Popen) -> None:
    with pytest.raises(SourceError) as caught:
        WindowSource("Teams call").open()
    message = str(caught.value)
    assert 'no window title contains "Teams call"' in message
    assert '"Zoom Meeting"' in message
    assert "\n" not in message


@pytest.mark.parametrize("title", ["", "   "])
def test_empty_title_is_refused(display: str, title: str) -> None:
    with pytest.raises(SourceError, match="empty"):
        WindowSource(title).open()


@pytest.mark.parametrize(
    "window, bars",
    [((320, 360), "left/right"), ((640, 720), "left/right"), ((640, 180), "top/bottom"), ((320, 180), "none")],
)
def test_letterbox_keeps_aspect_ratio_and_pads_with_black(
    shown_frames: list[np.ndarray], window: tuple[int, int], bars: str
) -> None:
    import cv2

    picture = cv2.resize(shown_frames[0], window, interpolation=cv2.INTER_AREA)
    fitted = letterbox(picture, (640, 360))
    assert fitted.shape == (360, 640, 3)
    if bars == "left/right":
        assert fitted[:, :150].max() == 0 and fitted[:, -150:].max() == 0
        assert fitted[:, 170:470].mean() > 20
    elif bars == "top/bottom":
        assert fitted[:80].max() == 0 and fitted[-80:].max() == 0
        assert fitted[100:260].mean() > 20
    else:
        assert float(np.abs(fitted.astype(np.int16) - shown_frames[0].astype(np.int16)).mean()) < 6.0


def test_reader_raises_in_the_callers_thread_when_the_display_dies(monkeypatch: pytest.MonkeyPatch) -> None:
    server, private_display = start_xvfb(320, 240)
    monkeypatch.setenv("DISPLAY", private_display)
    try:
        with ScreenSource(monitor=1) as source, LatestFrameReader(source) as reader:
            assert reader.read(timeout=5.0).image.shape == (240, 320, 3)
            server.terminate()
            server.wait(timeout=10)
            with pytest.raises(SourceError, match="screen capture of 320x240"):
                for _ in range(100):
                    reader.read(timeout=5.0)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.fixture
def openbox_display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private Xvfb with the openbox window manager: windows are reparented and listed through EWMH."""
    if shutil.which("openbox") is None:
        pytest.skip("openbox is not installed (apt-get install openbox): the EWMH path is not checked")
    server, private_display = start_xvfb(*SCREEN)
    monkeypatch.setenv("DISPLAY", private_display)
    manager = subprocess.Popen(["openbox"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(client_list_published, "openbox to publish _NET_CLIENT_LIST")
        yield private_display
    finally:
        manager.kill()
        manager.wait(timeout=10)
        server.terminate()
        server.wait(timeout=10)


def client_list_published() -> bool:
    from Xlib import X, display as xdisplay

    connection = xdisplay.Display()
    try:
        root = connection.screen().root
        return root.get_full_property(connection.intern_atom("_NET_CLIENT_LIST"), X.AnyPropertyType) is not None
    finally:
        connection.close()


def test_window_under_a_reparenting_window_manager_is_captured_without_its_decorations(
    openbox_display: str, shown_frames: list[np.ndarray]
) -> None:
    with running_player(shown_frames) as process, WindowSource("zoom") as source:
        assert source.window.title == "Zoom Meeting"
        assert source.size == (640, 360)
        assert distance_to_clip(source.read().image, shown_frames) < 1.0
        process.kill()
        process.wait(timeout=10)
        assert [source.read() for _ in range(3)][-1] is None


def test_start_labels_the_face_in_a_meeting_window(player: subprocess.Popen, tmp_path: Path) -> None:
    """The whole product on a captured window: `confcam start --source window` finds, tracks and labels."""
    import json

    from confcam.cli import main

    events = tmp_path / "meeting.jsonl"
    args = ["start", "--source", "window", "--window-title", "zoom meeting", "--sink", "events", "--events", str(events)]
    assert main([*args, "--max-frames", "15"]) == 0
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(lines) == 15
    tracked = [line["tracks"] for line in lines if line["tracks"]]
    assert len(tracked) >= 12
    x, y, w, h = tracked[-1][0]["box"]
    assert 0 < x and x + w < 640 and 0 < y and y + h < 360 and w > 100


def test_closing_the_captured_window_keeps_the_recording(player: subprocess.Popen, tmp_path: Path, capsys) -> None:
    """The meeting window closes mid-run: the mp4 and the events are finished, the run says why it ended."""
    import json
    import threading

    from confcam.cli import main

    out, events = tmp_path / "meeting.mp4", tmp_path / "meeting.jsonl"

    def close_after_some_frames() -> None:
        poll(lambda: any(p.stat().st_size > 20_000 for p in tmp_path.iterdir() if p.suffix == ".mp4"), 60.0)
        player.kill()

    closer = threading.Thread(target=close_after_some_frames, daemon=True)
    closer.start()
    args = ["start", "--source", "window", "--window-title", "zoom meeting", "--sink", "file", "--output", str(out),
            "--sink", "events", "--events", str(events)]
    assert main(args) == 0
    closer.join(10)
    err = capsys.readouterr().err
    assert 'the source ended: window "Zoom Meeting" was closed' in err
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 5 and len(lines) == frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meeting.jsonl", "meeting.mp4"]
