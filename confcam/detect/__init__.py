"""Face detection (BlazeFace run by onnxruntime)."""

from __future__ import annotations

from functools import cache

from confcam.detect.base import DetectorContext, FaceDetector
from confcam.errors import ModelError
from confcam.plugins import Registry


@cache
def detector_registry() -> Registry[FaceDetector]:
    """Detector factories by the model-file arch each reads: confcam's (each module here with ENTRY or
    ENTRIES) and those other packages add through entry points."""
    import confcam.detect as package

    return Registry.load("detector", package, "confcam.detectors")


def build_net(arch: str, context: DetectorContext) -> FaceDetector:
    """The detector that reads a model file of this arch; a one-line error when none does."""
    registry = detector_registry()
    if arch not in registry.entries:
        raise ModelError(f"{context.model}: no detector reads confcam.arch={arch!r}; known: {', '.join(registry.names())}")
    return registry.get(arch).build({}, context)
