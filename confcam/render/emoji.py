"""The emoji over each head: the AEGIS overlay."""

from __future__ import annotations

import numpy as np

from confcam.errors import ConfcamError
from confcam.plugins import Entry
from confcam.render.base import Annotator, AnnotatorContext
from confcam.render.labels import face_labels
from confcam.render.layout import EmojiLayout, clamp_square
from confcam.render.sprites import EmojiSprites, blend
from confcam.types import UNCERTAIN, Detections


class EmojiAnnotator(Annotator):
    """Blends the emoji of each labelled face where EmojiLayout puts it (never over anyone's eyes, brows or
    mouth, nor over another face); faces without a label get nothing. A label that just changed fades in
    over fade_s (from the smoother's per-face `label_age`) instead of popping."""

    def __init__(self, sprites: EmojiSprites | None = None, layout: EmojiLayout | None = None,
                 fade_s: float = 0.15) -> None:
        self.sprites = sprites or EmojiSprites()
        self.layout = layout or EmojiLayout()
        self.fade_s = fade_s
        if not self.sprites.has(UNCERTAIN):
            raise ConfcamError("emoji overlays are missing: run scripts/render_overlays.py")

    def annotate(self, image: np.ndarray, faces: Detections, class_names: tuple[str, ...]) -> np.ndarray:
        height, width = image.shape[:2]
        spots = self.layout.place_all(faces.boxes, faces.landmarks, width, height)
        ages = faces.data.get("label_age")
        for row, ((x, y, size), label) in enumerate(zip(spots, face_labels(faces))):
            if label is None:
                continue
            sprite = self.sprites.sprite(label, size)
            if sprite is None:
                continue
            x, y, _ = clamp_square(x, y, sprite.size, width, height)
            opacity = 1.0 if ages is None or self.fade_s <= 0 else min(max(float(ages[row]) / self.fade_s, 0.0), 1.0)
            blend(image, sprite, x, y, opacity)
        return image


def _emoji(context: AnnotatorContext) -> EmojiAnnotator:
    return EmojiAnnotator(context.sprites)


ENTRY = Entry("emoji", "An emoji above each head (the default).", _emoji)
