"""PracticeScore: per expression, how often the learner was asked and how often they read it as confcam did.

Kept in memory for the session; written to disk only when the user names a file (`--save-progress`),
where it adds to what earlier sessions saved there, so progress shows over weeks, not just one sitting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from confcam.errors import ConfcamError
from confcam.fileio import check_input_file, os_reason, write_json

FORMAT = "confcam-practice-progress"
VERSION = 1


@dataclass
class Tally:
    """One expression's count: questions asked about it, answers that matched confcam's reading."""

    asked: int = 0
    correct: int = 0

    @property
    def share(self) -> float | None:
        return self.correct / self.asked if self.asked else None


@dataclass
class PracticeScore:
    """Per-expression tallies, keyed by confcam's reading (the question's expression), plus the sessions
    they come from."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    sessions: int = 0

    def record(self, expression: str, answer: str) -> bool:
        """Counts one answered question; True when the answer matched confcam's reading."""
        tally = self.tallies.setdefault(expression, Tally())
        tally.asked += 1
        right = answer == expression
        tally.correct += int(right)
        return right

    @property
    def asked(self) -> int:
        return sum(t.asked for t in self.tallies.values())

    @property
    def correct(self) -> int:
        return sum(t.correct for t in self.tallies.values())

    def rows(self, labels: tuple[str, ...] = ()) -> list[tuple[str, Tally]]:
        """(expression, tally) in the model's label order first, then any other expression asked."""
        order = [label for label in labels if label in self.tallies]
        order += sorted(label for label in self.tallies if label not in order)
        return [(label, self.tallies[label]) for label in order]

    def plus(self, other: PracticeScore) -> PracticeScore:
        """The two scores added up (earlier sessions + this one)."""
        merged = PracticeScore(sessions=self.sessions + other.sessions)
        for source in (self, other):
            for label, tally in source.tallies.items():
                into = merged.tallies.setdefault(label, Tally())
                into.asked += tally.asked
                into.correct += tally.correct
        return merged

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "sessions": self.sessions,
            "expressions": {label: {"asked": t.asked, "correct": t.correct} for label, t in self.rows()},
        }

    @classmethod
    def from_json(cls, document: object) -> PracticeScore:
        """Raises ValueError naming what is wrong, so a damaged file is never silently replaced."""
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f'it is not a confcam practice progress file (no "format": "{FORMAT}")')
        if document.get("version") != VERSION:
            raise ValueError(f"it has version {document.get('version')!r}; this confcam reads version {VERSION}")
        sessions, expressions = document.get("sessions"), document.get("expressions")
        if not _count(sessions) or not isinstance(expressions, dict):
            raise ValueError('it needs "sessions" (a count) and "expressions" (an object)')
        score = cls(sessions=sessions)
        for label, entry in expressions.items():
            asked, correct = (entry.get("asked"), entry.get("correct")) if isinstance(entry, dict) else (None, None)
            if not (_count(asked) and _count(correct) and correct <= asked):
                raise ValueError(f'expression {label!r} needs counts "asked" >= "correct" >= 0')
            score.tallies[str(label)] = Tally(asked, correct)
        return score


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class ProgressFile:
    """The file named by --save-progress: read (if it exists) before the session, so a file that is not
    progress is refused before any work; written atomically at the end with earlier sessions added in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.earlier = self._read()

    def _read(self) -> PracticeScore:
        if not self.path.exists():
            return PracticeScore()
        check_input_file(self.path, "a progress file")
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfcamError(f"--save-progress {self.path}: cannot read it: {os_reason(error)}") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            document = None
        try:
            return PracticeScore.from_json(document)
        except ValueError as error:
            raise ConfcamError(f"--save-progress {self.path}: {error}; name a new file or an earlier progress file") from None

    def save(self, session: PracticeScore) -> PracticeScore:
        """Writes earlier sessions + this one (whole or not at all) and returns that total."""
        total = self.earlier.plus(session)
        write_json(self.path, total.to_json())
        return total
