"""HindsightDecoder: each face's label decided with a few seconds of what came after, for offline analysis.

The live smoother must decide now, so it waits for evidence and a change shows ~0.7 s late; at the end
of a recording it never catches up (a clip that ends 0.5 s into a smile ends on "neutral"). A recording
being analysed has no such excuse. Here each face's labels are the most likely label sequence (Viterbi)
given the model's per-frame probabilities, with a fixed price for every change:

- a frame's evidence for a class is log(probability) times the seconds it covers (so 10 and 30 FPS
  weigh alike), "uncertain" scores as a class held at `uncertain_level`;
- each change costs SWITCH_SHARE times `SmootherConfig.evidence_needed` lead-seconds (hold_s at
  reference_lead: the evidence the live smoother waits for), so a brief excursion there and back has to
  pay twice: a talking face's passing lead does not change the label, a held expression does, from its
  first frame;
- a frame's label is final once `lag_s` seconds of later frames are in (or the recording ends), so memory
  stays flat over hours: per face, one score per class and one back-pointer row per pending frame;
- a label is kept at least `min_dwell_s` (nothing flashes more than 3 times a second, WCAG 2.3.1).

Numbers only: no crop or picture is held here.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import islice
from dataclasses import dataclass, field

import numpy as np

from confcam.classify.smoother import SmootherConfig
from confcam.types import UNCERTAIN

DEFAULT_LAG_S = 2.0
"""Seconds of later frames a label waits for. On the shared clips the decisions match those made with the
whole recording in view on 82 % of frames (1 s: 74 %, 3 s: all); 3 s turns whole clips whose reading
swaps between two classes every few frames into "uncertain" and holds 3 s of pictures for --output."""

SWITCH_SHARE = 1.5
"""A change's price as a share of the live smoother's evidence: at 1.0 the shared talking heads' labels
changed 12 times a minute (median) against the live view's 8, at 1.5 6 times, and a clip cut 0.5 s into
a held expression still ends on it in 16 of 17 cuts (docs/benchmarks.md, "Hindsight labels")."""

_FLOOR = 1e-3
"""Probabilities below this count as this, as in the live smoother."""


@dataclass
class _TrackPath:
    """One face's Viterbi state: the best score ending in each label and the back-pointers of the frames
    not yet decided (oldest first)."""

    score: np.ndarray
    last_t: float
    back: deque[np.ndarray] = field(default_factory=deque)
    times: deque[float] = field(default_factory=deque)
    shown: int | None = None
    """The state decided for the last decided frame (the uncertain state is the last index); None: none yet."""
    shown_since: float = -math.inf


@dataclass(frozen=True)
class Decision:
    label: str
    index: int
    """Index into the class names, or -1 for uncertain."""
    age_s: float
    """Seconds this label has been decided for this face (renderers fade a new label in)."""


class HindsightDecoder:
    """Per track id: push() each frame's probabilities in order, decide_next() the frames in the same order
    (once `lag_s` later seconds are in, or the recording ended). A face whose frames are all decided is
    forgotten (seen again, it starts afresh)."""

    def __init__(self, class_names: tuple[str, ...], config: SmootherConfig = SmootherConfig(),
                 lag_s: float = DEFAULT_LAG_S, first_step_s: float = 1 / 30) -> None:
        """first_step_s: the seconds a face's first frame stands for (the source's frame interval)."""
        self.class_names = tuple(class_names)
        self.config = config
        self.lag_s = lag_s
        self.first_step_s = first_step_s
        self.switch_cost = SWITCH_SHARE * config.evidence_needed
        self.uncertain_log = math.log((config.enter_threshold + config.exit_threshold) / 2)
        self._states = np.arange(len(self.class_names) + 1)
        """Every state's own index: a back-pointer row that stays."""
        self._paths: dict[int, _TrackPath] = {}

    def push(self, track_id: int, probs: np.ndarray, t: float) -> None:
        evidence = np.append(np.log(np.maximum(np.asarray(probs, dtype=np.float64), _FLOOR)), self.uncertain_log)
        path = self._paths.get(track_id)
        if path is None:
            self._paths[track_id] = _TrackPath(evidence * self.first_step_s, t, times=deque([t]),
                                               back=deque([self._states]))
            return
        dt = min(max(t - path.last_t, 0.0), self.config.max_step_s)
        path.last_t = t
        best = int(path.score.argmax())
        move = path.score[best] - self.switch_cost
        stay = path.score >= move
        path.back.append(np.where(stay, self._states, best))
        path.score = np.where(stay, path.score, move) + evidence * dt
        path.times.append(t)

    def decide_next(self, track_id: int) -> Decision:
        """The decision for this face's oldest undecided frame, from the best label sequence through every
        frame pushed since: the caller waits until lag_s later seconds are in, or the recording ended.

        Later decisions keep to it: every label sequence that does not pass through it is dropped (a label
        whose best sequence did restarts from the best sequence, as a change at the newest frame), so
        decisions made from different frames' points of view never zig-zag."""
        path = self._paths[track_id]
        ancestors = self._states
        for back in islice(reversed(path.back), len(path.back) - 1):  # the oldest row points at a decided frame
            ancestors = back[ancestors]
        best = int(path.score.argmax())
        state = int(ancestors[best])
        dropped = ancestors != state
        if dropped.any():
            path.score = np.where(dropped, path.score[best] - self.switch_cost, path.score)
            if len(path.back) > 1:
                path.back[-1] = np.where(dropped, path.back[-1][best], path.back[-1])
        t = path.times.popleft()
        path.back.popleft()
        if not path.times:
            del self._paths[track_id]
        return self._show(path, state, t)

    def pending(self, track_id: int) -> int:
        path = self._paths.get(track_id)
        return 0 if path is None else len(path.times)

    def _show(self, path: _TrackPath, state: int, t: float) -> Decision:
        """A decided state becomes the shown label unless the last one is younger than min_dwell_s."""
        if state != path.shown and (path.shown is None or t - path.shown_since >= self.config.min_dwell_s):
            path.shown, path.shown_since = state, t
        index = -1 if path.shown == len(self.class_names) else path.shown
        label = UNCERTAIN if index < 0 else self.class_names[index]
        return Decision(label, index, t - path.shown_since)
