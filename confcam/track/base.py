"""The Tracker contract: what the pipeline needs from the stage that gives faces ids and keeps their crops."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from confcam.types import Detections


class Tracker(Protocol):
    """Stable ids across frames plus each face's window of crops (FaceTracker is the one in use).

    FacePipeline is typed against this rather than FaceTracker, so another matcher (or a fake in a test)
    can stand in without subclassing it.
    """

    @property
    def ended(self) -> list[int]:
        """Ids of the tracks that ended in the last update() (the smoother forgets them)."""
        ...

    def update(self, detections: Detections) -> Detections:
        """This frame's confirmed faces, with track_ids set."""
        ...

    def push(self, track_ids: np.ndarray, crops: np.ndarray) -> None:
        """Append one crop per face to its track's window."""
        ...

    def windows(self, track_ids: np.ndarray) -> np.ndarray:
        """(N, t, H, W) windows of the faces' latest crops."""
        ...

    def rescale(self, sx: float, sy: float) -> None:
        """The frame size changed by these factors: move every track with the picture."""
        ...

    def reset(self) -> None:
        """Forget every track."""
        ...
