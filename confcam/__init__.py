"""confcam: real-time facial-expression companion for video calls."""

import cv2  # noqa: F401  (must load before PyAV: both bundle libxcb; av first makes cv2 windows hang)

__version__ = "0.1.0"
