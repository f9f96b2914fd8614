"""One line per expression saying what to look for on the face, shown when confcam reveals its reading.

The lines describe how each expression usually shows (brows, eyes, nose, mouth, after Ekman and Friesen's
facial action coding); they tell the learner where to look, not what confcam measured on this face.
"""

from __future__ import annotations

CUES: dict[str, str] = {
    "angry": "lowered, drawn-together brows, a hard stare, lips pressed tight",
    "disgust": "wrinkled nose, raised upper lip",
    "fear": "raised, drawn-together brows, wide-open eyes, lips stretched back",
    "happy": "raised cheeks, lip corners pulled up, crinkles beside the eyes",
    "sad": "inner ends of the brows raised, lip corners pulled down",
    "surprise": "raised eyebrows, wide-open eyes, open mouth",
    "neutral": "relaxed brows, eyes and mouth, nothing pulled",
    "contempt": "one lip corner tightened and raised",
}
"""Keyed by the canonical label names of confcam's models (FER+: the thesis's seven and contempt)."""


def cue_line(label: str) -> str:
    """'raised eyebrows, wide-open eyes, open mouth: surprise'; a label without a cue (another model's) is
    named on its own, so a custom model still works in practice mode."""
    cue = CUES.get(label)
    return f"{cue}: {label}" if cue else label
