"""The demo page in real headless Chromium: a fake camera plays a shared face clip, the page sends it to
the real server and must show the returned, labelled video and a person in the side panel."""

from __future__ import annotations

import http.server
import json
import statistics
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from confcam.config import PipelineConfig, WebConfig
from confcam.imaging import letterbox
from confcam.sources.webrtc import WebRtcSource
from confcam.web.ingest import SinglePeerServer
from confcam.web.demo import demo_server
from confcam.web.server import WebServer
from tests.conftest import REPO, video

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CLIP = "WolfgangLanger_Pexels.mp4"
SIZE = (640, 480)
FPS = 30
SECONDS = 4

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package (pip install playwright)")


def write_y4m(images: Iterable[np.ndarray], out: Path) -> Path:
    """BGR images at FPS as raw y4m, the format Chromium's fake camera plays (and loops)."""
    with av.open(str(out), "w", format="yuv4mpegpipe") as dst:
        stream = dst.add_stream("rawvideo", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for index, image in enumerate(images):
            out_frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format="yuv420p")
            out_frame.pts, out_frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(out_frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


def clip_images(clip: Path, count: int = FPS * SECONDS) -> Iterator[np.ndarray]:
    """The clip's first `count` frames as BGR images."""
    with av.open(str(clip)) as src:
        for _, frame in zip(range(count), src.decode(video=0)):
            yield frame.to_ndarray(format="bgr24")


def make_y4m(clip: Path, out: Path) -> Path:
    """The clip letterboxed to 640x480 at 30 fps."""
    return write_y4m((letterbox(image, SIZE) for image in clip_images(clip)), out)


@pytest.fixture(scope="module")
def fake_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_y4m(video(CLIP), tmp_path_factory.mktemp("camera") / "camera.y4m")


@contextmanager
def chromium(fake_camera: Path, profile: Path, extra_args: Sequence[str] = ()) -> Iterator[object]:
    """Headless Debian Chromium with a fake camera playing `fake_camera`; yields a persistent context."""
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_camera}",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        *extra_args,
    ]
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=args
        )
        try:
            yield context
        finally:
            context.close()


def new_page(context) -> object:
    page = context.new_page()
    page.on("console", lambda message: print(f"[page] {message.text}"))
    return page


@pytest.fixture
def browser_page(fake_camera: Path, tmp_path: Path) -> Iterator[object]:
    with chromium(fake_camera, tmp_path / "profile") as context:
        yield new_page(context)


@pytest.fixture
def server() -> Iterator[WebServer]:
    with demo_server(WebConfig(port=0), PipelineConfig()) as running:
        yield running


MEASURE_JS = """(seconds) => new Promise((resolve) => {
  const video = document.getElementById('result');
  const times = [];
  const tick = (now) => { times.push(now); if (now - times[0] < seconds * 1000) video.requestVideoFrameCallback(tick); else resolve(times); };
  video.requestVideoFrameCallback(tick);
})"""


def test_page_shows_a_person_and_plays_the_returned_video(server: WebServer, browser_page) -> None:
    page = browser_page
    page.goto(server.page_url)
    page.click("#start-camera")
    page.wait_for_selector("#cards .card", timeout=30_000)
    page.wait_for_function(
        "() => { const v = document.getElementById('result'); return v.videoWidth > 0 && v.currentTime > 1 && !v.paused; }",
        timeout=30_000,
    )
    times = page.evaluate(MEASURE_JS, 5)
    fps = (len(times) - 1) * 1000 / (times[-1] - times[0])
    card = page.inner_text("#cards .card")
    size = page.evaluate("() => { const v = document.getElementById('result'); return [v.videoWidth, v.videoHeight]; }")
    status = page.inner_text("#status")
    meter = page.inner_text("#meter")
    emoji_ok = page.evaluate("() => { const i = document.querySelector('#cards .card .emoji'); return i.complete && i.naturalWidth > 0; }")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-demo.png"), full_page=True)
    session = next(iter(server.webapp.sessions))
    latencies = list(session.stats.latency_ms)
    measured = {
        "stream": f"{SIZE[0]}x{SIZE[1]} fake camera at {FPS} fps ({CLIP})",
        "fps_returned_to_browser": round(fps, 1),
        "server_latency_ms_p50": round(statistics.median(latencies), 1),
        "server_latency_ms_p95": round(float(np.percentile(latencies, 95)), 1),
        "received": session.stats.received,
        "dropped": session.stats.dropped,
        "server_analyse_ms_p50": session.stats.as_dict()["analyse_ms_p50"],
        "status_line": status,
        "meter": meter,
    }
    (ARTIFACTS / "web-measure.json").write_text(json.dumps(measured, indent=1))
    print(measured)
    assert "Person" in card and "%" in card, card
    assert emoji_ok, "the side panel's emoji image did not load"
    assert size == list(SIZE), size
    assert fps > 3, measured
    assert status == "Live.", status
    assert "FPS" in meter and "latency" in meter, meter


def test_page_sends_the_camera_to_a_webrtc_source(browser_page) -> None:
    source = WebRtcSource(SinglePeerServer(WebConfig(port=0)), connect_timeout_s=30)
    source.listen()
    page = browser_page
    page.goto(source.url)
    assert page.is_hidden("#people")
    page.click("#start-camera")
    try:
        source.open()
        frames = [source.read() for _ in range(10)]
    finally:
        source.close()
    assert source.size == SIZE
    assert all(f is not None and f.image.shape == (SIZE[1], SIZE[0], 3) for f in frames)
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    assert float(np.mean(frames[-1].image)) > 10, "the frames from the browser are black"



HOSTILE_PAGE = b"<!doctype html><title>cute cats</title><p>nothing to see here</p>"
ATTACK_JS = """async (target) => {
  const offer = JSON.stringify({ sdp: "v=0", type: "offer" });
  const attempt = async (name, url, init) => {
    try { const r = await fetch(url, init); return [name, r.type === "opaque" ? "opaque" : r.status]; }
    catch (error) { return [name, "blocked"]; }
  };
  return Object.fromEntries(await Promise.all([
    attempt("text/plain offer", target + "offer", { method: "POST", mode: "no-cors", headers: { "Content-Type": "text/plain" }, body: offer }),
    attempt("json offer", target + "offer", { method: "POST", headers: { "Content-Type": "application/json", "Authorization": "Bearer guessed-token-0123456789" }, body: offer }),
    attempt("stats", target + "stats", {}),
  ]));
}"""


@contextmanager
def hostile_site() -> Iterator[str]:
    """A page on another origin (another port), as any site the user has open in a tab."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(HOSTILE_PAGE)

        def log_message(self, *_: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()
        thread.join(5)


def test_a_page_on_another_origin_cannot_drive_the_server_or_touch_the_live_stream(browser_page) -> None:
    source = WebRtcSource(SinglePeerServer(WebConfig(port=0)), connect_timeout_s=30)
    source.listen()
    page = browser_page
    page.goto(source.url)
    page.click("#start-camera")
    try:
        source.open()
        assert all(source.read() is not None for _ in range(5))
        (live,) = source.server.webapp.sessions
        received = live.stats.received
        with hostile_site() as hostile_url:
            hostile = new_page(page.context)
            hostile.goto(hostile_url)
            results = hostile.evaluate(ATTACK_JS, source.server.url)
        frames = [source.read() for _ in range(15)]
        refused = source.server.webapp.guard.refused[403]
        sessions = set(source.server.webapp.sessions)
    finally:
        source.close()
    print(results)
    assert results == {"text/plain offer": "opaque", "json offer": "blocked", "stats": "blocked"}, results
    assert refused >= 3, "the hostile requests did not reach the server's Origin check"
    assert sessions == {live} and live.live, "a hostile page changed the sessions"
    assert all(f is not None for f in frames) and live.stats.received >= received + 15


def test_a_dns_rebinding_name_gets_421_for_the_page_stats_and_offer(fake_camera: Path, tmp_path: Path) -> None:
    source = WebRtcSource(SinglePeerServer(WebConfig(port=0)), connect_timeout_s=30)
    source.listen()
    rebinding = ["--host-resolver-rules=MAP evil.test 127.0.0.1"]
    try:
        with chromium(fake_camera, tmp_path / "profile", rebinding) as context:
            page = new_page(context)
            response = page.goto(f"http://evil.test:{source.port}/")
            statuses = page.evaluate(
                """async () => [
                  (await fetch("/stats")).status,
                  (await fetch("/offer", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" })).status,
                ]"""
            )
            body = json.loads(page.inner_text("body"))
        sessions = len(source.server.webapp.sessions)
    finally:
        source.close()
    assert response.status == 421 and "evil.test" in body["error"], body
    assert statuses == [421, 421]
    assert sessions == 0


def test_the_page_without_its_token_says_where_to_find_it(browser_page) -> None:
    source = WebRtcSource(SinglePeerServer(WebConfig(port=0)))
    source.listen()
    try:
        browser_page.goto(source.server.url)
        browser_page.click("#start-camera")
        status = browser_page.inner_text("#status")
        sessions = len(source.server.webapp.sessions)
    finally:
        source.close()
    assert "#token=" in status, status
    assert sessions == 0
