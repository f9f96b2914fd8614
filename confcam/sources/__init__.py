"""Where frames come from: screen, window, camera, file, sample clip, WebRTC."""

from __future__ import annotations

from functools import cache

from confcam.plugins import Registry
from confcam.sources.base import Source


@cache
def source_registry() -> Registry[Source]:
    """confcam's sources (each module here with an ENTRY) and those other packages add through entry
    points; each factory takes a SourceContext first, then its options."""
    import confcam.sources as package

    return Registry.load("source", package, "confcam.sources")
