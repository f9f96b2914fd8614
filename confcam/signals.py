"""SIGTERM and SIGHUP stop a run the way Ctrl+C does, so outputs are finished or removed, never left as .part files.

A service manager, `timeout` or a closed terminal ends a process with SIGTERM / SIGHUP, whose default
action kills it on the spot. While StopSignals is active, each of these signals (and SIGINT) raises
StopRequested, a KeyboardInterrupt that remembers which signal it was, in the main thread.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

HANDLED = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)


class StopRequested(KeyboardInterrupt):
    """Ctrl+C, SIGTERM or SIGHUP: the user (or the system) asked the run to stop."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)


class StopSignals:
    """Installs the handlers for its `with` block (main thread only) and restores the previous ones.

    Only the first signal interrupts; later ones are recorded and ignored, so the clean-up they would
    otherwise cut short (closing a video, writing a summary) finishes.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def exit_code(self) -> int:
        """The shell convention for a process ended by a signal: 128 + its number (130 for Ctrl+C)."""
        return 128 + (self.received or signal.SIGINT)

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return
        self.received = signum
        raise StopRequested(signum)


class DeferredSignals:
    """While held(), signals wait for the held block to end instead of landing part-way through it.

    A stop that lands between two sinks' writes of one frame would leave a video one frame longer than
    its events log; holding it until the frame has reached every sink keeps the outputs frame for frame
    alike. The handlers are installed once for the `with` block, so holding costs a counter per frame.
    Off the main thread (where handlers cannot be set) it does nothing.
    """

    def __init__(self, signums: tuple[int, ...] = HANDLED) -> None:
        self.signums = signums
        self._previous: dict[int, Any] = {}
        self._arrived: list[int] = []
        self._holding = 0

    def __enter__(self) -> DeferredSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.signums:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    @contextmanager
    def held(self) -> Iterator[None]:
        """A block that ends in an error drops what arrived: the run is ending on that error anyway."""
        self._holding += 1
        try:
            yield
        except BaseException:
            self._holding -= 1
            self._arrived.clear()
            raise
        self._holding -= 1
        if not self._holding:
            self._deliver()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self._arrived.append(signum)
        if not self._holding:
            self._deliver(frame)

    def _deliver(self, frame: FrameType | None = None) -> None:
        arrived, self._arrived = self._arrived, []
        for signum in arrived:
            handler = self._previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)
