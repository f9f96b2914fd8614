"""The local server against other web pages, rebinding names and other local users, with a plain HTTP
client (http.client, so Host and Origin can be forged): every refusal has the right status and a JSON reason,
and nothing (session, worker thread) is left behind. See docs/security.md."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from confcam.config import PipelineConfig, WebConfig
from confcam.sources.webrtc import WebRtcSource
from confcam.web.ingest import SinglePeerServer
from confcam.web.demo import demo_server
from confcam.web.guard import OfferRateLimiter
from confcam.web.server import WebServer
from tests.conftest import REPO, video
from tests.test_web import AUTH, CLIP, ICE_TIMEOUT_S, TOKEN, _offer_sdp, _send_in_background, wait_until, worker_threads

JSON = {"Content-Type": "application/json"}
OFFER_HEADERS = {**AUTH, **JSON}
HARMLESS_BODY = b'{"type": "offer", "sdp": "hello"}'
"""Passes every check before parsing and is then refused with 400: no session is ever made from it."""


@pytest.fixture(scope="module")
def server() -> Iterator[WebServer]:
    with demo_server(WebConfig(port=0, token=TOKEN, offer_burst=1000), PipelineConfig(), ICE_TIMEOUT_S) as running:
        yield running


@pytest.fixture(scope="module")
def video_offer() -> bytes:
    return json.dumps({"sdp": asyncio.run(_offer_sdp("video")), "type": "offer"}).encode()


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, dict]:
    """One request; Host defaults to 127.0.0.1:port. Every answer checked here must be JSON."""
    headers = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        assert response.getheader("Content-Type", "").startswith("application/json"), (response.status, data[:200])
        return response.status, json.loads(data)
    finally:
        connection.close()


def fill(template: str, port: int) -> str:
    return template.format(port=port, other=port + 1)


def leftovers(server: WebServer) -> tuple[int, list[str]]:
    status, stats = request(server.port, "GET", "/stats", AUTH)
    assert status == 200, stats
    return len(stats["sessions"]), worker_threads()


HOSTS = [
    ("127.0.0.1:{port}", 200),
    ("localhost:{port}", 200),
    ("LocalHost:{port}", 200),
    ("[::1]:{port}", 200),
    ("evil.test:{port}", 421),
    ("localhost.evil.test:{port}", 421),
    ("127.0.0.1:{other}", 421),
    ("127.0.0.1", 421),
    ("127.0.0.1:{port}@evil.test", 421),
    ("[::1]evil:{port}", 421),
    ("", 421),
]


@pytest.mark.parametrize("host, status", HOSTS, ids=[h[0] or "empty" for h in HOSTS])
def test_only_requests_naming_this_server_in_host_are_answered(server: WebServer, host: str, status: int) -> None:
    got, body = request(server.port, "GET", "/config", {"Host": fill(host, server.port)})
    assert got == status, body
    assert ("error" in body) == (status == 421)


ROUTES = [("GET", "/"), ("GET", "/static/app.js"), ("GET", "/overlays/happy.png"), ("GET", "/stats"), ("POST", "/offer"), ("GET", "/nowhere")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_a_rebinding_host_name_is_refused_on_every_route(server: WebServer, method: str, path: str) -> None:
    status, body = request(server.port, method, path, {"Host": f"evil.test:{server.port}", **OFFER_HEADERS}, HARMLESS_BODY)
    assert status == 421, body
    assert "evil.test" in body["error"]


ORIGINS = [
    ("http://127.0.0.1:{port}", 400),
    ("http://localhost:{port}", 400),
    ("http://evil.test", 403),
    ("http://127.0.0.1:{other}", 403),
    ("https://127.0.0.1:{port}", 403),
    ("http://localhost:{port}.evil.test", 403),
    ("null", 403),
]


@pytest.mark.parametrize("origin, status", ORIGINS, ids=[o[0] for o in ORIGINS])
def test_offers_from_another_origin_are_refused_even_with_the_token(server: WebServer, origin: str, status: int) -> None:
    got, body = request(server.port, "POST", "/offer", {"Origin": fill(origin, server.port), **OFFER_HEADERS}, HARMLESS_BODY)
    assert got == status, body
    assert body["error"]


def test_stats_refuse_another_origin(server: WebServer) -> None:
    status, body = request(server.port, "GET", "/stats", {"Origin": "http://evil.test", **AUTH})
    assert status == 403 and "other web pages" in body["error"], body


CREDENTIALS = [
    ("no header", None),
    ("wrong token", f"Bearer {'x' * len(TOKEN)}"),
    ("token minus a character", f"Bearer {TOKEN[:-1]}"),
    ("token plus a character", f"Bearer {TOKEN}x"),
    ("basic scheme", f"Basic {TOKEN}"),
    ("no scheme", TOKEN),
]


@pytest.mark.parametrize("path", ["/offer", "/stats"])
@pytest.mark.parametrize("authorization", [c[1] for c in CREDENTIALS], ids=[c[0] for c in CREDENTIALS])
def test_offer_and_stats_need_the_token(server: WebServer, path: str, authorization: str | None) -> None:
    headers = {**JSON, **({"Authorization": authorization} if authorization else {})}
    method, body = ("POST", HARMLESS_BODY) if path == "/offer" else ("GET", None)
    status, answer = request(server.port, method, path, headers, body)
    assert status == 401, answer
    assert "token" in answer["error"]


def test_page_and_config_need_no_token(server: WebServer) -> None:
    status, config = request(server.port, "GET", "/config")
    assert status == 200 and config["mode"] == "analyse"


CONTENT_TYPES = [("text/plain", 415), ("application/x-www-form-urlencoded", 415), ("multipart/form-data; boundary=x", 415), (None, 415), ("application/json; charset=utf-8", 400)]


@pytest.mark.parametrize("content_type, status", CONTENT_TYPES, ids=[str(c[0]) for c in CONTENT_TYPES])
def test_an_offer_must_be_sent_as_json(server: WebServer, content_type: str | None, status: int) -> None:
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    got, body = request(server.port, "POST", "/offer", headers, HARMLESS_BODY)
    assert got == status, body
    assert body["error"]


def _codec_names_replaced(offer: bytes) -> bytes:
    """Every video codec renamed to one aiortc does not know: parses fine, then aiortc refuses it."""
    document = json.loads(offer)
    document["sdp"] = re.sub(r"a=rtpmap:(\d+) (VP8|H264|rtx)/90000", r"a=rtpmap:\1 FOO/90000", document["sdp"])
    return json.dumps(document).encode()


def _vp8_clock(offer: bytes, clock: str) -> bytes:
    document = json.loads(offer)
    document["sdp"] = document["sdp"].replace("VP8/90000", f"VP8/{clock}")
    return json.dumps(document).encode()


HOSTILE_BODIES = [
    ("nested 10,000 deep", lambda offer: b"[" * 10_000 + b"]" * 10_000, "nests deeper"),
    ("nested object in sdp", lambda offer: b'{"type": "offer", "sdp": ' + b'{"a": ' * 50 + b"1" + b"}" * 51, "nests deeper"),
    ("5,000-digit integer", lambda offer: b'{"type": "offer", "sdp": ' + b"7" * 5000 + b"}", "5000 characters"),
    ("5,000-digit float", lambda offer: b'{"type": "offer", "sdp": 0.' + b"7" * 5000 + b"}", "characters"),
    ("NaN", lambda offer: b'{"type": "offer", "sdp": NaN}', "NaN"),
    ("VP8/0 clock rate", lambda offer: _vp8_clock(offer, "0"), "clock rate 0"),
    ("VP8/x clock rate", lambda offer: _vp8_clock(offer, "x"), "could not be parsed"),
    ("only unknown codecs", _codec_names_replaced, "refused by WebRTC"),
]


@pytest.mark.parametrize("make_body, reason", [b[1:] for b in HOSTILE_BODIES], ids=[b[0] for b in HOSTILE_BODIES])
def test_hostile_offers_get_json_400_and_leave_no_session_or_thread(server: WebServer, video_offer: bytes, make_body, reason: str) -> None:
    threads_before = threading.active_count()
    status, body = request(server.port, "POST", "/offer", OFFER_HEADERS, make_body(video_offer))
    assert status == 400, body
    assert reason in body["error"]
    assert wait_until(lambda: leftovers(server) == (0, []), 5), leftovers(server)
    assert wait_until(lambda: threading.active_count() <= threads_before, 5), threading.enumerate()


def test_sessions_beyond_the_cap_get_503_until_one_ends(video_offer: bytes) -> None:
    config = WebConfig(port=0, token=TOKEN, max_sessions=2)
    with demo_server(config, PipelineConfig(), ICE_TIMEOUT_S) as server:
        threads_before = threading.active_count()
        statuses = [request(server.port, "POST", "/offer", OFFER_HEADERS, video_offer)[0] for _ in range(2)]
        full, body = request(server.port, "POST", "/offer", OFFER_HEADERS, video_offer)
        assert statuses == [200, 200]
        assert full == 503 and "2 sessions at once" in body["error"], body
        assert leftovers(server)[0] == 2
        assert wait_until(lambda: leftovers(server) == (0, []), ICE_TIMEOUT_S + 10), "the offers that never connected were kept"
        assert wait_until(lambda: threading.active_count() <= threads_before, 5), threading.enumerate()
        again, _ = request(server.port, "POST", "/offer", OFFER_HEADERS, video_offer)
        assert again == 200, "a freed slot was not given back"


def test_an_offer_burst_from_one_address_gets_429_and_requests_without_the_token_do_not_count() -> None:
    config = WebConfig(port=0, token=TOKEN, offer_burst=3, offer_window_s=60)
    with demo_server(config, PipelineConfig(), ICE_TIMEOUT_S) as server:
        unauthorised = [request(server.port, "POST", "/offer", JSON, HARMLESS_BODY)[0] for _ in range(5)]
        answers = [request(server.port, "POST", "/offer", OFFER_HEADERS, HARMLESS_BODY) for _ in range(5)]
        stats = request(server.port, "GET", "/stats", AUTH)[1]
    assert unauthorised == [401] * 5
    assert [status for status, _ in answers] == [400, 400, 400, 429, 429]
    assert "too many offers: at most 3 per 60 s" in answers[-1][1]["error"]
    assert stats["refused"] == {"400": 3, "401": 5, "429": 2}


BUCKET = [
    ("burst then empty", [0.0, 0.0, 0.0, 0.0], [True, True, True, False]),
    ("refills evenly", [0.0, 0.0, 0.0, 3.0, 3.1], [True, True, True, True, False]),
    ("never above the burst", [0.0, 100.0, 100.0, 100.0, 100.0], [True, True, True, True, False]),
]


@pytest.mark.parametrize("times, allowed", [b[1:] for b in BUCKET], ids=[b[0] for b in BUCKET])
def test_offer_rate_is_a_token_bucket_per_address(times: list[float], allowed: list[bool]) -> None:
    now = [0.0]
    limiter = OfferRateLimiter(burst=3, window_s=9.0, clock=lambda: now[0])
    got = []
    for t in times:
        now[0] = t
        got.append(limiter.allow("127.0.0.1"))
    assert got == allowed
    assert limiter.allow("192.0.2.7"), "another address has its own bucket"


@pytest.fixture
def streaming_source() -> Iterator[WebRtcSource]:
    """`start --source webrtc` with a legitimate peer already sending the clip."""
    server = SinglePeerServer(WebConfig(port=0, token=TOKEN, offer_burst=100), ice_timeout_s=ICE_TIMEOUT_S)
    source = WebRtcSource(server, connect_timeout_s=20)
    source.listen()
    stop = threading.Event()
    sender = _send_in_background(source.server.url, video(CLIP), stop)
    try:
        source.open()
        assert all(source.read() is not None for _ in range(5))
        yield source
    finally:
        stop.set()
        sender.join(10)
        source.close()


def test_refused_or_unconnected_offers_leave_the_live_peer_streaming(streaming_source: WebRtcSource, video_offer: bytes) -> None:
    source = streaming_source
    port = source.server.port
    (live,) = source.server.webapp.sessions
    received = live.stats.received
    attempts = [
        request(port, "POST", "/offer", JSON, video_offer)[0],
        request(port, "POST", "/offer", {**JSON, "Authorization": "Bearer wrong-token-0123456789"}, video_offer)[0],
        request(port, "POST", "/offer", {**OFFER_HEADERS, "Origin": "http://evil.test"}, video_offer)[0],
        request(port, "POST", "/offer", {**AUTH, "Content-Type": "text/plain"}, video_offer)[0],
        request(port, "POST", "/offer", OFFER_HEADERS, video_offer)[0],
    ]
    (pending,) = source.server.webapp.sessions - {live}
    during = [source.read() for _ in range(20)]
    assert attempts == [401, 401, 403, 415, 200]
    assert all(frame is not None for frame in during), "the live peer's stream stopped"
    assert not live.closed and live.live and not pending.live
    assert live.stats.received > received + 15
    assert wait_until(lambda: pending.closed, ICE_TIMEOUT_S + 5), "an offer that never connected was kept"
    assert source.read() is not None
    assert source.server.webapp.sessions == {live} and not live.closed


def test_a_new_peer_takes_over_only_once_connected(streaming_source: WebRtcSource) -> None:
    source = streaming_source
    (first,) = source.server.webapp.sessions
    stop = threading.Event()
    sender = _send_in_background(source.server.url, video("lp_d9.mp4"), stop)
    try:
        assert wait_until(lambda: first.closed, 15), "the connected new peer did not replace the old one"
        (second,) = source.server.webapp.sessions
        frames = [source.read() for _ in range(10)]
        assert second.live and second.stats.received >= 9, "at most one frame read after the take-over was the old peer's"
        assert all(f is not None for f in frames)
        assert frames[-1].image.shape == (480, 512, 3), "the new peer's frames come at their own size (sinks letterbox)"
    finally:
        stop.set()
        sender.join(10)


def test_confcam_web_prints_the_page_url_with_its_random_token() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "confcam", "web", "--port", "0"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "#token=" in line:
                break
        found = re.search(r"open (http://127\.0\.0\.1:(\d+)/)#token=([\w.~-]+) in a browser", "".join(lines))
        assert found, lines
        page, port, token = found.group(1), int(found.group(2)), found.group(3)
        assert len(token) >= 32 and token != TOKEN
        assert request(port, "GET", "/stats", {"Authorization": f"Bearer {token}"})[0] == 200
        assert request(port, "GET", "/stats", AUTH)[0] == 401
        assert page.endswith(f":{port}/")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
        process.stderr.close()
    assert process.returncode == 0
