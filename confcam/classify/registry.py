"""The model files confcam knows: what is in models/, which one is the default, and NAME|PATH lookup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from confcam.classify.model import KINDS, ModelInfo
from confcam.errors import ModelError
from confcam.paths import models_dir

DEFAULT_MODELS = {"expression": "minixception-2d-ferplus", "detector": "blazeface-short+blazeface-full"}
"""The one place the default model of each kind is chosen. The default expression model is the still
mini-Xception trained on the FER+ crowd votes: it reads faces as 10 annotators do far better than the
published FER2013 model (docs/results.md); no TimeConvNet trained here beats it yet. The default detector uses two files
("near+far", see confcam.detect.focus): short-range alone misses gallery-size faces, full-range alone
misses close-ups."""


@dataclass(frozen=True)
class BrokenModel:
    """An .onnx file in the models folder that breaks the model-file contract, and why."""

    name: str
    path: Path
    error: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "path": str(self.path), "error": self.error}


class ModelRegistry:
    """Reads each models/*.onnx once; lists them, picks defaults and resolves what the user names."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else models_dir()
        self._scanned: tuple[list[ModelInfo], list[BrokenModel]] | None = None

    def _scan(self) -> tuple[list[ModelInfo], list[BrokenModel]]:
        if self._scanned is None:
            good: list[ModelInfo] = []
            broken: list[BrokenModel] = []
            for path in sorted(self.directory.glob("*.onnx")) if self.directory.is_dir() else []:
                try:
                    good.append(ModelInfo.read(path))
                except ModelError as exc:
                    broken.append(BrokenModel(path.stem, path, str(exc)))
            self._scanned = (good, broken)
        return self._scanned

    def models(self, kind: str | None = None) -> list[ModelInfo]:
        """Valid model files, optionally of one kind, by name."""
        return [m for m in self._scan()[0] if kind is None or m.kind == kind]

    def broken(self) -> list[BrokenModel]:
        """Files that could not be used, each with a one-line reason (shown by `models list`)."""
        return list(self._scan()[1])

    @staticmethod
    def default_name(kind: str) -> str:
        _check_kind(kind)
        return DEFAULT_MODELS[kind]

    def listing(self) -> list[dict[str, object]]:
        """The `models list --json` rows: every valid model with its info and whether it is the default."""
        return [{**m.as_dict(), "default": m.name in DEFAULT_MODELS[m.kind].split("+")} for m in self.models()]

    def resolve_all(self, spec: str | Path | None, kind: str) -> list[ModelInfo]:
        """Like resolve(), for a spec that may pool several models with '+' (detectors)."""
        name = self.default_name(kind) if spec is None else str(spec)
        return [self.resolve(part, kind) for part in name.split("+")]

    def resolve(self, spec: str | Path | None, kind: str) -> ModelInfo:
        """The model a user named: None -> the default, a known name, or a path to an .onnx file."""
        _check_kind(kind)
        name = self.default_name(kind) if spec is None else str(spec)
        if _looks_like_path(name):
            info = ModelInfo.read(Path(name).expanduser())
        else:
            info = self._by_name(name, kind)
        if info.kind != kind:
            raise ModelError(f"{info.path.name} is a {info.kind} model, not a {kind} model")
        return info

    def _by_name(self, name: str, kind: str) -> ModelInfo:
        for info in self.models(kind):
            if info.name == name:
                return info
        for bad in self.broken():
            if bad.name == name:
                raise ModelError(bad.error)
        known = ", ".join(m.name for m in self.models(kind)) or "none"
        raise ModelError(
            f"unknown {kind} model {name!r}; known {kind} models: {known} (or give a path to an .onnx file)"
        )


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"model kind must be one of {KINDS}, got {kind!r}")


def _looks_like_path(text: str) -> bool:
    return text.endswith(".onnx") or "/" in text or "\\" in text or Path(text).expanduser().is_file()
