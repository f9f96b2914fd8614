"""Fitting a picture into a fixed output size: the whole picture, scaled, never cropped.

Outputs such as an mp4 stream or a virtual camera keep the size they opened with, while a stream's
resolution may change mid-way (a WebRTC peer adapting, a captured window resized).
"""

from __future__ import annotations

import cv2
import numpy as np


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to fit (width, height) with its aspect ratio kept, centred on black."""
    width, height = size
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = min(width / w, height / h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    out = np.zeros((height, width, 3), dtype=np.uint8)
    y, x = (height - new_h) // 2, (width - new_w) // 2
    out[y : y + new_h, x : x + new_w] = resized
    return out


def fill(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image scaled and centre-cropped to fill width x height, as meeting apps show a webcam in a tile
    (letterbox's opposite: nothing added, the overflow cut)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    big = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    y, x = (big.shape[0] - height) // 2, (big.shape[1] - width) // 2
    return big[y : y + height, x : x + width]
