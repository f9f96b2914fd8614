"""The FaceDetector contract."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from confcam.types import Detections


class FaceDetector(ABC):
    @abstractmethod
    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR uint8 image: boxes, scores and landmarks in its pixels."""

    def reset(self) -> None:
        """Forget what earlier frames showed (detectors that look where faces were keep state)."""
