"""Where each face's emoji goes so that it never hides what people need to read: the eyes, brows and
mouth of any face, or another person's face.

The emoji sits above the head when there is room, else beside the face, else it becomes a small badge at
a corner of the face box; every spot is checked against every face's features, every other face and the
emojis already placed. Bigger faces choose first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

Square = tuple[int, int, float]
"""x, y of the top-left corner and the side, in frame pixels."""
Rect = tuple[float, float, float, float]
"""x1, y1, x2, y2."""


def clamp_square(x: float, y: float, size: float, width: int, height: int) -> Square:
    """Shift a square of this side so it lies inside a width x height frame (as far as it fits)."""
    return _square(_clamped(np.array([[x, y, size]], np.float64), width, height)[0])


def overlap(a: Rect, b: Rect) -> float:
    """Area two rectangles share."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def pairwise_area(rects: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(K, M): the area each rectangle of rects (K, 4) shares with each of others (M, 4)."""
    w = np.minimum(rects[:, None, 2], others[None, :, 2]) - np.maximum(rects[:, None, 0], others[None, :, 0])
    h = np.minimum(rects[:, None, 3], others[None, :, 3]) - np.maximum(rects[:, None, 1], others[None, :, 1])
    # Numpy's stubs type arithmetic on an unparameterised ndarray as Any.
    return cast(np.ndarray, np.clip(w, 0.0, None) * np.clip(h, 0.0, None))


def shared_area(rects: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Per rectangle of rects (K, 4): the total area it shares with the rectangles of others (M, 4)."""
    return cast(np.ndarray, pairwise_area(rects, others).sum(axis=1))


def square_rect(square: Square) -> Rect:
    x, y, size = square
    return float(x), float(y), x + size, y + size


def feature_zone(box: np.ndarray, landmarks: np.ndarray | None) -> Rect:
    """The part of one face people read (see feature_zones)."""
    zone = feature_zones(np.asarray(box, np.float64)[None], None if landmarks is None else np.asarray(landmarks)[None])[0]
    return float(zone[0]), float(zone[1]), float(zone[2]), float(zone[3])


def feature_zones(boxes: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray:
    """(N, 4): the part of each face people read: brows and eyes down to the lips.

    From BlazeFace's eye and mouth keypoints when they are there (brows sit above the eye centres by
    about 0.4 of the eye-to-mouth distance and reach 0.3 of the eye spacing beyond them, the lower lip
    lies below the mouth point by about 0.3 of that distance); else the part of the face box where
    BlazeFace puts those features (measured on the shared clips: eyes at 25-30 % of the box height and
    22-80 % of its width, mouth at about 70 %).
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    x1, y1, x2, y2 = boxes.T
    w, h = x2 - x1, y2 - y1
    zones = np.stack([x1 + 0.12 * w, y1 + 0.08 * h, x2 - 0.12 * w, y1 + 0.85 * h], axis=1)
    if landmarks is None or len(boxes) == 0:
        return zones
    marks = np.asarray(landmarks, np.float64).reshape(len(boxes), -1, 2)
    known = np.abs(marks[:, :4]).sum(axis=(1, 2)) > 0
    eyes, mouth = marks[:, :2], marks[:, 3]
    eye_y = eyes[:, :, 1].mean(axis=1)
    drop = np.maximum(mouth[:, 1] - eye_y, 1.0)
    spread = np.maximum(np.abs(eyes[:, 0, 0] - eyes[:, 1, 0]), 1.0)
    left, right = eyes[:, :, 0].min(axis=1), eyes[:, :, 0].max(axis=1)
    from_marks = np.stack([np.minimum(left, mouth[:, 0]) - 0.3 * spread, eye_y - 0.4 * drop,
                           np.maximum(right, mouth[:, 0]) + 0.3 * spread, mouth[:, 1] + 0.3 * drop], axis=1)
    return np.where(known[:, None], from_marks, zones)


@dataclass(frozen=True)
class EmojiLayout:
    """Sizes as shares of the face width: the emoji above the head (shrunk down to min_scale when room is
    short), beside the face, or as a badge (badge_scale, or smaller still where a corner is tight); gap
    keeps it off the hair line."""

    scale: float = 0.6
    min_scale: float = 0.35
    badge_scale: float = 0.22
    gap: float = 0.06

    def place(self, box: np.ndarray, frame_width: int, frame_height: int) -> Square:
        """The spot of one face's emoji when it is the only face (no landmarks known)."""
        return self.place_all(np.asarray(box, np.float32)[None], None, frame_width, frame_height)[0]

    def place_all(self, boxes: np.ndarray, landmarks: np.ndarray | None, frame_width: int,
                  frame_height: int) -> list[Square]:
        """One spot per face (boxes (N, 4), landmarks (N, 6, 2) or None), in the order of boxes.

        What every spot hides of the faces and their features is worked out for all faces at once; only
        the emojis already placed are checked face by face, since each depends on the ones before."""
        if len(boxes) == 0:
            return []
        zones = feature_zones(boxes, landmarks)
        faces: list[Rect] = [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in boxes]
        blocks = [self._spots(face, frame_width, frame_height) for face in faces]
        spots = _clamped(np.array([spot for block in blocks for spot in block], np.float64), frame_width, frame_height)
        rects = _rects(spots)
        owner = np.repeat(np.arange(len(faces)), [len(b) for b in blocks])
        hidden = pairwise_area(rects, zones).sum(axis=1)
        on_faces = pairwise_area(rects, np.array(faces, np.float64))
        on_faces[np.arange(len(rects)), owner] = 0.0
        crowding = on_faces.sum(axis=1)
        starts = np.concatenate([[0], np.cumsum([len(b) for b in blocks])])
        placed: dict[int, Square] = {}
        taken: list[np.ndarray] = []
        for i in sorted(range(len(faces)), key=lambda k: -(faces[k][2] - faces[k][0])):
            rows = slice(int(starts[i]), int(starts[i + 1]))
            crowded = crowding[rows] + (shared_area(rects[rows], np.array(taken)) if taken else 0.0)
            pick = self._pick(hidden[rows], crowded)
            placed[i] = _square(spots[rows][pick])
            taken.append(rects[rows][pick])
        return [placed[i] for i in range(len(faces))]

    @staticmethod
    def _pick(hidden: np.ndarray, crowding: np.ndarray) -> int:
        """The first spot when it touches nothing (usually: above the head), else the one hiding the least
        of any face's features, then the least of other faces and emojis; ties go to the earlier spot."""
        if hidden[0] == 0.0 and crowding[0] == 0.0:
            return 0
        return int(np.lexsort((crowding, hidden))[0])

    def _spots(self, face: Rect, width: int, height: int) -> list[tuple[float, float, float]]:
        """Spots (x, y, side; not yet clamped to the frame) in order of preference: above the head, right,
        left, then badges at the box's corners."""
        x1, y1, x2, y2 = face
        face_w = max(x2 - x1, 1.0)
        gap = self.gap * face_w
        limit = float(min(width, height))
        wanted, smallest = min(self.scale * face_w, limit), min(self.min_scale * face_w, limit)
        spots: list[tuple[float, float, float]] = []
        room_above = y1 - gap
        if room_above >= smallest:
            size = min(wanted, room_above)
            spots.append(((x1 + x2 - size) / 2, y1 - gap - size, size))
        for room, x_of in ((width - x2 - gap, lambda s: x2 + gap), (x1 - gap, lambda s: x1 - gap - s)):
            if room >= smallest:
                size = min(wanted, room)
                spots.append((x_of(size), max(y1, 0.0), size))
        for share in (self.badge_scale, self.badge_scale * 0.6):
            badge = max(min(share * face_w, limit), 12.0)
            spots += [(x, y, badge) for x, y in (
                (x2 - badge / 2, y1 - badge / 2), (x1 - badge / 2, y1 - badge / 2), (x2 - badge, y1), (x1, y1),
                (x2 - badge / 2, y2 - badge / 2), (x1 - badge / 2, y2 - badge / 2), (x2 - badge, y2 - badge),
                (x1, y2 - badge))]
        return spots


def _clamped(spots: np.ndarray, width: int, height: int) -> np.ndarray:
    """clamp_square for (K, 3) rows of x, y, side at once."""
    side = np.round(spots[:, 2])
    x = np.round(np.minimum(np.maximum(spots[:, 0], 0.0), np.maximum(width - side, 0.0)))
    y = np.round(np.minimum(np.maximum(spots[:, 1], 0.0), np.maximum(height - side, 0.0)))
    return np.stack([x, y, side], axis=1)


def _rects(spots: np.ndarray) -> np.ndarray:
    return np.concatenate([spots[:, :2], spots[:, :2] + spots[:, 2:3]], axis=1)


def _square(spot: np.ndarray) -> Square:
    return int(spot[0]), int(spot[1]), float(spot[2])
