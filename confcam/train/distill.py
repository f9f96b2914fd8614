"""Knowledge distillation: a teacher ensemble's probabilities on a still training set, computed once with
onnxruntime and cached, then mixed into the student's targets (`confcam train --distill`).

Why cached: the teacher reads ~28k faces twice (each with its mirror image); on a shared 2-core machine
that is minutes per teacher, and a resumed or repeated student run must not pay them again.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from confcam.classify.ensemble import ModelEnsemble
from confcam.classify.model import ExpressionModel
from confcam.classify.registry import ModelRegistry
from confcam.errors import ConfcamError
from confcam.fileio import file_sha256
from confcam.train.data import LABELS, StillFaces

DISTILL_WEIGHT = 0.5
"""Share of the teacher in the student's targets when --distill is given without --distill-weight."""
CACHE_VERSION = "distill-v1"
"""Part of every cache key: bump it when the way teacher probabilities are computed changes."""


class Teacher:
    """The --distill models as one mirrored ensemble whose probabilities come in the student's LABELS order.

    Refuses (one line) a model whose classes are not the student's: its probabilities would mean something
    else. threads: onnxruntime threads (1 beside a training run on a shared machine)."""

    def __init__(self, specs: Sequence[str | Path], labels: tuple[str, ...] = LABELS, threads: int = 1) -> None:
        if not specs:
            raise ConfcamError("--distill needs at least one teacher model")
        registry = ModelRegistry()
        infos = [registry.resolve(str(spec), "expression") for spec in specs]
        for info in infos:
            if sorted(info.labels) != sorted(labels):
                raise ConfcamError(f"--distill {info.path.name}: its classes ({', '.join(info.labels)}) are not the "
                                   f"student's ({', '.join(labels)})")
        self.paths = [info.path for info in infos]
        self.labels = labels
        self.hashes = tuple(file_sha256(path) for path in self.paths)
        self.ensemble = ModelEnsemble([ExpressionModel(path, threads=threads) for path in self.paths], mirror=True)
        self._columns = [self.ensemble.labels.index(name) for name in labels]

    @property
    def name(self) -> str:
        return "teacher " + "+".join(path.stem for path in self.paths) + " (mirrored)"

    @property
    def fingerprint(self) -> tuple[str, ...]:
        """What a checkpoint records of the teachers: each file's content hash (resume refuses others)."""
        return tuple(h[:16] for h in self.hashes)

    def cache_key(self, faces: np.ndarray) -> str:
        """Teacher files' contents + the faces' pixels: equal keys, equal probabilities."""
        digest = hashlib.sha256(CACHE_VERSION.encode())
        for h in self.hashes:
            digest.update(h.encode())
        digest.update(str(faces.shape).encode())
        digest.update(np.ascontiguousarray(faces).tobytes())
        return digest.hexdigest()[:32]

    def predict(self, faces: np.ndarray, console: Console | None = None, batch: int = 256) -> np.ndarray:
        """(N, C) mirrored-ensemble probabilities over self.labels for uint8 (N, S, S) faces, with a progress bar."""
        parts = []
        with Progress(TextColumn("[bold]teacher"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=console or Console(stderr=True)) as progress:
            task = progress.add_task("teacher", total=len(faces))
            for start in range(0, len(faces), batch):
                chunk = faces[start : start + batch]
                parts.append(self.ensemble.predict(chunk)[:, self._columns])
                progress.update(task, advance=len(chunk))
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)), np.float32)


class TeacherCache:
    """Teacher probabilities per training set, on disk under CACHE/distill/KEY.npz (see Teacher.cache_key)."""

    def __init__(self, folder: Path, teacher: Teacher, console: Console | None = None) -> None:
        self.folder = Path(folder) / "distill"
        self.teacher = teacher
        self.console = console or Console(stderr=True)

    def path_for(self, faces: np.ndarray) -> Path:
        return self.folder / f"{self.teacher.cache_key(faces)}.npz"

    def probabilities(self, faces: StillFaces) -> np.ndarray:
        """The teacher's (N, C) probabilities for these faces: read from the cache, or computed and stored."""
        path = self.path_for(faces.x)
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    probs = data["probs"]
                if probs.shape == (len(faces), len(self.teacher.labels)):
                    self.console.print(f"{self.teacher.name} on {faces.name}: cached in {path}")
                    return probs
            except (OSError, KeyError, ValueError):
                pass
            self.console.print(f"{path}: unreadable teacher cache, computing it again")
        self.console.print(f"{self.teacher.name} reads {len(faces)} faces of {faces.name} (cached in {path})")
        probs = self.teacher.predict(faces.x, self.console)
        self.folder.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.stem}.{os.getpid()}.part.npz")
        np.savez(temp, probs=probs, teachers=np.array([p.name for p in self.teacher.paths]),
                 hashes=np.array(self.teacher.hashes))
        os.replace(temp, path)
        return probs

    def distil(self, faces: StillFaces, weight: float) -> StillFaces:
        """faces with the teacher's probabilities mixed into their targets at `weight`."""
        return faces.distilled(self.probabilities(faces), weight, self.teacher.name)
