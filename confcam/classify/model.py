"""A confcam model file: its metadata contract (ModelInfo) and the expression classifier that runs it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import onnxruntime as ort

from confcam.classify.crop import CropRule
from confcam.errors import ModelError
from confcam.onnx_session import SessionPool, open_session

CANONICAL_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")
KINDS = ("expression", "detector")
_REQUIRED = {
    "expression": ("labels", "window", "input_size", "scale", "crop", "arch", "trained_on", "source"),
    "detector": ("arch", "input_size", "scale", "source"),
}


@dataclass(frozen=True)
class ModelInfo:
    """What a model file declares about itself in its confcam.* metadata_props."""

    name: str
    path: Path
    kind: str
    labels: tuple[str, ...]
    window: int
    input_size: int
    scale: tuple[float, float]
    crop: str
    arch: str
    trained_on: str
    source: str

    @staticmethod
    def from_metadata(path: Path, props: dict[str, str]) -> ModelInfo:
        """Parse and check the metadata of the file at path; ModelError names the first bad field."""
        path = Path(path)
        kind = props.get("confcam.kind")
        if kind not in KINDS:
            shown = "missing" if kind is None else repr(kind)
            raise ModelError(f"{path.name}: confcam.kind is {shown}; expected one of {', '.join(KINDS)}")
        missing = [k for k in _REQUIRED[kind] if not props.get(f"confcam.{k}", "").strip()]
        if missing:
            raise ModelError(f"{path.name}: metadata lacks {', '.join('confcam.' + k for k in missing)}")
        field = _FieldReader(path.name, props)
        info = ModelInfo(
            name=path.stem,
            path=path,
            kind=kind,
            labels=field.labels() if kind == "expression" else (),
            window=field.positive_int("window") if kind == "expression" else 1,
            input_size=field.square_size(),
            scale=field.scale(),
            crop=field.crop() if kind == "expression" else "",
            arch=props["confcam.arch"].strip(),
            trained_on=props.get("confcam.trained_on", "").strip(),
            source=props["confcam.source"].strip(),
        )
        return info

    @staticmethod
    def from_session(path: Path, session: ort.InferenceSession) -> ModelInfo:
        info = ModelInfo.from_metadata(path, dict(session.get_modelmeta().custom_metadata_map))
        if info.kind == "expression":
            info.check_signature(session)
        return info

    @staticmethod
    def read(path: Path) -> ModelInfo:
        """The info of the model file at path (opens it once to read and check it)."""
        return ModelInfo.from_session(path, open_session(path))

    def check_signature(self, session: ort.InferenceSession) -> None:
        """The graph's input [N, t, S, S] and output [N, C] must agree with the metadata."""
        inputs, outputs = session.get_inputs(), session.get_outputs()
        want_in = [self.window, self.input_size, self.input_size]
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or list(inputs[0].shape[1:]) != want_in:
            shape = [list(i.shape) for i in inputs]
            raise ModelError(f"{self.path.name}: input {shape} does not match [N, {', '.join(map(str, want_in))}]")
        if len(outputs) != 1 or len(outputs[0].shape) != 2 or outputs[0].shape[1] != len(self.labels):
            shape = [list(o.shape) for o in outputs]
            raise ModelError(f"{self.path.name}: output {shape} does not match [N, {len(self.labels)}] labels")

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "path": str(self.path),
            "window": self.window,
            "input_size": self.input_size,
            "labels": list(self.labels),
            "scale": list(self.scale),
            "crop": self.crop,
            "arch": self.arch,
            "trained_on": self.trained_on,
            "source": self.source,
        }


class _FieldReader:
    """Parses single confcam.* fields, naming the file and field in every error."""

    def __init__(self, file_name: str, props: dict[str, str]) -> None:
        self.file_name = file_name
        self.props = props

    def _get(self, key: str) -> str:
        return self.props.get(f"confcam.{key}", "").strip()

    def _bad(self, key: str, expected: str) -> ModelError:
        return ModelError(f"{self.file_name}: confcam.{key}={self._get(key)!r} is not {expected}")

    def labels(self) -> tuple[str, ...]:
        labels = tuple(p.strip() for p in self._get("labels").split(","))
        if len(labels) < 2 or len(set(labels)) != len(labels) or not all(labels):
            raise self._bad("labels", "a comma-separated list of distinct class names")
        unknown = [name for name in labels if name not in CANONICAL_LABELS]
        if unknown:
            raise self._bad("labels", f"made of canonical names ({', '.join(CANONICAL_LABELS)})")
        return labels

    def positive_int(self, key: str) -> int:
        try:
            value = int(self._get(key))
        except ValueError:
            raise self._bad(key, "a positive integer") from None
        if value < 1:
            raise self._bad(key, "a positive integer")
        return value

    def square_size(self) -> int:
        """'S' or 'S,S' (detectors write both sides); non-square inputs are not supported."""
        try:
            sides = {int(p) for p in self._get("input_size").split(",")}
        except ValueError:
            raise self._bad("input_size", "a size in pixels") from None
        if len(sides) != 1 or min(sides) < 8:
            raise self._bad("input_size", "one square size of at least 8 pixels")
        return sides.pop()

    def scale(self) -> tuple[float, float]:
        try:
            low, high = (float(p) for p in self._get("scale").split(","))
        except ValueError:
            raise self._bad("scale", "'LOW,HIGH' (e.g. 0,1 or -1,1)") from None
        if not high > low:
            raise self._bad("scale", "'LOW,HIGH' with HIGH > LOW")
        return low, high

    def crop(self) -> str:
        return str(CropRule.parse(self._get("crop")))


class ExpressionModel:
    """Classifies every ready face window of a frame in one onnxruntime call; `sessions` lets several
    models of the same file (one per web client) share one onnxruntime session."""

    def __init__(self, path: Path, threads: int = 1, sessions: SessionPool | None = None) -> None:
        self.session = (sessions.open if sessions is not None else open_session)(path, threads)
        self.info = ModelInfo.from_session(Path(path), self.session)
        if self.info.kind != "expression":
            raise ModelError(f"{Path(path).name} is a {self.info.kind} model, not an expression model")
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        low, high = self.info.scale
        self._gain = np.float32(high - low)
        self._offset = np.float32(low)

    @property
    def window_shape(self) -> tuple[int, int, int]:
        """(t, S, S): one face's input."""
        return self.info.window, self.info.input_size, self.info.input_size

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(N, t, S, S) crops in [0, 1] -> (N, C) float32 probabilities."""
        windows = np.asarray(windows)
        if windows.ndim != 4 or windows.shape[1:] != self.window_shape:
            expected = ", ".join(map(str, self.window_shape))
            raise ValueError(f"expected windows of shape (N, {expected}), got {windows.shape}")
        if len(windows) == 0:
            return np.zeros((0, len(self.info.labels)), np.float32)
        scaled = windows.astype(np.float32, copy=True)
        scaled *= self._gain
        scaled += self._offset
        (probs,) = self.session.run([self.output_name], {self.input_name: scaled})
        # Onnxruntime is untyped: probs is Any.
        return cast(np.ndarray, probs.astype(np.float32, copy=False))
