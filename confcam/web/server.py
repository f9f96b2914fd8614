"""The web edge: an aiohttp app that serves the demo page and answers WebRTC offers, one session per peer.

This package is the only async code in confcam: the pipeline runs synchronously on one worker thread per
client, and WebServer runs the event loop on its own thread so synchronous callers can host it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

import av
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection

from confcam.classify.smoother import STEADINESS_PRESETS
from confcam.config import WebConfig
from confcam.errors import ConfcamError
from confcam.paths import overlays_dir
from confcam.render.colors import LABEL_COLORS
from confcam.types import UNCERTAIN
from confcam.web.analyser import FrameAnalyser
from confcam.web.guard import OfferRateLimiter, RequestGuard, SessionLimiter, host_name, json_errors, refuse
from confcam.web.session import AnalysingSession, ForwardingSession, PeerSession
from confcam.web.signalling import BadOffer, parse_offer

log = logging.getLogger(__name__)
T = TypeVar("T")

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_OFFER_BYTES = 64 * 1024
"""A browser offer is a few KiB; anything much larger is refused with 413 before it is parsed."""
ICE_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 10.0


class SessionMaker(Protocol):
    """Creates the session for a new peer connection; says what the page should do (mode, labels, steadiness)."""

    mode: str
    labels: tuple[str, ...]
    steadiness_choices: tuple[str, ...]
    """Presets a page may ask its session for; empty when sessions have no smoother of their own."""
    steadiness: str | None
    """The preset new sessions start with; None for a custom time in seconds."""

    async def __call__(self, pc: RTCPeerConnection) -> PeerSession: ...


class AnalysingSessions:
    """`confcam web`: every client gets its own worker thread and its own pipeline, built on that thread
    when the first frame arrives."""

    mode = "analyse"
    steadiness_choices = tuple(STEADINESS_PRESETS)

    def __init__(
        self,
        make_analyser: Callable[[], FrameAnalyser],
        labels: tuple[str, ...],
        ice_timeout_s: float = ICE_TIMEOUT_S,
        steadiness: str | None = None,
    ) -> None:
        self.make_analyser = make_analyser
        self.labels = labels
        self.ice_timeout_s = ice_timeout_s
        self.steadiness = steadiness

    async def __call__(self, pc: RTCPeerConnection) -> PeerSession:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confcam-web-worker")
        return AnalysingSession(pc, self.make_analyser(), worker, self.ice_timeout_s)


class ForwardingSessions:
    """`confcam start --source webrtc`: the peer's frames go to a synchronous consumer (a Source)."""

    mode = "source"
    labels: tuple[str, ...] = ()
    steadiness_choices: tuple[str, ...] = ()
    steadiness: str | None = None

    def __init__(
        self,
        deliver: Callable[[av.VideoFrame, float], None],
        ice_timeout_s: float = ICE_TIMEOUT_S,
        on_left: Callable[[], None] | None = None,
    ) -> None:
        """on_left: called when the live peer's connection closes without a newer peer replacing it."""
        self.deliver = deliver
        self.ice_timeout_s = ice_timeout_s
        self.on_left = on_left

    async def __call__(self, pc: RTCPeerConnection) -> PeerSession:
        return ForwardingSession(pc, self.deliver, self.ice_timeout_s, self.on_left)


def _hex(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


class WebApp:
    """Routes and the set of live sessions.

    With single_peer (`--source webrtc`), a new peer replaces the previous one only once its connection is
    up; until then the previous peer's frames keep flowing, so an offer that never connects changes nothing.
    """

    PROTECTED = ("/offer", "/stats")
    """Routes that act or tell something about the user's sessions: they need the per-run token."""

    def __init__(
        self, sessions: SessionMaker, config: WebConfig, single_peer: bool = False, max_offer_bytes: int = MAX_OFFER_BYTES
    ) -> None:
        self.make_session = sessions
        self.config = config
        self.single_peer = single_peer
        self.max_offer_bytes = max_offer_bytes
        self.sessions: set[PeerSession] = set()
        self.guard = RequestGuard(config, self.PROTECTED)
        self.rate = OfferRateLimiter(config.offer_burst, config.offer_window_s)
        self.slots = SessionLimiter(config.max_sessions)

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self.max_offer_bytes, middlewares=[json_errors, self.guard.middleware])
        app.router.add_get("/", self._index)
        app.router.add_get("/config", self._config)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/offer", self._offer)
        app.router.add_get(r"/overlays/{name:[a-z_]+}.png", self._overlay)
        app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
        app.on_shutdown.append(self._shutdown)
        return app

    async def close_all(self) -> None:
        await asyncio.gather(*(s.close() for s in list(self.sessions)), return_exceptions=True)

    async def _shutdown(self, _: web.Application) -> None:
        await self.close_all()

    async def _index(self, _: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def _config(self, _: web.Request) -> web.Response:
        labels = list(self.make_session.labels)
        colors = {label: _hex(LABEL_COLORS[label]) for label in [*labels, UNCERTAIN] if label in LABEL_COLORS}
        steadiness = {"choices": list(self.make_session.steadiness_choices), "current": self.make_session.steadiness}
        return web.json_response(
            {"mode": self.make_session.mode, "labels": labels, "colors": colors, "steadiness": steadiness}
        )

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "sessions": [{"id": s.id, "live": s.live, **s.stats.as_dict()} for s in self.sessions],
                "max_sessions": self.slots.limit,
                "refused": {str(status): n for status, n in sorted(self.guard.refused.items())},
            }
        )

    async def _overlay(self, request: web.Request) -> web.StreamResponse:
        path = overlays_dir() / f"{request.match_info['name']}.png"
        if not path.is_file():
            raise web.HTTPNotFound(text=f"no overlay image {path.name}")
        return web.FileResponse(path)

    async def _offer(self, request: web.Request) -> web.Response:
        """Cheap refusals first (type, rate, size, shape, room); once a session exists, every failure closes it."""
        if request.content_type != "application/json":
            return self._refuse(415, f"an offer must be sent as Content-Type: application/json (got {request.content_type})")
        if not self.rate.allow(request.remote or ""):
            return self._refuse(429, f"too many offers: at most {self.rate.burst} per {self.rate.window_s:g} s from one address")
        if request.content_length is not None and request.content_length > self.max_offer_bytes:
            return self._refuse(413, f"the offer is larger than {self.max_offer_bytes} bytes")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._refuse(413, f"the offer is larger than {self.max_offer_bytes} bytes")
        try:
            offer = parse_offer(body)
        except BadOffer as error:
            return self._refuse(400, str(error))
        if not self.slots.acquire():
            return self._refuse(503, f"confcam is full: {self.slots.limit} sessions at once (--max-sessions); try again later")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            session = await self.make_session(pc)
        except ConfcamError as error:
            await self._abandon(pc)
            return self._refuse(500, str(error))
        except BaseException:
            await self._abandon(pc)
            raise
        self.sessions.add(session)
        session.on_closed = self._forget
        session.on_connected = self._connected
        try:
            answer = await session.accept(offer)
        except BadOffer as error:
            await session.close()
            return self._refuse(400, str(error))
        except Exception as error:  # noqa: BLE001 - aiortc raises assorted types (OperationError, ValueError, ...) for offers it cannot use
            await session.close()
            return self._refuse(400, f"the offer was refused by WebRTC: {type(error).__name__}: {error}")
        except BaseException:
            session.request_close()
            raise
        log.info("session %d: answered an offer from %s", session.id, request.remote)
        return web.json_response({"sdp": answer.sdp, "type": answer.type})

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.guard.refused[status] += 1
        return refuse(status, reason)

    async def _abandon(self, pc: RTCPeerConnection) -> None:
        """The session could not be made: give its slot back and close its peer connection."""
        self.slots.release()
        await pc.close()

    def _forget(self, session: PeerSession) -> None:
        self.sessions.discard(session)
        self.slots.release()

    def _connected(self, session: PeerSession) -> None:
        """The peer's connection is up (and its offer carried the token): now it may replace the old peer."""
        if self.single_peer:
            for other in list(self.sessions):
                if other is not session:
                    log.info("session %d: replaced by session %d", other.id, session.id)
                    other.live = False
                    other.request_close()
        session.live = True


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_note(host: str, port: int) -> str:
    """Says who can reach the page, and how to open it to others deliberately (docs/security.md)."""
    if is_loopback(host):
        return (
            f"Only this machine can open the page, and only with the token in its URL. To use it from another "
            f"machine, tunnel it (ssh -L {port}:127.0.0.1:{port} THIS_HOST) and open the same URL there: "
            f"browsers allow cameras only on https:// or localhost."
        )
    return (
        f"Listening on {host}:{port}: anyone who can reach it and has the page URL (its #token) can send video; "
        f"the page must be opened as http://{host_name(host)}:{port}/ or through a loopback name. "
        f"Browsers allow cameras only on https:// or localhost: use an SSH tunnel or a TLS proxy (docs/security.md)."
    )


class WebServer:
    """Runs a WebApp on its own thread and event loop; start() returns once it listens (or raises)."""

    def __init__(self, webapp: WebApp) -> None:
        self.webapp = webapp
        self.host = webapp.config.host
        self.port = webapp.config.port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: ConfcamError | None = None

    @property
    def url(self) -> str:
        """The server's base URL; a wildcard address (0.0.0.0) is shown as 127.0.0.1, the name this machine's browser uses."""
        host = "127.0.0.1" if host_name(self.host) in ("0.0.0.0", "[::]") else host_name(self.host)
        return f"http://{host}:{self.port}/"

    @property
    def page_url(self) -> str:
        """The URL to open: the token rides in the fragment, which browsers never send to any server or log."""
        return f"{self.url}#token={self.webapp.config.token}"

    def start(self) -> WebServer:
        self._thread = threading.Thread(target=self._serve, name="confcam-web-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join(_STOP_TIMEOUT_S)
            raise self._error
        return self

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = _STOP_TIMEOUT_S) -> T:
        """Run a coroutine on the server's loop from another thread (tests, shutdown)."""
        if self._loop is None:
            raise ConfcamError("the web server is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        """Closes every session, stops listening and ends the thread; safe to call twice."""
        loop, thread = self._loop, self._thread
        self._thread = None
        if loop is None or thread is None:
            return
        if self._runner is not None and loop.is_running():
            try:
                self.call(self._runner.cleanup())
            except TimeoutError:
                log.warning("the web server did not shut down within %g s", _STOP_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT_S)

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._listen())
        except OSError as error:
            why = str(error).rsplit(": ", 1)[-1]
            self._error = ConfcamError(f"cannot listen on {self.host}:{self.port} ({why}); choose another --port")
        self._loop = loop if self._error is None else None
        self._ready.set()
        if self._error is None:
            loop.run_forever()
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    async def _listen(self) -> None:
        self._runner = web.AppRunner(self.webapp.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])


def demo_sessions(make_analyser: Callable[[], FrameAnalyser], ice_timeout_s: float = ICE_TIMEOUT_S) -> AnalysingSessions:
    """Builds one analyser's pipeline first (reading its steadiness does), so a broken model is reported
    (ModelError) before the server listens."""
    first = make_analyser()
    return AnalysingSessions(make_analyser, first.class_names, ice_timeout_s, first.steadiness)
