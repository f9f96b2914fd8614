"""One palette for every mark of a label (ring, text box, panel bar), so a colour always means the same.

Okabe-Ito colours: they stay distinguishable for the common forms of colour blindness. Values are BGR.
"""

from __future__ import annotations

from confcam.types import UNCERTAIN

BGR = tuple[int, int, int]

LABEL_COLORS: dict[str, BGR] = {
    "angry": (0, 94, 213),  # vermillion
    "disgust": (115, 158, 0),  # bluish green
    "fear": (167, 121, 204),  # reddish purple
    "happy": (66, 228, 240),  # yellow
    "sad": (178, 114, 0),  # blue
    "surprise": (0, 159, 230),  # orange
    "neutral": (233, 180, 86),  # sky blue
    "contempt": (0, 0, 0),  # black, the eighth Okabe-Ito colour
    UNCERTAIN: (160, 160, 160),  # grey
}

UNKNOWN_COLOR: BGR = (160, 160, 160)


def color_for(label: str | None) -> BGR:
    """The colour of a label; unknown or missing labels get the neutral grey."""
    if label is None:
        return UNKNOWN_COLOR
    return LABEL_COLORS.get(label, UNKNOWN_COLOR)


def text_color_on(background: BGR) -> BGR:
    """Black or white, whichever reads better on this background (by perceived luminance)."""
    b, g, r = background
    luminance = 0.114 * b + 0.587 * g + 0.299 * r
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)
