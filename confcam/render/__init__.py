"""Drawing results: emoji over heads, text labels, rings, the side-panel picture."""

from confcam.render.compose import ComposedAnnotator, build_annotators, compose, style_registry

__all__ = ["ComposedAnnotator", "build_annotators", "compose", "style_registry"]
