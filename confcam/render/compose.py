"""Styles: which annotator draws, chosen by --style from the style registry."""

from __future__ import annotations

from functools import cache

import numpy as np

from confcam.plugins import Entry, Registry
from confcam.render.base import Annotator, AnnotatorContext
from confcam.render.emoji import EmojiAnnotator
from confcam.render.ring import RingAnnotator
from confcam.render.sprites import EmojiSprites
from confcam.render.text import LabelAnnotator
from confcam.types import Detections


@cache
def style_registry() -> Registry[Annotator]:
    """The styles: confcam's (each module of confcam.render with an ENTRY) and those other packages add
    through entry points; each factory takes an AnnotatorContext."""
    import confcam.render as package

    return Registry.load("style", package, "confcam.annotators")


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


def _all(context: AnnotatorContext) -> ComposedAnnotator:
    """The text goes below the face so it does not hide the emoji, and the ring is drawn first so the emoji
    and text stay on top of it."""
    return ComposedAnnotator([RingAnnotator(), EmojiAnnotator(context.sprites), LabelAnnotator("bottom")])


ENTRY = Entry("all", "Ring, emoji and the label below the face, together.", _all)


def build_annotators(style: str, sprites: EmojiSprites | None = None) -> list[Annotator]:
    """The --style's annotator, as the list of annotators FrameProcessor draws in order."""
    return [style_registry().get(style).build({}, AnnotatorContext(sprites))]


def compose(style: str, sprites: EmojiSprites | None = None) -> ComposedAnnotator:
    """The annotators of a --style as one Annotator, for callers that draw with a single object."""
    return ComposedAnnotator(build_annotators(style, sprites))
