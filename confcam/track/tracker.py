"""FaceTracker: stable ids across frames, and each face's own window of its last t crops.

The distance between tracks and detections is a parameter (as in norfair), so a caller can trade
IoU for centre distance without touching the matching logic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np

from confcam.geometry import iou_matrix
from confcam.types import Detections

DistanceFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(T, 4) track boxes, (D, 4) detection boxes (x1, y1, x2, y2) -> (T, D) distances; lower is closer."""


def iou_distance(track_boxes: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
    """1 - IoU: 0 for identical boxes, 1 for disjoint ones."""
    return 1.0 - iou_matrix(track_boxes, det_boxes)


def centre_distance(track_boxes: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
    """Centre distance in units of the track's face size: robust to fast motion and tiny faces."""
    ca = (track_boxes[:, None, :2] + track_boxes[:, None, 2:]) / 2
    cb = (det_boxes[None, :, :2] + det_boxes[None, :, 2:]) / 2
    size = np.maximum(track_boxes[:, None, 2:] - track_boxes[:, None, :2], 1.0).mean(axis=-1)
    # Numpy's stubs type arithmetic on an unparameterised ndarray as Any.
    return cast(np.ndarray, np.linalg.norm(ca - cb, axis=-1) / size)


@dataclass(frozen=True)
class TrackerConfig:
    window: int = 5
    """t: how many crops each face keeps."""
    max_distance: float = 0.8
    """Pairs farther apart than this never match (with iou_distance: IoU below 0.2)."""
    min_hits: int = 2
    """A new face gets an id only after this many consecutive detections (no ids for flukes)."""
    max_missed: int = 10
    """Frames a face may go undetected before its track, and its crops, are forgotten."""
    loyalty: float = 0.1
    """Distance discount for a well-established track (full after 10 hits): when two tracks claim one
    face about equally, the one that has followed it longer keeps it, so ids do not swap."""


@dataclass(frozen=True)
class TrackUpdate:
    """One frame's tracking, passed on instead of kept in the tracker: the confirmed faces with their
    ids, and the ids of tracks that ended on this frame (so the smoother can forget them)."""

    faces: Detections
    ended: tuple[int, ...] = ()


@dataclass
class Track:
    """One face over time. Its crops live only as long as the track."""

    box: np.ndarray
    window: deque[np.ndarray]
    track_id: int = 0
    """0 while tentative; the shown id is handed out on confirmation, so ids count people, not flukes."""
    hits: int = 1
    missed: int = 0

    @property
    def confirmed(self) -> bool:
        return self.track_id > 0


def greedy_match(distances: np.ndarray, max_distance: float) -> list[tuple[int, int]]:
    """Pairs (track, detection) by increasing distance; with a handful of faces this equals Hungarian."""
    pairs: list[tuple[int, int]] = []
    if distances.size == 0:
        return pairs
    order = np.argsort(distances, axis=None)
    used_t: set[int] = set()
    used_d: set[int] = set()
    for flat in order:
        t, d = divmod(int(flat), distances.shape[1])
        if distances[t, d] > max_distance:
            break
        if t in used_t or d in used_d:
            continue
        used_t.add(t)
        used_d.add(d)
        pairs.append((t, d))
    return pairs


class FaceTracker:
    """Assigns stable ids to detections and keeps each face's FIFO of crops."""

    def __init__(self, config: TrackerConfig = TrackerConfig(), distance: DistanceFn = iou_distance) -> None:
        self.config = config
        self._distance = distance
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return [t for t in self._tracks if t.confirmed]

    def update(self, detections: Detections) -> TrackUpdate:
        """Match this frame's faces to tracks: the confirmed, matched faces with track_ids set, and the ids
        of the tracks that ended (their crops already dropped)."""
        boxes = detections.boxes
        track_boxes = np.array([t.box for t in self._tracks], dtype=np.float32).reshape(-1, 4)
        distances = self._distance(track_boxes, boxes)
        standing = np.array([min(t.hits, 10) / 10 for t in self._tracks], dtype=np.float32).reshape(-1, 1)
        pairs = greedy_match(distances - self.config.loyalty * standing, self.config.max_distance)
        matched_tracks = {t for t, _ in pairs}
        matched_dets = {d for _, d in pairs}

        ids = np.zeros(len(detections), dtype=np.int64)
        for t_index, d_index in pairs:
            track = self._tracks[t_index]
            track.box = boxes[d_index].copy()
            track.hits += 1
            track.missed = 0
            self._confirm_if_ready(track)
            ids[d_index] = track.track_id

        ended: list[int] = []
        survivors: list[Track] = []
        for t_index, track in enumerate(self._tracks):
            if t_index not in matched_tracks:
                track.missed += 1
            if track.missed > self.config.max_missed or (not track.confirmed and track.missed > 0):
                if track.confirmed:
                    ended.append(track.track_id)
                track.window.clear()
                continue
            survivors.append(track)

        for d_index in range(len(detections)):
            if d_index in matched_dets:
                continue
            track = Track(boxes[d_index].copy(), deque(maxlen=self.config.window))
            self._confirm_if_ready(track)
            survivors.append(track)
            ids[d_index] = track.track_id
        self._tracks = survivors

        keep = np.flatnonzero(ids > 0)
        return TrackUpdate(detections[keep].with_fields(track_ids=ids[keep]), tuple(ended))

    def _confirm_if_ready(self, track: Track) -> None:
        if not track.confirmed and track.hits >= self.config.min_hits:
            track.track_id = self._next_id
            self._next_id += 1

    def add_crops(self, faces: Detections, crops: np.ndarray) -> Detections:
        """Appends each face's crop to its track's window and returns the faces with their windows, (N, t,
        H, W) in data["window"]: the input of the expression model. A face with fewer than t crops is
        padded by repeating its first crop, so it gets a label at once."""
        by_id = {t.track_id: t for t in self._tracks}
        ids = [] if faces.track_ids is None else faces.track_ids.tolist()
        for track_id, crop in zip(ids, crops):
            by_id[track_id].window.append(crop)
        t = self.config.window
        windows = [list(by_id[track_id].window) for track_id in ids]
        stacked = (
            np.stack([np.stack([w[0]] * (t - len(w)) + w) for w in windows]).astype(np.float32, copy=False)
            if windows
            else np.zeros((0, t, 0, 0), dtype=np.float32)
        )
        return faces.with_fields(data={**faces.data, "window": stacked})

    def rescale(self, sx: float, sy: float) -> None:
        """The frame size changed (a stream switched resolution): move every box with the picture, so
        the same faces match their tracks and keep their ids."""
        factors = np.array([sx, sy, sx, sy], dtype=np.float32)
        for track in self._tracks:
            track.box = track.box * factors

    def reset(self) -> tuple[int, ...]:
        """Forget every track (and its crops); returns the ids of the confirmed ones that ended."""
        ended = tuple(t.track_id for t in self._tracks if t.confirmed)
        for track in self._tracks:
            track.window.clear()
        self._tracks = []
        return ended
