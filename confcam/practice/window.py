"""Practice in a local OpenCV window: the video with labels hidden; on a question the frame holds until the
learner presses 1-8, then the reveal holds until Space or Enter. q, Esc or closing the window ends the run."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from confcam.practice.overlay import WATCHING_LINES, PracticeCaption, PracticeMarks, question_lines, reveal_lines
from confcam.practice.quiz import PracticeQuiz
from confcam.sinks.base import Sink
from confcam.sinks.window import DisplayWindow
from confcam.types import Result

CARRY_ON_KEYS = (ord(" "), 13, 10)
"""Space and Enter (Qt sends 13, some X setups 10) leave the reveal."""
POLL_MS = 50
"""How often a held frame looks for a key (and for the window being closed)."""


class PlaybackClock:
    """Plays a file at its own pace on a clock that stops while a question is on screen, so no video is
    skipped during the pause (a live source just goes on; its stale frames are dropped as usual)."""

    def __init__(self) -> None:
        self._origin: float | None = None
        self._paused_at: float | None = None

    def wait_ms(self, t: float) -> int:
        """Milliseconds until media time t is due (at least 1: the window still needs its event loop)."""
        now = time.perf_counter()
        if self._origin is None:
            self._origin = now - t
        return max(1, int((self._origin + t - now) * 1000))

    def pause(self) -> None:
        self._paused_at = time.perf_counter()

    def resume(self) -> None:
        if self._paused_at is not None and self._origin is not None:
            self._origin += time.perf_counter() - self._paused_at
        self._paused_at = None


class PracticeWindowSink(Sink):
    """Shows each frame through the quiz: watching, asking (held) or revealing (held). The key handling
    is the window's own: DisplayWindow.show returns the key, PracticeQuiz.choice_for_key maps it."""

    name = "practice window"

    def __init__(self, quiz: PracticeQuiz, pace: bool, title: str = "confcam practice",
                 marks: PracticeMarks | None = None, caption: PracticeCaption | None = None) -> None:
        """pace: hold each frame until its media time (files); live sources are shown as they come."""
        self.quiz = quiz
        self.window = DisplayWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        self.marks = marks or PracticeMarks()
        self.caption = caption or PracticeCaption()
        self.clock = PlaybackClock() if pace else None

    # Read-only here (the window decides), where Sink declares a plain attribute that simple sinks set;
    # making Sink's a property would break sinks (plugins too) that assign it, so the override stays.
    @property
    def stop_requested(self) -> bool:  # type: ignore[override]
        return self.window.stop_requested

    def open(self, width: int, height: int, fps: float) -> None:
        self.window.open()
        try:
            cv2.resizeWindow(self.window.title, width, height + height // 3)
        except cv2.error:
            pass

    def write(self, result: Result) -> None:
        t = result.frame.timestamp
        question = self.quiz.offer(result.faces, t)
        if question is None:
            view = self.caption.below(self.marks.watching(result.image, result.faces), WATCHING_LINES)
            self.window.show(view, self.clock.wait_ms(t) if self.clock else 1)
            return
        if self.clock:
            self.clock.pause()
        asking = self.caption.below(self.marks.asking(result.image, question), question_lines(question))
        key = self._hold(asking, lambda k: self.quiz.choice_for_key(k) is not None)
        if key is None:
            return
        choice = self.quiz.choice_for_key(key)
        assert choice is not None, "_hold returns only keys that are choices"
        reveal = self.quiz.answer(choice)
        revealed = self.caption.below(self.marks.reveal(result.image, reveal), reveal_lines(reveal))
        if self._hold(revealed, lambda k: k in CARRY_ON_KEYS) is None:
            return
        self.quiz.carry_on()
        if self.clock:
            self.clock.resume()

    def _hold(self, image: np.ndarray, wanted: Callable[[int], bool]) -> int | None:
        """Shows one picture until a wanted key comes (returned) or the user stops (None)."""
        while not self.window.stop_requested:
            key = self.window.show(image, POLL_MS)
            if key >= 0 and wanted(key):
                return key
        return None

    def close(self, success: bool = True) -> None:
        self.window.close()
