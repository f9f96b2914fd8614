"""The Source contract: open, read the next Frame, close; knows its size and frame rate."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np

from confcam.types import Frame

if TYPE_CHECKING:
    from confcam.sources.webrtc import PeerServer


@dataclass(frozen=True)
class SourceContext:
    """What the run mode, not the user, decides about a source; every source factory takes it first."""

    pace: bool = True
    """Play recordings at their own frame rate (live use); analysis runs them flat out."""
    window: int = 5
    """Frames the expression model reads at once: a photo is repeated at least this often."""
    peer_server: Callable[[], PeerServer] | None = None
    """The page server a browser sends its video to; only the run modes that have the web layer give one."""


class Source(ABC):
    """A stream of frames. read() returns None at the end of the stream (never blocks forever)."""

    name: str = "source"
    _size: tuple[int, int] = (0, 0)
    _fps: float = 0.0
    end_reason: str | None = None
    """Why a live source ended by itself (the window was closed, the peer left); None otherwise."""
    skipped_frames: int = 0
    """Damaged frames the source could not decode and left out."""

    @abstractmethod
    def open(self) -> None:
        """Acquire the device/file; raise SourceError with a one-line reason if impossible."""

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or None when the source has ended."""

    @abstractmethod
    def close(self) -> None:
        """Release everything; safe to call twice."""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames, valid after open()."""
        return self._size

    @property
    def fps(self) -> float:
        """Nominal frames per second, valid after open()."""
        return self._fps

    @property
    def is_live(self) -> bool:
        """Live sources (screen, camera, ...) produce frames in real time; files do not."""
        return True

    def __enter__(self) -> Source:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LiveClock:
    """Numbers and timestamps a live source's frames from the moment it opened."""

    def __init__(self) -> None:
        self.count = 0
        self.start = time.perf_counter()

    def frame(self, image: np.ndarray, captured_at: float | None = None) -> Frame:
        now = time.perf_counter() if captured_at is None else captured_at
        frame = Frame(image=image, index=self.count, timestamp=now - self.start, captured_at=now)
        self.count += 1
        return frame
