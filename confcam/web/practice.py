"""Practice mode for one browser session: the quiz runs here, on the session's worker thread, not in the page.

Why in the session and not in the page: the page would need its own copy of when to ask, the cues and the
scoring, in JavaScript, kept in step with the Python that the local window uses and the tests check; here
the same PracticeQuiz decides for both. The server also holds the very frame it asked about and keeps
sending it as the video until the learner moves on, so the page's video pauses on the right face without
the page keeping any picture. The page only shows the state each `predictions` message carries and sends
the learner's answers back.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from confcam.practice.overlay import PracticeMarks
from confcam.practice.quiz import PracticeConfig, PracticeQuiz, Question, Reveal
from confcam.practice.score import PracticeScore
from confcam.records import DIGITS
from confcam.types import Detections
from confcam.web.signalling import Control


class WebPractice:
    """The session's quiz, switched on and off by the page; requests may come from any thread and are applied
    on the worker thread at the start of the next frame, as steadiness changes are."""

    def __init__(self, choices: tuple[str, ...], config: PracticeConfig = PracticeConfig(),
                 marks: PracticeMarks | None = None) -> None:
        self.quiz = PracticeQuiz(choices, config)
        self.marks = marks or PracticeMarks()
        self.on = False
        self._requests: deque[Control] = deque(maxlen=16)
        self._held: np.ndarray | None = None
        self._asked = 0

    def request(self, control: Control) -> None:
        """Safe from the event loop's thread: deque appends are atomic."""
        self._requests.append(control)

    def prepare(self) -> str | None:
        """Applies what the page asked since the last frame, before the frame is drawn (practice draws its
        own marks, not the labels); returns the reason a request was refused, if one was."""
        return self._apply_requests()

    def step(self, image: np.ndarray, faces: Detections, t: float, error: str | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """While practice is on: the picture to send (the held question frame while asking or revealing) and
        the practice part of this frame's message, with `error` when a request was refused."""
        quiz = self.quiz
        if quiz.pending is None and quiz.revealed is None:
            question = quiz.offer(faces, t)
            if question is not None:
                self._held = image.copy()
                self._asked += 1
        if quiz.pending is not None and self._held is not None:
            picture = self.marks.asking(self._held, quiz.pending)
        elif quiz.revealed is not None and self._held is not None:
            picture = self.marks.reveal(self._held, quiz.revealed)
        else:
            picture = self.marks.watching(image, faces)
        state = self.state()
        if error:
            state["error"] = error
        return picture, state

    def state(self) -> dict[str, Any]:
        """{"state": "watching" | "asking" | "revealed", "question"?, "reveal"?, "score", "choices"}."""
        quiz = self.quiz
        out: dict[str, Any] = {"choices": list(quiz.choices), "score": _score(quiz.score, quiz.choices)}
        if quiz.pending is not None:
            out["state"] = "asking"
            out["question"] = _question(quiz.pending, self._asked)
        elif quiz.revealed is not None:
            out["state"] = "revealed"
            out["question"] = _question(quiz.revealed.question, self._asked)
            out["reveal"] = _reveal(quiz.revealed)
        else:
            out["state"] = "watching"
        return out

    def _apply_requests(self) -> str | None:
        """Applies what the page asked since the last frame; returns the reason a request was refused."""
        error = None
        while self._requests:
            control = self._requests.popleft()
            if control.name == "practice":
                self.on = bool(control.value)
                if not self.on:
                    self._leave()
            elif not self.on:
                error = "practice is off: turn it on first"
            elif control.name == "answer":
                try:
                    self.quiz.answer(str(control.value))
                except ValueError as refused:
                    error = str(refused)
            elif control.name == "next" and self.quiz.revealed is not None:
                self.quiz.carry_on()
                self._held = None
        return error

    def _leave(self) -> None:
        """Practice switched off: an unanswered question is dropped (not scored), the held frame let go."""
        self.quiz.drop()
        self._held = None


def _question(question: Question, number: int) -> dict[str, Any]:
    x1, y1, x2, y2 = question.box
    return {"number": number, "track": question.track_id,
            "box": [round(v, DIGITS) for v in (x1, y1, x2 - x1, y2 - y1)]}


def _reveal(reveal: Reveal) -> dict[str, Any]:
    return {"answer": reveal.answer, "expression": reveal.question.expression, "correct": reveal.correct,
            "confidence": round(reveal.question.confidence, DIGITS), "cue": reveal.cue}


def _score(score: PracticeScore, labels: tuple[str, ...]) -> dict[str, Any]:
    return {"asked": score.asked, "correct": score.correct,
            "expressions": {label: {"asked": t.asked, "correct": t.correct} for label, t in score.rows(labels)}}
