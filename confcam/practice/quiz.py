"""When to ask and what to reveal: QuestionPicker chooses a face worth asking about, PracticeQuiz runs the
ask -> answer -> reveal cycle and keeps the session's score.

A learner should only be asked about faces confcam itself reads with confidence and steadily, or the quiz
would teach confcam's mistakes. "Steady" comes from the smoother: the face's shown label has held for
`steady_s` seconds (its `label_age`) with a confidence of at least `min_confidence`. All times are the
frames' own timestamps, so a file paused for a question does not age its faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from confcam.practice.cues import cue_line
from confcam.practice.score import PracticeScore
from confcam.types import UNCERTAIN, Detections


@dataclass(frozen=True)
class PracticeConfig:
    steady_s: float = 1.0
    """The face's shown label must have held this long (smoother seconds) before it is asked about."""
    min_confidence: float = 0.7
    """...and be shown with at least this smoothed probability."""
    face_cooldown_s: float = 10.0
    """A face is asked about again only this long after its last question (so one face does not fill a session)."""
    gap_s: float = 3.0
    """At least this long between two questions on any faces: time to watch the video after a reveal."""


@dataclass(frozen=True)
class Question:
    """One face, paused on: its box in that frame and confcam's reading, which stays hidden until answered."""

    track_id: int
    box: tuple[float, float, float, float]
    """x1, y1, x2, y2 in frame pixels."""
    expression: str
    confidence: float
    t: float
    choices: tuple[str, ...]
    """What the learner may answer, in the model's order: key 1 is choices[0]."""


@dataclass(frozen=True)
class Reveal:
    """confcam's reading of the question's face next to the learner's answer, with the cue to look for."""

    question: Question
    answer: str
    correct: bool
    cue: str


class QuestionPicker:
    """Decides, frame by frame, whether to ask and about which face; remembers whom it asked when."""

    def __init__(self, config: PracticeConfig = PracticeConfig()) -> None:
        self.config = config
        self._asked_at: dict[int, float] = {}
        self._last_t: float | None = None
        self._gap_from_next = False

    def pick(self, faces: Detections, t: float) -> int | None:
        """The row of the face to ask about now, or None. Among steady, confident faces not asked about
        recently, the one confcam is surest of."""
        cfg = self.config
        if self._gap_from_next:
            self._last_t, self._gap_from_next = t, False
        if faces.labels is None or faces.confidences is None or faces.track_ids is None or len(faces) == 0:
            return None
        if self._last_t is not None and t - self._last_t < cfg.gap_s:
            return None
        ages = faces.data.get("label_age")
        if ages is None:
            return None
        best: int | None = None
        for row in range(len(faces)):
            track_id = int(faces.track_ids[row])
            asked = self._asked_at.get(track_id)
            if (faces.labels[row] == UNCERTAIN or float(ages[row]) < cfg.steady_s
                    or float(faces.confidences[row]) < cfg.min_confidence
                    or (asked is not None and t - asked < cfg.face_cooldown_s)):
                continue
            if best is None or faces.confidences[row] > faces.confidences[best]:
                best = row
        return best

    def asked(self, track_id: int, t: float) -> None:
        self._asked_at[track_id] = t
        self._last_t = t

    def answered(self) -> None:
        """The gap to the next question counts from the first frame after the answer, so a live source that
        kept running during a long question still leaves time to watch."""
        self._gap_from_next = True

    def forget_missing(self, present: np.ndarray) -> None:
        """Drops faces that left, so memory stays flat over a long session."""
        keep = {int(i) for i in np.asarray(present).tolist()}
        for track_id in [k for k in self._asked_at if k not in keep]:
            del self._asked_at[track_id]


class PracticeQuiz:
    """The session: offer() each frame's faces; when it returns a Question, the caller pauses on that frame
    and later passes the learner's answer to answer(), which scores it and returns the Reveal."""

    def __init__(self, choices: tuple[str, ...], config: PracticeConfig = PracticeConfig()) -> None:
        self.choices = tuple(label for label in choices if label != UNCERTAIN)
        self.picker = QuestionPicker(config)
        self.score = PracticeScore(sessions=1)
        self.pending: Question | None = None
        self.revealed: Reveal | None = None

    def offer(self, faces: Detections, t: float) -> Question | None:
        """A new question about one of these faces, or None; never while a question or its reveal is on screen."""
        if self.pending is not None or self.revealed is not None:
            return None
        if faces.track_ids is not None and len(faces):
            self.picker.forget_missing(faces.track_ids)
        row = self.picker.pick(faces, t)
        if row is None:
            return None
        assert faces.track_ids is not None and faces.labels is not None and faces.confidences is not None, \
            "the picker picks only faces with ids, labels and confidences"
        x1, y1, x2, y2 = (float(v) for v in faces.boxes[row])
        question = Question(
            track_id=int(faces.track_ids[row]), box=(x1, y1, x2, y2), expression=faces.labels[row],
            confidence=float(faces.confidences[row]), t=float(t), choices=self.choices,
        )
        self.picker.asked(question.track_id, question.t)
        self.pending, self.revealed = question, None
        return question

    def choice_for_key(self, key: int) -> str | None:
        """The answer a digit key ('1'.. as its character code) stands for, or None."""
        index = key - ord("1")
        return self.choices[index] if 0 <= index < len(self.choices) else None

    def answer(self, answer: str) -> Reveal:
        """Scores the pending question; ValueError if nothing is asked or the answer is not a choice."""
        question = self.pending
        if question is None:
            raise ValueError("no question is waiting for an answer")
        if answer not in self.choices:
            raise ValueError(f"{answer!r} is not one of {', '.join(self.choices)}")
        correct = self.score.record(question.expression, answer)
        self.pending = None
        self.revealed = Reveal(question, answer, correct, cue_line(question.expression))
        self.picker.answered()
        return self.revealed

    def drop(self) -> None:
        """Practice stopped mid-question: the question goes unscored and nothing stays on screen."""
        self.pending = None
        self.revealed = None

    def carry_on(self) -> None:
        """The learner has read the reveal; the video goes on."""
        self.revealed = None
