"""The FaceDetector contract, and what a detector that pools others' candidates needs from them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from confcam.onnx_session import SessionPool
from confcam.types import Detections

if TYPE_CHECKING:
    from confcam.detect.blazeface import RawFaces


class FaceDetector(ABC):
    @abstractmethod
    def detect(self, image: np.ndarray) -> Detections:
        """Faces in a BGR uint8 image: boxes, scores and landmarks in its pixels."""

    def reset(self) -> None:
        """Forget what earlier frames showed (detectors that look where faces were keep state)."""


@dataclass(frozen=True)
class DetectorContext:
    """What building one detector net takes; every detector factory takes it first. Which factory is
    chosen by the model file's `confcam.arch`, so a new detector is a module with an ENTRY per arch."""

    model: Path
    pooled: bool = False
    """Runs beside another net (near+far): the stricter threshold meant for pooled candidates."""
    sessions: SessionPool | None = None
    """Share onnxruntime sessions with other pipelines (one per web client)."""


@runtime_checkable
class CandidateDetector(Protocol):
    """A detector that can look at chosen parts of a frame and return its candidates before NMS.

    FocusedDetector needs only this from its near and far nets (it runs one NMS over both), so any net
    that can do it (BlazeFaceDetector, or a fake in a test) can stand in for them.
    """

    def candidates(self, image: np.ndarray, regions: list[tuple[int, int, int, int]]) -> RawFaces:
        """Every candidate face in the regions (x, y, w, h) of image, in frame pixels, in one batch."""
        ...
