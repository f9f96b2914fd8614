"""The side-panel picture: one card per person (emoji, name, label, confidence bar)."""

from __future__ import annotations

from collections import OrderedDict

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
CardKey = tuple[int, str | None, int | None]


class PanelRenderer:
    """Draws the panel at a fixed width; its height grows with the number of people.

    Cards are ordered by track id so a person keeps their place in the list from frame to frame.
    A card only changes when its label or whole-percent confidence does, so cards are cached.
    """

    def __init__(
        self,
        width: int = 320,
        card_height: int = 96,
        margin: int = 8,
        sprites: EmojiSprites | None = None,
        max_cached: int = 64,
    ) -> None:
        self.width = width
        self.card_height = card_height
        self.margin = margin
        self.sprites = sprites or EmojiSprites()
        self._max_cached = max_cached
        self._cards: OrderedDict[CardKey, np.ndarray] = OrderedDict()
        self._blank = np.zeros((0, width, 3), dtype=np.uint8)

    def height_for(self, people: int) -> int:
        return self.margin + max(people, 1) * (self.card_height + self.margin)

    def card_top(self, slot: int) -> int:
        """Top row of the card in this position (0 = first)."""
        return self.margin + slot * (self.card_height + self.margin)

    def render(self, faces: Detections, class_names: tuple[str, ...] = ()) -> np.ndarray:
        """A BGR picture of the panel for one frame's faces."""
        people = len(faces)
        panel = self._background(self.height_for(people))
        if people == 0:
            self._message(panel, "Nobody in view")
            return panel
        ids = [int(i) for i in faces.track_ids] if faces.track_ids is not None else list(range(1, people + 1))
        percents = [None if c is None else int(round(100 * min(max(c, 0.0), 1.0))) for c in face_confidences(faces)]
        rows = sorted(zip(ids, face_labels(faces), percents), key=lambda row: row[0])
        for slot, key in enumerate(rows):
            top = self.card_top(slot)
            panel[top : top + self.card_height, self.margin : self.width - self.margin] = self._card(key)
        return panel

    def _background(self, height: int) -> np.ndarray:
        """A fresh copy of the empty panel (filling a 3-channel image from a colour is slow in NumPy)."""
        if self._blank.shape[0] < height:
            self._blank = np.tile(np.array(BACKGROUND, dtype=np.uint8), (height, self.width, 1))
        return self._blank[:height].copy()

    def _message(self, panel: np.ndarray, text: str) -> None:
        (text_w, text_h), _ = cv2.getTextSize(text, FONT, 0.7, 2)
        origin = ((panel.shape[1] - text_w) // 2, (panel.shape[0] + text_h) // 2)
        cv2.putText(panel, text, origin, FONT, 0.7, MUTED, 2, cv2.LINE_AA)

    def _card(self, key: CardKey) -> np.ndarray:
        card = self._cards.get(key)
        if card is not None:
            self._cards.move_to_end(key)
            return card
        card = self._draw_card(*key)
        self._cards[key] = card
        if len(self._cards) > self._max_cached:
            self._cards.popitem(last=False)
        return card

    def _draw_card(self, person: int, label: str | None, percent: int | None) -> np.ndarray:
        width, height, margin = self.width - 2 * self.margin, self.card_height, self.margin
        card = np.tile(np.array(CARD, dtype=np.uint8), (height, width, 1))
        colour = color_for(label)
        card[:, :5] = colour
        inner = height - 2 * margin
        emoji_x = 5 + margin
        sprite = self.sprites.sprite(label, inner) if label is not None else None
        if sprite is not None:
            blend(card, sprite, emoji_x, (height - sprite.size) // 2)
        text_x = emoji_x + inner + margin
        cv2.putText(card, f"Person {person}", (text_x, 26), FONT, 0.6, MUTED, 1, cv2.LINE_AA)
        cv2.putText(card, label if label is not None else "reading...", (text_x, 56), FONT, 0.8, TEXT, 2, cv2.LINE_AA)
        bar_top, bar_bottom, bar_right = height - 26, height - 16, width - margin
        cv2.rectangle(card, (text_x, bar_top), (bar_right, bar_bottom), BAR_TRACK, cv2.FILLED)
        if percent is not None and label != UNCERTAIN:
            filled = text_x + (bar_right - text_x) * percent // 100
            cv2.rectangle(card, (text_x, bar_top), (filled, bar_bottom), colour, cv2.FILLED)
        return card
