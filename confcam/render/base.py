"""The Annotator contract, kept tiny so styles compose (emoji, text, ring, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from confcam.types import Detections

if TYPE_CHECKING:
    from confcam.render.sprites import EmojiSprites


@dataclass(frozen=True)
class AnnotatorContext:
    """What a style's factory takes first: the parts its caller may share between several annotators."""

    sprites: EmojiSprites | None = None
    """Emoji pictures already loaded (None: each annotator loads its own)."""


class Annotator(ABC):
    """Draws one kind of mark for every face onto a BGR image, in place, and returns it."""

    @abstractmethod
    def annotate(self, image: np.ndarray, faces: Detections, class_names: tuple[str, ...]) -> np.ndarray:
        ...
