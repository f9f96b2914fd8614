"""A camera through OpenCV's VideoCapture (V4L2 on Linux, Media Foundation on Windows, AVFoundation on macOS).

list_cameras() never opens a device on Linux (it reads /dev/video* and sysfs), so it cannot hang on a
busy or broken camera; elsewhere each index is probed on a helper thread with a time limit.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2

from confcam.errors import SourceError
from confcam.plugins import Entry, Option
from confcam.sources.base import LiveClock, Source, SourceContext
from confcam.types import Frame

DEFAULT_FPS = 30.0
_PROBE_TIMEOUT_S = 2.0


def _is_linux() -> bool:
    return sys.platform.startswith("linux")


_BACKEND = cv2.CAP_V4L2 if _is_linux() else cv2.CAP_ANY
"""V4L2 directly on Linux: no fallback through other backends (and their noise) for a missing device."""


class CameraSource(Source):
    """Frames of camera `index`; width/height/fps are requests the driver may round or ignore."""

    def __init__(
        self,
        index: int = 0,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> None:
        self.index = index
        self.requested = (width, height, fps)
        self.name = f"camera {index}"
        self._capture: cv2.VideoCapture | None = None
        self._size = (0, 0)
        self._fps = fps or DEFAULT_FPS
        self._clock = LiveClock()

    def open(self) -> None:
        if self.index < 0:
            raise SourceError(f"camera index must be 0 or more, not {self.index}")
        if _is_linux() and not Path(f"/dev/video{self.index}").exists():
            raise SourceError(f"no camera {self.index} (/dev/video{self.index} does not exist): {_cameras_hint()}")
        capture = cv2.VideoCapture(self.index, _BACKEND)
        if not capture.isOpened():
            capture.release()
            raise SourceError(f"cannot open camera {self.index}: {_cameras_hint()}")
        width, height, fps = self.requested
        if width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            capture.set(cv2.CAP_PROP_FPS, fps)
        self._size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        reported = capture.get(cv2.CAP_PROP_FPS)
        self._fps = float(reported) if reported and reported > 0 else (fps or DEFAULT_FPS)
        self._capture = capture
        self._clock = LiveClock()

    def read(self) -> Frame | None:
        if self._capture is None:
            return None
        ok, image = self._capture.read()
        captured_at = time.perf_counter()
        if not ok or image is None:
            raise SourceError(f"camera {self.index} stopped sending frames (unplugged or taken by another program?)")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        self._size = (int(image.shape[1]), int(image.shape[0]))
        return self._clock.frame(image, captured_at)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def list_cameras(max_index: int = 10) -> list[dict[str, Any]]:
    """Cameras as dicts {index, name, path}; on Linux from /dev/video* without opening any device."""
    if _is_linux():
        return _linux_cameras(max_index)
    return [{"index": i, "name": f"camera {i}", "path": None} for i in range(max_index) if _probe(i)]


def _linux_cameras(max_index: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for node in sorted(Path("/dev").glob("video*"), key=lambda p: _node_number(p.name)):
        number = _node_number(node.name)
        if number < 0 or number >= max_index:
            continue
        name_file = Path("/sys/class/video4linux") / node.name / "name"
        try:
            name = name_file.read_text().strip()
        except OSError:
            name = node.name
        found.append({"index": number, "name": name, "path": str(node)})
    return found


def _node_number(name: str) -> int:
    digits = name.removeprefix("video")
    return int(digits) if digits.isdigit() else -1


def _probe(index: int) -> bool:
    """Open and release one index on a daemon thread, giving up after a short wait (some drivers block)."""
    result: list[bool] = []

    def attempt() -> None:
        capture = cv2.VideoCapture(index, _BACKEND)
        result.append(capture.isOpened())
        capture.release()

    worker = threading.Thread(target=attempt, name=f"probe-camera-{index}", daemon=True)
    worker.start()
    worker.join(_PROBE_TIMEOUT_S)
    return bool(result and result[0])


def _cameras_hint() -> str:
    if _is_linux():
        cameras = _linux_cameras(64)
        if not cameras:
            return "no cameras found (no /dev/video* devices); `confcam devices` lists what is available"
        listed = ", ".join(f"{c['index']} ({c['name']})" for c in cameras)
        return f"cameras present: {listed}; `confcam devices` lists them"
    return "not connected, or in use by another program; `confcam devices` lists the cameras"


def _camera(context: SourceContext, camera: int) -> CameraSource:
    return CameraSource(camera)


ENTRY = Entry("camera", "A camera attached to this machine.", _camera,
              (Option("camera", int, "Camera source: device index.", default=0),))
