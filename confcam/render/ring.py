"""A coloured ring around each face: the colour of its label, grey while not yet classified."""

from __future__ import annotations

import cv2
import numpy as np

from confcam.plugins import Entry
from confcam.render.base import Annotator, AnnotatorContext
from confcam.render.colors import color_for
from confcam.render.labels import face_labels
from confcam.types import Detections


class RingAnnotator(Annotator):
    """An ellipse around every detected face, so the user sees which faces confcam is reading.

    Drawn without anti-aliasing: at ring thickness it is barely visible and costs 3x the time.
    """

    def __init__(self, grow: float = 1.15, thickness: float = 0.035) -> None:
        self.grow = grow
        self.thickness = thickness

    def annotate(self, image: np.ndarray, faces: Detections, class_names: tuple[str, ...]) -> np.ndarray:
        for box, label in zip(faces.boxes, face_labels(faces)):
            x1, y1, x2, y2 = (float(v) for v in box)
            centre = (int(round((x1 + x2) / 2)), int(round((y1 + y2) / 2)))
            axes = (max(1, int(round((x2 - x1) * self.grow / 2))), max(1, int(round((y2 - y1) * self.grow / 2))))
            line = max(2, int(round(self.thickness * (x2 - x1))))
            cv2.ellipse(image, centre, axes, 0, 0, 360, color_for(label), line, cv2.LINE_8)
        return image


def _ring(context: AnnotatorContext) -> RingAnnotator:
    return RingAnnotator()


ENTRY = Entry("ring", "A ring around each face in its label's colour.", _ring)
