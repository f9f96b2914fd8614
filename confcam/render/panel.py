"""The side-panel picture: one card per person (emoji, name, label, confidence bar)."""

from __future__ import annotations

import cv2
import numpy as np

from confcam.render.colors import color_for
from confcam.render.labels import face_confidences, face_labels
from confcam.render.sprites import EmojiSprites, blend
from confcam.types import UNCERTAIN, Detections

FONT = cv2.FONT_HERSHEY_SIMPLEX
BACKGROUND = (40, 34, 30)
CARD = (62, 54, 48)
TEXT = (240, 240, 240)
MUTED = (170, 170, 170)
BAR_TRACK = (90, 82, 76)


class PanelRenderer:
    """Draws the panel at a fixed width; its height grows with the number of people.

    Cards are ordered by track id so a person keeps their place in the list from frame to frame.
    """

    def __init__(self, width: int = 320, card_height: int = 96, margin: int = 8, sprites: EmojiSprites | None = None) -> None:
        self.width = width
        self.card_height = card_height
        self.margin = margin
        self.sprites = sprites or EmojiSprites()

    def height_for(self, people: int) -> int:
        cards = max(people, 1)
        return self.margin + cards * (self.card_height + self.margin)

    def render(self, faces: Detections, class_names: tuple[str, ...] = ()) -> np.ndarray:
        """A BGR picture of the panel for one frame's faces."""
        people = len(faces)
        panel = np.empty((self.height_for(people), self.width, 3), dtype=np.uint8)
        panel[...] = BACKGROUND
        if people == 0:
            self._message(panel, "Nobody in view")
            return panel
        ids = (
            [int(i) for i in faces.track_ids]
            if faces.track_ids is not None
            else list(range(1, people + 1))
        )
        rows = sorted(zip(ids, face_labels(faces), face_confidences(faces)), key=lambda row: row[0])
        for slot, (person, label, confidence) in enumerate(rows):
            top = self.margin + slot * (self.card_height + self.margin)
            self._card(panel, top, person, label, confidence)
        return panel

    def _message(self, panel: np.ndarray, text: str) -> None:
        (text_w, text_h), _ = cv2.getTextSize(text, FONT, 0.7, 2)
        origin = ((panel.shape[1] - text_w) // 2, (panel.shape[0] + text_h) // 2)
        cv2.putText(panel, text, origin, FONT, 0.7, MUTED, 2, cv2.LINE_AA)

    def _card(self, panel: np.ndarray, top: int, person: int, label: str | None, confidence: float | None) -> None:
        left, right, bottom = self.margin, self.width - self.margin, top + self.card_height
        cv2.rectangle(panel, (left, top), (right - 1, bottom - 1), CARD, cv2.FILLED)
        colour = color_for(label)
        cv2.rectangle(panel, (left, top), (left + 4, bottom - 1), colour, cv2.FILLED)
        inner = self.card_height - 2 * self.margin
        emoji_x = left + 4 + self.margin
        sprite = self.sprites.sprite(label, inner) if label is not None else None
        if sprite is not None:
            blend(panel, sprite, emoji_x, top + (self.card_height - sprite.size) // 2)
        text_x = emoji_x + inner + self.margin
        cv2.putText(panel, f"Person {person}", (text_x, top + 26), FONT, 0.6, MUTED, 1, cv2.LINE_AA)
        shown = label if label is not None else "reading..."
        cv2.putText(panel, shown, (text_x, top + 56), FONT, 0.8, TEXT, 2, cv2.LINE_AA)
        bar_top, bar_bottom = top + self.card_height - 26, top + self.card_height - 16
        bar_right = right - self.margin
        cv2.rectangle(panel, (text_x, bar_top), (bar_right, bar_bottom), BAR_TRACK, cv2.FILLED)
        if confidence is not None and label != UNCERTAIN:
            filled = text_x + int(round((bar_right - text_x) * min(max(confidence, 0.0), 1.0)))
            cv2.rectangle(panel, (text_x, bar_top), (filled, bar_bottom), colour, cv2.FILLED)
