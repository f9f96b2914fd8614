"""Accuracy of an expression model on labelled face crops (an .npz), reported the same way for every model.

The npz holds `x` (uint8 N x H x W grayscale crops), `y` (int class indices) and `labels` (the class
names y indexes). A split name reads `x_<split>` / `y_<split>` instead, so the shared FER2013 file
(x_publictest, y_publictest, ...) is evaluated in place.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from confcam.classify.ensemble import ModelEnsemble
from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError

LABEL_ALIASES = {
    "anger": "angry",
    "angry": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "afraid": "fear",
    "happy": "happy",
    "happiness": "happy",
    "joy": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "calm": "neutral",
    "contempt": "contempt",
}


def canonical_label(name: str) -> str:
    """A dataset's class name in confcam's spelling (anger -> angry); unknown names pass through."""
    key = name.strip().lower()
    return LABEL_ALIASES.get(key, key)


@dataclass(frozen=True)
class LabelledCrops:
    """Grayscale face crops with their class index into `labels`."""

    x: np.ndarray
    y: np.ndarray
    labels: tuple[str, ...]

    @staticmethod
    def load(path: Path, split: str | None = None) -> LabelledCrops:
        """Read and check an evaluation npz; ConfcamError names the file and what is wrong."""
        path = Path(path)
        xkey, ykey = ("x", "y") if split is None else (f"x_{split}", f"y_{split}")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in (xkey, ykey, "labels") if k not in data.files]
                if missing:
                    raise ConfcamError(f"{path}: npz lacks {', '.join(missing)} (has {', '.join(data.files)})")
                x, y, labels = data[xkey], data[ykey], data["labels"]
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ConfcamError(f"{path}: not a readable npz file ({str(exc).splitlines()[0]})") from None
        if x.ndim != 3 or x.dtype != np.uint8 or min(x.shape[1:], default=0) < 8:
            raise ConfcamError(f"{path}: {xkey} must be uint8 N x H x W crops, got {x.dtype} {x.shape}")
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise ConfcamError(f"{path}: {ykey} must be {len(x)} integer labels, got {y.dtype} {y.shape}")
        if labels.ndim != 1 or labels.dtype.kind not in "US":
            raise ConfcamError(f"{path}: labels must be a list of class names, got {labels.dtype} {labels.shape}")
        names = tuple(str(n) for n in labels.astype(str))
        if len(y) and (y.min() < 0 or y.max() >= len(names)):
            raise ConfcamError(f"{path}: {ykey} has class indices outside 0..{len(names) - 1}")
        return LabelledCrops(x=x, y=y.astype(np.int64), labels=names)


class ModelEvaluator:
    """Runs a model (or an ensemble of them) over labelled crops in batches, each crop prepared exactly as
    the live path does."""

    def __init__(self, model: ExpressionModel | ModelEnsemble, batch_size: int = 256) -> None:
        self.model = model
        self.ensemble = model if isinstance(model, ModelEnsemble) else ModelEnsemble([model])
        self.batch_size = max(1, int(batch_size))

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, C) probabilities for still crops; a temporal model sees each crop repeated t times."""
        step = self.batch_size
        parts = [self.ensemble.predict(crops[i : i + step]) for i in range(0, len(crops), step)]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.ensemble.labels)), np.float32)

    def evaluate(self, data: LabelledCrops) -> dict[str, object]:
        """Accuracy, accuracy over the classes present, macro recall and confusion, in the model's labels.

        Faces of a class the model lacks are skipped by `accuracy` and count as errors in `accuracy_all`."""
        model_labels = self.ensemble.labels
        index = {name: i for i, name in enumerate(model_labels)}
        mapping = np.array([index.get(canonical_label(n), -1) for n in data.labels], np.int64)
        truth = mapping[data.y]
        known = truth >= 0
        truth = truth[known]
        probs = self.predict(data.x[known])
        present = np.unique(truth)
        predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
        restricted = present[probs[:, present].argmax(axis=1)] if len(probs) else predicted
        classes = len(model_labels)
        confusion = np.bincount(truth * classes + predicted, minlength=classes * classes).reshape(classes, classes)
        support = confusion.sum(axis=1)
        recalls = [confusion[c, c] / support[c] for c in present]
        n = int(len(truth))
        skipped = int((~known).sum())
        correct = int((predicted == truth).sum())
        return {
            "model": self.ensemble.name,
            "n": n,
            "skipped": skipped,
            "accuracy": correct / n if n else 0.0,
            "accuracy_all": correct / (n + skipped) if n + skipped else 0.0,
            "accuracy_present": float((restricted == truth).mean()) if n else 0.0,
            "macro_recall": float(np.mean(recalls)) if recalls else 0.0,
            "labels": list(model_labels),
            "confusion": confusion.tolist(),
        }


def evaluate_npz(
    model: ExpressionModel | ModelEnsemble, path: Path, split: str | None = None, batch_size: int = 256, votes: Path | None = None
) -> dict[str, object]:
    """Evaluate model on the npz at path (or on its `split`, e.g. 'publictest' of the FER2013 file); with
    votes (crowd votes for the same faces, e.g. FER+), also on the crowd's majority labels, under "majority"."""
    crops = LabelledCrops.load(path, split)
    evaluator = ModelEvaluator(model, batch_size)
    report = evaluator.evaluate(crops)
    if votes is not None:
        from confcam.classify.votes import CrowdVotes, majority_crops

        majority = majority_crops(crops, CrowdVotes.load(votes, split, len(crops.x)))
        report["majority"] = evaluator.evaluate(majority) | {"votes": Path(votes).name}
    return report
