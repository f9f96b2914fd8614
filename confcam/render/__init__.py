"""Drawing results: emoji over heads, text labels, rings, the side-panel picture."""

from confcam.render.compose import STYLES, ComposedAnnotator, build_annotators, compose

__all__ = ["STYLES", "ComposedAnnotator", "build_annotators", "compose"]
