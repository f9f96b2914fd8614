"""Data safety on real files, real filesystems and real processes: inputs are never overwritten, a full disk
or a signal never loses or hides output, and damaged, resizing or variable-frame-rate clips are analysed."""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from confcam.analysis import AnalysisJsonSink, TimelineSink
from confcam.build import build_pipeline
from confcam.cli import main
from confcam.config import PipelineConfig
from confcam.sinks.file import pick_codec
from confcam.sources.file import FileSource
from confcam.types import Frame, Result
from tests.conftest import REPO, video

CLIP = "single_face.mp4"
LONG_CLIP = "WolfgangLanger_Pexels.mp4"


def run_cli(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, list[str]]:
    code = main(args)
    err = capsys.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Hidden temp outputs (.NAME.XXXX.part.EXT) a run left behind."""
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def decoded_frames(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


# --- 4: an output that is an input is refused before any work ------------------------------------------


@pytest.fixture
def own_clip(tmp_path: Path) -> Path:
    """A copy of a shared clip, with a symlink and a hard link to it: the shared file is never at risk."""
    clip = tmp_path / "call.mp4"
    shutil.copyfile(video(CLIP), clip)
    (tmp_path / "link.mp4").symlink_to(clip)
    os.link(clip, tmp_path / "hard.mp4")
    return clip


START_FILE = ["start", "--source", "file", "--input", "{clip}", "--max-frames", "5"]
OVERWRITES = {
    "file sink onto the input": ([*START_FILE, "--sink", "file", "--output", "{clip}"], "--output"),
    "file sink onto a symlink to the input": ([*START_FILE, "--sink", "file", "--output", "{tmp}/link.mp4"], "--output"),
    "file sink onto a hard link to the input": ([*START_FILE, "--sink", "file", "--output", "{tmp}/hard.mp4"], "--output"),
    "events onto the input": ([*START_FILE, "--sink", "events", "--events", "{clip}"], "--events"),
    "analyze json onto the input": (["analyze", "{clip}", "--json", "{clip}"], "--json"),
    "analyze json onto a hard link to the input": (["analyze", "{tmp}/hard.mp4", "--json", "{clip}"], "--json"),
    "bench json onto the clip": (["bench", "{clip}", "--frames", "2", "--json", "{tmp}/link.mp4"], "--json"),
    "video and events onto one file": (
        [*START_FILE, "--sink", "file", "--output", "{tmp}/out.mp4", "--sink", "events", "--events", "{tmp}/out.mp4"],
        "--output and --events",
    ),
}


@pytest.mark.parametrize("args,needle", list(OVERWRITES.values()), ids=list(OVERWRITES))
def test_an_output_that_is_an_input_is_refused_and_the_input_survives(capsys, tmp_path, own_clip, args, needle):
    before = digest(own_clip)
    code, lines = run_cli(capsys, [a.format(clip=own_clip, tmp=tmp_path) for a in args])
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith("confcam: error:") and needle in lines[0], lines
    assert "same file" in lines[0]
    assert digest(own_clip) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["call.mp4", "hard.mp4", "link.mp4"]


# --- 5 and 12: a full disk fails the run loudly, in one line, leaving nothing -----------------------------


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs, filled to the last byte."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        with open(folder / "filler", "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError:
                pass
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


FULL_DISK = {
    "events sink": ([*START_FILE, "--sink", "events", "--events", "{full}/timeline.jsonl"], "timeline.jsonl"),
    "file sink": ([*START_FILE, "--sink", "file", "--output", "{full}/call.mp4"], "call.mp4"),
    "analyze json": (["analyze", "{clip}", "--json", "{full}/analysis.json", "--max-frames", "5"], "analysis.json"),
}


@pytest.mark.parametrize("args,name", list(FULL_DISK.values()), ids=list(FULL_DISK))
def test_a_full_disk_fails_the_run_with_one_line_naming_the_file(capsys, full_disk, args, name):
    clip = video(CLIP)
    code, lines = run_cli(capsys, [a.format(clip=clip, full=full_disk) for a in args])
    errors = [line for line in lines if line.startswith("confcam: error:")]
    assert code == 2
    assert errors == lines[-1:], lines
    assert name in errors[0] and "No space left on device" in errors[0]
    assert not any("Traceback" in line for line in lines)
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]


# --- 12: a FIFO is refused by its type, without blocking on it --------------------------------------------


@pytest.mark.parametrize("name", ["face.jpg", "call.mp4"])
def test_a_fifo_given_as_input_is_refused_without_hanging(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)
    done = subprocess.run(
        [sys.executable, "-m", "confcam", "analyze", str(fifo)],
        capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2
    assert lines == [f"confcam: error: {fifo} is not a regular file (a FIFO, socket or device), not " +
                     ("an image file" if name.endswith(".jpg") else "a video file")]


# --- 7: SIGTERM / SIGHUP end a run like Ctrl+C -----------------------------------------------------------


def confcam(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "confcam", *args],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.5)
        if ready and needle in process.stderr.readline():
            return
        assert process.poll() is None, "confcam ended before the signal was sent"
    pytest.fail(f"confcam never printed {needle!r}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_a_signal_stops_a_live_run_with_every_output_finished(tmp_path, signum):
    out, events = tmp_path / "call.mp4", tmp_path / "call.jsonl"
    args = ["start", "--source", "file", "--input", str(video(CLIP)), "--loop", "--sink", "file", "--output", str(out),
            "--sink", "events", "--events", str(events)]
    process = confcam(args)
    wait_for_line(process, "Ctrl+C to stop")
    time.sleep(1.5)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    frames = decoded_frames(out)
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert len(frames) >= 10 and len(lines) == len(frames)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: signal.Signals(s).name)
def test_an_interrupted_analysis_keeps_a_json_marked_partial(tmp_path, signum):
    out = tmp_path / "analysis.json"
    process = confcam(["analyze", str(video(LONG_CLIP)), "--json", str(out)])
    parts = lambda: [p for p in tmp_path.iterdir() if ".part" in p.name and p.stat().st_size > 4000]  # noqa: E731
    assert wait_until(lambda: bool(parts()) or process.poll() is not None, 60)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    assert "Traceback" not in err and "partial" in err
    doc = json.loads(out.read_text())
    assert doc["complete"] is False
    assert 0 < doc["frames_analysed"] == len(doc["frames"]) < 472
    assert [f["frame"] for f in doc["frames"]] == list(range(doc["frames_analysed"]))
    assert leftovers(tmp_path) == []


# --- 8: a damaged packet costs its frame, not the run ---------------------------------------------------


def test_damaged_frames_in_the_middle_are_skipped_and_counted(capsys, tmp_path):
    damaged = tmp_path / "damaged.mp4"
    shutil.copyfile(video(LONG_CLIP), damaged)
    with open(damaged, "r+b") as file:
        file.seek(damaged.stat().st_size // 8)
        file.write(b"\xff" * 4096)
    out = tmp_path / "damaged.json"
    code, lines = run_cli(capsys, ["analyze", str(damaged), "--json", str(out), "--max-frames", "120"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["complete"] is True and doc["frames_analysed"] == 120
    assert 1 <= doc["frames_skipped"] <= 5
    assert any(f"{doc['frames_skipped']} damaged frames skipped" in line for line in lines)
    times = [f["t"] for f in doc["frames"]]
    assert max(np.diff(times)) > 1.5 / 23.976, "the skipped frames leave a gap in the presentation times"


# --- 9: a stream that changes resolution mid-way ---------------------------------------------------------

FIRST, SECOND = (640, 360), (240, 180)
"""The second part is smaller and of another aspect: unscaled boxes would not even overlap the face."""


@pytest.fixture(scope="module")
def two_sizes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real clip re-encoded at two sizes in one MPEG-TS stream (in-band headers), 20 frames each."""
    path = tmp_path_factory.mktemp("resize") / "two-sizes.ts"
    with FileSource(video(LONG_CLIP)) as source:
        images = [source.read().image for _ in range(40)]
    codec = pick_codec()
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = *FIRST, "yuv420p"
        second = av.CodecContext.create(codec, "w")
        second.width, second.height, second.pix_fmt = *SECOND, "yuv420p"
        second.time_base, second.framerate = Fraction(1, 24), Fraction(24)
        for index, image in enumerate(images):
            encoder = stream.codec_context if index < 20 else second
            if index >= 20:
                image = cv2.resize(image, SECOND, interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, 24)
            if index == 20:
                for packet in stream.codec_context.encode(None):
                    packet.stream = stream
                    out.mux(packet)
            for packet in encoder.encode(frame):
                packet.stream = stream
                out.mux(packet)
        for packet in second.encode(None):
            packet.stream = stream
            out.mux(packet)
    assert {(f.width, f.height) for f in decoded_frames(path)} == {FIRST, SECOND}
    return path


def test_analysis_of_a_resizing_stream_gives_each_frame_its_size_and_keeps_the_track(tmp_path, two_sizes):
    out = tmp_path / "resize.json"
    assert main(["analyze", str(two_sizes), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert (doc["width"], doc["height"]) == FIRST and doc["frames_analysed"] == 40
    assert [tuple(f["size"]) for f in doc["frames"]] == [FIRST] * 20 + [SECOND] * 20
    ids = {face["id"] for f in doc["frames"] for face in f["tracks"]}
    assert ids == {1}, "the track id survived the size change"
    late = [face["box"] for f in doc["frames"][20:] for face in f["tracks"]]
    assert len(late) >= 18
    for x, y, w, h in late:
        assert 0 <= x and x + w <= SECOND[0] + 1 and 0 <= y and y + h <= SECOND[1] + 1


def test_file_sink_letterboxes_frames_of_another_size_instead_of_cropping(tmp_path, two_sizes):
    out = tmp_path / "resize.mp4"
    assert main(["start", "--source", "file", "--input", str(two_sizes), "--sink", "file", "--output", str(out)]) == 0
    pictures = [f.to_ndarray(format="bgr24") for f in decoded_frames(out)]
    # `start` plays a file in real time and skips frames a busy machine cannot keep up with
    assert len(pictures) >= 30 and {p.shape for p in pictures} == {(360, 640, 3)}
    scaled_width = SECOND[0] * 360 // SECOND[1]
    bar = (640 - scaled_width) // 2
    for picture in pictures[-10:]:
        assert picture[:, : bar - 4].max() < 30 and picture[:, -(bar - 4) :].max() < 30, "black bars, not a crop"
        assert picture[:, bar + 4 : -bar - 4].mean() > 40, "the whole picture is shown between them"


# --- 10: per-frame presentation time from the container's pts --------------------------------------------

GAPS_S = [0.0, 0.04, 0.2, 0.033, 0.5, 0.1, 0.04, 0.3, 0.066, 0.04, 0.25, 0.04]


@pytest.fixture(scope="module")
def vfr_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    path = tmp_path_factory.mktemp("vfr") / "vfr.mp4"
    times = list(np.round(np.cumsum(GAPS_S), 3))
    with FileSource(video(CLIP)) as source:
        images = [source.read().image for _ in times]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(pick_codec(), rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        for image, t in zip(images, times):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path, times


def test_analysis_and_events_carry_each_frame_s_presentation_time(tmp_path, vfr_clip):
    path, times = vfr_clip
    out, events = tmp_path / "vfr.json", tmp_path / "vfr.jsonl"
    assert main(["analyze", str(path), "--json", str(out)]) == 0
    assert main(["start", "--source", "file", "--input", str(path), "--sink", "events", "--events", str(events)]) == 0
    analysed = [f["t"] for f in json.loads(out.read_text())["frames"]]
    streamed = [json.loads(line)["t"] for line in events.read_text().splitlines()]
    assert analysed == pytest.approx(times, abs=2e-3)
    assert streamed == pytest.approx(times, abs=2e-3)


# --- 11: long recordings in flat memory ------------------------------------------------------------------


def test_the_analysis_document_streams_in_flat_memory(tmp_path):
    """The summary and the document hold no frame: 4000 frames with a face cost what 500 do."""
    with FileSource(video(CLIP)) as source:
        frames = [source.read() for _ in range(8)]
    pipeline = build_pipeline(PipelineConfig())
    faces = [pipeline.process(frame) for frame in frames][-1]
    assert len(faces) == 1
    image = frames[-1].image
    timeline = TimelineSink()
    out = tmp_path / "long.json"
    header = {"input": "loop", "model": pipeline.model.info.name, "labels": list(pipeline.class_names)}
    sink = AnalysisJsonSink(out, header, timeline, source)
    sinks = [timeline, sink]
    sink.open(640, 360, 30.0)
    tracemalloc.start()
    try:
        for index in range(4000):
            result = Result(Frame(image, index, index / 30), faces, pipeline.class_names, image)
            for each in sinks:
                each.write(result)
            if index == 499:
                early = tracemalloc.get_traced_memory()[0]
        late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    sink.close()
    assert late - early < 64_000, f"memory grew by {late - early} bytes over 3500 frames"
    doc = json.loads(out.read_text())
    assert doc["frames_analysed"] == 4000 and len(doc["frames"]) == 4000 and doc["complete"] is True
    assert doc["tracks"][0]["frames_seen"] == 4000
