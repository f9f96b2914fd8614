"""Crowd votes for face crops (FER+: 10 annotators per FER2013 face), turned into training targets and
into the majority labels a model is scored on.

FER2013's own labels agree with the 10-person FER+ majority on only 65 % of faces, so confcam trains on
the vote distribution and reports accuracy on the majority as well as on the original labels.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from confcam.classify.evaluate import LabelledCrops, canonical_label
from confcam.errors import ConfcamError

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
"""The 8 FER+ expression classes in confcam's canonical order and spelling."""
NOT_AN_EMOTION = ("unknown", "nf")
VOTE_MODES = ("crossentropy", "probability", "majority")
"""FER+ (Barsoum et al. 2016) training schemes: the vote distribution as a soft target, one label drawn
from it each time a face is used, or the majority label alone."""


@dataclass(frozen=True)
class CrowdVotes:
    """Vote counts (N, 8) over EMOTIONS plus (N, K) for the other columns ('unknown', 'not a face'); a
    face whose votes could not be matched has matched == False."""

    emotions: np.ndarray
    other: np.ndarray
    matched: np.ndarray

    @staticmethod
    def load(path: Path, split: str | None, count: int) -> CrowdVotes:
        """The votes for SPLIT (array votes_SPLIT, or votes) of a votes npz, checked against count faces."""
        path = Path(path)
        key = f"votes_{split}" if split else "votes"
        try:
            with np.load(path, allow_pickle=False) as data:
                if key not in data.files or "columns" not in data.files:
                    raise ConfcamError(f"{path}: votes npz lacks {key} or columns (has {', '.join(data.files)})")
                votes, columns = data[key], [canonical_label(str(c)) for c in data["columns"]]
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ConfcamError(f"{path}: not a readable npz file ({str(exc).splitlines()[0]})") from None
        if votes.ndim != 2 or votes.shape != (count, len(columns)):
            raise ConfcamError(f"{path}: {key} is {votes.shape}, expected ({count}, {len(columns)}): one row per face")
        missing = [name for name in EMOTIONS if name not in columns]
        if missing:
            raise ConfcamError(f"{path}: votes columns lack {', '.join(missing)}")
        emotions = votes[:, [columns.index(name) for name in EMOTIONS]].astype(np.float32)
        others = [i for i, c in enumerate(columns) if c in NOT_AN_EMOTION]
        other = votes[:, others].astype(np.float32)
        matched = (votes >= 0).all(axis=1)
        return CrowdVotes(np.where(matched[:, None], emotions, 0), np.where(matched[:, None], other, 0), matched)

    def __len__(self) -> int:
        return len(self.matched)

    def usable(self) -> np.ndarray:
        """Faces worth training on: votes matched and more of them for an emotion than for unknown / not a face."""
        # Numpy's stubs type arithmetic on an unparameterised ndarray as Any.
        return cast(np.ndarray, self.matched & (self.emotions.sum(axis=1) > self.other.sum(axis=1)))

    def distribution(self) -> np.ndarray:
        """(N, 8) target distribution: a class that got a single vote is taken as annotator noise and
        dropped (as the FER+ paper does) unless nothing else is left; rows of unusable faces are zero."""
        counts = np.where(self.emotions > 1, self.emotions, 0)
        counts = np.where(counts.sum(axis=1, keepdims=True) > 0, counts, self.emotions)
        total = counts.sum(axis=1, keepdims=True)
        dist = np.divide(counts, total, out=np.zeros_like(counts), where=total > 0)
        return np.where(self.usable()[:, None], dist, 0).astype(np.float32)

    def majority(self) -> np.ndarray:
        """(N,) index into EMOTIONS of the single most-voted class, or -1 where the top vote is tied,
        goes to unknown / not a face, or no votes were matched (FER+'s majority protocol)."""
        top = self.emotions.max(axis=1)
        unique = (self.emotions == top[:, None]).sum(axis=1) == 1
        other = self.other.max(axis=1, initial=0.0)
        keep = self.matched & unique & (top > other)
        return np.where(keep, self.emotions.argmax(axis=1), -1)

    def targets(self, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """(kept face indices, (K, 8) targets) for a VOTE_MODES training scheme."""
        if mode not in VOTE_MODES:
            raise ConfcamError(f"--vote-mode {mode!r}: choose one of {', '.join(VOTE_MODES)}")
        if mode == "majority":
            label = self.majority()
            keep = np.flatnonzero(label >= 0)
            return keep, np.eye(len(EMOTIONS), dtype=np.float32)[label[keep]]
        keep = np.flatnonzero(self.usable())
        return keep, self.distribution()[keep]


def majority_crops(crops: LabelledCrops, votes: CrowdVotes) -> LabelledCrops:
    """The crops that have a crowd majority, labelled with it (for scoring a model on FER+ labels)."""
    label = votes.majority()
    keep = label >= 0
    return LabelledCrops(x=crops.x[keep], y=label[keep].astype(np.int64), labels=EMOTIONS)
