"""Several expression models read as one on still face crops: the mean of their probabilities, each model
optionally averaged with its reading of the mirrored crop.

Why: a teacher is scored (`confcam eval --model A --model B --mirror`) and labels training faces for
distillation (`confcam train --distill`) the same way, so the figure reported is the one the student
learns from. One model without mirroring reads exactly as the evaluator always did.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError


class ModelEnsemble:
    """The mean of some expression models' probabilities on uint8 (N, H, W) crops, in the first model's
    label order; every model must predict the same set of classes."""

    def __init__(self, models: Sequence[ExpressionModel], mirror: bool = False) -> None:
        if not models:
            raise ConfcamError("an ensemble needs at least one expression model")
        self.models = list(models)
        self.mirror = mirror
        self.labels: tuple[str, ...] = self.models[0].info.labels
        for model in self.models[1:]:
            if sorted(model.info.labels) != sorted(self.labels):
                raise ConfcamError(f"{model.info.name} predicts {', '.join(model.info.labels)}; "
                                   f"{self.models[0].info.name} predicts {', '.join(self.labels)}: "
                                   "ensembled models need one set of classes")
        self._columns = [[model.info.labels.index(name) for name in self.labels] for model in self.models]

    @property
    def name(self) -> str:
        return "+".join(m.info.name for m in self.models) + (" (mirrored)" if self.mirror else "")

    @staticmethod
    def windows(model: ExpressionModel, crops: np.ndarray) -> np.ndarray:
        """Still crops as one model's input: resized to its size, in [0, 1], repeated over its t frames."""
        t, size, _ = model.window_shape
        if crops.shape[1:] == (size, size):
            resized = crops
        else:
            resized = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in crops])
        scaled = resized.astype(np.float32) * np.float32(1.0 / 255.0)
        return np.repeat(scaled[:, None], t, axis=1)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """(N, C) probabilities over self.labels for uint8 (N, H, W) crops."""
        if len(crops) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        total = np.zeros((len(crops), len(self.labels)), np.float64)
        views = [crops, np.ascontiguousarray(crops[:, :, ::-1])] if self.mirror else [crops]
        for model, columns in zip(self.models, self._columns):
            for view in views:
                total += model.predict(self.windows(model, view))[:, columns]
        return (total / (len(self.models) * len(views))).astype(np.float32)
