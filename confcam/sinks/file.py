"""--sink file: the annotated video as an mp4 the user asked for."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, cast

import av
import numpy as np

from confcam.errors import SinkError
from confcam.fileio import AtomicOutput, os_reason
from confcam.imaging import letterbox
from confcam.sinks.base import Sink
from confcam.plugins import Entry, Option
from confcam.types import Result

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
TIME_BASE = Fraction(1, 90_000)


def pick_codec() -> str:
    """H.264 where this PyAV build has it, else MPEG-4 part 2 which every build can write."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


class FileSink(Sink):
    """Encodes results to a video file, timed by each frame's timestamp.

    Frames are timed by their own timestamps, so a live capture that dropped frames still plays
    back at the real speed. yuv420p needs even sides, so an odd last row/column of a frame of the
    opening size is cropped; a frame of another size (the stream changed resolution) is scaled to fit,
    letterboxed, never cropped. A file that cannot be written (a full disk) fails the run with the reason.
    """

    name = "file"

    def __init__(self, path: str | Path, codec: str | None = None, audio_from: Path | None = None) -> None:
        self.path = Path(path)
        self.codec = codec or pick_codec()
        self.audio = AudioCopy(audio_from) if audio_from is not None else None
        """A recording's own sound, copied unchanged beside the labelled picture (analyze --output)."""
        self._output: AtomicOutput | None = None
        self._container: av.container.OutputContainer | None = None
        self._handle: BinaryIO | None = None
        """The file PyAV writes through: closed here even when a write failed (PyAV then keeps its own fd open)."""
        self._stream: av.video.stream.VideoStream | None = None
        self._size = (0, 0)
        self._opened_size = (0, 0)
        self._first_time: float | None = None
        self._last_pts = -1

    def open(self, width: int, height: int, fps: float) -> None:
        container_format = CONTAINERS.get(self.path.suffix.lower())
        if container_format is None:
            raise SinkError(f"cannot write video {self.path}: use one of {', '.join(CONTAINERS)}")
        even_w, even_h = width - width % 2, height - height % 2
        if even_w < 2 or even_h < 2:
            raise SinkError(f"cannot write video {self.path}: frames of {width}x{height} are too small")
        self._output = AtomicOutput(self.path, self.path.suffix)
        rate = Fraction(fps if fps > 0 else 30).limit_denominator(1001)
        try:
            self._handle = open(self._output.temp, "wb")
            self._container = av.open(self._handle, mode="w", format=container_format)
            # PyAV's stubs know the stream kind only for a literal codec name; self.codec is a video codec.
            stream = cast(av.video.stream.VideoStream, self._container.add_stream(self.codec, rate=rate))
            stream.width, stream.height, stream.pix_fmt = even_w, even_h, "yuv420p"
            stream.time_base = TIME_BASE
            stream.codec_context.time_base = TIME_BASE
            if self.codec == "libx264":
                stream.options = {"preset": "veryfast", "crf": "21"}
            else:
                stream.bit_rate = 4_000_000
            self._stream = stream
            if self.audio is not None:
                self.audio.add_to(self._container)
        except (av.FFmpegError, ValueError, OSError) as error:
            self._abort()
            raise SinkError(f"cannot write video {self.path}: {os_reason(error)}") from None
        self._size = (even_w, even_h)
        self._opened_size = (width, height)

    def write(self, result: Result) -> None:
        if self._container is None or self._stream is None:
            raise SinkError("file sink written before open()")
        frame = av.VideoFrame.from_ndarray(self._fitted(result.image), format="bgr24")
        frame.pts = self._next_pts(result.frame.timestamp)
        frame.time_base = TIME_BASE
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as error:
            raise SinkError(f"cannot write video {self.path}: {os_reason(error)}") from None

    def _fitted(self, image: np.ndarray) -> np.ndarray:
        width, height = self._size
        if (image.shape[1], image.shape[0]) == self._opened_size:
            return np.ascontiguousarray(image[:height, :width])
        return letterbox(image, self._size)

    def _next_pts(self, timestamp: float) -> int:
        """pts from the frame's timestamp, nudged forward so it always increases."""
        if self._first_time is None:
            self._first_time = timestamp
        pts = int(round((timestamp - self._first_time) / TIME_BASE))
        pts = max(pts, self._last_pts + 1) if self._last_pts >= 0 else max(pts, 0)
        self._last_pts = pts
        return pts

    def close(self, success: bool = True) -> None:
        if self._output is None:
            return
        if not success:
            self._abort()
            return
        try:
            if self._stream is not None and self._container is not None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
                if self.audio is not None:
                    self.audio.copy_into(self._container, until_s=self._last_pts * float(TIME_BASE))
                self._container.close()
            if self._handle is not None:
                self._handle.close()
        except (av.FFmpegError, OSError) as error:
            self._abort()
            raise SinkError(f"cannot write video {self.path}: {os_reason(error)}") from None
        except BaseException:
            self._abort()
            raise
        self._container = None
        self._handle = None
        output, self._output = self._output, None
        output.commit()

    def _abort(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except (av.FFmpegError, OSError):
                pass
            self._container = None
        if self._handle is not None:
            try:
                self._handle.close()
            except OSError:
                pass
            self._handle = None
        if self._output is not None:
            self._output.discard()
            self._output = None


class AudioCopy:
    """The first audio stream of a recording, copied packet for packet (no re-encoding) into an output
    container, up to the time the picture reaches; a recording without sound adds nothing."""

    def __init__(self, source: Path) -> None:
        self.source = Path(source)
        self._stream: av.audio.stream.AudioStream | None = None

    def add_to(self, container: av.container.OutputContainer) -> None:
        with av.open(str(self.source)) as recording:
            if recording.streams.audio:
                self._stream = container.add_stream_from_template(recording.streams.audio[0])

    def copy_into(self, container: av.container.OutputContainer, until_s: float) -> None:
        if self._stream is None:
            return
        with av.open(str(self.source)) as recording:
            audio = recording.streams.audio[0]
            start = audio.start_time or 0
            for packet in recording.demux(audio):
                if packet.dts is None or packet.pts is None:
                    continue
                # PyAV's stubs make time_base optional; a stream demuxed from a file always has one.
                if (packet.pts - start) * float(cast(Fraction, audio.time_base)) > until_s:
                    break
                packet.stream = self._stream
                container.mux(packet)


ENTRY = Entry(
    "file",
    "The labelled video as an .mp4 (.mov, .mkv), finished when the run ends.",
    lambda output: FileSink(output),
    (Option("output", Path, "File sink: mp4 to write.", ("--output", "-o"), required="--output PATH.mp4", writes_file=True),),
)
