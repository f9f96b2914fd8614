"""Expression classification: model files, cropping, smoothing."""

from __future__ import annotations

from functools import cache

from confcam.classify.base import Smoother
from confcam.plugins import Registry


@cache
def smoother_registry() -> Registry[Smoother]:
    """confcam's smoothers (each module here with an ENTRY) and those other packages add through entry
    points; each factory takes a SmootherContext. PipelineConfig.smoothing names the one a run uses."""
    import confcam.classify as package

    return Registry.load("smoother", package, "confcam.smoothers")
