"""--sink window: the annotated video in an OpenCV window; q, Esc or closing the window ends the run."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import cv2
import numpy as np

from confcam.errors import SinkError
from confcam.sinks.base import Sink
from confcam.plugins import Entry
from confcam.types import Result

STOP_KEYS = (ord("q"), ord("Q"), 27)


def check_display() -> None:
    """Fail with a SinkError before OpenCV's GUI would abort the whole process for want of a display."""
    if platform.system() != "Linux":
        return
    name = os.environ.get("DISPLAY")
    if not name:
        raise SinkError("no display for a window (DISPLAY is not set): use --sink virtualcam or --sink file")
    try:
        from Xlib.display import Display
    except ImportError:
        return
    try:
        Display(name).close()
    except Exception as error:  # python-xlib raises several unrelated types for an unreachable display
        raise SinkError(f"cannot open a window on display {name}: {error}") from None


def foreign_qt_libraries() -> list[str]:
    """Libraries OpenCV's Qt needs that another wheel loaded first under the same name.

    PyAV's wheel bundles libxcb-shm & co. under the very file names opencv-python uses, linked to its own
    libxcb; if PyAV is imported first, Qt binds to them and hangs opening the window. Importing cv2
    before av avoids it; this check turns the hang into an error.
    """
    maps = Path("/proc/self/maps")
    bundled = Path(cv2.__file__).resolve().parent.parent / "opencv_python.libs"
    if not maps.is_file() or not bundled.is_dir():
        return []
    ours = {entry.name for entry in bundled.iterdir()}
    foreign = set()
    for line in maps.read_text(encoding="utf-8", errors="replace").splitlines():
        mapped = Path(line.split()[-1])
        if mapped.name in ours and mapped.parent != bundled:
            foreign.add(str(mapped))
    return sorted(foreign)


def check_qt_libraries() -> None:
    foreign = foreign_qt_libraries()
    if foreign:
        raise SinkError(
            f"cannot open a window: {foreign[0]} was loaded before OpenCV's own copy (import cv2 before av)"
        )


class DisplayWindow:
    """One OpenCV window that shows pictures and notices when the user wants to stop.

    Qt re-creates a closed window on the next imshow, so the window's visibility is checked before
    each picture, not after.
    """

    def __init__(self, title: str, flags: int, topmost: bool = False) -> None:
        self.title = title
        self.flags = flags
        self.topmost = topmost
        self._opened = False
        self._shown = False
        self._stop = False

    @property
    def stop_requested(self) -> bool:
        return self._stop

    def open(self) -> None:
        check_display()
        if platform.system() == "Linux":
            check_qt_libraries()
        try:
            cv2.namedWindow(self.title, self.flags)
        except cv2.error as error:
            raise SinkError(f"cannot open window {self.title!r}: {error.msg.strip() or error}") from None
        self._opened = True
        if self.topmost:
            try:
                cv2.setWindowProperty(self.title, cv2.WND_PROP_TOPMOST, 1)
            except cv2.error:
                pass  # not every GUI backend can keep a window on top; the panel still works

    def show(self, image: np.ndarray, wait_ms: int = 1) -> int:
        """Shows the picture and waits up to wait_ms for a key; returns the key's code (-1 for none), so an
        interactive sink (practice mode) can read answers from the same window."""
        if not self._opened or self._stop:
            return -1
        if self._shown and self._closed_by_user():
            self._stop = True
            return -1
        cv2.imshow(self.title, image)
        self._shown = True
        pressed = cv2.waitKey(max(1, int(wait_ms)))
        key = -1 if pressed == -1 else pressed & 0xFF
        if key in STOP_KEYS:
            self._stop = True
        return key

    def _closed_by_user(self) -> bool:
        try:
            return cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1
        except cv2.error:
            return True

    def close(self) -> None:
        if not self._opened:
            return
        self._opened = False
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass


class WindowSink(Sink):
    """Shows each annotated frame; the run ends when the user closes the window or presses q/Esc."""

    name = "window"

    def __init__(self, title: str = "confcam") -> None:
        self.window = DisplayWindow(
            title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL
        )

    # Read-only here (the window decides), where Sink declares a plain attribute that simple sinks set;
    # making Sink's a property would break sinks (plugins too) that assign it, so the override stays.
    @property
    def stop_requested(self) -> bool:  # type: ignore[override]
        return self.window.stop_requested

    def open(self, width: int, height: int, fps: float) -> None:
        self.window.open()
        try:
            cv2.resizeWindow(self.window.title, width, height)
        except cv2.error:
            pass

    def write(self, result: Result) -> None:
        self.window.show(result.image)

    def close(self, success: bool = True) -> None:
        self.window.close()


ENTRY = Entry("window", "A window showing the labelled video.", WindowSink)
