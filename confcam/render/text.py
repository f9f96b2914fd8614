"""Text label + confidence on a filled box: the plain alternative to the emoji."""

from __future__ import annotations

import cv2
import numpy as np

from confcam.plugins import Entry
from confcam.render.base import Annotator, AnnotatorContext
from confcam.render.colors import color_for, text_color_on
from confcam.render.labels import face_confidences, face_labels
from confcam.types import UNCERTAIN, Detections

FONT = cv2.FONT_HERSHEY_SIMPLEX


def label_text(label: str, confidence: float | None) -> str:
    """'happy 87%'; uncertain shows no percentage because it is not a claim about the face."""
    if label == UNCERTAIN or confidence is None:
        return label
    return f"{label} {round(100 * confidence)}%"


class TextStyle:
    """Font scale and thickness: it grows with the face, readable on a full-screen frame, and never smaller
    than min_px tall at 720p (scaled with the frame: legibility guidelines speak of the picture as seen)."""

    def __init__(self, base_scale: float = 0.7, reference_height: int = 480, face_ratio: float = 1 / 150,
                 min_px_at_720p: float = 14.0) -> None:
        self.base_scale = base_scale
        self.reference_height = reference_height
        self.face_ratio = face_ratio
        self.min_px_at_720p = min_px_at_720p

    def for_face(self, frame_height: int, face_width: float) -> tuple[float, int]:
        by_frame = self.base_scale * frame_height / self.reference_height
        smallest = self.min_px_at_720p * frame_height / 720 / _cap_height(1.0)
        scale = max(smallest, min(by_frame, face_width * self.face_ratio))
        return scale, max(1, int(round(scale * 2)))


def _cap_height(scale: float) -> float:
    """Pixel height of capital letters (cv2's text height) at a font scale."""
    (_, height), _ = cv2.getTextSize("H", FONT, scale, 1)
    return float(height)


class LabelAnnotator(Annotator):
    """Writes each labelled face's label and confidence above (or below) its box, inside the frame.

    'top' falls back to below the face when the face touches the top edge; 'bottom' (used with the
    emoji, which sits above) is pushed up over the chin rather than onto the emoji.
    """

    def __init__(self, position: str = "top", style: TextStyle | None = None) -> None:
        if position not in ("top", "bottom"):
            raise ValueError(f"position must be 'top' or 'bottom', not {position!r}")
        self.position = position
        self.style = style or TextStyle()

    def annotate(self, image: np.ndarray, faces: Detections, class_names: tuple[str, ...]) -> np.ndarray:
        height, width = image.shape[:2]
        for box, label, confidence in zip(faces.boxes, face_labels(faces), face_confidences(faces)):
            if label is None:
                continue
            text = label_text(label, confidence)
            scale, thickness = self.style.for_face(height, float(box[2] - box[0]))
            (text_w, text_h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
            pad = max(2, text_h // 3)
            box_w, box_h = text_w + 2 * pad, text_h + baseline + 2 * pad
            x1, y1, x2, y2 = (float(v) for v in box)
            left = (x1 + x2) / 2 - box_w / 2
            top = y1 - box_h - pad if self.position == "top" else y2 + pad
            if self.position == "top" and top < 0:
                top = y2 + pad
            left_i = int(round(min(max(left, 0.0), max(width - box_w, 0))))
            top_i = int(round(min(max(top, 0.0), max(height - box_h, 0))))
            background = color_for(label)
            cv2.rectangle(image, (left_i, top_i), (left_i + box_w - 1, top_i + box_h - 1), background, cv2.FILLED)
            cv2.putText(
                image,
                text,
                (left_i + pad, top_i + pad + text_h),
                FONT,
                scale,
                text_color_on(background),
                thickness,
                cv2.LINE_AA,
            )
        return image


def _text(context: AnnotatorContext) -> LabelAnnotator:
    return LabelAnnotator("top")


ENTRY = Entry("text", "Each face's label and confidence above it.", _text)
