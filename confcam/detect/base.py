"""The FaceDetector contract, and what a detector that pools others' candidates needs from them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Protocol

import numpy as np

from confcam.types import Detections

if TYPE_CHECKING:
    from confcam.detect.blazeface import RawFaces


class FaceDetector(ABC):
    @abstractmethod
    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR uint8 image: boxes, scores and landmarks in its pixels."""

    def reset(self) -> None:
        """Forget what earlier frames showed (detectors that look where faces were keep state)."""


class CandidateDetector(Protocol):
    """A detector that can look at chosen parts of a frame and return its candidates before NMS.

    FocusedDetector needs only this from its near and far nets (it runs one NMS over both), so any net
    that can do it (BlazeFaceDetector, or a fake in a test) can stand in for them.
    """

    def candidates(self, image: np.ndarray, regions: list[tuple[int, int, int, int]]) -> RawFaces:
        """Every candidate face in the regions (x, y, w, h) of image, in frame pixels, in one batch."""
        ...
