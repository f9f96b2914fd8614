"""HindsightSink: offline analysis's labels, decided with the seconds that follow each frame.

It sits between the runner and the real sinks of `confcam analyze`: it holds each frame until its faces'
labels are decided by a HindsightDecoder (confcam.classify.hindsight), then draws the annotators with those labels (when a sink shows
pictures) and hands the frame on. The live paths never use it: a live label cannot wait.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Protocol

import numpy as np

from confcam.render.base import Annotator
from confcam.sinks.base import Sink
from confcam.types import Frame, Result


class Decision(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def index(self) -> int:
        """Index into the class names, or -1 for uncertain."""
        ...

    @property
    def age_s(self) -> float: ...


class LabelDecoder(Protocol):
    """What the sink needs of confcam.classify.hindsight.HindsightDecoder: per face, readings in and
    decisions out in the same order, once lag_s later seconds are in (it forgets a face with nothing left
    to decide)."""

    lag_s: float
    first_step_s: float

    def push(self, track_id: int, probs: np.ndarray, t: float) -> None: ...

    def decide_next(self, track_id: int) -> Decision: ...


class HindsightSink(Sink):
    """Delays results by the decoder's lag and relabels them; the sinks it feeds see every frame, in order.

    A picture is only held while waiting when a fed sink needs pictures (e.g. --output: 2 s of frames);
    otherwise a frame waits as numbers only."""

    name = "hindsight"
    needs_image = False
    """The runner need not draw: this sink draws itself, once a frame's labels are decided."""

    def __init__(self, decoder: LabelDecoder, sinks: Sequence[Sink], annotators: Sequence[Annotator] = ()) -> None:
        self.decoder = decoder
        self.sinks = list(sinks)
        self.annotators = list(annotators)
        self._pictures = any(s.needs_image for s in self.sinks)
        self._waiting: deque[Result] = deque()

    @property
    def stop_requested(self) -> bool:  # type: ignore[override]
        return any(s.stop_requested for s in self.sinks)

    def open(self, width: int, height: int, fps: float) -> None:
        if fps > 0:
            self.decoder.first_step_s = 1.0 / fps
        for sink in self.sinks:
            sink.open(width, height, fps)

    def write(self, result: Result) -> None:
        faces = result.faces
        t = result.frame.timestamp
        if len(faces) and faces.track_ids is not None and faces.probs is not None:
            for track_id, probs in zip(faces.track_ids.tolist(), faces.probs):
                self.decoder.push(int(track_id), probs, t)
        self._waiting.append(result if self._pictures else _without_picture(result))
        while self._waiting and t - self._waiting[0].frame.timestamp >= self.decoder.lag_s:
            self._hand_on(self._waiting.popleft())

    def close(self, success: bool = True) -> None:
        self._finish(None if success else SinkFailed, None, None)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._finish(exc_type, exc, tb)

    def _finish(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        """A run that ended, or that was stopped (Ctrl+C, SIGTERM), hands on what it still holds; then every
        fed sink ends as it would have without this one (a stopped run's JSON is marked partial, a failed
        run's outputs are discarded), each even if another fails."""
        stack = ExitStack()
        for sink in reversed(self.sinks):
            stack.push(sink)
        try:
            if exc_type is None or issubclass(exc_type, KeyboardInterrupt):
                while self._waiting:
                    self._hand_on(self._waiting.popleft())
        except BaseException as error:
            self._waiting.clear()
            stack.__exit__(type(error), error, error.__traceback__)
            raise
        stack.__exit__(exc_type, exc, tb)

    def _hand_on(self, result: Result) -> None:
        """Decide the frame's faces (each face's oldest pending frame is this one), draw, pass on. The runner
        holds a stop until write() returns, so a frame is never half handed on."""
        faces = result.faces
        if len(faces) and faces.track_ids is not None and faces.probs is not None:
            ids = [int(i) for i in faces.track_ids.tolist()]
            decisions = [self.decoder.decide_next(i) for i in ids]
            probs = np.asarray(faces.probs)
            confidences = np.array([probs[row].max() if d.index < 0 else probs[row, d.index]
                                    for row, d in enumerate(decisions)], dtype=np.float32)
            faces = faces.with_fields(labels=[d.label for d in decisions], confidences=confidences,
                                      data={**faces.data, "label_age": np.array([d.age_s for d in decisions], np.float32)})
        image = result.image
        if self._pictures and self.annotators:
            image = result.frame.image.copy()
            for annotator in self.annotators:
                image = annotator.annotate(image, faces, result.class_names)
        decided = Result(frame=result.frame, faces=faces, class_names=result.class_names, image=image)
        for sink in self.sinks:
            sink.write(decided)


class SinkFailed(Exception):
    """Stands for the error of a run that failed elsewhere, when close(success=False) tells the fed sinks."""


def _without_picture(result: Result) -> Result:
    """The result with a stand-in picture of the same size that holds no memory (a read-only view of one
    black pixel), for sinks that only read the numbers."""
    frame = result.frame
    blank = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), frame.image.shape)
    stand_in = Frame(image=blank, index=frame.index, timestamp=frame.timestamp, captured_at=frame.captured_at)
    return Result(frame=stand_in, faces=result.faces, class_names=result.class_names, image=blank)
