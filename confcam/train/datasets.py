"""BigFaceX and FaceParty (the thesis' window sets) built from the user's own licensed datasets, read
in their published folder layouts.

Rules (thesis, ch. 3): windows of 5 consecutive frames; stride 1 for CK+, stride 2 and the first 5
frames skipped for the others; each frame cropped to the face box (confcam's BlazeFace, the largest
face) grown by 10 % per side (BigFaceX) or shrunk 10 % at each side and 20 % from the top
(FaceParty), grayscale, resized to 48x48; stored as uint8 (divide by 255 for the thesis' [0, 1]);
label = the clip's label. FaceParty keeps at most 3 windows per clip: the last three for CK+ and
KDEF-dyn, otherwise the windows ending at the 3 frames a still-image model scores highest for the
clip's label (the 4 frames before each peak + the peak; frames 1-5 when the peak is earlier).

Layouts read (see docs/datasets.md):
- CK+: cohn-kanade-images/Sxxx/yyy/Sxxx_yyy_zzzzzzzz.png + Emotion/Sxxx/yyy/*_emotion.txt (code 0-7).
- eNTERFACE'05: <subject N>/<anger|disgust|fear|happiness|sadness|surprise>/<sentence N>/*.avi.
- AFEW: <any split>/<Angry|Disgust|Fear|Happy|Neutral|Sad|Surprise>/*.avi.
- KDEF-dyn: any video below the root whose name carries a KDEF code (AF, AN, DI, HA, NE, SA, SU),
  e.g. F01AN.mp4 or F01_AN.avi; the subject is the part before the code.
- BAUM-1 and iSAFE: clip label per folder (<label>/*.mp4 at any depth) or an annotations.csv
  (clip path relative to the root, label) at the root.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from confcam.classify.evaluate import canonical_label
from confcam.errors import ConfcamError
from confcam.train.data import LABELS, THESIS_LABELS

WINDOW = 5
SIZE = 48
CKPLUS_CODES = ("neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
KDEF_CODES = {"AF": "fear", "AN": "angry", "DI": "disgust", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".wmv", ".webm", ".m4v", ".flv")


@dataclass(frozen=True)
class Clip:
    """One labelled clip: its frames (image files in order, or one video file), label and subject."""

    dataset: str
    clip_id: str
    subject: str
    label: str
    frames: tuple[Path, ...] = ()
    video: Path | None = None

    def read(self) -> list[np.ndarray]:
        """BGR frames of the clip."""
        if self.video is None:
            images = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in self.frames]
            if any(i is None for i in images):
                raise ConfcamError(f"{self.clip_id}: unreadable image in {self.frames[0].parent}")
            return images
        from confcam.sources.file import FileSource

        frames = []
        with FileSource(self.video) as source:
            while (frame := source.read()) is not None:
                frames.append(frame.image)
        return frames


def _folder_label(name: str) -> str | None:
    label = canonical_label(name)
    return label if label in LABELS else None


def ckplus_clips(root: Path) -> list[Clip]:
    """Every CK+ sequence that has an emotion label."""
    images, emotions = Path(root) / "cohn-kanade-images", Path(root) / "Emotion"
    if not images.is_dir() or not emotions.is_dir():
        raise ConfcamError(f"{root}: not a CK+ root (needs cohn-kanade-images/ and Emotion/)")
    clips = []
    for label_file in sorted(emotions.glob("S*/*/*_emotion.txt")):
        try:
            code = int(round(float(label_file.read_text().split()[0])))
        except (ValueError, IndexError):
            raise ConfcamError(f"{label_file}: not a CK+ emotion file") from None
        if not 0 <= code < len(CKPLUS_CODES):
            raise ConfcamError(f"{label_file}: emotion code {code} is outside 0-7")
        subject, sequence = label_file.parent.parent.name, label_file.parent.name
        frames = tuple(sorted((images / subject / sequence).glob("*.png")))
        if frames:
            clips.append(Clip("ckplus", f"{subject}/{sequence}", subject, CKPLUS_CODES[code], frames=frames))
    if not clips:
        raise ConfcamError(f"{root}: no labelled CK+ sequence found")
    return clips


def _videos(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(Path(folder).rglob("*")) if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def enterface_clips(root: Path) -> list[Clip]:
    clips = []
    for video in _videos(root):
        parts = video.relative_to(root).parts
        subject = next((p for p in parts if p.lower().startswith("subject")), None)
        label = next((_folder_label(p) for p in parts[:-1] if _folder_label(p)), None)
        if subject and label:
            clips.append(Clip("enterface", str(video.relative_to(root)), subject, label, video=video))
    if not clips:
        raise ConfcamError(f"{root}: no eNTERFACE'05 clip (subject N/<emotion>/sentence N/*.avi) found")
    return clips


def afew_clips(root: Path) -> list[Clip]:
    clips = [Clip("afew", str(v.relative_to(root)), v.stem, label, video=v)
             for v in _videos(root) if (label := _folder_label(v.parent.name))]
    if not clips:
        raise ConfcamError(f"{root}: no AFEW clip (<split>/<Angry|...|Surprise>/*.avi) found")
    return clips


def kdef_dyn_clips(root: Path) -> list[Clip]:
    pattern = re.compile(r"^(?P<subject>[A-Za-z]+\d+)[_-]?(?P<code>AF|AN|DI|HA|NE|SA|SU)\b", re.I)
    clips = []
    for video in _videos(root):
        match = pattern.match(video.stem)
        if match:
            label = KDEF_CODES[match["code"].upper()]
            clips.append(Clip("kdef_dyn", str(video.relative_to(root)), match["subject"].upper(), label, video=video))
    if not clips:
        raise ConfcamError(f"{root}: no KDEF-dyn clip (a video named like F01AN.mp4) found")
    return clips


def labelled_folder_clips(dataset: str) -> Callable[[Path], list[Clip]]:
    """Readers for sets whose label is a folder name or a row of annotations.csv (BAUM-1, iSAFE)."""

    def read(root: Path) -> list[Clip]:
        root = Path(root)
        table = root / "annotations.csv"
        clips = []
        if table.is_file():
            with table.open(newline="") as handle:
                for row in csv.reader(handle):
                    if len(row) < 2 or (label := _folder_label(row[1])) is None:
                        continue
                    video = root / row[0].strip()
                    if video.is_file():
                        subject = video.relative_to(root).parts[0]
                        clips.append(Clip(dataset, row[0].strip(), subject, label, video=video))
        else:
            for video in _videos(root):
                label = _folder_label(video.parent.name)
                if label:
                    clips.append(Clip(dataset, str(video.relative_to(root)), video.relative_to(root).parts[0], label, video=video))
        if not clips:
            raise ConfcamError(f"{root}: no {dataset} clip (<label>/*.mp4 or annotations.csv) found")
        return clips

    return read


READERS: dict[str, Callable[[Path], list[Clip]]] = {
    "ckplus": ckplus_clips,
    "baum1": labelled_folder_clips("baum1"),
    "enterface": enterface_clips,
    "afew": afew_clips,
    "kdef_dyn": kdef_dyn_clips,
    "isafe": labelled_folder_clips("isafe"),
}
BIGFACEX = ("ckplus", "baum1", "enterface")
FACEPARTY = BIGFACEX + ("afew", "kdef_dyn", "isafe")


@dataclass(frozen=True)
class CropBox:
    """The thesis' face-box rules: BigFaceX grows 10 % per side; FaceParty shrinks 10 % at the left and
    right and 20 % from the top."""

    left: float
    top: float
    right: float
    bottom: float

    def apply(self, box: np.ndarray) -> np.ndarray:
        x1, y1, x2, y2 = (float(v) for v in box)
        w, h = x2 - x1, y2 - y1
        return np.array([x1 - self.left * w, y1 - self.top * h, x2 + self.right * w, y2 + self.bottom * h])


BIGFACEX_CROP = CropBox(0.1, 0.1, 0.1, 0.1)
FACEPARTY_CROP = CropBox(-0.1, -0.2, -0.1, 0.0)


class ClipFaces:
    """The largest face of every frame of a clip (missed frames reuse the last box), cropped to 48x48."""

    def __init__(self, detector, crop: CropBox, size: int = SIZE) -> None:
        self.detector = detector
        self.crop = crop
        self.size = size

    def crops(self, frames: list[np.ndarray]) -> np.ndarray | None:
        """uint8 (F, size, size) grayscale crops, or None when no frame has a face."""
        boxes: list[np.ndarray | None] = []
        self.detector.reset()
        for image in frames:
            found = self.detector.detect(image)
            if len(found):
                areas = (found.boxes[:, 2] - found.boxes[:, 0]) * (found.boxes[:, 3] - found.boxes[:, 1])
                boxes.append(found.boxes[int(np.argmax(areas))])
            else:
                boxes.append(None)
        known = [b for b in boxes if b is not None]
        if not known:
            return None
        last = known[0]
        out = np.empty((len(frames), self.size, self.size), np.uint8)
        for i, (image, box) in enumerate(zip(frames, boxes)):
            last = box if box is not None else last
            out[i] = self._cut(image, self.crop.apply(last))
        return out

    def _cut(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        x1, y1, x2, y2 = box
        scale_x, scale_y = self.size / max(x2 - x1, 1.0), self.size / max(y2 - y1, 1.0)
        matrix = np.array([[scale_x, 0, -x1 * scale_x], [0, scale_y, -y1 * scale_y]], np.float64)
        flags = cv2.INTER_AREA if scale_x < 1.0 else cv2.INTER_LINEAR
        return cv2.warpAffine(gray, matrix, (self.size, self.size), flags=flags, borderMode=cv2.BORDER_REPLICATE)


def sliding_ends(frames: int, stride: int, skip: int) -> list[int]:
    """Last-frame indices of the windows of 5 over a clip: first window starts after `skip` frames."""
    return list(range(skip + WINDOW - 1, frames, stride))


def peak_ends(scores: np.ndarray, count: int = 3) -> list[int]:
    """Window ends for the `count` highest-scoring frames; a peak before frame 5 gives frames 1-5."""
    order = np.argsort(-scores, kind="stable")[:count]
    return sorted(max(int(i), WINDOW - 1) for i in order)


@dataclass
class WindowSet:
    """Built windows: uint8 (N, 5, 48, 48), label indices into `labels`, and where each came from."""

    x: list[np.ndarray]
    y: list[int]
    dataset: list[str]
    subject: list[str]
    clip: list[str]
    labels: tuple[str, ...]

    def add(self, crops: np.ndarray, ends: list[int], clip: Clip) -> None:
        for end in ends:
            if end < WINDOW - 1 or end >= len(crops):
                continue
            self.x.append(crops[end - WINDOW + 1 : end + 1])
            self.y.append(self.labels.index(clip.label))
            self.dataset.append(clip.dataset)
            self.subject.append(f"{clip.dataset}:{clip.subject}")
            self.clip.append(f"{clip.dataset}:{clip.clip_id}")

    def arrays(self) -> dict[str, np.ndarray]:
        n = len(self.y)
        x = np.stack(self.x) if n else np.zeros((0, WINDOW, SIZE, SIZE), np.uint8)
        y = np.asarray(self.y, np.int64)
        return {"x": x, "y": y, "targets": np.eye(len(self.labels), dtype=np.float32)[y], "labels": np.array(self.labels),
                "dataset": np.array(self.dataset, dtype=str), "subject": np.array(self.subject, dtype=str),
                "clip": np.array(self.clip, dtype=str)}


class DatasetBuilder:
    """Applies one of the thesis' recipes (bigfacex or faceparty) to the clips of several datasets."""

    def __init__(self, recipe: str, detector, scorer=None, announce: Callable[[str], None] = print) -> None:
        if recipe not in ("bigfacex", "faceparty"):
            raise ConfcamError(f"unknown dataset {recipe!r}; known: bigfacex, faceparty")
        self.recipe = recipe
        self.faces = ClipFaces(detector, BIGFACEX_CROP if recipe == "bigfacex" else FACEPARTY_CROP)
        self.scorer = scorer
        self.announce = announce

    def ends(self, clip: Clip, crops: np.ndarray) -> list[int]:
        if self.recipe == "bigfacex":
            return sliding_ends(len(crops), 1, 0) if clip.dataset == "ckplus" else sliding_ends(len(crops), 2, 5)
        if clip.dataset in ("ckplus", "kdef_dyn"):
            return [e for e in (len(crops) - 3, len(crops) - 2, len(crops) - 1) if e >= WINDOW - 1]
        if self.scorer is None:
            raise ConfcamError("FaceParty needs a still-image model to choose each clip's peak frames")
        return peak_ends(self.scorer(crops, clip.label))

    def build(self, roots: dict[str, Path]) -> WindowSet:
        allowed = BIGFACEX if self.recipe == "bigfacex" else FACEPARTY
        extra = [name for name in roots if name not in allowed]
        if extra:
            raise ConfcamError(f"{self.recipe} does not use {', '.join(extra)} (it uses {', '.join(allowed)})")
        if not roots:
            raise ConfcamError(f"give at least one dataset root for {self.recipe} ({', '.join(allowed)})")
        clips = [clip for name, root in roots.items() for clip in READERS[name](Path(root))]
        windows = WindowSet([], [], [], [], [], LABELS)
        for clip in clips:
            if clip.label not in THESIS_LABELS:
                continue  # CK+ contempt: not one of the thesis' 7 classes
            crops = self.faces.crops(clip.read())
            if crops is None:
                self.announce(f"{clip.dataset} {clip.clip_id}: no face found, skipped")
                continue
            windows.add(crops, self.ends(clip, crops), clip)
        return windows


class StillScorer:
    """FaceParty's peak picker: a still-image model's probability of the clip's label for every crop."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, crops: np.ndarray, label: str) -> np.ndarray:
        if label not in self.model.info.labels:
            return np.zeros(len(crops))
        size = self.model.info.input_size
        resized = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in crops])
        probs = self.model.predict(resized[:, None].astype(np.float32) / 255.0)
        return probs[:, self.model.info.labels.index(label)]


def write_windows(windows: WindowSet, path: Path) -> Path:
    """The npz, whole or not at all."""
    import os

    path = Path(path)
    temp = path.with_name(f".{path.stem}.part.npz")
    try:
        np.savez_compressed(temp, **windows.arrays())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def build_dataset_command(name: str, out: Path, roots: dict[str, Path | None], scorer_name: str | None) -> None:
    """`confcam dataset NAME --out ...`: build, write, and print how many windows each source gave."""
    from confcam.classify.model import ExpressionModel
    from confcam.classify.registry import ModelRegistry
    from confcam.fileio import check_writable
    from confcam.train.video import default_detector

    given = {k: Path(v).expanduser() for k, v in roots.items() if v is not None}
    for key, root in given.items():
        if not root.is_dir():
            raise ConfcamError(f"--{key.replace('_', '-')} {root}: no such folder")
    if out.suffix != ".npz":
        raise ConfcamError(f"--out {out}: the window set must be an .npz file")
    check_writable(out)
    registry = ModelRegistry()
    scorer = None
    if name == "faceparty" and scorer_name:
        scorer = StillScorer(ExpressionModel(registry.resolve(scorer_name, "expression").path))
    builder = DatasetBuilder(name, default_detector(None, registry), scorer)
    windows = builder.build(given)
    write_windows(windows, out)
    counts = {d: windows.dataset.count(d) for d in dict.fromkeys(windows.dataset)}
    print(f"wrote {out}: {len(windows.y)} windows ({', '.join(f'{k} {v}' for k, v in counts.items()) or 'none'})")
