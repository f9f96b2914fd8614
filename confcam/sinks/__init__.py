"""Where results go: virtual camera, side panel, window, file, events timeline, and any plugin's sink."""

from __future__ import annotations

from functools import cache

from confcam.plugins import Registry
from confcam.sinks.base import Sink


@cache
def sink_registry() -> Registry[Sink]:
    """confcam's sinks (each module here with an ENTRY) and those other packages add through entry points."""
    import confcam.sinks as package

    return Registry.load("sink", package, "confcam.sinks")
