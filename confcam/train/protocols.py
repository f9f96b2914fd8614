"""Evaluation protocols beyond `confcam eval`: video-level accuracy on labelled clips, the CK+
subject-independent 10-fold cross-validation of EmotionNet Nano, and agreement with a teacher on real
video windows. Every one ends in an EvalReport (confusion PNG + Markdown row + JSON)."""

from __future__ import annotations

import csv
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from rich.console import Console

from confcam.classify.evaluate import canonical_label
from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError
from confcam.train.report import EvalReport, latency_ms_per_face, onnx_params

console = Console(stderr=True)
CKPLUS_PROTOCOL_LABELS = ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
"""EmotionNet Nano's 7 CK+ classes (contempt in, neutral out)."""


def read_clip_labels(path: Path) -> dict[str, str]:
    """CSV rows `clip file name, label` (a header row is allowed) -> {file name: canonical label}."""
    path = Path(path)
    if not path.is_file():
        raise ConfcamError(f"--labels {path}: no such file")
    labels: dict[str, str] = {}
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or row[0].strip().startswith("#"):
                continue
            if len(row) < 2:
                raise ConfcamError(f"{path}:{number}: expected `clip,label`, got {','.join(row)!r}")
            clip, label = row[0].strip(), canonical_label(row[1])
            if number == 1 and clip.lower() in ("clip", "file", "video", "name"):
                continue
            labels[clip] = label
    if not labels:
        raise ConfcamError(f"{path}: no `clip,label` rows")
    return labels


class MainTrackPredictor:
    """Runs the live pipeline over a clip; the clip's prediction is the raw model output at the last
    frame of its main track (the one seen in most frames). Every frame is searched and every face read:
    the live path's intervals save CPU but would score a reading up to 0.1 s older than the last frame."""

    def __init__(self, model: str | None) -> None:
        from confcam.build import build_pipeline
        from confcam.config import PipelineConfig

        self.pipeline = build_pipeline(PipelineConfig(model=model, detect_interval_s=0.0, classify_interval_s=0.0))

    def predict(self, clip: Path) -> np.ndarray | None:
        from confcam.sources.file import FileSource

        self.pipeline.reset()
        seen: dict[int, int] = {}
        last: dict[int, np.ndarray] = {}
        with FileSource(clip) as source:
            while (frame := source.read()) is not None:
                faces = self.pipeline.process(frame)
                if faces.probs is None:
                    continue
                for track_id, probs in zip(faces.track_ids.tolist(), faces.probs):
                    seen[track_id] = seen.get(track_id, 0) + 1
                    last[track_id] = probs
        if not seen:
            return None
        return last[max(seen, key=seen.get)]


def run_video_eval(folder: Path, labels_csv: Path, model: str | None, report_dir: Path, split: str) -> EvalReport:
    """`confcam eval-videos`: one label per clip; clips without a face count as wrong (predicted 'none')."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfcamError(f"{folder}: not a folder of clips")
    labels = read_clip_labels(labels_csv)
    missing = [clip for clip in labels if not (folder / clip).is_file()]
    if missing:
        raise ConfcamError(f"{labels_csv}: clip {missing[0]} is not in {folder}")
    predictor = MainTrackPredictor(model)
    info = predictor.pipeline.model.info
    unknown = sorted({label for label in labels.values() if label not in info.labels})
    if unknown:
        raise ConfcamError(f"{labels_csv}: labels {', '.join(unknown)} are not classes of {info.name}")
    classes = len(info.labels)
    confusion = np.zeros((classes, classes), np.int64)
    no_face = 0
    for clip, label in labels.items():
        probs = predictor.predict(folder / clip)
        truth = info.labels.index(label)
        if probs is None:
            no_face += 1
            console.print(f"{clip}: no face tracked (counted wrong)")
            confusion[truth, (truth + 1) % classes] += 1
            continue
        confusion[truth, int(np.argmax(probs))] += 1
    report = EvalReport(info.name, f"{split} ({len(labels)} clips, last frame of the main track)", list(info.labels),
                        confusion, onnx_params(info.path), latency_ms_per_face(info.path))
    paths = report.write(report_dir)
    console.print(report.markdown_row())
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}" + (f"; {no_face} clips without a face" if no_face else ""))
    return report


def subject_folds(subjects: list[str], folds: int, seed: int) -> np.ndarray:
    """Fold index per sample; every subject's samples land in one fold (subject-independent)."""
    unique = sorted(set(subjects))
    if len(unique) < folds:
        raise ConfcamError(f"{folds}-fold subject-independent CV needs at least {folds} subjects, found {len(unique)}")
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[i]: rank % folds for rank, i in enumerate(order)}
    return np.array([fold_of[s] for s in subjects])


def ckplus_protocol_windows(root: Path, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The 981-image set of the protocol as windows: for each labelled CK+ sequence, the windows of 5
    ending at its last 3 frames (faces +10 % per side, 48x48 by default); labels index
    CKPLUS_PROTOCOL_LABELS."""
    from confcam.train.datasets import BIGFACEX_CROP, WINDOW, ClipFaces, ckplus_clips
    from confcam.train.video import default_detector

    faces = ClipFaces(default_detector(), BIGFACEX_CROP, size)
    x, y, subjects = [], [], []
    for clip in ckplus_clips(root):
        if clip.label not in CKPLUS_PROTOCOL_LABELS:
            continue
        crops = faces.crops(clip.read())
        if crops is None:
            console.print(f"CK+ {clip.clip_id}: no face found, skipped")
            continue
        if len(crops) < WINDOW + 2:
            crops = np.concatenate([np.repeat(crops[:1], WINDOW + 2 - len(crops), axis=0), crops])
        for end in range(len(crops) - 3, len(crops)):
            x.append(crops[end - WINDOW + 1 : end + 1])
            y.append(CKPLUS_PROTOCOL_LABELS.index(clip.label))
            subjects.append(clip.subject)
    if not x:
        raise ConfcamError(f"{root}: no CK+ sequence with a face and a protocol label")
    return np.stack(x), np.asarray(y, np.int64), subjects


def run_ckplus_protocol(root: Path, arch: str, epochs: int, folds: int, size: int, report_dir: Path, seed: int,
                        threads: int, max_steps: int | None = None) -> EvalReport:
    """Train `arch` (a name or a searched spec file) from scratch in each fold, test on the held-out
    subjects, pool the confusions."""
    from confcam.train.data import CachedWindows, WindowMix, WindowSynthesizer
    from confcam.train.datasets import WINDOW
    from confcam.train.nets import count_params
    from confcam.train.trainer import TrainConfig, Trainer, arch_spec

    network = arch_spec(arch, WINDOW)
    network.check_input(size, WINDOW)
    name = network.name
    x, y, subjects = ckplus_protocol_windows(Path(root), size)
    fold_of = subject_folds(subjects, folds, seed)
    classes = len(CKPLUS_PROTOCOL_LABELS)
    confusion = np.zeros((classes, classes), np.int64)
    config = TrainConfig(arch=arch, epochs=epochs, window=x.shape[1], size=size, seed=seed, threads=threads,
                         labels=CKPLUS_PROTOCOL_LABELS)
    trainer = None
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        targets = np.eye(classes, dtype=np.float32)[y[train]]
        data = WindowMix([CachedWindows(x[train], targets, "CK+ train folds", WindowSynthesizer(x.shape[1]))])
        trainer = Trainer(replace(config, seed=seed + fold), data, None, announce=lambda _: None)
        trainer.train(max_steps=max_steps)
        predicted = trainer.predict_windows(x[test]).argmax(axis=1)
        np.add.at(confusion, (y[test], predicted), 1)
        console.print(f"fold {fold + 1}/{folds}: {int(test.sum())} test images, accuracy {(predicted == y[test]).mean():.4f}")
    assert trainer is not None
    with tempfile.TemporaryDirectory() as folder:
        exported = trainer.export(Path(folder) / f"{name}.onnx", "CK+ (one fold of the protocol)", "protocol fold")
        latency = latency_ms_per_face(exported.info.path)
    split = f"CK+ {folds}-fold subject-independent CV, last 3 frames of each sequence ({len(y)} images)"
    report = EvalReport(name, split, list(CKPLUS_PROTOCOL_LABELS), confusion, count_params(trainer.net), latency)
    paths = report.write(report_dir)
    console.print(report.markdown_row())
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return report


def teacher_agreement(model_path: Path, windows_npz: list[Path]) -> tuple[np.ndarray, int]:
    """Confusion (teacher label x model label) of a model on cached teacher-labelled video windows, as the
    live path sees them (a 2D model gets each window's last crop); returns it and the window count."""
    from confcam.train.data import CachedWindows, LABELS

    model = ExpressionModel(Path(model_path))
    confusion = np.zeros((len(LABELS), len(LABELS)), np.int64)
    for path in windows_npz:
        cached = CachedWindows.load(path)
        x = cached.x.astype(np.float32) / 255.0
        t, size, _ = model.window_shape
        if x.shape[2] != size:
            raise ConfcamError(f"{path}: windows are {x.shape[2]} px, {model.info.name} takes {size}")
        x = x[:, -t:]
        probs = np.concatenate([model.predict(x[i : i + 256]) for i in range(0, len(x), 256)])
        predicted = np.array([LABELS.index(model.info.labels[i]) for i in probs.argmax(1)], np.int64)
        np.add.at(confusion, (cached.targets.argmax(1), predicted), 1)
    return confusion, int(confusion.sum())
