"""ExpressionSmoother: per-face EMA over probabilities plus hysteresis, so the shown label does not flicker.

Users hate a label that flickers more than one that is a little late, so a new label must lead the
shown one by a margin for several frames before it replaces it; below a confidence threshold the face
shows "uncertain" instead of a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from confcam.types import UNCERTAIN


@dataclass(frozen=True)
class SmootherConfig:
    alpha: float = 0.35
    """Weight of the newest probabilities in the EMA (1.0 = no smoothing)."""
    threshold: float = 0.40
    """Below this smoothed confidence the face shows "uncertain"."""
    margin: float = 0.08
    """A challenger must beat the shown label's smoothed probability by this much..."""
    hold_frames: int = 3
    """...for this many consecutive frames before the shown label changes."""


@dataclass
class _FaceState:
    ema: np.ndarray
    shown: int
    """Index of the shown class, or -1 for uncertain."""
    challenger: int = -1
    streak: int = 0


class ExpressionSmoother:
    """Keeps one small state per track id; forget() drops it when the track ends."""

    def __init__(self, class_names: tuple[str, ...], config: SmootherConfig = SmootherConfig()) -> None:
        self.class_names = class_names
        self.config = config
        self._states: dict[int, _FaceState] = {}

    def update(self, track_ids: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, list[str], np.ndarray]:
        """Fold one frame's probabilities in; returns (smoothed, shown labels, confidences)."""
        smoothed = np.empty_like(probs, dtype=np.float32)
        labels: list[str] = []
        confidences = np.empty(len(track_ids), dtype=np.float32)
        for row, track_id in enumerate(track_ids.tolist()):
            state = self._step(track_id, probs[row])
            smoothed[row] = state.ema
            if state.shown < 0:
                labels.append(UNCERTAIN)
                confidences[row] = float(state.ema.max())
            else:
                labels.append(self.class_names[state.shown])
                confidences[row] = float(state.ema[state.shown])
        return smoothed, labels, confidences

    def _step(self, track_id: int, probs: np.ndarray) -> _FaceState:
        cfg = self.config
        state = self._states.get(track_id)
        if state is None:
            ema = probs.astype(np.float32).copy()
            best = int(ema.argmax())
            state = _FaceState(ema=ema, shown=best if ema[best] >= cfg.threshold else -1)
            self._states[track_id] = state
            return state

        state.ema = (1.0 - cfg.alpha) * state.ema + cfg.alpha * probs.astype(np.float32)
        best = int(state.ema.argmax())
        top = float(state.ema[best])
        if top < cfg.threshold:
            candidate = -1
        elif state.shown < 0:
            candidate = best if top >= cfg.threshold + cfg.margin / 2 else -1
        elif best != state.shown and top >= state.ema[state.shown] + cfg.margin:
            candidate = best
        else:
            candidate = state.shown

        if candidate == state.shown:
            state.challenger, state.streak = -1, 0
        elif candidate == state.challenger:
            state.streak += 1
        else:
            state.challenger, state.streak = candidate, 1
        if state.streak >= cfg.hold_frames:
            state.shown, state.challenger, state.streak = candidate, -1, 0
        return state

    def forget(self, track_ids: list[int]) -> None:
        for track_id in track_ids:
            self._states.pop(track_id, None)

    def reset(self) -> None:
        self._states.clear()
