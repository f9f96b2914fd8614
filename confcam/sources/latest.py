"""Reads a live source on its own thread and hands over only the newest frame.

A slow pipeline then shows the present instead of falling further and further behind, and memory
stays flat: at most one frame waits, older ones are dropped and counted.
"""

from __future__ import annotations

import threading
from types import TracebackType

from confcam.errors import SourceError
from confcam.sources.base import Source
from confcam.types import Frame

DEFAULT_TIMEOUT_S = 5.0
_JOIN_TIMEOUT_S = 2.0


class LatestFrameReader:
    """Runs source.read() on a daemon thread; read() returns the newest frame not yet returned.

    The source must already be open; the reader never opens or closes it. Leave the reader before
    closing the source (`with source, LatestFrameReader(source) as reader:` does this).
    """

    def __init__(self, source: Source) -> None:
        self.source = source
        self.dropped = 0
        """Frames that were replaced by a newer one before anybody read them."""
        self.captured = 0
        self._condition = threading.Condition()
        self._latest: Frame | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._capture, name=f"capture {self.source.name}", daemon=True)
        self._thread.start()

    def read(self, timeout: float = DEFAULT_TIMEOUT_S) -> Frame | None:
        """The newest unseen frame; None once the source has ended and every frame was handed over.

        Raises SourceError if nothing arrives within `timeout` seconds, and re-raises whatever the
        capture thread raised.
        """
        if self._thread is None:
            self.start()
        with self._condition:
            ready = self._condition.wait_for(
                lambda: self._latest is not None or self._ended or self._error is not None, timeout=timeout
            )
            if self._latest is not None:
                frame, self._latest = self._latest, None
                return frame
            if self._error is not None:
                raise self._error
            if ready:
                return None
        raise SourceError(f"no frame from {self.source.name} for {timeout:g} s (source lost?)")

    def close(self) -> None:
        """Stops the thread; a read() stuck in the source is left to its daemon thread after a short wait."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT_S)
        with self._condition:
            self._latest = None
            self._condition.notify_all()

    @property
    def ended(self) -> bool:
        return self._ended

    def __enter__(self) -> LatestFrameReader:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _capture(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                with self._condition:
                    if frame is None:
                        break
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = frame
                    self.captured += 1
                    self._condition.notify_all()
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread, not swallowed
            with self._condition:
                self._error = error
                self._condition.notify_all()
            return
        with self._condition:
            self._ended = True
            self._condition.notify_all()
