"""A video file decoded with PyAV: for analysis (as fast as it decodes) or played at its own rate.

The first frame is decoded in open(), so a file that opens but cannot be decoded is reported there,
and size() already reflects the rotation stored in the file (phone clips), which is applied to every
frame. Packets are decoded one by one, so a damaged packet in the middle of a file costs its frame
(counted in skipped_frames), not the rest of the run. Each frame keeps its own size (a stream may
change resolution) and its presentation time from the container's pts (variable frame rates).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from confcam.errors import SourceError
from confcam.fileio import check_input_file
from confcam.plugins import Entry, Option
from confcam.sources.base import Source, SourceContext
from confcam.sources.image import NOMINAL_FPS, STILL_SECONDS, ImageSource, is_image_path
from confcam.types import Frame

DEFAULT_FPS = 30.0
"""Used when a file does not state its frame rate."""


class FileSource(Source):
    """Frames of one video file; pace=True plays it in real time, loop=True starts again at the end."""

    def __init__(self, path: str | Path, pace: bool = False, loop: bool = False) -> None:
        self.path = Path(path)
        self.pace = pace
        self.loop = loop
        self.name = f"file {self.path.name}"
        self._container: av.container.InputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._frames: Iterator[av.VideoFrame] | None = None
        self._pending: av.VideoFrame | None = None
        self._size = (0, 0)
        self._fps = DEFAULT_FPS
        self._frame_count: int | None = None
        self._index = 0
        self._media_start: float | None = None
        self._loop_offset = 0.0
        self._last_timestamp = 0.0
        self._clock_start = 0.0

    def open(self) -> None:
        self._check_path()
        try:
            container = av.open(str(self.path))
        except av.FFmpegError as error:
            raise SourceError(f"{self.path} is not a video file ({_reason(error)})") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.path} has no video stream")
        self._container = container
        self._stream = container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate
        self._fps = float(rate) if rate and float(rate) > 0 else DEFAULT_FPS
        self._frame_count = int(self._stream.frames) or None
        self._frames = self._decode()
        first = self._next_decoded()
        if first is None:
            self.close()
            raise SourceError(f"{self.path} has no decodable video frames")
        self._pending = first
        height, width = _oriented_shape(first)
        self._size = (width, height)
        self._index = 0
        self._loop_offset = 0.0
        self.skipped_frames = 0

    def read(self) -> Frame | None:
        if self._frames is None:
            return None
        decoded = self._pending if self._pending is not None else self._next_decoded()
        self._pending = None
        if decoded is None and self.loop and self._index > 0:
            decoded = self._restart()
        if decoded is None:
            return None
        timestamp = self._timestamp(decoded)
        if self._index == 0:
            self._clock_start = time.perf_counter() - timestamp
        if self.pace:
            delay = self._clock_start + timestamp - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        image = _to_bgr(decoded)
        frame = Frame(image=image, index=self._index, timestamp=timestamp, captured_at=time.perf_counter())
        self._index += 1
        self._last_timestamp = timestamp
        return frame

    def close(self) -> None:
        self._frames = None
        self._pending = None
        if self._container is not None:
            self._container.close()
            self._container = None

    @property
    def frame_count(self) -> int | None:
        """Frames in one pass of the file, when the container states it."""
        return self._frame_count

    @property
    def is_live(self) -> bool:
        return self.pace

    def _check_path(self) -> None:
        check_input_file(self.path, "a video file")

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Frames packet by packet: a packet the decoder rejects as damaged is counted and skipped."""
        assert self._container is not None and self._stream is not None
        for packet in self._container.demux(self._stream):
            try:
                frames = packet.decode()
            except av.InvalidDataError:
                self.skipped_frames += 1
                continue
            yield from frames

    def _next_decoded(self) -> av.VideoFrame | None:
        assert self._frames is not None
        try:
            return next(self._frames)
        except StopIteration:
            return None
        except av.FFmpegError as error:
            raise SourceError(f"{self.path} cannot be decoded at frame {self._index} ({_reason(error)})") from None

    def _restart(self) -> av.VideoFrame | None:
        """Seek back to the start; timestamps carry on from where the previous pass ended."""
        assert self._container is not None
        self._loop_offset = self._last_timestamp + 1.0 / self._fps
        self._media_start = None
        try:
            self._container.seek(0)
        except av.FFmpegError as error:
            raise SourceError(f"{self.path} cannot be looped ({_reason(error)})") from None
        self._frames = self._decode()
        return self._next_decoded()

    def _timestamp(self, decoded: av.VideoFrame) -> float:
        """Media time from the first frame of the current pass, plus the length of earlier passes."""
        media_time = decoded.time
        if media_time is None:
            return self._index / self._fps
        if self._media_start is None:
            self._media_start = media_time
        return self._loop_offset + max(0.0, media_time - self._media_start)


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return str(text).splitlines()[0] if text else type(error).__name__


def _oriented_shape(decoded: av.VideoFrame) -> tuple[int, int]:
    if _quarter_turns(decoded) % 2:
        return decoded.width, decoded.height
    return decoded.height, decoded.width


def _quarter_turns(decoded: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that show the frame upright (from the file's display matrix)."""
    rotation = getattr(decoded, "rotation", 0) or 0
    return int(round(rotation / 90.0)) % 4


def _to_bgr(decoded: av.VideoFrame) -> np.ndarray:
    image: np.ndarray = decoded.to_ndarray(format="bgr24")
    turns = _quarter_turns(decoded)
    if turns:
        image = np.ascontiguousarray(np.rot90(image, k=turns))
    return image


def _file(context: SourceContext, input: Path, loop: bool) -> Source:
    """A video, or a photo shown as a still clip at least as long as the model's window."""
    if is_image_path(input):
        return ImageSource(input, repeat=max(context.window, round(STILL_SECONDS * NOMINAL_FPS)))
    return FileSource(input, pace=context.pace, loop=loop)


LOOP = Option(
    "loop", bool, "File/sample source: start again at the end.", flags=("--loop/--no-loop",), default=False
)
"""Shared with the sample source: one flag for both."""

ENTRY = Entry(
    "file",
    "A recording (a video) or a photo.",
    _file,
    (
        Option("input", Path, "File source: video to play.", flags=("--input", "-i"), required="--input PATH",
               reads_file=True),
        LOOP,
    ),
)
