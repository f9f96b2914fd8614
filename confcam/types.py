"""The data that flows through the pipeline: a Frame in, Detections grown stage by stage, a Result out.

Every stage takes and returns these types, so a stage can be swapped or tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

UNCERTAIN = "uncertain"

# BlazeFace keypoint order; landmarks arrays follow it.
LANDMARK_NAMES = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True)
class Frame:
    """One captured picture: BGR uint8 HxWx3, its index in the source and its capture time."""

    image: np.ndarray
    index: int
    timestamp: float
    """Seconds since the source opened (media time for files, capture time for live sources)."""
    captured_at: float = 0.0
    """time.perf_counter() when the frame was captured, for latency measurement."""

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def _empty(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


@dataclass
class Detections:
    """All faces of one frame, as parallel arrays (one row per face).

    The detector fills boxes, scores and landmarks; the tracker adds track_ids; the expression
    model adds probs; the smoother adds smoothed, labels and confidences.
    """

    boxes: np.ndarray = field(default_factory=lambda: _empty((0, 4)))
    """(N, 4) float32 x1, y1, x2, y2 in frame pixels."""
    scores: np.ndarray = field(default_factory=lambda: _empty((0,)))
    """(N,) detector confidence in [0, 1]."""
    landmarks: np.ndarray = field(default_factory=lambda: _empty((0, len(LANDMARK_NAMES), 2)))
    """(N, 6, 2) keypoints in frame pixels, in LANDMARK_NAMES order."""
    track_ids: np.ndarray | None = None
    """(N,) int64 stable id per face, set by the tracker."""
    probs: np.ndarray | None = None
    """(N, C) raw model probabilities for the window ending at this frame."""
    smoothed: np.ndarray | None = None
    """(N, C) probabilities after the smoother."""
    labels: list[str] | None = None
    """Shown label per face (a class name or UNCERTAIN)."""
    confidences: np.ndarray | None = None
    """(N,) confidence of the shown label."""

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __getitem__(self, index: np.ndarray | list[int] | slice) -> Detections:
        """Select rows, keeping every field aligned."""
        idx = np.arange(len(self))[index]

        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return Detections(
            boxes=self.boxes[idx],
            scores=self.scores[idx],
            landmarks=self.landmarks[idx],
            track_ids=pick(self.track_ids),
            probs=pick(self.probs),
            smoothed=pick(self.smoothed),
            labels=None if self.labels is None else [self.labels[i] for i in idx],
            confidences=pick(self.confidences),
        )

    def with_fields(self, **changes: object) -> Detections:
        return replace(self, **changes)

    @property
    def xywh(self) -> np.ndarray:
        """(N, 4) x, y, w, h: the box form of the JSON outputs."""
        b = self.boxes
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)

    @staticmethod
    def empty() -> Detections:
        return Detections()


@dataclass
class Result:
    """What the sinks get for one frame: the frame, its faces, and the picture to show."""

    frame: Frame
    faces: Detections
    class_names: tuple[str, ...]
    image: np.ndarray
    """The annotated picture (BGR uint8, same size as the frame) or the frame itself."""
