"""What practice mode draws: marks on the frame that never give the answer away, and, for the local window,
a caption strip under the frame with the question, the keys and the reveal.

While watching, each face gets a plain grey ring (confcam sees it; what it reads stays hidden). While asking,
the face asked about gets a white ring and the rest of the picture is dimmed, so it is clear which face is
meant. On the reveal, that face gets confcam's emoji and a ring in the label's colour, as in normal use.
"""

from __future__ import annotations

import cv2
import numpy as np

from confcam.practice.quiz import Question, Reveal
from confcam.render.colors import UNKNOWN_COLOR, color_for
from confcam.render.layout import EmojiLayout, clamp_square
from confcam.render.sprites import EmojiSprites, blend
from confcam.types import Detections

FONT = cv2.FONT_HERSHEY_SIMPLEX
WHITE = (255, 255, 255)
STRIP = (40, 34, 30)
MUTED = (200, 200, 200)


def _ring(image: np.ndarray, box: tuple[float, float, float, float], colour: tuple[int, int, int], grow: float = 1.15) -> None:
    x1, y1, x2, y2 = box
    centre = (int(round((x1 + x2) / 2)), int(round((y1 + y2) / 2)))
    axes = (max(1, int(round((x2 - x1) * grow / 2))), max(1, int(round((y2 - y1) * grow / 2))))
    cv2.ellipse(image, centre, axes, 0, 0, 360, colour, max(2, int(round(0.035 * (x2 - x1)))), cv2.LINE_AA)


class PracticeMarks:
    """The marks on the frame itself; each method draws on a copy and returns it."""

    def __init__(self, sprites: EmojiSprites | None = None, layout: EmojiLayout | None = None, dim: float = 0.45) -> None:
        self.sprites = sprites or EmojiSprites()
        self.layout = layout or EmojiLayout()
        self.dim = dim

    def watching(self, image: np.ndarray, faces: Detections) -> np.ndarray:
        out = image.copy()
        for box in faces.boxes:
            _ring(out, (float(box[0]), float(box[1]), float(box[2]), float(box[3])), UNKNOWN_COLOR)
        return out

    def asking(self, image: np.ndarray, question: Question) -> np.ndarray:
        out = self._spotlight(image, question.box)
        _ring(out, question.box, WHITE)
        return out

    def reveal(self, image: np.ndarray, reveal: Reveal) -> np.ndarray:
        question = reveal.question
        out = self._spotlight(image, question.box)
        _ring(out, question.box, color_for(question.expression))
        height, width = out.shape[:2]
        x, y, size = self.layout.place(np.array(question.box, np.float32), width, height)
        sprite = self.sprites.sprite(question.expression, size)
        if sprite is not None:
            x, y, _ = clamp_square(x, y, sprite.size, width, height)
            blend(out, sprite, x, y)
        return out

    def _spotlight(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """The picture dimmed except around the face, so the face asked about stands out."""
        out = (image.astype(np.float32) * self.dim).astype(np.uint8)
        height, width = image.shape[:2]
        x1, y1, x2, y2 = box
        grow_x, grow_y = 0.2 * (x2 - x1), 0.2 * (y2 - y1)
        left, top = int(max(x1 - grow_x, 0)), int(max(y1 - grow_y, 0))
        right, bottom = int(min(x2 + grow_x, width)), int(min(y2 + grow_y, height))
        out[top:bottom, left:right] = image[top:bottom, left:right]
        return out


def question_lines(question: Question) -> list[str]:
    """The question and the keys, four choices to a line: '1 angry   2 disgust   3 fear   4 happy'."""
    keyed = [f"{i + 1} {label}" for i, label in enumerate(question.choices)]
    return ["What is this person showing? Press a number:"] + ["   ".join(keyed[i : i + 4]) for i in range(0, len(keyed), 4)]


def reveal_lines(reveal: Reveal) -> list[str]:
    """Whether the learner read it as confcam did, the cue, and how to go on; kind words either way."""
    expression = reveal.question.expression
    verdict = (f"Yes: confcam read {expression} too." if reveal.correct
               else f"You said {reveal.answer}; confcam read {expression}.")
    return [verdict, reveal.cue, "Space or Enter: go on     q or Esc: stop"]


WATCHING_LINES = ["Practice: labels are hidden.", "confcam pauses on a face it reads clearly.", "q or Esc: stop"]


class PracticeCaption:
    """A strip of text lines under the frame, as wide as the frame, in the largest font that fits (and
    never below min_scale, about 14 px capitals on a 640-wide frame)."""

    def __init__(self, lines: int = 3, max_scale: float = 0.9, min_scale: float = 0.5) -> None:
        self.lines = lines
        self.max_scale = max_scale
        self.min_scale = min_scale

    def below(self, image: np.ndarray, lines: list[str]) -> np.ndarray:
        """The frame with the caption strip stacked under it; a line too long for the frame is wrapped."""
        width = image.shape[1]
        scale = self._scale(lines, width)
        rows = [(index, part) for index, text in enumerate(lines) for part in self._wrap(text, scale, width - 24)]
        thickness = max(1, int(round(scale * 2)))
        (_, text_h), baseline = cv2.getTextSize("Hg", FONT, scale, thickness)
        line_h = int(text_h * 1.9) + baseline
        strip = np.full((line_h * max(self.lines, len(rows)) + line_h // 2, width, 3), STRIP, np.uint8)
        for row, (index, text) in enumerate(rows):
            colour = WHITE if index == 0 else MUTED
            cv2.putText(strip, text, (12, line_h * (row + 1)), FONT, scale, colour, thickness, cv2.LINE_AA)
        return np.vstack([image, strip])

    def _scale(self, lines: list[str], width: int) -> float:
        widest = max((_text_width(t, 1.0) for t in lines), default=1)
        return float(min(self.max_scale, max(self.min_scale, (width - 24) / max(widest, 1))))

    @staticmethod
    def _wrap(text: str, scale: float, room: int) -> list[str]:
        parts: list[str] = []
        for word in text.split(" "):
            if parts and _text_width(f"{parts[-1]} {word}", scale) <= room:
                parts[-1] = f"{parts[-1]} {word}"
            else:
                parts.append(word)
        return parts or [""]


def _text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, FONT, scale, max(1, int(round(scale * 2))))[0][0]
