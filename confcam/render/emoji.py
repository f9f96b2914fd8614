"""The emoji over each head: the AEGIS overlay."""

from __future__ import annotations

import numpy as np

from confcam.errors import ConfcamError
from confcam.render.base import Annotator
from confcam.render.labels import face_labels
from confcam.render.sprites import EmojiSprites, blend
from confcam.types import UNCERTAIN, Detections


def clamp_square(x: float, y: float, size: float, width: int, height: int) -> tuple[int, int, float]:
    """Shift a square of this side so it lies inside a width x height frame (as far as it fits)."""
    side = int(round(size))
    inside_x = int(round(min(max(x, 0.0), max(width - side, 0))))
    inside_y = int(round(min(max(y, 0.0), max(height - side, 0))))
    return inside_x, inside_y, float(side)


class EmojiPlacement:
    """Where an emoji of a face goes: above the head if it fits, else beside it, always inside the frame.

    Above the head is where people look for it; if the head is near the top edge the emoji is first
    shrunk (down to min_scale of the face width) and only then moved beside the face, so it never
    covers the face it describes unless the frame leaves no other room.
    """

    def __init__(self, scale: float = 0.6, min_scale: float = 0.35, gap: float = 0.06) -> None:
        self.scale = scale
        self.min_scale = min_scale
        self.gap = gap

    def place(self, box: np.ndarray, frame_width: int, frame_height: int) -> tuple[int, int, float]:
        """(x, y, size) of the emoji's top-left corner and side for one x1, y1, x2, y2 box."""
        x1, y1, x2, y2 = (float(v) for v in box)
        face_w = max(x2 - x1, 1.0)
        gap = self.gap * face_w
        limit = float(min(frame_width, frame_height))
        wanted = min(self.scale * face_w, limit)
        smallest = min(self.min_scale * face_w, limit)
        centre_x = (x1 + x2) / 2
        room_above = y1 - gap
        if room_above >= smallest:
            size = min(wanted, room_above)
            return clamp_square(centre_x - size / 2, y1 - gap - size, size, frame_width, frame_height)
        size = smallest
        room_right = frame_width - (x2 + gap)
        room_left = x1 - gap
        top = max(y1, 0.0)
        if room_right >= size:
            return clamp_square(x2 + gap, top, size, frame_width, frame_height)
        if room_left >= size:
            return clamp_square(x1 - gap - size, top, size, frame_width, frame_height)
        return clamp_square(centre_x - size / 2, y1, size, frame_width, frame_height)



class EmojiAnnotator(Annotator):
    """Blends the emoji of each labelled face above its head; faces without a label get nothing."""

    def __init__(self, sprites: EmojiSprites | None = None, placement: EmojiPlacement | None = None) -> None:
        self.sprites = sprites or EmojiSprites()
        self.placement = placement or EmojiPlacement()
        if not self.sprites.has(UNCERTAIN):
            raise ConfcamError("emoji overlays are missing: run scripts/render_overlays.py")

    def annotate(self, image: np.ndarray, faces: Detections, class_names: tuple[str, ...]) -> np.ndarray:
        height, width = image.shape[:2]
        for box, label in zip(faces.boxes, face_labels(faces)):
            if label is None:
                continue
            x, y, size = self.placement.place(box, width, height)
            sprite = self.sprites.sprite(label, size)
            if sprite is None:
                continue
            x, y, _ = clamp_square(x, y, sprite.size, width, height)
            blend(image, sprite, x, y)
        return image
