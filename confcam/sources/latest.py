"""Reads a live source on its own thread and hands over only the newest frame.

A slow pipeline then shows the present instead of falling further and further behind, and memory
stays flat: at most one frame waits, older ones are dropped and counted.
"""

from __future__ import annotations

import threading
from types import TracebackType

from confcam.errors import SourceError
from confcam.slots import NewestSlot
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
        self._slot: NewestSlot[Frame] = NewestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._slot = NewestSlot()
        self._thread = threading.Thread(target=self._capture, name=f"capture {self.source.name}", daemon=True)
        self._thread.start()

    def read(self, timeout: float = DEFAULT_TIMEOUT_S) -> Frame | None:
        """The newest unseen frame; None once the source has ended and every frame was handed over.

        Raises SourceError if nothing arrives within `timeout` seconds, and re-raises whatever the
        capture thread raised.
        """
        if self._thread is None:
            self.start()
        try:
            return self._slot.take(timeout)
        except TimeoutError:
            raise SourceError(f"no frame from {self.source.name} for {timeout:g} s (source lost?)") from None

    @property
    def dropped(self) -> int:
        """Frames that were replaced by a newer one before anybody read them."""
        return self._slot.dropped

    @property
    def captured(self) -> int:
        return self._slot.put_count

    def close(self) -> None:
        """Stops the thread; a read() stuck in the source is left to its daemon thread after a short wait."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT_S)
        self._slot.close()

    @property
    def ended(self) -> bool:
        return self._slot.ended

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
                if frame is None:
                    break
                self._slot.put(frame)
        except BaseException as error:  # noqa: BLE001 - handed to the reading thread, not swallowed
            self._slot.fail(error)
            return
        self._slot.end()
