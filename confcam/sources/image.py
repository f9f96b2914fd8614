"""A still photo served as a short clip of identical frames, so a photo is analysed like a video."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from confcam.errors import SourceError
from confcam.fileio import check_input_file
from confcam.sources.base import Source
from confcam.types import Frame

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})

NOMINAL_FPS = 30.0
"""The still is presented at this rate, so temporal windows see a steady clip."""
STILL_SECONDS = 2.0
"""How long a photo lasts as a clip: the smoother shows a new face as "uncertain" until it has gathered
evidence over time, so a photo needs a couple of seconds to get its label."""


def is_image_path(path: str | Path) -> bool:
    """True for file names that look like still photos (by extension), before anything is read."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


class ImageSource(Source):
    """`repeat` copies of one photo; each read returns its own array so callers may draw on it.

    size stays the photo's real width and height after close(), for the report written after the run.
    """

    def __init__(self, path: str | Path, repeat: int, fps: float = NOMINAL_FPS) -> None:
        self.path = Path(path)
        self.repeat = repeat
        self._fps = fps
        self.name = f"image {self.path.name}"
        self._image: np.ndarray | None = None
        self._index = 0

    def open(self) -> None:
        if self.repeat < 1:
            raise SourceError(f"an image source needs at least 1 frame, not {self.repeat}")
        check_input_file(self.path, "an image file")
        self._image = _read_bgr(self.path)
        self._size = (int(self._image.shape[1]), int(self._image.shape[0]))
        self._index = 0

    def read(self) -> Frame | None:
        if self._image is None or self._index >= self.repeat:
            return None
        frame = Frame(
            image=self._image.copy(),
            index=self._index,
            timestamp=self._index / self._fps,
            captured_at=time.perf_counter(),
        )
        self._index += 1
        return frame

    def close(self) -> None:
        self._image = None

    @property
    def frame_count(self) -> int:
        return self.repeat

    @property
    def is_live(self) -> bool:
        return False


def _read_bgr(path: Path) -> np.ndarray:
    """OpenCV first (fast); Pillow for what OpenCV cannot read (e.g. GIF)."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is not None:
        return image
    try:
        with Image.open(path) as opened:
            rgb = ImageOps.exif_transpose(opened).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError):
        raise SourceError(f"{path} is not a readable image") from None
    return cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
