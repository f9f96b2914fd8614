"""The WebRTC edge with real peers on this machine: an in-process aiortc client sends a shared face clip
to the real server (real detector, tracker, model, renderer) and checks what comes back."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import aiohttp
import av
import cv2
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError

from confcam.analysis import TimelineSink
from confcam.build import build_annotators, build_pipeline
from confcam.classify.smoother import SmootherConfig
from confcam.config import PipelineConfig, WebConfig
from confcam.errors import SourceError
from confcam.runner import Runner
from confcam.sources.webrtc import WebRtcSource
from confcam.web.ingest import SinglePeerServer
from confcam.types import UNCERTAIN
from confcam.web.demo import demo_server
from confcam.web.server import MAX_OFFER_BYTES, WebServer
from tests.conftest import video

ICE_TIMEOUT_S = 3.0
CLIP = "WolfgangLanger_Pexels.mp4"
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WEB = WebConfig(port=0, token=TOKEN, offer_burst=1000)
"""These tests send many offers quickly; the rate limit itself is tested in test_web_security.py."""


@pytest.fixture(scope="module")
def server() -> Iterator[WebServer]:
    with demo_server(WEB, PipelineConfig(), ice_timeout_s=ICE_TIMEOUT_S) as running:
        yield running


@dataclass
class Peer:
    """A browser-like client: sends one video track, opens `predictions`, collects what comes back."""

    track: MediaStreamTrack
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(RTCConfiguration(iceServers=[])))
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    messages: list[tuple[float, dict]] = field(default_factory=list)
    channel: RTCDataChannel | None = None
    _tasks: list[asyncio.Task] = field(default_factory=list)

    async def offer(self) -> dict:
        channel = self.channel = self.pc.createDataChannel("predictions")
        channel.on("message", lambda text: self.messages.append((time.perf_counter(), json.loads(text))))
        self.pc.addTrack(self.track)
        self.pc.on("track", lambda t: self._tasks.append(asyncio.ensure_future(self._collect(t))))
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": self.pc.localDescription.type}

    async def connect(self, url: str) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "offer", json=await self.offer(), headers=AUTH) as response:
                assert response.status == 200, await response.text()
                answer = await response.json()
        await self.pc.setRemoteDescription(RTCSessionDescription(**answer))

    async def _collect(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.frames.append((time.perf_counter(), frame.to_ndarray(format="bgr24")))
                del self.frames[:-40]
        except MediaStreamError:
            return

    def tracked(self) -> list[tuple[float, dict]]:
        return [(t, m) for t, m in self.messages if m.get("tracks")]

    def replies(self) -> list[dict]:
        """The server's answers to requests sent on the channel (everything that is not a frame's predictions)."""
        return [m for _, m in self.messages if "tracks" not in m]

    def labelled(self) -> list[tuple[float, dict]]:
        """Messages whose first face shows a class (a new face is "uncertain" until the smoother has evidence)."""
        return [(t, m) for t, m in self.tracked() if m["tracks"][0]["label"] not in (None, UNCERTAIN)]

    async def wait_for(self, frames_after_tracked: int, timeout: float, labelled: bool = False) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            tracked = self.labelled() if labelled else self.tracked()
            if tracked and sum(1 for t, _ in self.frames if t > tracked[0][0]) >= frames_after_tracked:
                return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()


def clip_frames(path: Path, limit: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for _, f in zip(range(limit), container.decode(video=0))]


def overlay_mask(returned: np.ndarray, originals: list[np.ndarray]) -> np.ndarray:
    """Pixels the server drew: the returned frame against the clip frame it came from (best match)."""
    gray = returned.astype(np.int16)
    source = min(originals, key=lambda o: float(np.median(np.abs(gray - o.astype(np.int16)))))
    return np.abs(gray - source.astype(np.int16)).max(axis=2) > 60


def largest_blob(mask: np.ndarray) -> tuple[int, tuple[float, float]]:
    """Area and centre of the biggest solid change; thin motion edges are opened away first."""
    solid = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
    count, _, stats, centres = cv2.connectedComponentsWithStats(solid)
    if count < 2:
        return 0, (-1.0, -1.0)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return int(stats[biggest, cv2.CC_STAT_AREA]), (float(centres[biggest][0]), float(centres[biggest][1]))


def server_sessions(server: WebServer) -> int:
    return len(server.webapp.sessions)


def worker_threads() -> list[str]:
    """Per-client threads: our inference workers and aiortc's decoders (the test's own peers are closed too)."""
    return [t.name for t in threading.enumerate() if t.name.startswith(("confcam-web-worker", "video-decoder"))]


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_returned_video_carries_the_overlay_where_predictions_put_the_face(server: WebServer) -> None:
    path = video(CLIP)
    originals = clip_frames(path, 240)

    async def scenario() -> Peer:
        player = MediaPlayer(str(path))
        peer = Peer(player.video)
        await peer.connect(server.url)
        await peer.wait_for(frames_after_tracked=15, timeout=20, labelled=True)
        await peer.close()
        player.video.stop()
        return peer

    peer = asyncio.run(scenario())
    tracked = peer.labelled()
    assert tracked, f"no predictions with a labelled face in {len(peer.messages)} messages"
    height, width = originals[0].shape[:2]
    late = [(t, f) for t, f in peer.frames if t > tracked[0][0] + 0.3]
    assert late, "no annotated frame came back after the face was tracked"
    assert all(f.shape == (height, width, 3) for _, f in late)

    received_at, frame = late[-1]
    message = [m for t, m in tracked if t <= received_at][-1]
    x, y, w, h = message["tracks"][0]["box"]
    blob_area, (cx, cy) = largest_blob(overlay_mask(frame, originals))
    assert blob_area > 0.05 * w * h, f"the largest change from the clip is {blob_area} px; no overlay drawn"
    assert x <= cx <= x + w, f"the overlay (centre x {cx:.0f}) is not over the face (x {x:.0f}..{x + w:.0f})"
    assert y - 1.2 * h <= cy <= y + 0.3 * h, f"the overlay (centre y {cy:.0f}) is not at the head (top {y:.0f})"


def test_predictions_follow_the_contract(server: WebServer) -> None:
    path = video(CLIP)

    async def scenario() -> Peer:
        player = MediaPlayer(str(path))
        peer = Peer(player.video)
        await peer.connect(server.url)
        await peer.wait_for(frames_after_tracked=5, timeout=20)
        await peer.close()
        player.video.stop()
        return peer

    peer = asyncio.run(scenario())
    labels = json.loads(_get(server.url + "config"))["labels"]
    assert peer.tracked(), "no predictions with a tracked face"
    frames = [m["frame"] for _, m in peer.messages]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    for _, message in peer.tracked():
        assert {"frame", "t", "size", "tracks"} <= message.keys() and message["size"] == [640, 360]
        for track in message["tracks"]:
            x, y, w, h = track["box"]
            assert w > 20 and h > 20 and -w < x < 640 and -h < y < 360
            assert track["label"] in (*labels, UNCERTAIN)
            assert 0.0 <= track["confidence"] <= 1.0
            assert len(track["probs"]) == len(labels) and abs(sum(track["probs"]) - 1.0) < 0.01
            assert isinstance(track["id"], int)


def _get(url: str) -> str:
    async def fetch() -> str:
        async with aiohttp.ClientSession() as http, http.get(url, headers=AUTH) as response:
            return await response.text()

    return asyncio.run(fetch())


async def _offer_sdp(kind: str) -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(kind)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def _without_fingerprint(sdp: str) -> str:
    return "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith("a=fingerprint"))


BAD_OFFERS = [
    ("not JSON", lambda: b"{sdp: nope", 400, "not JSON"),
    ("not an object", lambda: b"[1, 2]", 400, "JSON object"),
    ("an answer", lambda: json.dumps({"sdp": "v=0", "type": "answer"}).encode(), 400, '"type" must be "offer"'),
    ("no sdp", lambda: json.dumps({"type": "offer"}).encode(), 400, '"sdp" must be'),
    ("sdp is prose", lambda: json.dumps({"sdp": "hello", "type": "offer"}).encode(), 400, "v=0"),
    ("sdp is truncated", lambda: json.dumps({"sdp": "v=0\r\nm=video x\r\n", "type": "offer"}).encode(), 400, "could not be parsed"),
    ("audio only", lambda: json.dumps({"sdp": asyncio.run(_offer_sdp("audio")), "type": "offer"}).encode(), 400, "no video"),
    (
        "no DTLS fingerprint",
        lambda: json.dumps({"sdp": _without_fingerprint(asyncio.run(_offer_sdp("video"))), "type": "offer"}).encode(),
        400,
        "no DTLS fingerprint",
    ),
    ("oversized", lambda: json.dumps({"sdp": "v=0" + "x" * MAX_OFFER_BYTES, "type": "offer"}).encode(), 413, "larger than"),
]


@pytest.mark.parametrize("make_body, status, reason", [b[1:] for b in BAD_OFFERS], ids=[b[0] for b in BAD_OFFERS])
def test_bad_offers_are_refused_with_a_reason_and_leave_nothing_behind(server: WebServer, make_body, status: int, reason: str) -> None:
    body = make_body()

    async def post() -> tuple[int, str]:
        headers = {**AUTH, "Content-Type": "application/json"}
        async with aiohttp.ClientSession() as http, http.post(server.url + "offer", data=body, headers=headers) as response:
            return response.status, await response.text()

    got_status, text = asyncio.run(post())
    assert got_status == status, text
    assert reason in json.loads(text)["error"]
    assert wait_until(lambda: server_sessions(server) == 0, 5)


class ClipLoop(MediaStreamTrack):
    """Frames of a clip as fast as the sender pulls them: a peer faster than any inference."""

    kind = "video"

    def __init__(self, images: list[np.ndarray]) -> None:
        super().__init__()
        self.images = images
        self.sent = 0

    async def recv(self) -> av.VideoFrame:
        frame = av.VideoFrame.from_ndarray(self.images[self.sent % len(self.images)], format="bgr24")
        frame.pts, frame.time_base = self.sent * 3000, Fraction(1, 90000)
        self.sent += 1
        await asyncio.sleep(0)
        return frame


def test_frames_arriving_faster_than_inference_are_dropped_and_delay_stays_bounded(server: WebServer) -> None:
    images = clip_frames(video(CLIP), 60)

    async def scenario() -> dict:
        peer = Peer(ClipLoop(images))
        await peer.connect(server.url)
        await peer.wait_for(frames_after_tracked=10, timeout=20)
        await asyncio.sleep(3.0)
        stats = json.loads(await asyncio.to_thread(_get, server.url + "stats"))["sessions"][0]
        session = next(iter(server.webapp.sessions))
        latencies = list(session.stats.latency_ms)
        await peer.close()
        return {**stats, "latencies": latencies}

    stats = asyncio.run(scenario())
    latencies = stats["latencies"]
    third = len(latencies) // 3
    assert stats["dropped"] > 0, stats
    assert stats["received"] > stats["sent"], stats
    assert np.median(latencies[-third:]) < np.median(latencies[:third]) + 50, "delay grew while frames arrived too fast"
    assert np.percentile(latencies, 95) < 400, stats


LEAVINGS = ["closes its connection", "reloads (closes, then connects again)", "never completes ICE"]


@pytest.mark.parametrize("leaving", LEAVINGS)
def test_a_peer_that_goes_away_is_cleaned_up(server: WebServer, leaving: str) -> None:
    path = video(CLIP)

    async def scenario() -> None:
        player = MediaPlayer(str(path))
        peer = Peer(player.video)
        if leaving == "never completes ICE":
            async with aiohttp.ClientSession() as http:
                async with http.post(server.url + "offer", json=await peer.offer(), headers=AUTH) as response:
                    assert response.status == 200
            assert server_sessions(server) == 1
            sessions_seen.extend(server.webapp.sessions)
            await asyncio.sleep(ICE_TIMEOUT_S + 1.0)
        else:
            await peer.connect(server.url)
            await peer.wait_for(frames_after_tracked=2, timeout=20)
            assert server_sessions(server) == 1
            sessions_seen.extend(server.webapp.sessions)
        await peer.close()
        player.video.stop()
        if leaving.startswith("reloads"):
            again = Peer(MediaPlayer(str(path)).video)
            await again.connect(server.url)
            await again.wait_for(frames_after_tracked=2, timeout=20)
            assert again.tracked()
            sessions_seen.extend(server.webapp.sessions)
            await again.close()
            again.track.stop()

    sessions_seen: list = []
    asyncio.run(scenario())
    assert wait_until(lambda: server_sessions(server) == 0, 15), "a session outlived its peer"
    assert wait_until(lambda: not worker_threads(), 5), f"threads left: {worker_threads()}"
    assert sessions_seen and all(s.closed for s in sessions_seen)
    assert all(s.output.readyState == "ended" and s.pc.connectionState == "closed" for s in sessions_seen)
    assert all(s.running_tasks == 0 for s in sessions_seen), "a session task is still running"


def test_each_client_gets_its_own_pipeline_state(server: WebServer) -> None:
    clips = [video(CLIP), video("lp_d9.mp4")]

    async def scenario() -> list[Peer]:
        players = [MediaPlayer(str(p)) for p in clips]
        peers = [Peer(p.video) for p in players]
        await peers[0].connect(server.url)
        await peers[0].wait_for(frames_after_tracked=3, timeout=20)
        await peers[1].connect(server.url)
        assert server_sessions(server) == 2
        await asyncio.gather(*(p.wait_for(frames_after_tracked=10, timeout=20) for p in peers))
        for peer, player in zip(peers, players):
            await peer.close()
            player.video.stop()
        return peers

    peers = asyncio.run(scenario())
    sizes = []
    for peer in peers:
        ids = [t["id"] for _, m in peer.tracked() for t in m["tracks"]]
        assert ids, "a client got no tracked face"
        assert ids[0] == 1, "track ids continued from another client's tracker"
        assert Counter(ids).most_common(1)[0][1] >= 0.8 * len(ids)
        sizes.append(peer.frames[-1][1].shape[:2])
    assert sizes == [(360, 640), (480, 512)]


STEADINESS_REQUESTS = [
    '{"steadiness": "calm"}',
    '{"steadiness": "frantic"}',
    '{"steadiness": "calm", "then": "more"}',
    '{"steadiness": ' + "[" * 20 + "]" * 20 + "}",
    "x" * 5000,
]


def test_a_peer_changes_only_its_own_steadiness_on_the_data_channel_and_bad_requests_get_a_reason(server: WebServer) -> None:
    path = video(CLIP)

    async def scenario() -> tuple[list[Peer], list[SmootherConfig], bool]:
        players = [MediaPlayer(str(path)) for _ in range(2)]
        peers = [Peer(p.video) for p in players]
        for peer in peers:
            await peer.connect(server.url)
        await asyncio.gather(*(p.wait_for(frames_after_tracked=2, timeout=20) for p in peers))
        sessions = sorted(server.webapp.sessions, key=lambda s: s.id)
        for request in STEADINESS_REQUESTS:
            peers[0].channel.send(request)
        deadline = time.perf_counter() + 10
        while time.perf_counter() < deadline and not (
            len(peers[0].replies()) == len(STEADINESS_REQUESTS) and sessions[0].analyser.steadiness == "calm"
        ):
            await asyncio.sleep(0.1)
        configs = [s.analyser.pipeline.smoother.config for s in sessions]
        tracked_after = len(peers[0].tracked())
        await asyncio.sleep(0.5)
        still_tracked = len(peers[0].tracked()) > tracked_after
        for peer, player in zip(peers, players):
            await peer.close()
            player.video.stop()
        return peers, configs, still_tracked

    peers, configs, still_tracked = asyncio.run(scenario())
    replies = peers[0].replies()
    print(replies)
    assert configs == [SmootherConfig.preset("calm"), SmootherConfig.preset("balanced")], configs
    assert replies[0] == {"steadiness": "calm"}, replies
    assert [set(r) for r in replies[1:]] == [{"error"}] * 4, replies
    assert "one of calm, balanced, quick" in replies[1]["error"]
    assert "nests deeper" in replies[3]["error"] and "at most 1024 bytes" in replies[4]["error"]
    assert not peers[1].replies(), "the other peer heard about a request it never sent"
    assert still_tracked, "predictions stopped after the requests"


def _send_in_background(url: str, path: Path, stop: threading.Event) -> threading.Thread:
    async def sending() -> None:
        player = MediaPlayer(str(path))
        peer = Peer(player.video)
        await peer.connect(url)
        while not stop.is_set():
            await asyncio.sleep(0.05)
        await peer.close()
        player.video.stop()

    thread = threading.Thread(target=lambda: asyncio.run(sending()), daemon=True)
    thread.start()
    return thread


def test_webrtc_source_feeds_a_peer_s_video_through_the_runner() -> None:
    path = video(CLIP)
    source = WebRtcSource(SinglePeerServer(WEB, ice_timeout_s=ICE_TIMEOUT_S), connect_timeout_s=20)
    source.listen()
    stop = threading.Event()
    sender = _send_in_background(source.server.url, path, stop)
    timeline = TimelineSink()
    pipeline = build_pipeline(PipelineConfig())
    try:
        stats = Runner(source, pipeline, build_annotators(PipelineConfig().style), [timeline], max_frames=45).run()
    finally:
        stop.set()
        sender.join(10)
        source.close()
    assert source.size == (640, 360)
    assert stats.frames == 45
    assert timeline.summaries(source.fps), "no face was tracked in the frames from the peer"
    assert stats.latency_percentile(50) > 0


@pytest.mark.parametrize(
    "problem, expected",
    [("nobody connects", "no browser sent video to http://127.0.0.1:"), ("the port is taken", "cannot listen on 127.0.0.1:")],
)
def test_webrtc_source_reports_problems_in_one_line(problem: str, expected: str) -> None:
    blocker = WebRtcSource(SinglePeerServer(WEB))
    blocker.listen()
    port = blocker.port if problem == "the port is taken" else 0
    source = WebRtcSource(SinglePeerServer(WebConfig(port=port)), connect_timeout_s=0.5)
    try:
        with pytest.raises(SourceError, match=expected.replace(".", r"\.")):
            source.open()
    finally:
        source.close()
        blocker.close()


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _send_then_leave(url: str, path: Path, seconds: float) -> threading.Thread:
    """A browser that connects once the page listens, sends the clip for `seconds`, then closes its tab."""

    async def sending() -> None:
        deadline = time.monotonic() + 60
        while True:
            player = MediaPlayer(str(path))
            peer = Peer(player.video)
            try:
                await peer.connect(url)
                break
            except aiohttp.ClientConnectionError:
                player.video.stop()
                await peer.close()
                assert time.monotonic() < deadline, "the webrtc source never listened"
                await asyncio.sleep(0.2)
        await asyncio.sleep(seconds)
        await peer.close()
        player.video.stop()

    thread = threading.Thread(target=lambda: asyncio.run(sending()), daemon=True)
    thread.start()
    return thread


def test_when_the_browser_leaves_the_recording_is_kept_and_the_run_ends(tmp_path: Path, capsys) -> None:
    from confcam.cli import main

    port = _free_port()
    out, events = tmp_path / "call.mp4", tmp_path / "call.jsonl"
    sender = _send_then_leave(f"http://127.0.0.1:{port}/", video(CLIP), seconds=4.0)
    started = time.monotonic()
    code = main(["start", "--source", "webrtc", "--port", str(port), "--token", TOKEN, "--sink", "file", "--output",
                 str(out), "--sink", "events", "--events", str(events)])
    took = time.monotonic() - started
    sender.join(10)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "the source ended: the browser stopped sending" in err
    assert took < 30, "ended when the peer left, not by a timeout"
    with av.open(str(out)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    lines = events.read_text().splitlines()
    assert frames >= 10 and len(lines) == frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call.jsonl", "call.mp4"]
