"""Real video windows for training: faces found and tracked by confcam's own detector and tracker,
cropped as the live path crops them, each window labelled by a teacher model, cached to disk.

The cache holds face crops, so it is written only where the user points `confcam train` (a folder of
their own videos); nothing is cached for the live path.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from confcam.classify.crop import FaceCropper
from confcam.classify.model import ExpressionModel, ModelInfo
from confcam.classify.registry import ModelRegistry
from confcam.detect.base import FaceDetector
from confcam.errors import ConfcamError
from confcam.fileio import file_sha256
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
    """Per-frame soft labels from one or more still-image teachers (their mean), each mirror-averaged,
    which is steadier than any single pass. Classes a teacher lacks (contempt, for a FER2013 teacher) get
    probability 0 from it. Teachers share one input size and crop rule, so one crop serves them all."""

    def __init__(self, teachers: ExpressionModel | Sequence[ExpressionModel]) -> None:
        self.teachers = [teachers] if isinstance(teachers, ExpressionModel) else list(teachers)
        if not self.teachers:
            raise ConfcamError("video windows need a teacher to label them")
        first = self.teachers[0].info
        self._pairs = []
        for teacher in self.teachers:
            info = teacher.info
            if info.window != 1:
                raise ConfcamError(f"teacher {info.name} must be a still-image model (window 1)")
            if (info.input_size, info.crop) != (first.input_size, first.crop):
                raise ConfcamError(f"teacher {info.name} crops faces unlike {first.name} "
                                   f"({info.input_size} px, {info.crop}): pooled teachers need one crop rule")
            index = {name: i for i, name in enumerate(info.labels)}
            if not any(name in index for name in LABELS):
                raise ConfcamError(f"teacher {info.name} has none of the classes {', '.join(LABELS)}")
            self._pairs.append(np.array([(i, index[name]) for i, name in enumerate(LABELS) if name in index]))

    @property
    def info(self) -> ModelInfo:
        """The first teacher's model info: its input size and crop rule are every teacher's."""
        return self.teachers[0].info

    @property
    def name(self) -> str:
        return "+".join(t.info.name for t in self.teachers)

    def per_crop(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S) crops in [0, 1] -> (N, C) probabilities, mirror-averaged, in LABELS order."""
        both = np.ascontiguousarray(np.concatenate([crops, crops[:, :, ::-1]])[:, None])
        probs = np.zeros((len(crops), len(LABELS)), np.float32)
        for teacher, pairs in zip(self.teachers, self._pairs):
            raw = teacher.predict(both)
            own = np.zeros_like(probs)
            own[:, pairs[:, 0]] = (raw[: len(crops), pairs[:, 1]] + raw[len(crops) :, pairs[:, 1]]) / 2.0
            probs += own / own.sum(axis=1, keepdims=True)
        return probs / len(self.teachers)


def last_frame_targets(probs: np.ndarray, window: int, reach: int) -> np.ndarray:
    """(F, C) per-frame teacher probabilities of one track -> (F - window + 1, C): each window's target is
    the expression at its last frame, denoised by averaging the teacher over the frames up to `reach`
    before and after it. Centred, so the target does not lag a changing face (labels are made offline,
    so later frames may be used); a window-mean target would teach the network to lag."""
    frames = len(probs)
    out = []
    for last in range(window - 1, frames):
        low, high = max(0, last - reach), min(frames, last + reach + 1)
        out.append(probs[low:high].mean(axis=0))
    return np.asarray(out, np.float32).reshape(-1, probs.shape[1])


@dataclass(frozen=True)
class VideoWindows:
    """Every full window of every confirmed track of one video: uint8 crops and per-window soft labels."""

    x: np.ndarray
    """(N, t, S, S) uint8 crops."""
    targets: np.ndarray
    """(N, C) float32 teacher probabilities at the window's last frame (see last_frame_targets)."""
    track_ids: np.ndarray
    last_frames: np.ndarray


class VideoWindowBuilder:
    """Detects, tracks and crops every face of a video, then labels each full window with the teacher's
    reading of its last frame (see last_frame_targets)."""

    def __init__(self, teacher: ExpressionModel | Sequence[ExpressionModel], window: int = 5, size: int = 64, stride: int = 1,
                 detector: str | None = None, registry: ModelRegistry | None = None, max_frames: int | None = None,
                 reach: int = 2) -> None:
        self.labeller = TeacherLabeller(teacher)
        self.window = int(window)
        self.stride = max(1, int(stride))
        self.max_frames = max_frames
        self.reach = int(reach)
        self.detector = default_detector(detector, registry)
        self.cropper = FaceCropper(size, str(self.labeller.info.crop))
        self.teacher_cropper = FaceCropper(self.labeller.info.input_size, self.labeller.info.crop)

    def build(self, video: Path) -> VideoWindows:
        tracker = FaceTracker(TrackerConfig(window=self.window))
        self.detector.reset()
        runs: dict[int, _TrackRun] = {}
        parts: list[VideoWindows] = []
        with FileSource(video) as source:
            while (frame := source.read()) is not None:
                if self.max_frames is not None and frame.index >= self.max_frames:
                    break
                tracked = tracker.update(self.detector.detect(frame.image))
                faces = tracked.faces
                for track_id in tracked.ended:
                    if track_id in runs:
                        parts.append(self._windows(runs.pop(track_id), track_id))
                if len(faces) == 0:
                    continue
                own = self.cropper.crop(frame.image, faces)
                probs = self.labeller.per_crop(self.teacher_cropper.crop(frame.image, faces))
                for row, track_id in enumerate(faces.track_ids.tolist()):
                    run = runs.setdefault(track_id, _TrackRun())
                    if run.frames and frame.index != run.frames[-1] + 1:
                        parts.append(self._windows(runs.pop(track_id), track_id))
                        run = runs.setdefault(track_id, _TrackRun())
                    run.add(frame.index, np.round(own[row] * 255.0).astype(np.uint8), probs[row])
        parts += [self._windows(run, track_id) for track_id, run in runs.items()]
        parts = [p for p in parts if len(p.x)]
        if not parts:
            return self._empty()
        return VideoWindows(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("x", "targets", "track_ids", "last_frames")))

    def _empty(self) -> VideoWindows:
        size = self.cropper.size
        return VideoWindows(np.zeros((0, self.window, size, size), np.uint8), np.zeros((0, len(LABELS)), np.float32),
                            np.zeros(0, np.int64), np.zeros(0, np.int64))

    def _windows(self, run: _TrackRun, track_id: int) -> VideoWindows:
        """Every full window of one unbroken run of a track, on the stride's frames."""
        frames = np.asarray(run.frames, np.int64)
        ends = np.arange(self.window - 1, len(frames))
        ends = ends[frames[ends] % self.stride == 0]
        if not len(ends):
            return self._empty()
        crops = np.stack(run.crops)
        targets = last_frame_targets(np.stack(run.probs), self.window, self.reach)
        x = np.stack([crops[end - self.window + 1 : end + 1] for end in ends])
        return VideoWindows(x, targets[ends - self.window + 1], np.full(len(ends), track_id, np.int64), frames[ends])


@dataclass
class _TrackRun:
    """One track's consecutive frames so far: crops, teacher probabilities and frame indices."""

    frames: list[int] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)

    def add(self, index: int, crop: np.ndarray, probs: np.ndarray) -> None:
        self.frames.append(index)
        self.crops.append(crop)
        self.probs.append(probs)


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
        """Contents, not paths or dates: a copied data folder or a fresh checkout finds the windows it built."""
        parts = (file_sha256(video), *(file_sha256(t.info.path) for t in self.builder.labeller.teachers),
                 self.builder.window, self.builder.cropper.size, self.builder.stride, self.builder.max_frames,
                 "last-frame", self.builder.reach)
        return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:12]

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
        known = [p.changing for p in parts if p.changing is not None]
        changing = np.concatenate(known) if parts and len(known) == len(parts) else None
        return CachedWindows(x, targets, f"{Path(videos).name} (teacher-labelled video windows)", changing=changing)
