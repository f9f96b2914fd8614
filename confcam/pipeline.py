"""The per-frame analysis: detect -> track -> crop -> classify -> smooth, timed stage by stage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from confcam.classify.base import Cropper, ExpressionClassifier, Smoother
from confcam.detect.base import FaceDetector
from confcam.track.base import Tracker
from confcam.types import Detections, Frame


@dataclass
class StageTimes:
    """Milliseconds spent in each stage on the last frame; the benchmark reads these."""

    ms: dict[str, float] = field(default_factory=dict)

    def start(self) -> float:
        return time.perf_counter()

    def stop(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        self.ms[stage] = (now - started) * 1000.0
        return now


class FacePipeline:
    """Turns one Frame into fully annotated Detections (ids, probabilities, shown labels)."""

    def __init__(
        self,
        detector: FaceDetector,
        tracker: Tracker,
        cropper: Cropper,
        model: ExpressionClassifier,
        smoother: Smoother,
        detect_interval_s: float = 0.0,
        classify_interval_s: float = 0.0,
    ) -> None:
        """detect_interval_s: look for faces at most this often (in the frames' own time); frames in
        between reuse the last faces found, which the tracker carries. Faces in a call barely move in
        60 ms, and at 30 FPS this halves the detector's share of a core; at 15 FPS or less every frame
        is still searched.

        classify_interval_s: read each face's expression at most this often; in between the face keeps
        its last reading (its crops still join its window every frame). The smoother averages over half a
        second or more, so 10 readings a second lose nothing a person could see, and a 49-face gallery
        at 30 FPS costs a third of the classifier."""
        self.detector = detector
        self.detect_interval_s = detect_interval_s
        self.classify_interval_s = classify_interval_s
        self._readings: dict[int, tuple[float, np.ndarray]] = {}
        """Each face's last reading: when (frame time) and the model's probabilities."""
        self._found = Detections()
        self._found_at: float | None = None
        self.tracker = tracker
        self.cropper = cropper
        self.model = model
        self.smoother = smoother
        self.times = StageTimes()
        self._size: tuple[int, int] | None = None

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.info.labels

    def process(self, frame: Frame) -> Detections:
        """Frames are handled at their own size; when it changes, tracks are rescaled and keep their ids."""
        self._follow_size(frame.width, frame.height)
        t0 = self.times.start()
        found = self._detect(frame)
        t1 = self.times.stop("detect", t0)
        tracked = self.tracker.update(found)
        self.smoother.forget(tracked.ended)
        for track_id in tracked.ended:
            self._readings.pop(track_id, None)
        faces = tracked.faces
        t2 = self.times.stop("track", t1)
        if len(faces) == 0:
            self.times.ms["classify"] = 0.0
            return faces
        ids = faces.track_ids
        assert ids is not None, "the tracker sets track_ids on every face it returns"
        windowed = self.tracker.add_crops(faces, self.cropper.crop(frame.image, faces))
        probs = self._read(ids, np.asarray(windowed.data["window"], dtype=np.float32), frame.timestamp)
        smoothed, labels, confidences = self.smoother.update(ids, probs, frame.timestamp)
        ages = self.smoother.label_ages(ids, frame.timestamp)
        self.times.stop("classify", t2)
        # The crop windows stop here: what goes on to drawing and sinks never holds a face crop.
        return faces.with_fields(probs=probs, smoothed=smoothed, labels=labels, confidences=confidences,
                                 data={**faces.data, "label_age": ages})

    def _read(self, ids: np.ndarray, windows: np.ndarray, t: float) -> np.ndarray:
        """The faces' probabilities: fresh for the faces due a reading (in one batch), the last ones for
        the others."""
        due = [self._reading_due(int(i), t) for i in ids]
        probs = np.zeros((len(ids), len(self.class_names)), np.float32)
        if any(due):
            rows = np.flatnonzero(due)
            probs[rows] = self.model.predict(windows[rows])
            for row in rows:
                track_id = int(ids[row])
                # A new face's reading is dated back by a share of the interval set by its id, so faces
                # that appear together (a gallery) fall due on different frames instead of all at once.
                stagger = 0.0 if track_id in self._readings else (track_id * 0.618) % 1.0 * self.classify_interval_s
                self._readings[track_id] = (t - stagger, probs[row].copy())
        for row in np.flatnonzero(np.logical_not(due)):
            probs[row] = self._readings[int(ids[row])][1]
        return probs

    def _reading_due(self, track_id: int, t: float) -> bool:
        reading = self._readings.get(track_id)
        return _due(None if reading is None else reading[0], t, self.classify_interval_s)

    def _detect(self, frame: Frame) -> Detections:
        if _due(self._found_at, frame.timestamp, self.detect_interval_s):
            self._found, self._found_at = self.detector.detect(frame.image), frame.timestamp
        return self._found

    def _follow_size(self, width: int, height: int) -> None:
        previous, self._size = self._size, (width, height)
        if previous is None or previous == self._size:
            return
        self.tracker.rescale(width / previous[0], height / previous[1])
        self.detector.reset()
        self._found_at = None

    def reset(self) -> None:
        """Forget every face (e.g. when a looping clip restarts or a source changes)."""
        self.detector.reset()
        self._found_at = None
        self._readings.clear()
        self.tracker.reset()
        self.smoother.reset()


def _due(last: float | None, t: float, interval: float) -> bool:
    """Whether work last done at frame time `last` is due again at `t`: never done, `interval` seconds
    (less a rounding hair, so 10 FPS frames meet a 0.1 s interval) have passed, or time went back."""
    return last is None or not 0 <= t - last < interval - 1e-6
