"""The machine's screens: whether there is a display, what monitors it has, and grabbing rectangles of it.

Shared by the screen and window sources (capture) and the side-panel sink (where to open), so it sits
below both.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any

import cv2
import mss
import mss.exception
import numpy as np

from confcam.errors import SourceError


def require_display() -> None:
    """On Linux, screen capture needs an X server (X11 or XWayland); say so instead of failing deep in mss."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):
        raise SourceError("no X display: DISPLAY is not set (screen and window capture need an X11/XWayland session)")


def _new_mss() -> Any:
    factory = getattr(mss, "MSS", None) or mss.mss
    try:
        return factory()
    except mss.exception.ScreenShotError as error:
        raise SourceError(f"cannot connect to the display {os.environ.get('DISPLAY', '')!r}: {error}") from None


def _describe(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else f"{type(error).__name__} (display lost?)"


class ScreenGrabber:
    """Grabs screen rectangles as BGR arrays, with one mss instance per thread that uses it.

    Older mss releases must not share an instance across threads, and a source is often opened on
    one thread and read on another (LatestFrameReader).
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def monitors(self) -> list[dict[str, int]]:
        """mss's list: [0] is the union of all monitors, [1:] each monitor."""
        try:
            return [dict(m) for m in self._instance().monitors]
        except mss.exception.ScreenShotError as error:
            raise SourceError(f"cannot list the monitors: {error}") from None

    def grab(self, left: int, top: int, width: int, height: int) -> np.ndarray:
        """BGR uint8 (height, width, 3): one copy, from mss's BGRA buffer straight into the BGR result."""
        area = {"left": int(left), "top": int(top), "width": int(width), "height": int(height)}
        instance = self._instance()
        try:
            shot = instance.grab(area)
        except Exception as error:  # noqa: BLE001 - mss raises several types when the display goes away
            raise SourceError(f"screen capture of {width}x{height}+{left}+{top} failed: {_describe(error)}") from None
        bgra = np.frombuffer(shot.raw, dtype=np.uint8).reshape(shot.height, shot.width, 4)
        return cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR)

    def close(self) -> None:
        with self._lock:
            instances, self._all = self._all, []
        for instance in instances:
            with contextlib.suppress(Exception):
                instance.close()
        self._local = threading.local()

    def _instance(self) -> Any:
        instance = getattr(self._local, "mss", None)
        if instance is None:
            require_display()
            instance = _new_mss()
            self._local.mss = instance
            with self._lock:
                self._all.append(instance)
        return instance


def list_monitors() -> list[dict[str, int]]:
    """Each monitor as {index, left, top, width, height}; index 0 (all monitors together) is left out."""
    grabber = ScreenGrabber()
    try:
        monitors = grabber.monitors()
    finally:
        grabber.close()
    return [
        {"index": i, "left": m["left"], "top": m["top"], "width": m["width"], "height": m["height"]}
        for i, m in enumerate(monitors)
        if i > 0
    ]
