"""A browser (or any WebRTC peer) as a live source: `confcam start --source webrtc --sink virtualcam`.

The page at the source's URL sends a camera or a shared tab; each decoded frame becomes a Frame at
its own size (a peer may change resolution mid-stream; sinks fit the picture to their size).
The newest connected peer wins, so reloading the page simply takes over; an offer without the token,
or one that never connects, leaves the current peer's stream as it was. When the peer that was
sending goes away (the tab closes, the connection drops), the source ends, so what was recorded is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import av

from confcam.errors import ConfcamError, SourceError
from confcam.plugins import Entry
from confcam.slots import NewestSlot
from confcam.sources.base import Source, SourceContext
from confcam.types import Frame


class PeerServer(Protocol):
    """What the source needs from the page server its peer connects to (confcam.web.ingest provides one):
    it is started with where to hand each received frame and whom to tell when the sending peer leaves."""

    @property
    def port(self) -> int: ...

    @property
    def url(self) -> str:
        """The server's address without its token (for messages)."""
        ...

    @property
    def page_url(self) -> str:
        """The page to open, token included."""
        ...

    def start(self, deliver: Callable[[av.VideoFrame, float], None], peer_left: Callable[[], None]) -> None: ...

    def stop(self) -> None: ...


class WebRtcSource(Source):
    """Serves the page, waits for a peer to send video, and yields its frames at the first frame's size."""

    name = "webrtc"

    def __init__(self, server: PeerServer, connect_timeout_s: float = 300.0, idle_timeout_s: float = 30.0,
                 fps: float = 30.0) -> None:
        self.server = server
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._fps = fps
        self._slot: NewestSlot[tuple[av.VideoFrame, float]] = NewestSlot()
        self._listening = False
        # None until the first frame arrives (size raises, _peer_left keeps waiting), which Source's _size does
        # not allow; a separate attribute would fix it but is a rename, left for later (issue 12).
        self._size: tuple[int, int] | None = None  # type: ignore[assignment]
        self._first: tuple[av.VideoFrame, float] | None = None
        self._index = 0
        self._opened_at = 0.0

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        """The page to open, token included (valid after listen(); the port is real if 0 was asked)."""
        if not self._listening:
            raise SourceError("the WebRTC source has no URL before it listens")
        return self.server.page_url

    @property
    def _where(self) -> str:
        """The address for error messages: the URL without its token, which stays out of logs and bug reports."""
        return self.server.url if self._listening else f"port {self.port}"

    def listen(self) -> None:
        """Start serving the page without waiting for a peer (open() calls this first)."""
        if self._listening:
            return
        self._slot = NewestSlot()
        try:
            self.server.start(lambda frame, received_at: self._slot.put((frame, received_at)), self._peer_left)
        except ConfcamError as error:
            raise SourceError(str(error)) from None
        self._listening = True

    def open(self) -> None:
        """Blocks until the first frame arrives, because the frame size is only known then."""
        self.listen()
        self._opened_at = time.perf_counter()
        try:
            first = self._slot.take(self.connect_timeout_s)
        except TimeoutError:
            where = self._where
            self.close()
            raise SourceError(f"no browser sent video to {where} within {self.connect_timeout_s:g} s") from None
        if first is None:
            raise SourceError("the WebRTC source was closed before any video arrived")
        self._first = first
        self._size = (first[0].width, first[0].height)

    def read(self) -> Frame | None:
        item: tuple[av.VideoFrame, float] | None
        if self._first is not None:
            item, self._first = self._first, None
        else:
            try:
                item = self._slot.take(self.idle_timeout_s)
            except TimeoutError:
                raise SourceError(f"no video from the browser for {self.idle_timeout_s:g} s (reload the page at {self._where} and press Start)") from None
        if item is None:
            return None
        return self._to_frame(*item)

    def close(self) -> None:
        self._slot.close()
        if self._listening:
            self._listening = False
            self.server.stop()

    @property
    def size(self) -> tuple[int, int]:
        if self._size is None:
            raise SourceError("the WebRTC source has no frame size before open()")
        return self._size

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def _peer_left(self) -> None:
        """Called from the server's thread when the sending peer's connection closes (not when it is replaced).

        Before any video arrived a page may simply be reloading, so the source keeps waiting then."""
        if self._size is None:
            return
        self.end_reason = "the browser stopped sending (its tab closed or the connection dropped)"
        self._slot.end()

    def _to_frame(self, video: av.VideoFrame, received_at: float) -> Frame:
        """Frames keep their own size: the pipeline handles any size, sinks fit the picture to theirs."""
        image = video.to_ndarray(format="bgr24")
        frame = Frame(image=image, index=self._index, timestamp=received_at - self._opened_at, captured_at=received_at)
        self._index += 1
        return frame


def _webrtc(context: SourceContext) -> WebRtcSource:
    if context.peer_server is None:
        raise ConfcamError("--source webrtc needs the web page server, which this command does not run")
    return WebRtcSource(context.peer_server())


ENTRY = Entry("webrtc", "A browser's camera or shared tab, sent to confcam's page (--port, --token).", _webrtc)
