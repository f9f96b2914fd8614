"""Styles: which annotators draw, in which order, chosen by --style."""

from __future__ import annotations

import numpy as np

from confcam.errors import ConfcamError
from confcam.render.base import Annotator
from confcam.render.emoji import EmojiAnnotator
from confcam.render.ring import RingAnnotator
from confcam.render.sprites import EmojiSprites
from confcam.render.text import LabelAnnotator
from confcam.types import Detections

STYLES = ("emoji", "text", "ring", "all")


class ComposedAnnotator(Annotator):
    """Several annotators applied in order onto the same image."""

    def __init__(self, annotators: list[Annotator]) -> None:
        self.annotators = list(annotators)

    def annotate(self, image: np.ndarray, faces: Detections, class_names: tuple[str, ...]) -> np.ndarray:
        if len(faces) == 0:
            return image
        for annotator in self.annotators:
            image = annotator.annotate(image, faces, class_names)
        return image


def build_annotators(style: str, sprites: EmojiSprites | None = None) -> list[Annotator]:
    """The annotators of a --style, in drawing order; in 'all' the text goes below the face so it does
    not hide the emoji, and the ring is drawn first so the emoji and text stay on top of it."""
    if style == "emoji":
        return [EmojiAnnotator(sprites)]
    if style == "text":
        return [LabelAnnotator("top")]
    if style == "ring":
        return [RingAnnotator()]
    if style == "all":
        return [RingAnnotator(), EmojiAnnotator(sprites), LabelAnnotator("bottom")]
    raise ConfcamError(f"unknown style {style!r}: choose one of {', '.join(STYLES)}")


def compose(style: str, sprites: EmojiSprites | None = None) -> ComposedAnnotator:
    """The annotators of a --style as one Annotator, for callers that draw with a single object."""
    return ComposedAnnotator(build_annotators(style, sprites))
