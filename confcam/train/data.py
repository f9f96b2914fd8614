"""Training windows: labelled still faces, 5-frame windows synthesized from them, cached video windows
labelled by a teacher, and the mix of them that one epoch draws from.

Everything here is NumPy / OpenCV so it runs without PyTorch; a window is float32 (t, S, S) in [0, 1]
(the live path's crop format) and a target is a probability vector over LABELS (one-hot for labelled
faces, soft for teacher-labelled video).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from confcam.classify.evaluate import LabelledCrops, canonical_label
from confcam.classify.votes import EMOTIONS, CrowdVotes
from confcam.errors import ConfcamError

LABELS = EMOTIONS
"""What every network trained here predicts: the 8 FER+ classes (the thesis' 7 plus contempt)."""
THESIS_LABELS = tuple(name for name in LABELS if name != "contempt")
"""The thesis' 7 classes: what BigFaceX / FaceParty windows are labelled with."""
BALANCING = ("none", "sqrt", "equal")
"""How a set's classes are drawn: as they come, by inverse square root of their frequency, or equally."""


def resize_faces(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, h, w) -> uint8 (N, size, size), bilinear, as the evaluator resizes."""
    if x.shape[1:] == (size, size):
        return x
    if not len(x):
        return np.zeros((0, size, size), np.uint8)
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in x])


@dataclass(frozen=True)
class StillFaces:
    """Labelled still crops, uint8 (N, S, S), with class indices into LABELS (other classes dropped) and,
    for crowd-voted faces, soft targets (N, C) that training uses instead of the single label."""

    x: np.ndarray
    y: np.ndarray
    name: str
    targets: np.ndarray | None = None

    @staticmethod
    def load(path: Path, split: str | None = None, size: int | None = None, votes: Path | None = None,
             vote_mode: str = "crossentropy", label_weight: float = 0.0) -> StillFaces:
        """An npz in the evaluation format (x/y/labels or x_SPLIT/y_SPLIT); classes outside LABELS are
        dropped, the rest reordered to LABELS. With votes (an npz of crowd votes for the same faces, e.g.
        FER+), the targets come from the votes (see VOTE_MODES) and y is their most likely class;
        label_weight > 0 counts the set's own label as that share of one more annotator's say (the
        original labeller saw the faces differently; its label keeps rare classes such as fear in view)."""
        crops = LabelledCrops.load(Path(path), split)
        name = Path(path).stem + (f"[{split}]" if split else "")
        index = {name: i for i, name in enumerate(LABELS)}
        mapping = np.array([index.get(canonical_label(n), -1) for n in crops.labels], np.int64)
        if votes is not None:
            keep, targets = CrowdVotes.load(votes, split, len(crops.x)).targets(vote_mode)
            own = mapping[crops.y[keep]]
            if label_weight > 0:
                known = own >= 0
                targets[known, own[known]] += label_weight
                targets /= targets.sum(axis=1, keepdims=True)
            x = crops.x[keep]
            mixed = f", own label x{label_weight:g}" if label_weight > 0 else ""
            return StillFaces(resize_faces(x, size) if size else x, targets.argmax(axis=1), f"{name} + {Path(votes).stem}"
                              f" ({vote_mode}{mixed})", targets)
        y = mapping[crops.y]
        keep = y >= 0
        x = crops.x[keep]
        return StillFaces(resize_faces(x, size) if size else x, y[keep], name)

    def __len__(self) -> int:
        return len(self.y)

    def distilled(self, teacher: np.ndarray, weight: float, teacher_name: str) -> StillFaces:
        """These faces with targets (1 - weight) x their own (votes or one-hot label) + weight x a teacher's
        probabilities (N, C); y stays the faces' own label, so class balancing draws as before."""
        if teacher.shape != (len(self), len(LABELS)):
            raise ConfcamError(f"teacher probabilities are {teacher.shape}, expected ({len(self)}, {len(LABELS)})")
        own = self.target_rows(np.arange(len(self)))
        targets = ((1.0 - weight) * own + weight * teacher).astype(np.float32)
        return StillFaces(self.x, self.y, f"{self.name} + {teacher_name} x{weight:g}", targets)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=len(LABELS))

    def subset(self, indices: np.ndarray) -> StillFaces:
        return StillFaces(self.x[indices], self.y[indices], self.name,
                          None if self.targets is None else self.targets[indices])

    def target_rows(self, indices: np.ndarray) -> np.ndarray:
        """(len(indices), C) training targets: the soft ones where the faces have them, else one-hot."""
        if self.targets is not None:
            return self.targets[indices].astype(np.float32)
        return np.eye(len(LABELS), dtype=np.float32)[self.y[indices]]

    def draw_weights(self, balancing: str) -> np.ndarray:
        """Per-sample drawing probabilities for a balancing mode (see BALANCING)."""
        if balancing not in BALANCING:
            raise ConfcamError(f"unknown balancing {balancing!r}; choose one of {', '.join(BALANCING)}")
        counts = np.maximum(self.class_counts(), 1).astype(np.float64)
        power = {"none": 0.0, "sqrt": 0.5, "equal": 1.0}[balancing]
        weights = counts[self.y] ** -power
        return weights / weights.sum()


@dataclass(frozen=True)
class WebcamMotion:
    """How a still face is turned into a webcam-like window.

    Per window, the thesis' augmentation (rotation, shifts, zoom, horizontal flip); then across the t
    frames a smooth trajectory (velocity + acceleration) of small shifts / rotations / zoom and a drift
    of brightness, contrast, blur, sensor noise and JPEG quality. `still` is the share of windows left
    static (t identical frames), which is what a still photo or a frozen call gives the live path.
    """

    rotation: float = 10.0
    shift: float = 0.1
    zoom: float = 0.1
    flip: bool = True
    drift_rotation: float = 4.0
    drift_shift: float = 0.03
    drift_zoom: float = 0.04
    brightness: float = 0.08
    contrast: float = 0.12
    blur: float = 1.0
    noise: float = 0.02
    jpeg: tuple[int, int] = (35, 95)
    still: float = 0.15


class WindowSynthesizer:
    """One still face -> a (t, S, S) float32 window in [0, 1] following WebcamMotion."""

    def __init__(self, window: int = 5, motion: WebcamMotion = WebcamMotion()) -> None:
        self.window = int(window)
        self.motion = motion

    def _trajectory(self, rng: np.random.Generator, amplitude: float) -> np.ndarray:
        s = np.linspace(0.0, 1.0, self.window)
        velocity, acceleration = rng.uniform(-1.0, 1.0, 2) * amplitude
        return velocity * s + acceleration * s * s - (velocity + acceleration) * 0.5

    def augment(self, face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The thesis augmentation alone (one affine for the whole window), uint8 (S, S)."""
        m = self.motion
        if m.flip and rng.random() < 0.5:
            face = face[:, ::-1]
        return _warp(face, rng.uniform(-m.rotation, m.rotation), 1.0 + rng.uniform(-m.zoom, m.zoom),
                     rng.uniform(-m.shift, m.shift, 2))

    def synthesize(self, face: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        m = self.motion
        size = face.shape[0]
        if m.flip and rng.random() < 0.5:
            face = np.ascontiguousarray(face[:, ::-1])
        angle = rng.uniform(-m.rotation, m.rotation)
        zoom = 1.0 + rng.uniform(-m.zoom, m.zoom)
        shift = rng.uniform(-m.shift, m.shift, 2)
        if rng.random() < m.still:
            frame = _warp(face, angle, zoom, shift).astype(np.float32) / 255.0
            return np.repeat(frame[None], self.window, axis=0)
        angles = angle + self._trajectory(rng, m.drift_rotation)
        zooms = zoom * (1.0 + self._trajectory(rng, m.drift_zoom))
        shifts = shift + np.stack([self._trajectory(rng, m.drift_shift), self._trajectory(rng, m.drift_shift)], 1)
        gains = 1.0 + rng.uniform(-m.contrast, m.contrast) + self._trajectory(rng, m.contrast / 2)
        offsets = rng.uniform(-m.brightness, m.brightness) + self._trajectory(rng, m.brightness / 2)
        sigma = rng.uniform(0.0, m.blur)
        noise = rng.uniform(0.0, m.noise)
        quality = rng.integers(m.jpeg[0], m.jpeg[1] + 1)
        out = np.empty((self.window, size, size), np.float32)
        for k in range(self.window):
            frame = _warp(face, angles[k], zooms[k], shifts[k]).astype(np.float32) / 255.0
            frame = frame * gains[k] + offsets[k]
            if sigma > 0.3:
                frame = cv2.GaussianBlur(frame, (0, 0), sigma)
            frame = frame + rng.normal(0.0, noise, frame.shape).astype(np.float32)
            encoded = np.clip(frame * 255.0 + 0.5, 0, 255).astype(np.uint8)
            q = int(np.clip(quality + rng.integers(-8, 9), 10, 100))
            ok, data = cv2.imencode(".jpg", encoded, [cv2.IMWRITE_JPEG_QUALITY, q])
            out[k] = (cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if ok else encoded).astype(np.float32) / 255.0
        return out


def _warp(face: np.ndarray, angle: float, zoom: float, shift: np.ndarray) -> np.ndarray:
    size = face.shape[0]
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, float(angle), float(zoom))
    matrix[:, 2] += np.asarray(shift, np.float64) * size
    return cv2.warpAffine(face, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class WindowSet(Protocol):
    """Anything an epoch can draw windows from."""

    name: str

    def __len__(self) -> int: ...

    def epoch_indices(self, rng: np.random.Generator) -> np.ndarray: ...

    def windows(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]: ...


class SynthesizedWindows:
    """Windows synthesized on the fly from labelled still faces; one-hot targets."""

    def __init__(self, faces: StillFaces, synthesizer: WindowSynthesizer, balancing: str = "none",
                 draw_labels: bool = False) -> None:
        self.faces = faces
        self.synthesizer = synthesizer
        self.name = f"{faces.name} (synthesized windows)"
        self._weights = faces.draw_weights(balancing)
        self.balancing = balancing
        self.draw_labels = draw_labels
        """FER+ 'probability' mode: each use of a face draws one label from its soft target."""

    def __len__(self) -> int:
        return len(self.faces)

    def epoch_indices(self, rng: np.random.Generator) -> np.ndarray:
        if self.balancing == "none":
            return rng.permutation(len(self))
        return rng.choice(len(self), size=len(self), replace=True, p=self._weights)

    def windows(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = np.stack([self.synthesizer.synthesize(self.faces.x[i], rng) for i in indices])
        targets = self.faces.target_rows(indices)
        if self.draw_labels:
            drawn = [rng.choice(len(LABELS), p=row / row.sum()) for row in targets]
            targets = np.eye(len(LABELS), dtype=np.float32)[drawn]
        return x, targets


CHANGE_SPAN = 4
"""A video window's face is changing when its target's label differs from the one this many frames earlier
on the same face (a 5-frame window's first frame)."""


def changing_windows(targets: np.ndarray, track_ids: np.ndarray, last_frames: np.ndarray) -> np.ndarray:
    """Which windows are on a changing face (see CHANGE_SPAN); a window with no window CHANGE_SPAN frames
    earlier on its face is not."""
    labels = np.asarray(targets).argmax(1)
    where = {(int(k), int(f)): i for i, (k, f) in enumerate(zip(track_ids, last_frames))}
    earlier = np.array([where.get((int(k), int(f) - CHANGE_SPAN), -1) for k, f in zip(track_ids, last_frames)], np.int64)
    return (earlier >= 0) & (labels != labels[np.maximum(earlier, 0)])


@dataclass
class CachedWindows:
    """Real video windows (uint8 (N, t, S, S)) with soft targets (N, C), e.g. from a teacher; the
    thesis augmentation is applied identically to every frame of a window."""

    x: np.ndarray
    targets: np.ndarray
    name: str
    synthesizer: WindowSynthesizer = field(default_factory=WindowSynthesizer)
    changing: np.ndarray | None = None
    """(N,) bool: the window's face is changing (see changing_windows); None when the file does not say."""
    onset_weight: float = 1.0
    """Changing windows are drawn this many times as often as the others (`confcam train --onset-weight`):
    they are few (1 in 8 windows of the shared talking-head clips) and they are what a temporal model must
    get right."""

    def __len__(self) -> int:
        return len(self.x)

    def epoch_indices(self, rng: np.random.Generator) -> np.ndarray:
        """A permutation, or with an onset weight, as many draws (with replacement) weighted towards
        changing windows."""
        if self.onset_weight == 1.0 or self.changing is None or not self.changing.any():
            return rng.permutation(len(self))
        weights = np.where(self.changing, self.onset_weight, 1.0)
        return rng.choice(len(self), size=len(self), p=weights / weights.sum())

    def windows(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        out = []
        for i in indices:
            seed = int(rng.integers(1 << 31))
            out.append(np.stack([self.synthesizer.augment(f, np.random.default_rng(seed)) for f in self.x[i]]))
        return np.stack(out).astype(np.float32) / 255.0, self.targets[indices].astype(np.float32)

    @staticmethod
    def load(path: Path) -> CachedWindows:
        try:
            with np.load(path, allow_pickle=False) as data:
                changing = None
                if "track_ids" in data and "last_frames" in data:
                    changing = changing_windows(data["targets"], data["track_ids"], data["last_frames"])
                return CachedWindows(data["x"], data["targets"], Path(path).stem, changing=changing)
        except (OSError, KeyError, ValueError) as exc:
            raise ConfcamError(f"{path}: not a window cache ({str(exc).splitlines()[0]})") from None


class WindowMix:
    """One epoch's batches drawn from several window sets, interleaved at random.

    limit caps the windows per epoch (drawn proportionally from every set), so an epoch fits the time
    a CPU has; the schedule is then scaled to the number of epochs.
    """

    def __init__(self, sets: list[WindowSet], limit: int | None = None) -> None:
        if not sets:
            raise ConfcamError("no training data given")
        self.sets = sets
        self.limit = limit

    def epoch_size(self) -> int:
        total = sum(len(s) for s in self.sets)
        return min(total, self.limit) if self.limit else total

    def batches(self, batch_size: int, rng: np.random.Generator, shard: tuple[int, int] = (0, 1)):
        """Yields (windows float32 (B, t, S, S), targets (B, C)) for one epoch.

        shard = (rank, processes): this process's share of every global batch. Every window is made
        from its own seed, drawn from rng with the batch order, so the windows of a batch are the same
        however many processes share it. A last batch too small to give every process a window is dropped
        when several share the work."""
        rank, world = shard
        total = sum(len(s) for s in self.sets)
        keep = self.epoch_size() / total
        pairs = []
        for set_index, window_set in enumerate(self.sets):
            indices = window_set.epoch_indices(rng)
            indices = indices[: max(1, int(round(len(indices) * keep)))]
            pairs.append(np.stack([np.full(len(indices), set_index), indices], 1))
        order = np.concatenate(pairs)[rng.permutation(sum(len(p) for p in pairs))]
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            seeds = rng.integers(1 << 62, size=len(chunk))
            if len(chunk) < world:
                break
            parts = [self.sets[set_index].windows(np.array([index]), np.random.default_rng(seed))
                     for (set_index, index), seed in zip(chunk[rank::world], seeds[rank::world])]
            yield np.concatenate([x for x, _ in parts]), np.concatenate([t for _, t in parts])
