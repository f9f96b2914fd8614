"""The Tracker contract: what the pipeline needs from the stage that gives faces ids and keeps their crops."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from confcam.types import Detections

if TYPE_CHECKING:
    from confcam.track.tracker import TrackUpdate


class Tracker(Protocol):
    """Stable ids across frames plus each face's window of crops (FaceTracker is the one in use).

    FacePipeline is typed against this rather than FaceTracker, so another matcher (or a fake in a test)
    can stand in without subclassing it.
    """

    def update(self, detections: Detections) -> TrackUpdate:
        """This frame's confirmed faces, with track_ids set, and the ids of tracks that ended."""
        ...

    def add_crops(self, faces: Detections, crops: np.ndarray) -> Detections:
        """Append one crop per face to its track's window; the faces with their windows in data["window"]."""
        ...

    def rescale(self, sx: float, sy: float) -> None:
        """The frame size changed by these factors: move every track with the picture."""
        ...

    def reset(self) -> tuple[int, ...]:
        """Forget every track; the ids of the confirmed ones that ended."""
        ...
