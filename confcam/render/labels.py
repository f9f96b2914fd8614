"""Reading the shown label and confidence of each face, whatever stage the face has reached."""

from __future__ import annotations

from confcam.types import Detections


def face_labels(faces: Detections) -> list[str | None]:
    """Shown label per face; None for faces the smoother has not labelled yet."""
    if faces.labels is None:
        return [None] * len(faces)
    return list(faces.labels)


def face_confidences(faces: Detections) -> list[float | None]:
    """Confidence of the shown label per face; None where unknown."""
    if faces.confidences is None:
        return [None] * len(faces)
    return [float(c) for c in faces.confidences]
