"""Face crops for the expression model: eyes levelled, framed the way the model's training faces were.

The framing comes from the model file's `confcam.crop` rule, a string such as
``square;grow=0.07;shift=0.05;align=eyes``:

- ``square``: a square of side max(box w, box h) centred on the detector box, then
- ``grow=G``: every side pushed out by G x that side (negative shrinks),
- ``shift=S``: the square moved S x side towards the top of the head (along the face's own up),
- ``align=eyes`` rotates about the square's centre so the eyes are level; ``align=none`` does not.

The default rule, ``square;grow=0.07;shift=0.05;align=eyes``, was measured, not guessed. BlazeFace
run on the 3,589 FER2013 PublicTest faces (upscaled x3, padded) finds a box whose side is 1/1.13 of
the FER2013 frame (so grow ~0.07 per side) and whose centre sits 0.10 x side below the frame's
centre. Re-cropping those faces from the BlazeFace boxes and classifying them with the bundled
mini-Xception then picked the rule: grow 0.03/0.07/0.11 x shift 0/0.05/0.10 gave 0.636-0.650
accuracy on the 3,495 faces it found, against 0.654 for their original FER2013 crops, best at
grow=0.07, shift=0.05 (0.650 without eye alignment, 0.645 with it; FER2013 faces are not
eye-aligned, live faces tilt, so alignment stays on). The thesis' "grow the box 10 % per side" was for looser Haar-style boxes; BlazeFace boxes are
tighter and sit lower on the face (more chin, less forehead) than FER2013's framing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from confcam.errors import ModelError
from confcam.types import Detections

_RIGHT_EYE, _LEFT_EYE = 0, 1
_ALIGN_MODES = ("eyes", "none")


@dataclass(frozen=True)
class CropRule:
    """How a detector box becomes the square the model sees (see the module docstring)."""

    grow: float = 0.07
    shift: float = 0.05
    align: str = "eyes"

    @staticmethod
    def parse(text: str) -> CropRule:
        """Read a `confcam.crop` string; a ModelError names what is wrong."""
        parts = [p.strip() for p in text.replace(",", ";").split(";") if p.strip()]
        if not parts or parts[0] != "square":
            raise ModelError(f"crop rule must start with 'square' (got {text!r})")
        values: dict[str, str] = {}
        for part in parts[1:]:
            key, sep, value = part.partition("=")
            if not sep or key not in ("grow", "shift", "align"):
                raise ModelError(f"crop rule has an unknown part {part!r} (known: grow=, shift=, align=)")
            values[key] = value
        try:
            grow = float(values.get("grow", 0.0))
            shift = float(values.get("shift", 0.0))
        except ValueError:
            raise ModelError(f"crop rule needs numbers for grow and shift (got {text!r})") from None
        align = values.get("align", "none")
        if align not in _ALIGN_MODES:
            raise ModelError(f"crop rule align must be one of {', '.join(_ALIGN_MODES)} (got {align!r})")
        if not -0.4 < grow < 2.0 or not -1.0 < shift < 1.0:
            raise ModelError(f"crop rule grow/shift out of range (got {text!r})")
        return CropRule(grow=grow, shift=shift, align=align)

    def __str__(self) -> str:
        return f"square;grow={self.grow:g};shift={self.shift:g};align={self.align}"


class FaceCropper:
    """One grayscale size x size crop per face, float32 in [0, 1], one warpAffine per face.

    Faces at the frame edge get the edge pixels repeated, so the framing never changes near a border.
    A face more than twice the crop size is first area-reduced by an integer factor (only the
    pixels the rotated square covers), so the crop is not aliased; the warp then scales by 0.5-1.
    """

    def __init__(self, size: int, rule: CropRule | str = CropRule()) -> None:
        if size < 8:
            raise ModelError(f"crop size must be at least 8 pixels (got {size})")
        self.size = int(size)
        self.rule = CropRule.parse(rule) if isinstance(rule, str) else rule

    def crop(self, image: np.ndarray, faces: Detections) -> np.ndarray:
        """(N, size, size) float32 crops of a BGR (or gray) uint8 frame, one per detected face."""
        out = np.empty((len(faces), self.size, self.size), np.uint8)
        for i in range(len(faces)):
            out[i] = self._one(image, faces.boxes[i], faces.landmarks[i])
        return out.astype(np.float32) * np.float32(1.0 / 255.0)

    def _one(self, image: np.ndarray, box: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        angle = self._angle(landmarks)
        cx, cy, side = self._square(box, angle)
        factor = int(side / (2 * self.size))
        if factor >= 2:
            image, cx, cy, side = self._reduced(image, cx, cy, side, angle, factor)
        warped = cv2.warpAffine(
            image,
            self._matrix(cx, cy, side, angle, self.size),
            (self.size, self.size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return warped if warped.ndim == 2 else cv2.cvtColor(warped, cv2.COLOR_BGR2GRAY)

    def _angle(self, landmarks: np.ndarray) -> float:
        if self.rule.align == "none":
            return 0.0
        dx, dy = landmarks[_LEFT_EYE] - landmarks[_RIGHT_EYE]
        if dx * dx + dy * dy < 1e-6:
            return 0.0
        return math.atan2(float(dy), float(dx))

    def _square(self, box: np.ndarray, angle: float) -> tuple[float, float, float]:
        """Centre (pixel-index coordinates) and side of the face square in the frame."""
        x1, y1, x2, y2 = (float(v) for v in box)
        side = max(x2 - x1, y2 - y1, 1.0)
        up = self.rule.shift * side
        cx = (x1 + x2) / 2 + up * math.sin(angle) - 0.5
        cy = (y1 + y2) / 2 - up * math.cos(angle) - 0.5
        return cx, cy, side * (1.0 + 2.0 * self.rule.grow)

    @staticmethod
    def _matrix(cx: float, cy: float, side: float, angle: float, out_size: int) -> np.ndarray:
        """2x3 map from frame pixels to the out_size square: rotate by -angle about the centre, scale."""
        scale = out_size / side
        cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
        centre = (out_size - 1) / 2
        return np.array(
            [[cos, sin, centre - cos * cx - sin * cy], [-sin, cos, centre + sin * cx - cos * cy]], np.float64
        )

    @staticmethod
    def _reduced(
        image: np.ndarray, cx: float, cy: float, side: float, angle: float, factor: int
    ) -> tuple[np.ndarray, float, float, float]:
        """The frame region under the rotated square, shrunk by factor with INTER_AREA, and the
        square's centre and side in that smaller picture. Outside the frame is left to the warp."""
        reach = side / 2 * (abs(math.cos(angle)) + abs(math.sin(angle))) + 2 * factor
        h, w = image.shape[:2]
        x0, y0 = max(int(cx - reach), 0), max(int(cy - reach), 0)
        cols = (min(int(cx + reach) + 1, w) - x0) // factor
        rows = (min(int(cy + reach) + 1, h) - y0) // factor
        if cols < 2 or rows < 2:
            return image, cx, cy, side
        region = image[y0 : y0 + rows * factor, x0 : x0 + cols * factor]
        small = cv2.resize(region, (cols, rows), interpolation=cv2.INTER_AREA)
        offset = (factor - 1) / 2
        return small, (cx - x0 - offset) / factor, (cy - y0 - offset) / factor, side / factor
