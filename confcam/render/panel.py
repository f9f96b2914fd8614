"""The side-panel picture: one card per person (their face, where they are, emoji, label, confidence bar)."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

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
CardKey = tuple[int, str | None, int | None, str]
ROWS = ("top", "", "bottom")
COLUMNS = ("left", "", "right")


def position_words(box: np.ndarray, width: int, height: int) -> str:
    """Where a face is on screen in words a person uses: 'top left', 'centre', 'bottom', ..."""
    cx, cy = (box[0] + box[2]) / 2 / max(width, 1), (box[1] + box[3]) / 2 / max(height, 1)
    row, column = ROWS[min(int(cy * 3), 2)], COLUMNS[min(int(cx * 3), 2)]
    return " ".join(w for w in (row, column) if w) or "centre"


def reading_order(boxes: np.ndarray) -> list[int]:
    """Indices of faces as a person reads a gallery: row by row from the top, left to right in a row.
    Faces whose centres are within half a face height of each other share a row."""
    if not len(boxes):
        return []
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    band = 0.5 * float(np.median(boxes[:, 3] - boxes[:, 1]))
    order = list(np.argsort(centres[:, 1], kind="stable"))
    rows: list[list[int]] = []
    for i in order:
        if rows and centres[i, 1] - centres[rows[-1][0], 1] <= band:
            rows[-1].append(int(i))
        else:
            rows.append([int(i)])
    return [i for row in rows for i in sorted(row, key=lambda k: centres[k, 0])]


@dataclass
class _Person:
    """What the panel keeps of one person between frames: their last card and thumbnail, and when they
    were last seen; a person no longer in view fades out in place instead of jumping the list."""

    key: CardKey
    box: np.ndarray
    thumbnail: np.ndarray | None
    seen_at: float
    gone: bool = False


class PanelRenderer:
    """Draws the panel at a fixed width; its height grows with the number of people.

    Cards follow the faces' reading order on screen (row by row, left to right) and each shows a live
    thumbnail of its face and where it is, so a card can be matched to a face at a glance. A person who
    leaves keeps their card, fading out over fade_seconds. The static part of a card only changes when
    its label, whole-percent confidence or position does, so it is cached. Thumbnails live in memory
    only, like the crop window, and are dropped when the card has faded.
    """

    def __init__(
        self,
        width: int = 320,
        card_height: int = 96,
        margin: int = 8,
        sprites: EmojiSprites | None = None,
        max_cached: int = 64,
        fade_seconds: float = 1.0,
    ) -> None:
        self.width = width
        self.card_height = card_height
        self.margin = margin
        self.sprites = sprites or EmojiSprites()
        self.fade_seconds = fade_seconds
        self._max_cached = max_cached
        self._cards: OrderedDict[CardKey, np.ndarray] = OrderedDict()
        self._blank = np.zeros((0, width, 3), dtype=np.uint8)
        self._people: dict[int, _Person] = {}

    def height_for(self, people: int) -> int:
        return self.margin + max(people, 1) * (self.card_height + self.margin)

    def card_top(self, slot: int) -> int:
        """Top row of the card in this position (0 = first)."""
        return self.margin + slot * (self.card_height + self.margin)

    @property
    def thumbnail_side(self) -> int:
        return self.card_height - 2 * self.margin

    def render(self, faces: Detections, class_names: tuple[str, ...] = (), image: np.ndarray | None = None,
               now: float | None = None) -> np.ndarray:
        """A BGR picture of the panel for one frame's faces; image (the frame) gives the thumbnails and
        positions, now (seconds) times the fading of people who left."""
        now = time.monotonic() if now is None else now
        self._update(faces, image, now)
        shown = list(self._people.values())
        panel = self._background(self.height_for(len(shown)))
        if not shown:
            self._message(panel, "Nobody in view")
            return panel
        boxes = np.stack([p.box for p in shown]).astype(np.float32)
        for slot, index in enumerate(reading_order(boxes)):
            person = shown[index]
            card = self._card(person.key).copy()
            if person.thumbnail is not None:
                top = (self.card_height - self.thumbnail_side) // 2
                card[top : top + self.thumbnail_side, 5 + self.margin : 5 + self.margin + self.thumbnail_side] = person.thumbnail
            if person.gone:
                fade = min(max((now - person.seen_at) / self.fade_seconds, 0.0), 1.0)
                card = cv2.addWeighted(card, 1.0 - fade, np.full_like(card, BACKGROUND), fade, 0.0)
            top = self.card_top(slot)
            panel[top : top + self.card_height, self.margin : self.width - self.margin] = card
        return panel

    def _update(self, faces: Detections, image: np.ndarray | None, now: float) -> None:
        ids = [int(i) for i in faces.track_ids] if faces.track_ids is not None else list(range(1, len(faces) + 1))
        height, width = image.shape[:2] if image is not None else (0, 0)
        percents = [None if c is None else int(round(100 * min(max(c, 0.0), 1.0))) for c in face_confidences(faces)]
        for person_id, box, label, percent in zip(ids, faces.boxes, face_labels(faces), percents):
            where = position_words(box, width, height) if image is not None else ""
            thumbnail = self._thumbnail(image, box) if image is not None else None
            self._people[person_id] = _Person((person_id, label, percent, where), np.asarray(box, np.float32).copy(),
                                              thumbnail, now)
        present = set(ids)
        for person_id, person in list(self._people.items()):
            if person_id in present:
                continue
            person.gone = True
            if now - person.seen_at >= self.fade_seconds:
                del self._people[person_id]

    def _thumbnail(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """The face, square and a little wider than its box, at the card's thumbnail size."""
        x1, y1, x2, y2 = (float(v) for v in box)
        side = 1.2 * max(x2 - x1, y2 - y1)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        left, top = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
        right, bottom = int(min(cx + side / 2, image.shape[1])), int(min(cy + side / 2, image.shape[0]))
        if right - left < 2 or bottom - top < 2:
            return None
        return cv2.resize(image[top:bottom, left:right], (self.thumbnail_side, self.thumbnail_side),
                          interpolation=cv2.INTER_AREA)

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

    def _draw_card(self, person: int, label: str | None, percent: int | None, where: str) -> np.ndarray:
        width, height, margin = self.width - 2 * self.margin, self.card_height, self.margin
        card = np.tile(np.array(CARD, dtype=np.uint8), (height, width, 1))
        colour = color_for(label)
        card[:, :5] = colour
        inner = self.thumbnail_side
        emoji_side = 36
        sprite = self.sprites.sprite(label, emoji_side) if label is not None else None
        if sprite is not None:
            blend(card, sprite, width - margin - sprite.size, margin)
        text_x = 5 + margin + inner + margin
        name = f"Person {person}" + (f" - {where}" if where else "")
        cv2.putText(card, name, (text_x, 24), FONT, 0.5, MUTED, 1, cv2.LINE_AA)
        cv2.putText(card, label if label is not None else "reading...", (text_x, 54), FONT, 0.7, TEXT, 2, cv2.LINE_AA)
        bar_top, bar_bottom, bar_right = height - 26, height - 16, width - margin
        cv2.rectangle(card, (text_x, bar_top), (bar_right, bar_bottom), BAR_TRACK, cv2.FILLED)
        if percent is not None and label != UNCERTAIN:
            filled = text_x + (bar_right - text_x) * percent // 100
            cv2.rectangle(card, (text_x, bar_top), (filled, bar_bottom), colour, cv2.FILLED)
        return card
