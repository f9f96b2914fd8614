"""Evaluation protocols: video-level accuracy on labelled real clips (`confcam eval-videos`), the CK+
subject-independent cross-validation (`confcam eval-protocol ckplus`) on a CK+-layout fixture, agreement
with the teacher on real video windows, and the report every one of them writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError
from confcam.paths import models_dir
from confcam.train.commands import register
from confcam.train.protocols import (
    CKPLUS_PROTOCOL_LABELS,
    MainTrackPredictor,
    read_clip_labels,
    subject_folds,
    teacher_agreement,
)
from confcam.train.video import VideoWindowBuilder, WindowCache
from tests.conftest import video
from tests.test_train_datasets import make_ckplus, real_frames

CLIPS = {"single_face.mp4": "happy", "lp_d0.mp4": "neutral", "lp_s32.mp4": "surprise"}


def app() -> typer.Typer:
    main = typer.Typer(pretty_exceptions_enable=False)
    main.command("noop")(lambda: None)
    register(main)
    return main


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("clips")
    for name in CLIPS:
        (folder / name).symlink_to(video(name))
    labels = folder.parent / "labels.csv"
    labels.write_text("clip,label\n" + "".join(f"{name},{label}\n" for name, label in CLIPS.items()))
    return folder, labels


def test_eval_videos_scores_the_last_frame_of_each_main_track(clip_folder, tmp_path: Path) -> None:
    folder, labels = clip_folder
    result = CliRunner().invoke(app(), ["eval-videos", str(folder), "--labels", str(labels), "--model",
                                        "timeconvnet-minixception", "--report", str(tmp_path), "--split", "shared clips"])
    assert result.exit_code == 0, result.output
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    confusion = np.array(report["confusion"])
    assert report["n"] == len(CLIPS) and report["split"].startswith("shared clips")
    predictor = MainTrackPredictor("timeconvnet-minixception")
    predicted = {name: report["labels"][int(np.argmax(predictor.predict(folder / name)))] for name in CLIPS}
    assert report["accuracy"] == pytest.approx(np.mean([predicted[n] == CLIPS[n] for n in CLIPS]))
    assert confusion.sum() == len(CLIPS)
    assert next(tmp_path.glob("*-confusion.png")).stat().st_size > 5000
    row = next(tmp_path.glob("*.md")).read_text().splitlines()[-1]
    assert row.startswith("| timeconvnet-minixception | shared clips") and f"{report['accuracy']:.4f}" in row


@pytest.mark.parametrize("text, message", [
    ("clip\n", "expected `clip,label`"),
    ("# nothing\n", "no `clip,label` rows"),
])
def test_bad_label_files_are_user_errors(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(ConfcamError, match=message):
        read_clip_labels(path)


def test_eval_videos_rejects_labels_the_model_does_not_know(clip_folder, tmp_path: Path) -> None:
    folder, _ = clip_folder
    labels = tmp_path / "labels.csv"
    labels.write_text("single_face.mp4,bored\n")
    with pytest.raises(ConfcamError, match="bored"):
        app()(["eval-videos", str(folder), "--labels", str(labels), "--report", str(tmp_path / "r")], standalone_mode=False)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("subjects, folds", [(["a", "a", "b", "c", "c", "d"], 2), ([f"s{i}" for i in range(30)], 10)])
def test_folds_never_split_a_subject(subjects: list[str], folds: int) -> None:
    fold_of = subject_folds(subjects, folds, seed=0)
    for subject in set(subjects):
        assert len({int(f) for s, f in zip(subjects, fold_of) if s == subject}) == 1
    assert set(fold_of.tolist()) == set(range(folds))


def test_too_few_subjects_for_the_folds_is_a_user_error() -> None:
    with pytest.raises(ConfcamError, match="at least 10 subjects"):
        subject_folds(["a", "b"], 10, seed=0)


def test_ckplus_protocol_runs_every_fold_and_reports(tmp_path: Path) -> None:
    sequences = [("S005", "001", 3), ("S010", "002", 5), ("S011", "001", 2), ("S014", "003", 7)]
    root = make_ckplus(tmp_path / "CK+", sequences, real_frames(8))
    report_dir = tmp_path / "report"
    result = CliRunner().invoke(app(), ["eval-protocol", "ckplus", "--root", str(root), "--folds", "2", "--epochs", "1",
                                        "--max-steps", "1", "--report", str(report_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads(next(report_dir.glob("*.json")).read_text())
    assert report["n"] == 3 * len(sequences), "the last 3 frames of each labelled sequence"
    assert report["labels"] == list(CKPLUS_PROTOCOL_LABELS) and "2-fold subject-independent" in report["split"]
    assert report["params"] == 58_423 and set(report["ms_per_face"]) == {"1", "9"}


def test_teacher_agreement_counts_every_cached_window(tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "single_face.mp4").symlink_to(video("single_face.mp4"))
    teacher = ExpressionModel(models_dir() / "minixception-2d.onnx")
    cache = WindowCache(tmp_path / "cache", VideoWindowBuilder(teacher, max_frames=25))
    windows = cache.load_folder(folder, announce=lambda _: None)
    files = sorted((tmp_path / "cache").glob("*.npz"))
    for name in ("minixception-2d", "timeconvnet-minixception"):
        confusion, n = teacher_agreement(models_dir() / f"{name}.onnx", files)
        assert n == len(windows) == confusion.sum()
        assert np.trace(confusion) / n > 0.5, f"{name} mostly agrees with the teacher built from the 2D model"
