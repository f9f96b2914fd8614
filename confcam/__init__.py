"""confcam: real-time facial-expression companion for video calls."""

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
"""onnxruntime's Linux/macOS builds start 1DS telemetry when it loads: a persistent device id under
~/.cache/Microsoft/DeveloperTools, an event store and an HTTPS uploader. Only this variable, set before
onnxruntime is imported, stops all of it; confcam promises to stay offline (see docs/security.md)."""

import cv2  # noqa: E402, F401  (must load before PyAV: both bundle libxcb; av first makes cv2 windows hang)

__version__ = "0.1.0"
