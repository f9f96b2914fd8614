"""--sink virtualcam: the annotated video as a camera that Zoom, Meet, Teams or OBS can select."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import numpy as np
import pyvirtualcam
from pyvirtualcam import PixelFormat

from confcam.errors import SinkError
from confcam.imaging import letterbox
from confcam.sinks.base import Sink
from confcam.plugins import Entry, Option
from confcam.types import Result

CARD_LABEL = "confcam"
V4L2_CLASS = Path("/sys/class/video4linux")
PROBE_SIZE = (640, 360, 30.0)


def install_hint(system: str | None = None) -> str:
    """How to get a virtual camera backend on this operating system, as one sentence."""
    system = system or platform.system()
    if system == "Linux":
        return (
            "install v4l2loopback: sudo apt install v4l2loopback-dkms && "
            f"sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label={CARD_LABEL}"
        )
    return "install OBS Studio and start its Virtual Camera once (Tools > Start Virtual Camera), then stop it"


def find_confcam_device(sysfs: Path = V4L2_CLASS) -> str | None:
    """/dev/videoN of the v4l2loopback device whose card label is 'confcam', if one exists."""
    if not sysfs.is_dir():
        return None
    for entry in sorted(sysfs.glob("video*")):
        try:
            name = (entry / "name").read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if name == CARD_LABEL:
            return f"/dev/{entry.name}"
    return None


def available_backends() -> list[str]:
    return list(pyvirtualcam.camera.BACKENDS)


def open_camera(width: int, height: int, fps: float, device: str | None, backend: str | None) -> pyvirtualcam.Camera:
    """A pyvirtualcam.Camera taking BGR frames, or a SinkError that says how to get one."""
    if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
        known = ", ".join(available_backends()) or "none"
        raise SinkError(f"unknown virtual camera backend {backend!r} (available: {known})")
    if not pyvirtualcam.camera.BACKENDS:
        raise SinkError(f"no virtual camera backend for {platform.system()}: {install_hint()}")
    if device is None and (backend in (None, "v4l2loopback")):
        device = find_confcam_device()
    try:
        return pyvirtualcam.Camera(width, height, fps, fmt=PixelFormat.BGR, device=device, backend=backend)
    except Exception as error:  # pyvirtualcam reports every backend failure as a RuntimeError with lines
        reason = "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
        where = f" {device}" if device else ""
        raise SinkError(f"no usable virtual camera{where} ({reason}): {install_hint()}") from None


def virtualcam_status(device: str | None = None, backend: str | None = None) -> dict[str, Any]:
    """What `confcam devices` reports: the backends pyvirtualcam has and whether one opens now."""
    status: dict[str, Any] = {
        "backends": available_backends(),
        "confcam_device": find_confcam_device(),
        "usable": False,
        "backend": None,
        "device": None,
        "error": None,
        "hint": install_hint(),
    }
    try:
        camera = open_camera(*PROBE_SIZE, device=device, backend=backend)
    except SinkError as error:
        status["error"] = str(error)
        return status
    try:
        status.update(usable=True, backend=camera.backend, device=camera.device)
    finally:
        camera.close()
    return status


class VirtualCameraSink(Sink):
    """Sends every annotated frame to a virtual camera.

    It does not pace by default: live sources already arrive in real time and sleeping here would only
    add latency. pace=True (for a file played into a call) holds each frame until it is due.
    """

    name = "virtualcam"

    def __init__(self, device: str | None = None, backend: str | None = None, pace: bool = False) -> None:
        self.device = device
        self.backend = backend
        self.pace = pace
        self._camera: pyvirtualcam.Camera | None = None
        self._size = (0, 0)

    @property
    def camera_device(self) -> str | None:
        """The device actually in use (e.g. /dev/video2 or 'OBS Virtual Camera'), once open."""
        return None if self._camera is None else self._camera.device

    def open(self, width: int, height: int, fps: float) -> None:
        self._camera = open_camera(width, height, fps if fps > 0 else 30.0, self.device, self.backend)
        self._size = (width, height)

    def write(self, result: Result) -> None:
        if self._camera is None:
            raise SinkError("virtual camera written before open()")
        image = letterbox(result.image, self._size)
        try:
            self._camera.send(np.ascontiguousarray(image))
        except Exception as error:  # the native backends raise RuntimeError when the device goes away
            raise SinkError(f"virtual camera {self._camera.device} stopped taking frames: {error}") from None
        if self.pace:
            self._camera.sleep_until_next_frame()

    def close(self, success: bool = True) -> None:
        if self._camera is not None:
            self._camera.close()
            self._camera = None


ENTRY = Entry(
    "virtualcam",
    'A virtual camera named "confcam" that meeting apps can select.',
    VirtualCameraSink,
    (
        Option("device", str, "Virtual camera: device (e.g. /dev/video10)."),
        Option("backend", str, "Virtual camera: pyvirtualcam backend (v4l2loopback, obs, unitycapture)."),
    ),
)
