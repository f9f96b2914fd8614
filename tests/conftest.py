"""Shared test helpers: where the shared real data lives."""

from pathlib import Path

import cv2  # noqa: F401  # before any `import av`: both wheels bundle libxcb-shm under one name; see confcam/sinks/window.py
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
VIDEOS = SHARED / "videos"
FER2013 = SHARED / "fer2013" / "fer2013_train_publictest.npz"


def video(name: str) -> Path:
    """A shared real clip; skips the test with a clear reason when ../shared is not laid out."""
    path = VIDEOS / name
    if not path.is_file():
        pytest.skip(f"shared clip {path} is missing")
    return path
