"""One browser (or any WebRTC peer) connected to confcam: its peer connection, tasks, worker and cleanup.

Everything a session starts (tasks, its worker thread, tracks, the peer connection) is released by
close(), which runs when the peer leaves, reloads, fails ICE, or never connects within the ICE timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, cast

import av
from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from confcam.classify.smoother import STEADINESS_PRESETS
from confcam.processor import RunStats
from confcam.web.analyser import FrameAnalyser
from confcam.web.signalling import BadControl, BadOffer, parse_control
from confcam.slots import AsyncNewestSlot, SlotClosed

log = logging.getLogger(__name__)

PREDICTIONS_CHANNEL = "predictions"
_MAX_CHANNEL_BACKLOG = 1 << 20
"""Bytes queued on the data channel above which messages are skipped instead of piling up."""
_KEPT_SAMPLES = 600
"""Timing samples a session keeps per series: a browser may stay connected for hours."""


class PeerSession:
    """The life of one peer connection; subclasses decide what happens to the incoming video track."""

    _ids = itertools.count(1)

    def __init__(self, pc: RTCPeerConnection, ice_timeout_s: float) -> None:
        self.id = next(self._ids)
        self.pc = pc
        self.ice_timeout_s = ice_timeout_s
        self.stats = RunStats(kept=_KEPT_SAMPLES)
        self.channel: RTCDataChannel | None = None
        self.on_closed: Callable[[PeerSession], None] | None = None
        self.on_connected: Callable[[PeerSession], None] | None = None
        self.live = False
        """Set by the app once the connection is up; only a live session's frames reach a shared consumer."""
        self._video: MediaStreamTrack | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Future[None] | None = None
        self._closed = asyncio.Event()
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)

    async def accept(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Answer the offer; raises BadOffer (or aiortc's ValueError family) for an unusable one."""
        await self.pc.setRemoteDescription(offer)
        if self._video is None:
            raise BadOffer("the offer carries no video track the server can receive")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._spawn(self._close_unless_connected())
        return self.pc.localDescription

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def running_tasks(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    def request_close(self) -> asyncio.Future[None]:
        """Start closing; safe from callbacks and from the session's own tasks."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close())
        return self._closing

    async def close(self) -> None:
        """Idempotent; every task, thread, track and the peer connection are gone when it returns."""
        await asyncio.shield(self.request_close())

    async def _close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._release()
        await self.pc.close()
        self._closed.set()
        if self.on_closed is not None:
            self.on_closed(self)

    def _attach(self, track: MediaStreamTrack) -> None:
        """Subclasses start consuming the incoming video track here (called during setRemoteDescription)."""
        raise NotImplementedError

    def _release(self) -> None:
        """Subclasses stop their own tracks and threads here."""

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self._video is None:
            self._video = track
            self._attach(track)
        else:
            self._spawn(_discard(track))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != PREDICTIONS_CHANNEL:
            return
        self.channel = channel
        channel.on("close", self.request_close)

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed"):
            self.request_close()
        elif state == "connected" and not self.live and self._closing is None and self.on_connected is not None:
            self.on_connected(self)

    async def _close_unless_connected(self) -> None:
        await asyncio.sleep(self.ice_timeout_s)
        if self.pc.connectionState != "connected":
            log.info("session %d: no ICE connection within %g s; closing", self.id, self.ice_timeout_s)
            self.request_close()

    def send(self, message: dict[str, Any]) -> None:
        channel = self.channel
        if channel is None or channel.readyState != "open" or channel.bufferedAmount > _MAX_CHANNEL_BACKLOG:
            return
        channel.send(json.dumps(message, separators=(",", ":")))


async def _discard(track: MediaStreamTrack) -> None:
    """Drain tracks nobody uses (e.g. audio), so their frames do not pile up in aiortc's queue."""
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        return


@dataclass(frozen=True)
class Received:
    frame: av.VideoFrame
    index: int
    received_at: float


class ResultTrack(MediaStreamTrack):
    """The annotated video sent back: always the newest result; aiortc's sender pulls from it."""

    kind = "video"

    def __init__(self, stats: RunStats) -> None:
        super().__init__()
        self._stats = stats
        self._slot: AsyncNewestSlot[tuple[av.VideoFrame, float]] = AsyncNewestSlot()

    def deliver(self, frame: av.VideoFrame, received_at: float) -> None:
        self._slot.put((frame, received_at))

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        try:
            frame, received_at = await self._slot.get()
        except SlotClosed:
            raise MediaStreamError from None
        self._stats.record_sent(received_at)
        return frame

    def stop(self) -> None:
        super().stop()
        self._slot.close()


class AnalysingSession(PeerSession):
    """The demo: the peer's video runs through its own pipeline; annotated video and predictions go back.

    Receiving never waits for inference: frames land in a latest-frame slot, so when inference is slower
    than the camera, stale frames are dropped and the delay stays one frame deep.
    """

    def __init__(self, pc: RTCPeerConnection, analyser: FrameAnalyser, worker: ThreadPoolExecutor, ice_timeout_s: float) -> None:
        super().__init__(pc, ice_timeout_s)
        self.analyser = analyser
        self._worker = worker
        self._incoming: AsyncNewestSlot[Received] = AsyncNewestSlot()
        self.output = ResultTrack(self.stats)
        self._started_at = time.perf_counter()

    def _attach(self, track: MediaStreamTrack) -> None:
        self.pc.addTrack(self.output)
        self._spawn(self._receive(track))
        self._spawn(self._analyse())

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        super()._on_datachannel(channel)
        if channel is self.channel:
            channel.on("message", self._on_control)

    def _on_control(self, message: str | bytes) -> None:
        """The page asks for another steadiness ({"steadiness": "calm"}; the answer says what is in use) or
        drives practice mode (on/off, an answer, next), whose state comes back with the next frame's message."""
        try:
            control = parse_control(message, STEADINESS_PRESETS, self.analyser.class_names)
        except BadControl as error:
            self.send({"error": str(error)})
            return
        if control.name != "steadiness":
            self.analyser.practice.request(control)
            return
        self.analyser.request_steadiness(str(control.value))
        log.info("session %d: steadiness %s", self.id, control.value)
        self.send({"steadiness": control.value})

    def _release(self) -> None:
        self.output.stop()
        self._incoming.close()
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def _receive(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                # aiortc types recv() for a track of any kind; only video tracks are received here.
                frame = cast(av.VideoFrame, await track.recv())
                self._incoming.put(Received(frame, self.stats.received, time.perf_counter()))
                self.stats.received += 1
        except MediaStreamError:
            self.request_close()

    async def _analyse(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await self._incoming.get()
                self.stats.dropped = self._incoming.dropped
                t = item.received_at - self._started_at
                analysed = await loop.run_in_executor(self._worker, self.analyser.analyse, item.frame, item.index, t)
                self.stats.record(analysed.result, analysed.stage_ms)
                self.output.deliver(analysed.frame, item.received_at)
                message = analysed.message
                message["latency_ms"] = round((time.perf_counter() - item.received_at) * 1000.0, 1)
                self.send(message)
        except SlotClosed:
            return


class ForwardingSession(PeerSession):
    """`confcam start --source webrtc`: the peer's decoded frames are handed to a synchronous consumer.

    Frames are handed over only while the session is live, so a peer still connecting never mixes its
    frames into the stream of the peer it may replace.
    """

    def __init__(
        self,
        pc: RTCPeerConnection,
        deliver: Callable[[av.VideoFrame, float], None],
        ice_timeout_s: float,
        on_left: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(pc, ice_timeout_s)
        self._deliver = deliver
        self._on_left = on_left

    def _attach(self, track: MediaStreamTrack) -> None:
        self._spawn(self._receive(track))

    def _release(self) -> None:
        """A live peer that leaves ends the consumer's stream; a replaced one was made not live first."""
        if self.live and self._on_left is not None:
            self._on_left()

    async def _receive(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                # aiortc types recv() for a track of any kind; only video tracks are received here.
                frame = cast(av.VideoFrame, await track.recv())
                self.stats.received += 1
                if self.live:
                    self._deliver(frame, time.perf_counter())
        except MediaStreamError:
            self.request_close()

