"""The Sink contract: a context manager that takes one Result per frame."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

from confcam.types import Result


class Sink(ABC):
    """Where results go. open() may raise SinkError; close() finishes outputs (e.g. renames a file)."""

    name: str = "sink"
    needs_image: bool = True
    """False for sinks that only use the numbers (events, panel, none): the runner then skips drawing."""
    stop_requested: bool = False
    """Set by interactive sinks (a closed window, q pressed) to end the run."""

    def open(self, width: int, height: int, fps: float) -> None:
        """Prepare for frames of this size; called once before the first write()."""

    @abstractmethod
    def write(self, result: Result) -> None:
        """Deliver one frame's result."""

    def close(self, success: bool = True) -> None:
        """Finish. With success=False an output file must not be left half-written."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """A run stopped by Ctrl+C or SIGTERM/SIGHUP ended as the user asked: its outputs are finished."""
        self.close(success=exc_type is None or issubclass(exc_type, KeyboardInterrupt))
