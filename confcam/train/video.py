"""Real video windows for training: faces found and tracked by confcam's own detector and tracker,
cropped as the live path crops them, each window labelled by a teacher model, cached to disk.

The cache holds face crops, so it is written only where the user points `confcam train` (a folder of
their own videos); nothing is cached for the live path.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from confcam.classify.crop import FaceCropper
from confcam.classify.model import ExpressionModel
from confcam.classify.registry import ModelRegistry
from confcam.detect.base import FaceDetector
from confcam.errors import ConfcamError
from confcam.sources.file import FileSource
from confcam.track.tracker import FaceTracker, TrackerConfig
from confcam.train.data import LABELS, CachedWindows

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


def default_detector(spec: str | None = None, registry: ModelRegistry | None = None) -> FaceDetector:
    """The live path's face detector (the same factory and settings), so training crops match live crops."""
    from confcam.build import build_pipeline
    from confcam.config import PipelineConfig

    config = PipelineConfig() if spec is None else PipelineConfig(detector=spec)
    return build_pipeline(config, registry or ModelRegistry()).detector


class TeacherLabeller:
    """Soft labels for a window from a still-image teacher: its probabilities averaged over the
    window's frames and their mirror images, which is steadier than any single pass of it."""

    def __init__(self, teacher: ExpressionModel) -> None:
        if teacher.info.window != 1:
            raise ConfcamError(f"teacher {teacher.info.name} must be a still-image model (window 1)")
        index = {name: i for i, name in enumerate(teacher.info.labels)}
        missing = [name for name in LABELS if name not in index]
        if missing:
            raise ConfcamError(f"teacher {teacher.info.name} lacks classes {', '.join(missing)}")
        self.teacher = teacher
        self._order = np.array([index[name] for name in LABELS])

    def per_crop(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S) crops in [0, 1] -> (N, C) probabilities, mirror-averaged, in LABELS order."""
        both = np.concatenate([crops, crops[:, :, ::-1]])[:, None]
        probs = self.teacher.predict(np.ascontiguousarray(both))[:, self._order]
        probs = (probs[: len(crops)] + probs[len(crops) :]) / 2.0
        return probs / probs.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class VideoWindows:
    """Every full window of every confirmed track of one video: uint8 crops and per-window soft labels."""

    x: np.ndarray
    """(N, t, S, S) uint8 crops."""
    targets: np.ndarray
    """(N, C) float32 teacher probabilities (mean over the window's frames)."""
    track_ids: np.ndarray
    last_frames: np.ndarray


class VideoWindowBuilder:
    """Detects, tracks and crops every face of a video, then labels each full window with the teacher."""

    def __init__(self, teacher: ExpressionModel, window: int = 5, size: int = 64, stride: int = 1,
                 detector: str | None = None, registry: ModelRegistry | None = None, max_frames: int | None = None) -> None:
        self.labeller = TeacherLabeller(teacher)
        self.window = int(window)
        self.stride = max(1, int(stride))
        self.max_frames = max_frames
        self.detector = default_detector(detector, registry)
        self.cropper = FaceCropper(size, str(teacher.info.crop))
        self.teacher_cropper = FaceCropper(teacher.info.input_size, teacher.info.crop)

    def build(self, video: Path) -> VideoWindows:
        tracker = FaceTracker(TrackerConfig(window=self.window))
        self.detector.reset()
        crops: dict[int, list[np.ndarray]] = {}
        labels: dict[int, list[np.ndarray]] = {}
        x, targets, ids, lasts = [], [], [], []
        with FileSource(video) as source:
            while (frame := source.read()) is not None:
                if self.max_frames is not None and frame.index >= self.max_frames:
                    break
                faces = tracker.update(self.detector.detect(frame.image))
                for track_id in tracker.ended:
                    crops.pop(track_id, None)
                    labels.pop(track_id, None)
                if len(faces) == 0:
                    continue
                own = self.cropper.crop(frame.image, faces)
                probs = self.labeller.per_crop(self.teacher_cropper.crop(frame.image, faces))
                for row, track_id in enumerate(faces.track_ids.tolist()):
                    history = crops.setdefault(track_id, [])
                    scores = labels.setdefault(track_id, [])
                    history.append(own[row])
                    scores.append(probs[row])
                    del history[: -self.window], scores[: -self.window]
                    if len(history) == self.window and frame.index % self.stride == 0:
                        x.append(np.round(np.stack(history) * 255.0).astype(np.uint8))
                        targets.append(np.mean(scores, axis=0))
                        ids.append(track_id)
                        lasts.append(frame.index)
        size = self.cropper.size
        return VideoWindows(
            x=np.stack(x) if x else np.zeros((0, self.window, size, size), np.uint8),
            targets=np.asarray(targets, np.float32).reshape(-1, len(LABELS)),
            track_ids=np.asarray(ids, np.int64),
            last_frames=np.asarray(lasts, np.int64),
        )


def find_videos(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfcamError(f"{folder}: not a folder of videos")
    videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise ConfcamError(f"{folder}: no video files ({', '.join(VIDEO_SUFFIXES)})")
    return videos


class WindowCache:
    """Teacher-labelled windows of a folder of videos, built once per (video, teacher, settings) and kept
    as npz files in a cache folder the user chose."""

    def __init__(self, folder: Path, builder: VideoWindowBuilder) -> None:
        self.folder = Path(folder)
        self.builder = builder

    def _key(self, video: Path) -> str:
        stat = video.stat()
        teacher = self.builder.labeller.teacher.info
        text = "|".join(map(str, (video.resolve(), stat.st_size, int(stat.st_mtime), teacher.path.name,
                                  teacher.path.stat().st_size, self.builder.window, self.builder.cropper.size,
                                  self.builder.stride, self.builder.max_frames)))
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def windows(self, video: Path) -> Path:
        """The cache file for video, built if missing (written whole or not at all)."""
        path = self.folder / f"{Path(video).stem}-{self._key(Path(video))}.npz"
        if path.is_file():
            return path
        self.folder.mkdir(parents=True, exist_ok=True)
        built = self.builder.build(Path(video))
        temp = path.with_name(f".{path.stem}.part.npz")
        try:
            np.savez_compressed(temp, x=built.x, targets=built.targets, track_ids=built.track_ids,
                                last_frames=built.last_frames, labels=np.array(LABELS))
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        return path

    def load_folder(self, videos: Path, announce=print) -> CachedWindows:
        """Every video of a folder as one CachedWindows set."""
        parts = []
        for video in find_videos(videos):
            part = CachedWindows.load(self.windows(video))
            announce(f"{video.name}: {len(part)} teacher-labelled windows")
            parts.append(part)
        size = self.builder.cropper.size
        x = np.concatenate([p.x for p in parts]) if parts else np.zeros((0, self.builder.window, size, size), np.uint8)
        targets = np.concatenate([p.targets for p in parts]) if parts else np.zeros((0, len(LABELS)), np.float32)
        return CachedWindows(x, targets, f"{Path(videos).name} (teacher-labelled video windows)")
