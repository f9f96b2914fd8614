"""The page server behind `confcam start --source webrtc`: one browser at a time sends its video, and each
frame is handed to the WebRtcSource (confcam.sources.webrtc), which knows nothing of the web layer."""

from __future__ import annotations

from collections.abc import Callable

import av

from confcam.config import WebConfig
from confcam.web.server import ICE_TIMEOUT_S, ForwardingSessions, WebApp, WebServer


class SinglePeerServer:
    """A PeerServer: serves the page with its usual checks; the newest connected and authenticated peer wins."""

    def __init__(self, web: WebConfig | None = None, ice_timeout_s: float = ICE_TIMEOUT_S) -> None:
        self.web = web if web is not None else WebConfig()
        self.ice_timeout_s = ice_timeout_s
        self._server: WebServer | None = None

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else self.web.port

    @property
    def url(self) -> str:
        return self._running().url

    @property
    def page_url(self) -> str:
        return self._running().page_url

    @property
    def webapp(self) -> WebApp:
        return self._running().webapp

    def start(self, deliver: Callable[[av.VideoFrame, float], None], peer_left: Callable[[], None]) -> None:
        sessions = ForwardingSessions(deliver, self.ice_timeout_s, on_left=peer_left)
        self._server = WebServer(WebApp(sessions, self.web, single_peer=True)).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def _running(self) -> WebServer:
        if self._server is None:
            raise RuntimeError("the page server is not running")
        return self._server
