"""--sink panel: a small always-on-top window listing each person and their expression."""

from __future__ import annotations

import cv2

from confcam.errors import ConfcamError
from confcam.render.panel import PanelRenderer
from confcam.sinks.base import Sink
from confcam.plugins import Entry
from confcam.sinks.window import DisplayWindow
from confcam.displays import list_monitors
from confcam.types import Result


class PanelSink(Sink):
    """Shows PanelRenderer's picture beside the call; closing it or q/Esc ends the run."""

    name = "panel"
    needs_image = False

    def __init__(self, title: str = "confcam panel", renderer: PanelRenderer | None = None) -> None:
        self.renderer = renderer or PanelRenderer()
        self.window = DisplayWindow(title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL, topmost=True)

    # Read-only here (the window decides), where Sink declares a plain attribute that simple sinks set;
    # making Sink's a property would break sinks (plugins too) that assign it, so the override stays.
    @property
    def stop_requested(self) -> bool:  # type: ignore[override]
        return self.window.stop_requested

    def open(self, width: int, height: int, fps: float) -> None:
        self.window.open()
        self._move_to_screen_edge()

    def _move_to_screen_edge(self) -> None:
        """Start at the primary screen's right edge: a panel lying over the meeting window would be
        captured by a screen or window source and labelled again."""
        try:
            monitor = list_monitors()[0]
            x = monitor["left"] + monitor["width"] - self.renderer.width - 16
            cv2.moveWindow(self.window.title, max(monitor["left"], x), monitor["top"] + 40)
        except (ConfcamError, IndexError, cv2.error):
            pass  # placement is a courtesy: the panel still works wherever the window manager puts it

    def write(self, result: Result) -> None:
        frame = result.frame
        self.window.show(self.renderer.render(result.faces, result.class_names, frame.image, frame.timestamp))

    def close(self, success: bool = True) -> None:
        self.window.close()


ENTRY = Entry("panel", "A side panel beside the meeting: each person's thumbnail, place and expression.", PanelSink)
