"""The classify stage's contracts: what the pipeline needs from the cropper, the classifier and the smoother.

FacePipeline is typed against these rather than the concrete classes (FaceCropper, ExpressionModel,
ExpressionSmoother), so each can be replaced, or faked in a test, without subclassing it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from confcam.types import Detections

if TYPE_CHECKING:
    from confcam.classify.model import ModelInfo
    from confcam.classify.smoother import SmootherConfig


@dataclass(frozen=True)
class SmootherContext:
    """What a smoother factory takes first: the classes it smooths and the steadiness asked for."""

    class_names: tuple[str, ...]
    """The expression model's labels, in its output order."""
    config: SmootherConfig
    """--steadiness and [pipeline.smoother]: its time constants."""


class Cropper(Protocol):
    """Turns each detected face into the picture the classifier reads."""

    def crop(self, image: np.ndarray, faces: Detections) -> np.ndarray:
        """(N, S, S) float32 crops in [0, 1], one per face of the BGR uint8 image."""
        ...


class ExpressionClassifier(Protocol):
    """Expression probabilities for windows of face crops; its model info names the classes (the pipeline's
    class_names), the window length and the crop the drivers and the tracker are set up with."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def window_shape(self) -> tuple[int, int, int]:
        """(t, S, S): one face's input."""
        ...

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(N, t, S, S) crops in [0, 1] -> (N, C) float32 probabilities."""
        ...


class Smoother(Protocol):
    """Per-face probabilities over time -> the steady label shown. Its config may be replaced between frames
    (a web client changing --steadiness), so it is a plain attribute."""

    config: SmootherConfig

    def update(
        self, track_ids: np.ndarray, probs: np.ndarray, timestamp: float
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Fold one frame's probabilities in; returns (smoothed, shown labels, confidences)."""
        ...

    def label_ages(self, track_ids: np.ndarray, timestamp: float) -> np.ndarray:
        """Seconds each face's shown label has been shown."""
        ...

    def forget(self, track_ids: Iterable[int]) -> None:
        """Drop the state of tracks that ended."""
        ...

    def reset(self) -> None:
        """Forget every face."""
        ...
