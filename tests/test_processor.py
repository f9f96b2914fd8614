"""One per-frame path for every driver: FrameProcessor and RunStats, used by Runner (CLI) and by each web
client's FrameAnalyser, on real frames through the real detector and model."""

from __future__ import annotations

import contextlib
import os
import signal
from fractions import Fraction

import av
import numpy as np
import pytest

from confcam.build import build_annotators, build_pipeline
from confcam.config import PipelineConfig
from confcam.processor import FrameProcessor, RunStats
from confcam.runner import Runner
from confcam.signals import DeferredSignals, StopRequested, StopSignals
from confcam.sinks.null import NullSink
from confcam.sources.file import FileSource
from confcam.types import Detections, Frame, Result
from confcam.web.analyser import FrameAnalyser
from tests.conftest import video

CLIP = "WolfgangLanger_Pexels.mp4"


def clip_frames(count: int) -> list[Frame]:
    with FileSource(video(CLIP)) as source:
        return [source.read() for _ in range(count)]


def processor(draw: bool = True) -> FrameProcessor:
    config = PipelineConfig()
    return FrameProcessor(build_pipeline(config), build_annotators(config.style), draw=draw)


@pytest.mark.parametrize("draw", [True, False])
def test_processing_a_frame_never_draws_on_the_captured_picture(draw):
    *earlier, frame = clip_frames(20)
    running = processor(draw)
    for past in earlier:  # a face shows its emoji once the smoother has enough evidence
        running.process(past)
    before = frame.image.copy()
    result, stage_ms = running.process(frame)
    np.testing.assert_array_equal(frame.image, before)
    assert (result.image is frame.image) == (not draw)
    if draw:
        assert not np.array_equal(result.image, before)  # the overlay is on the copy
    assert {"detect", "track", "classify", "render", "total"} <= set(stage_ms)
    assert stage_ms["total"] >= stage_ms["render"] >= 0


def result_with(faces: int, captured_at: float = 0.0) -> Result:
    boxes = np.tile(np.array([[0, 0, 10, 10]], np.float32), (faces, 1))
    frame = Frame(image=np.zeros((20, 20, 3), np.uint8), index=0, timestamp=0.0, captured_at=captured_at)
    detections = Detections(boxes=boxes, scores=np.ones(faces, np.float32), landmarks=np.zeros((faces, 6, 2), np.float32))
    return Result(frame=frame, faces=detections, class_names=(), image=frame.image)


@pytest.mark.parametrize(
    "records,kept,frames,faces,latencies",
    [
        ([(1, 0.0, None)], 10, 1, [1], 0),
        ([(2, 1.0, 1.5), (0, 2.0, 2.25)], 10, 2, [2, 0], 2),
        ([(1, 1.0, 2.0)] * 5, 3, 5, [1, 1, 1], 3),
    ],
)
def test_run_stats_keep_the_newest_samples(records, kept, frames, faces, latencies):
    stats = RunStats(kept=kept)
    for count, captured, finished in records:
        stats.record(result_with(count, captured), {"detect": 1.0, "total": 2.0}, finished)
    assert stats.frames == frames
    assert list(stats.faces) == faces
    assert len(stats.latency_ms) == latencies
    assert len(stats.stage_ms["detect"]) == min(frames, kept)
    assert stats.median_stage_ms() == {"detect": 1.0, "total": 2.0}


def test_a_web_sessions_stats_report_what_it_sent():
    stats = RunStats(kept=600)
    stats.received = 4
    stats.record(result_with(1), {"total": 12.0})
    stats.record_sent(received_at=0.0)
    report = stats.as_dict()
    assert (report["received"], report["sent"], report["analyse_ms_p50"]) == (4, 1, 12.0)
    assert report["latency_ms_p50"] > 0


def test_the_runner_and_a_web_client_see_the_same_faces_on_the_same_frames():
    frames = clip_frames(30)
    seen: list[Result] = []
    config = PipelineConfig()
    runner = Runner(FileSource(video(CLIP)), build_pipeline(config), build_annotators(config.style), [NullSink()],
                    max_frames=30)
    stats = runner.run(on_frame=seen.append)
    assert stats.frames == 30 and stats.median_stage_ms()["detect"] > 0
    analyser = FrameAnalyser(lambda: FrameProcessor(build_pipeline(config), build_annotators(config.style)), seen[0].class_names)
    for frame, ran in zip(frames, seen):
        packet = av.VideoFrame.from_ndarray(frame.image, format="bgr24")
        packet.pts, packet.time_base = frame.index, Fraction(1, 30)
        analysed = analyser.analyse(packet, frame.index, frame.timestamp)
        assert analysed.result.faces.track_ids.tolist() == ran.faces.track_ids.tolist()
        np.testing.assert_allclose(analysed.result.faces.boxes, ran.faces.boxes, atol=1e-3)
        assert analysed.result.faces.labels == ran.faces.labels
        assert [t["label"] for t in analysed.message["tracks"]] == list(ran.faces.labels or [])
    assert sum(len(r.faces) for r in seen) >= 25


def test_warm_up_frames_are_processed_but_not_counted():
    config = PipelineConfig()
    runner = Runner(FileSource(video(CLIP)), build_pipeline(config), [], [NullSink()], max_frames=12, warmup=5)
    stats = runner.run()
    assert stats.frames == 7
    assert len(stats.stage_ms["detect"]) == 7


class SignallingSink(NullSink):
    """Sends the process a signal from inside its own write of one frame, as a user's Ctrl+C might land."""

    def __init__(self, signum: int, at_frame: int) -> None:
        super().__init__()
        self.signum, self.at_frame = signum, at_frame

    def write(self, result: Result) -> None:
        super().write(result)
        if self.frames == self.at_frame:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_a_stop_during_one_sinks_write_still_reaches_every_sink_with_that_frame(signum):
    config = PipelineConfig()
    first, second = SignallingSink(signum, at_frame=5), NullSink()
    runner = Runner(FileSource(video(CLIP)), build_pipeline(config), [], [first, second], max_frames=30)
    with StopSignals() as signals:
        stats = runner.run()
    assert signals.received == signum and stats.interrupted is not None and stats.interrupted.signum == signum
    assert first.frames == second.frames == 5


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGHUP, signal.SIGINT]], ids=["one", "two"])
def test_signals_inside_a_deferred_block_reach_the_handler_after_it_in_order(signals):
    arrived: list[tuple[int, bool]] = []
    inside = True
    previous = {s: signal.signal(s, lambda signum, frame: arrived.append((signum, inside))) for s in signals}
    try:
        with DeferredSignals() as deferred, deferred.held():
            for signum in signals:
                os.kill(os.getpid(), signum)
            sum(range(10_000))
            inside = False
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert arrived == [(signum, False) for signum in signals]


@pytest.mark.parametrize("held", [True, False], ids=["held", "not-held"])
def test_a_stop_raises_at_the_end_of_a_held_block_and_at_once_outside_one(held):
    reached: list[str] = []
    with StopSignals() as stops, DeferredSignals() as deferred:
        with pytest.raises(StopRequested), deferred.held() if held else contextlib.nullcontext():
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(10_000))
            reached.append("end of block")
    assert reached == (["end of block"] if held else []) and stops.received == signal.SIGTERM


def test_a_held_block_that_fails_keeps_its_own_error():
    with StopSignals() as stops, DeferredSignals() as deferred:
        with pytest.raises(OSError, match="disk full"), deferred.held():
            os.kill(os.getpid(), signal.SIGTERM)
            raise OSError("disk full")
    assert stops.received is None
