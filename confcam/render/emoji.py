"""The emoji over each head: the AEGIS overlay."""

from __future__ import annotations

import numpy as np

from confcam.errors import ConfcamError
from confcam.render.base import Annotator
from confcam.render.labels import face_labels
from confcam.render.layout import EmojiLayout, clamp_square
from confcam.render.sprites import EmojiSprites, blend
from confcam.types import UNCERTAIN, Detections


class EmojiAnnotator(Annotator):
    """Blends the emoji of each labelled face where EmojiLayout puts it (never over anyone's eyes, brows or
    mouth, nor over another face); faces without a label get nothing."""

    def __init__(self, sprites: EmojiSprites | None = None, layout: EmojiLayout | None = None) -> None:
        self.sprites = sprites or EmojiSprites()
        self.layout = layout or EmojiLayout()
        if not self.sprites.has(UNCERTAIN):
            raise ConfcamError("emoji overlays are missing: run scripts/render_overlays.py")

    def annotate(self, image: np.ndarray, faces: Detections, class_names: tuple[str, ...]) -> np.ndarray:
        height, width = image.shape[:2]
        spots = self.layout.place_all(faces.boxes, faces.landmarks, width, height)
        for (x, y, size), label in zip(spots, face_labels(faces)):
            if label is None:
                continue
            sprite = self.sprites.sprite(label, size)
            if sprite is None:
                continue
            x, y, _ = clamp_square(x, y, sprite.size, width, height)
            blend(image, sprite, x, y)
        return image
