"""The smoother's promises: no flicker, a quick first label, "uncertain" when unsure, state freed per face."""

import numpy as np
import pytest

from confcam.classify.smoother import ExpressionSmoother, SmootherConfig
from confcam.types import UNCERTAIN

NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def one_hot(index: int, peak: float = 0.9) -> np.ndarray:
    p = np.full(len(NAMES), (1 - peak) / (len(NAMES) - 1), dtype=np.float32)
    p[index] = peak
    return p


def run(sequence: list[np.ndarray], config: SmootherConfig = SmootherConfig()) -> list[str]:
    smoother = ExpressionSmoother(NAMES, config)
    ids = np.array([7])
    return [smoother.update(ids, p[None])[1][0] for p in sequence]


def test_first_frame_shows_a_label_at_once():
    assert run([one_hot(3)]) == ["happy"]


def test_single_frame_glitch_never_changes_the_shown_label():
    seq = [one_hot(3)] * 10 + [one_hot(4)] + [one_hot(3)] * 10
    assert set(run(seq)) == {"happy"}


def test_alternating_predictions_do_not_flicker():
    seq = [one_hot(3) if i % 2 else one_hot(6) for i in range(40)]
    labels = run(seq)
    changes = sum(a != b for a, b in zip(labels, labels[1:]))
    assert changes <= 1


def test_sustained_change_switches_within_a_few_frames():
    labels = run([one_hot(3)] * 10 + [one_hot(5)] * 15)
    assert labels[-1] == "surprise"
    assert labels.index("surprise") - 10 <= 8


@pytest.mark.parametrize("peak,expected", [(0.2, UNCERTAIN), (0.35, UNCERTAIN), (0.6, "fear"), (0.95, "fear")])
def test_low_confidence_shows_uncertain(peak, expected):
    assert run([one_hot(2, peak)] * 12)[-1] == expected


def test_confidence_is_the_smoothed_probability_of_the_shown_label():
    smoother = ExpressionSmoother(NAMES)
    smoothed, labels, conf = smoother.update(np.array([1]), one_hot(3)[None])
    assert labels == ["happy"]
    assert conf[0] == pytest.approx(smoothed[0, 3])


def test_each_face_is_smoothed_on_its_own_and_forgotten_when_its_track_ends():
    smoother = ExpressionSmoother(NAMES)
    ids = np.array([1, 2])
    for _ in range(5):
        _, labels, _ = smoother.update(ids, np.stack([one_hot(3), one_hot(0)]))
    assert labels == ["happy", "angry"]
    smoother.forget([1])
    _, labels, _ = smoother.update(np.array([1]), one_hot(5)[None])
    assert labels == ["surprise"]
