"""confcam: real-time facial-expression companion for video calls."""

__version__ = "0.1.0"
