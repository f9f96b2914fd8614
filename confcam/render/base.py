"""The Annotator contract, kept tiny so styles compose (emoji, text, ring, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from confcam.types import Detections


class Annotator(ABC):
    """Draws one kind of mark for every face onto a BGR image, in place, and returns it."""

    @abstractmethod
    def annotate(self, image: np.ndarray, faces: Detections, class_names: tuple[str, ...]) -> np.ndarray:
        ...
