"""The data that flows through the pipeline: a Frame in, Detections grown stage by stage, a Result out.

Every stage takes and returns these types, so a stage can be swapped or tested on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

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


PerFace = np.ndarray | list[Any]
"""A per-face column: an array whose first axis is the face, or a list with one item per face."""
OPTIONAL_FIELDS = ("track_ids", "probs", "smoothed", "labels", "confidences")


@dataclass(eq=False)
class Detections:
    """All faces of one frame, as parallel columns (one row per face), checked on construction.

    The detector fills boxes, scores and landmarks; the tracker adds track_ids; the expression
    model adds probs; the smoother adds smoothed, labels and confidences. Any stage may carry more
    per-face columns in `data` (e.g. a crop window); every operation here keeps them row-aligned.
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
    data: dict[str, PerFace] = field(default_factory=dict)
    """Further per-face columns, by name."""

    def __post_init__(self) -> None:
        n = len(self.boxes)
        shapes = (("boxes", self.boxes, (4,)), ("scores", self.scores, ()), ("landmarks", self.landmarks,
                  (len(LANDMARK_NAMES), 2)))
        for name, column, tail in shapes:
            if not isinstance(column, np.ndarray) or column.shape != (n, *tail):
                got = getattr(column, "shape", type(column).__name__)
                raise ValueError(f"Detections.{name} must be an array of shape {(n, *tail)}, got {got}")
        columns = {name: getattr(self, name) for name in OPTIONAL_FIELDS} | self.data
        for name, column in columns.items():
            if column is not None and len(column) != n:
                raise ValueError(f"Detections.{name} has {len(column)} rows for {n} faces")

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def columns(self) -> dict[str, PerFace | None]:
        """Every per-face column by name, the fixed ones and those in `data`."""
        fixed = {name: getattr(self, name) for name in ("boxes", "scores", "landmarks", *OPTIONAL_FIELDS)}
        return fixed | {f"data.{k}": v for k, v in self.data.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        mine, theirs = self.columns(), other.columns()
        return mine.keys() == theirs.keys() and all(_same(mine[k], theirs[k]) for k in mine)

    def __getitem__(self, index: int | np.ndarray | list[int] | slice) -> Detections:
        """Select rows, keeping every column aligned; an integer gives a one-face Detections."""
        rows = np.arange(len(self))[index]
        idx = np.atleast_1d(rows)

        def pick(column: PerFace) -> PerFace:
            return [column[i] for i in idx] if isinstance(column, list) else column[idx]

        # Any: each optional field has a type of its own (see above).
        optional: dict[str, Any] = {n: None if (c := getattr(self, n)) is None else pick(c) for n in OPTIONAL_FIELDS}
        return Detections(
            boxes=self.boxes[idx],
            scores=self.scores[idx],
            landmarks=self.landmarks[idx],
            **optional,
            data={k: pick(v) for k, v in self.data.items()},
        )

    def with_fields(self, **changes: Any) -> Detections:
        return replace(self, **changes)

    def with_data(self, **columns: PerFace) -> Detections:
        """A copy with these extra per-face columns added (or replaced)."""
        return replace(self, data={**self.data, **columns})

    @staticmethod
    def merge(parts: list[Detections]) -> Detections:
        """The faces of several Detections as one, in order. A column must be set in every part or in
        none (else it would silently go missing for some faces)."""
        parts = [p for p in parts if len(p)] or parts[:1]
        if not parts:
            return Detections()
        names = [set(k for k, v in p.columns().items() if v is not None) for p in parts]
        if any(n != names[0] for n in names):
            raise ValueError(f"cannot merge Detections with different columns: {sorted(set.union(*names) - names[0].intersection(*names))}")

        def join(columns: list[PerFace]) -> PerFace:
            if isinstance(columns[0], list):
                return [item for column in columns for item in column]
            return np.concatenate(columns)

        # Any: each optional field has a type of its own (see above).
        optional: dict[str, Any] = {
            n: None if getattr(parts[0], n) is None else join([getattr(p, n) for p in parts]) for n in OPTIONAL_FIELDS
        }
        return Detections(
            boxes=np.concatenate([p.boxes for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            landmarks=np.concatenate([p.landmarks for p in parts]),
            **optional,
            data={k: join([p.data[k] for p in parts]) for k in parts[0].data},
        )

    @property
    def xywh(self) -> np.ndarray:
        """(N, 4) x, y, w, h: the box form of the JSON outputs."""
        b = self.boxes
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)

    @staticmethod
    def empty() -> Detections:
        return Detections()


def _same(a: PerFace | None, b: PerFace | None) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, list) or isinstance(b, list):
        return list(a) == list(b)
    return a.shape == b.shape and bool(np.array_equal(a, b))


@dataclass
class Result:
    """What the sinks get for one frame: the frame, its faces, and the picture to show."""

    frame: Frame
    faces: Detections
    class_names: tuple[str, ...]
    image: np.ndarray
    """The annotated picture (BGR uint8, same size as the frame) or the frame itself."""
