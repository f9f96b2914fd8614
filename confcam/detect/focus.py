"""FocusedDetector: every face of a call's gallery view, small ones included, within a live frame budget.

A letterboxed whole-frame pass cannot see a face that is 5 % of a 1080p gallery: it shrinks to a few
pixels of the 128x128 input. Running a net on tiles of every frame finds them but costs 10x. Faces
move little between frames, so this detector spends its work where faces are:

- the short-range net on the whole frame (close-ups and medium faces), batched with
- a close look at small faces found on earlier frames (a square around each, so it fills a good
  share of the net's input); with many faces, a few per frame in turn, the others keeping their
  last box for a frame or two (faces in a call barely move in 70 ms), and
- a sweep of overlapping tiles by the full-range net, a few tiles per frame in turn, so a new small
  face is found within one round of the sweep and the cost stays flat (no frame pays for the whole
  sweep, which would show up as latency spikes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from confcam.detect.base import CandidateDetector, FaceDetector
from confcam.detect.blazeface import RawFaces, WeightedNms, nesting, tile_origins
from confcam.geometry import iou_matrix
from confcam.types import Detections

Region = tuple[int, int, int, int]


@dataclass(frozen=True)
class FocusConfig:
    small_face: float = 0.25
    """Faces narrower than this share of the frame's longer side get a close look next frame."""
    context: float = 2.5
    """Side of the close-look square, in face-box sides: room for the face to move between frames."""
    sweep_grid: tuple[int, int] = (3, 3)
    """Columns and rows of the tiles the far-range net sweeps for new small faces."""
    sweep_overlap: float = 0.25
    """Share by which neighbouring sweep tiles overlap, so a face on a seam is whole in one of them."""
    sweep_tiles_per_frame: int = 1
    """Sweep tiles looked at per frame: a new small face is found within one round of the sweep."""
    sweep_every: int = 2
    """Sweep on every n-th call only: a round of 9 tiles then takes 18 searches (1.2 s at the default
    detection interval, 30 FPS), and a close-up call pays half the far-range net's cost."""
    close_looks_per_frame: int = 3
    """At most this many close looks per frame; the rest wait their turn, keeping their last box."""
    max_carry: int = 2
    """Frames a small face may keep its last box without a fresh look."""


class FocusedDetector(FaceDetector):
    _previous: Detections
    """Last frame's faces (set by reset())."""
    _age: np.ndarray
    """Per face of _previous: frames since its box was last looked at."""
    _next_tile: int
    _calls: int
    """The sweep's next tile."""

    def __init__(
        self,
        near: CandidateDetector,
        far: CandidateDetector,
        config: FocusConfig = FocusConfig(),
        iou_threshold: float = 0.3,
    ) -> None:
        self.near = near
        self.far = far
        self.config = config
        self.nms = WeightedNms(iou_threshold)
        self.reset()

    def detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        looked, waiting = self._turns(width, height)
        regions = [(0, 0, width, height), *(self._square(box, width, height) for box in self._previous.boxes[looked])]
        found = RawFaces.concat(
            [self.near.candidates(image, regions), self.far.candidates(image, self._sweep_step(width, height))]
        )
        fresh = self.nms(found).to_detections(width, height)
        carried = self._previous[waiting]
        if len(fresh) and len(carried):
            carried = carried[~_overlaps_any(carried.boxes, fresh.boxes)]
        faces = Detections.merge([fresh, carried])
        self._age = np.concatenate([np.zeros(len(fresh), np.int64), self._age[waiting][: len(carried)] + 1])
        self._previous = faces
        return faces

    def _turns(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Which of last frame's small faces get a close look now (oldest look first) and which wait."""
        boxes = self._previous.boxes
        sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        small = np.flatnonzero(sides < self.config.small_face * max(width, height))
        by_age = small[np.argsort(-self._age[small], kind="stable")]
        looked = by_age[: self.config.close_looks_per_frame]
        waiting = by_age[self.config.close_looks_per_frame :]
        return looked, waiting[self._age[waiting] < self.config.max_carry]

    def close_looks_planned(self, width: int, height: int) -> int:
        """How many small faces are due a close look (0 for a fresh detector)."""
        looked, waiting = self._turns(width, height)
        return len(looked) + len(waiting)

    def _square(self, box: np.ndarray, width: int, height: int) -> Region:
        """The close-look square around a face, clipped to the frame."""
        half = max(box[2] - box[0], box[3] - box[1]) * self.config.context / 2
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
        x2, y2 = int(min(width, cx + half)), int(min(height, cy + half))
        return x1, y1, max(8, x2 - x1), max(8, y2 - y1)

    def _sweep_step(self, width: int, height: int) -> list[Region]:
        self._calls += 1
        if (self._calls - 1) % max(1, self.config.sweep_every):
            return []
        tiles = tile_origins(width, height, self.config.sweep_grid, self.config.sweep_overlap)
        count = min(self.config.sweep_tiles_per_frame, len(tiles))
        step = [tiles[(self._next_tile + i) % len(tiles)] for i in range(count)]
        self._next_tile = (self._next_tile + count) % len(tiles)
        return step

    def reset(self) -> None:
        self._previous = Detections()
        self._age = np.zeros(0, np.int64)
        self._next_tile = 0
        self._calls = 0


def _overlaps_any(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Per box: is it the same face as one of `others` (IoU > 0.3, or one nested in the other)?"""
    same = iou_matrix(boxes, others) > 0.3
    for index, other in enumerate(others):
        same[:, index] |= nesting(boxes, other) > 0.7
    # Numpy's stubs cannot tell that axis=1 of a 2-D array leaves an array.
    return cast(np.ndarray, same.any(axis=1))
