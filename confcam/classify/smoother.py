"""ExpressionSmoother: per-face evidence over time, so the shown label is steady yet follows real changes.

Users hate a label that flickers more than one that is a little late, but a label that lags a clear
change is wrong too. Everything here is in seconds, not frames, so a 5 FPS screen capture and a 30 FPS
file behave alike:

- each face's probabilities are averaged exponentially with a time constant (each frame weighs by the
  time it covers);
- every alternative to the shown label (another class, or "uncertain") gathers evidence: the integral
  over time of how far it leads in log-likelihood (log of its smoothed probability over the shown
  label's), beyond a margin: Page's CUSUM change detector, which is what the log-likelihood ratio is
  for. The label changes when that evidence reaches `hold_s` seconds at `reference_lead`, so a strong,
  confident change (a class 10 times as likely) switches several times sooner than a weak one (1.5 times
  as likely), which a talking face produces all the time, and a lead that comes and goes drains again;
- "uncertain" has its own hysteresis: a face enters it when its shown class falls below
  `exit_threshold` and leaves it only when a class rises above `enter_threshold`;
- a face that just appeared shows "uncertain" and starts from no evidence, its average from its first
  reading; it gets its first label once a class has led for long enough (a clear face in about a quarter
  of a second at the balanced preset, an ambiguous one later or not at all), so a short clip or a photo
  still ends with a reading.

Nothing depends on the class list: any model's labels work.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from confcam.classify.base import SmootherContext
from confcam.plugins import Entry
from confcam.types import UNCERTAIN

STEADINESS_PRESETS: dict[str, float] = {"calm": 1.2, "balanced": 0.6, "quick": 0.3}
"""The one scale (seconds) behind each --steadiness name; see SmootherConfig.from_seconds. Balanced was
chosen on the shared talking-head clips (docs/benchmarks.md, "Label steadiness")."""

AVERAGING_SHARE = 0.4
"""The averaging time constant as a share of the hold time: short enough that the average does not add
much lag to the evidence, long enough to calm single-frame noise."""

_FLOOR = 1e-3
"""Probabilities below this count as this in log-ratios, so one near-zero class cannot give unbounded lead."""


@dataclass(frozen=True)
class SmootherConfig:
    time_constant_s: float = AVERAGING_SHARE * STEADINESS_PRESETS["balanced"]
    """Time constant of the exponential average of each face's probabilities."""
    hold_s: float = STEADINESS_PRESETS["balanced"]
    """How long a challenger leading by `reference_lead` (beyond the margin) must lead to be shown."""
    reference_lead: float = 1.0
    """The lead (natural log of the probability ratio: 1.0 = e times as likely) at which a challenger
    needs exactly `hold_s`; twice that lead needs half the time."""
    margin: float = 0.15
    """A challenger's log-probability must beat the shown label's by this (0.15: ~16 % more likely) before
    it gathers evidence."""
    enter_threshold: float = 0.45
    """Leaving "uncertain": a class's smoothed probability must rise above this."""
    exit_threshold: float = 0.35
    """Entering "uncertain": the shown class's smoothed probability falls below this."""
    max_step_s: float = 0.5
    """One frame never counts for more than this (a face unseen for a while is not judged on one frame)."""
    min_dwell_s: float = 0.34
    """A shown label stays at least this long, so nothing flashes more than 3 times a second (WCAG 2.3.1);
    a challenger keeps gathering evidence meanwhile and takes over as soon as the dwell is over."""

    @classmethod
    def from_seconds(cls, seconds: float) -> SmootherConfig:
        """One knob: the hold time, with the averaging time constant scaled to it."""
        return cls(time_constant_s=AVERAGING_SHARE * seconds, hold_s=seconds)

    @classmethod
    def preset(cls, name: str) -> SmootherConfig:
        return cls.from_seconds(STEADINESS_PRESETS[name])

    @property
    def evidence_needed(self) -> float:
        """Lead-seconds an alternative must gather (hold_s at reference_lead)."""
        return self.hold_s * self.reference_lead


@dataclass
class _FaceState:
    ema: np.ndarray
    """Smoothed probabilities."""
    evidence: np.ndarray
    """Per alternative (each class, then "uncertain" last): lead-seconds gathered against the shown label."""
    last_t: float
    shown: int = -1
    """Index of the shown class, or -1 for uncertain."""
    shown_since: float = -math.inf
    """When the shown label last changed; a new face's first reading is not a change, so it is not held back."""


class ExpressionSmoother:
    """Keeps one small state per track id; forget() drops it when the track ends."""

    def __init__(self, class_names: tuple[str, ...], config: SmootherConfig = SmootherConfig()) -> None:
        self.class_names = tuple(class_names)
        self.config = config
        self._states: dict[int, _FaceState] = {}

    def update(
        self, track_ids: np.ndarray, probs: np.ndarray, timestamp: float
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Fold one frame's probabilities in at `timestamp` (seconds); returns (smoothed, shown labels, confidences)."""
        smoothed = np.empty_like(probs, dtype=np.float32)
        labels: list[str] = []
        confidences = np.empty(len(track_ids), dtype=np.float32)
        for row, track_id in enumerate(np.asarray(track_ids).tolist()):
            state = self._step(track_id, np.asarray(probs[row], dtype=np.float64), float(timestamp))
            smoothed[row] = state.ema
            if state.shown < 0:
                labels.append(UNCERTAIN)
                confidences[row] = float(state.ema.max())
            else:
                labels.append(self.class_names[state.shown])
                confidences[row] = float(state.ema[state.shown])
        return smoothed, labels, confidences

    def _step(self, track_id: int, probs: np.ndarray, t: float) -> _FaceState:
        cfg = self.config
        state = self._states.get(track_id)
        if state is None:
            state = _FaceState(ema=probs.copy(), evidence=np.zeros(len(probs) + 1), last_t=t)
            self._states[track_id] = state
        dt = min(max(t - state.last_t, 0.0), cfg.max_step_s)
        state.last_t = t
        if dt == 0.0:
            return state
        # The frame's probabilities are taken to hold over the time since the previous frame; the average
        # moves exponentially towards them and each alternative's lead is integrated over that time in
        # steps no longer than a quarter of the time constant, so 5 FPS and 60 FPS gather alike.
        steps = max(1, math.ceil(dt / (cfg.time_constant_s / 4.0)))
        decay = math.exp(-dt / steps / cfg.time_constant_s)
        for _ in range(steps):
            state.ema = probs + (state.ema - probs) * decay
            state.evidence = np.maximum(state.evidence + self._advantages(state.ema, state.shown) * (dt / steps), 0.0)
        best = int(state.evidence.argmax())
        if state.evidence[best] >= cfg.evidence_needed and t - state.shown_since >= cfg.min_dwell_s:
            state.shown = -1 if best == len(probs) else best
            state.evidence[:] = 0.0
            state.shown_since = t
        return state

    def label_ages(self, track_ids: np.ndarray, timestamp: float) -> np.ndarray:
        """Seconds each face's shown label has been shown (renderers fade a new label in over these; a face's
        first "uncertain" counts as long shown)."""
        return np.array([timestamp - self._states[int(i)].shown_since if int(i) in self._states else 0.0
                         for i in np.asarray(track_ids).tolist()], dtype=np.float32)

    def _advantages(self, ema: np.ndarray, shown: int) -> np.ndarray:
        """How far each alternative (classes, then "uncertain") leads the shown label, in log-probability."""
        cfg = self.config
        logs = np.log(np.maximum(ema, _FLOOR))
        out = np.empty(len(ema) + 1)
        if shown < 0:
            # Leaving "uncertain": a class above the threshold leads by how far it beats its strongest rival
            # (the threshold is the hysteresis here, so no margin), so a clear face is labelled within a
            # fraction of a second, a mixed one (0.54 against 0.35) within about 1.5 s.
            order = np.argsort(logs)
            rival = np.full(len(logs), logs[order[-1]])
            rival[order[-1]] = logs[order[-2]] if len(logs) > 1 else math.log(_FLOOR)
            above = ema >= cfg.enter_threshold
            out[:-1] = np.where(above, logs - rival, logs - math.log(cfg.enter_threshold))
            out[-1] = -1.0
        else:
            out[:-1] = logs - logs[shown] - cfg.margin
            out[shown] = -1.0
            out[-1] = math.log(cfg.exit_threshold) - logs[shown]
        return out

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self._states.pop(track_id, None)

    def reset(self) -> None:
        self._states.clear()


def _evidence(context: SmootherContext) -> ExpressionSmoother:
    return ExpressionSmoother(context.class_names, context.config)


ENTRY = Entry(
    "evidence", "An exponential average and a change detector: steady labels that still follow clear changes.",
    _evidence,
)
