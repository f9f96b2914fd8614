"""The demo page in real headless Chromium: a fake camera plays a shared face clip, the page sends it to
the real server and must show the returned, labelled video and a person in the side panel."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from confcam.config import PipelineConfig, WebConfig
from confcam.sources.webrtc import WebRtcSource
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


def make_y4m(clip: Path, out: Path) -> Path:
    """The clip letterboxed to 640x480 at 30 fps as raw y4m, the format Chromium's fake camera plays."""
    width, height = SIZE
    with av.open(str(clip)) as src, av.open(str(out), "w", format="yuv4mpegpipe") as dst:
        stream = dst.add_stream("rawvideo", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, frame in zip(range(FPS * SECONDS), src.decode(video=0)):
            image = frame.to_ndarray(format="bgr24")
            scale = min(width / image.shape[1], height / image.shape[0])
            resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
            canvas = np.zeros((height, width, 3), np.uint8)
            top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
            canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
            out_frame = av.VideoFrame.from_ndarray(canvas, format="bgr24").reformat(format="yuv420p")
            out_frame.pts, out_frame.time_base = index, Fraction(1, FPS)
            for packet in stream.encode(out_frame):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    return out


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
    }
    (ARTIFACTS / "web-measure.json").write_text(json.dumps(measured, indent=1))
    print(measured)
    assert "Person" in card and "%" in card, card
    assert emoji_ok, "the side panel's emoji image did not load"
    assert size == list(SIZE), size
    assert fps > 3, measured
    assert "FPS" in status and "latency" in status, status


def test_page_sends_the_camera_to_a_webrtc_source(browser_page) -> None:
    source = WebRtcSource(WebConfig(port=0), connect_timeout_s=30)
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

