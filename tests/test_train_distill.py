"""Distillation (`confcam train --distill`) and ensembles (`confcam eval --model A --model B --mirror`) on
real FER2013 faces with their real FER+ votes and the committed models as teachers: the student's export
runs live, the teacher's probabilities are computed once and read back from the cache, mismatched
teachers are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from confcam.classify.ensemble import ModelEnsemble
from confcam.classify.model import ExpressionModel
from confcam.cli import main
from confcam.paths import models_dir
from confcam.train.data import LABELS, StillFaces
from confcam.train.distill import Teacher, TeacherCache
from tests.conftest import FER2013, SHARED
from tests.test_train_trainer import app, live_labels

TEACHER = models_dir() / "minixception-2d-ferplus.onnx"
"""A committed 8-class FER+ model stands in for the teacher: the tests need its classes, not its size."""
SECOND = models_dir() / "trained" / "timeconvnet-minixception-ferplus.onnx"
SEVEN_CLASSES = models_dir() / "minixception-2d.onnx"
VOTES = SHARED / "fer2013" / "ferplus_votes.npz"


@pytest.fixture(scope="module")
def tiny_voted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """96 real FER2013 Training and 48 PublicTest faces (all classes) with their FER+ votes, as NPZ:SPLIT files."""
    if not FER2013.is_file() or not VOTES.is_file():
        pytest.skip("shared FER2013 / FER+ files are missing")
    folder = tmp_path_factory.mktemp("voted")
    with np.load(FER2013) as data, np.load(VOTES) as votes:
        train = np.linspace(0, len(data["y_train"]) - 1, 96).astype(int)
        test = np.linspace(0, len(data["y_publictest"]) - 1, 48).astype(int)
        np.savez(folder / "faces.npz", x_train=data["x_train"][train], y_train=data["y_train"][train],
                 x_publictest=data["x_publictest"][test], y_publictest=data["y_publictest"][test], labels=data["labels"])
        np.savez(folder / "votes.npz", votes_train=votes["votes_train"][train],
                 votes_publictest=votes["votes_publictest"][test], columns=votes["columns"])
    return folder / "faces.npz", folder / "votes.npz"


def distil_args(faces: Path, votes: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return ["train", "--arch", "minixception-2d", "--window", "1", "--size", "64", "--data", f"{faces}:train",
            "--votes", str(votes), "--val", f"{faces}:publictest", "--epochs", "1", "--batch-size", "32",
            "--schedule", "cosine", "--balance", "sqrt", "--cache", str(cache), "--out", str(out), *extra]


def test_distilled_student_runs_live_and_the_teacher_is_read_once(tiny_voted, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    faces, votes = tiny_voted
    cache = tmp_path / "cache"
    first = CliRunner().invoke(app(), distil_args(faces, votes, tmp_path / "a.onnx", cache, "--distill", str(TEACHER)))
    assert first.exit_code == 0, first.output
    cached = sorted((cache / "distill").glob("*.npz"))
    assert len(cached) == 1
    written = cached[0].stat().st_mtime_ns
    student = ExpressionModel(tmp_path / "a.onnx")
    assert student.info.labels == LABELS
    assert "distilled" in student.session.get_modelmeta().custom_metadata_map["confcam.recipe"]
    labels = live_labels(student.info.path)
    assert labels and all(label in LABELS + ("uncertain",) for label in labels)

    again = CliRunner().invoke(app(), distil_args(faces, votes, tmp_path / "b.onnx", cache, "--distill", str(TEACHER),
                                                  "--distill-weight", "0.5"))
    assert again.exit_code == 0, again.output
    assert "cached in" in again.output and "reads 96 faces" not in again.output.replace("\n", " ")
    assert sorted((cache / "distill").glob("*.npz")) == cached and cached[0].stat().st_mtime_ns == written


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0])
def test_targets_mix_the_votes_and_the_mirrored_teacher(tiny_voted, tmp_path: Path, weight: float) -> None:
    faces_path, votes = tiny_voted
    faces = StillFaces.load(faces_path, "train", size=64, votes=votes)
    teacher = Teacher([TEACHER])
    distilled = TeacherCache(tmp_path, teacher).distil(faces, weight)
    model = ExpressionModel(TEACHER)
    plain = model.predict(ModelEnsemble.windows(model, faces.x))
    mirrored = model.predict(ModelEnsemble.windows(model, np.ascontiguousarray(faces.x[:, :, ::-1])))
    want = (1 - weight) * faces.targets + weight * (plain + mirrored) / 2
    assert np.allclose(distilled.targets, want, atol=1e-5)
    assert np.allclose(distilled.targets.sum(axis=1), 1.0, atol=1e-4)
    assert (distilled.y == faces.y).all(), "class balancing still draws by the faces' own label"


def test_the_cache_is_read_back_not_recomputed(tiny_voted, tmp_path: Path) -> None:
    faces_path, votes = tiny_voted
    faces = StillFaces.load(faces_path, "train", size=64, votes=votes)
    cache = TeacherCache(tmp_path, Teacher([TEACHER]))
    computed = cache.probabilities(faces)
    marked = np.eye(len(LABELS), dtype=np.float32)[np.full(len(faces), LABELS.index("contempt"))]
    np.savez(cache.path_for(faces.x), probs=marked)
    assert (cache.probabilities(faces) == marked).all() and not (computed == marked).all()
    other = TeacherCache(tmp_path, Teacher([TEACHER, SECOND]))
    assert other.path_for(faces.x) != cache.path_for(faces.x), "other teachers, other cache entry"
    assert cache.path_for(faces.x[:10]) != cache.path_for(faces.x), "other faces, other cache entry"


MISTAKES = {
    "teacher with other classes": (["--distill", str(SEVEN_CLASSES)], "are not the student's"),
    "weight without a teacher": (["--distill-weight", "0.3"], "--distill-weight needs a teacher"),
    "weight above one": (["--distill", str(TEACHER), "--distill-weight", "1.5"], "between 0 and 1"),
    "missing teacher file": (["--distill", "{tmp}/none.onnx"], "none.onnx"),
}


@pytest.mark.parametrize("extra, message", MISTAKES.values(), ids=MISTAKES.keys())
def test_distillation_mistakes_are_one_line_errors(tiny_voted, tmp_path: Path, capsys, extra: list[str],
                                                   message: str) -> None:
    faces, votes = tiny_voted
    out = tmp_path / "student.onnx"
    code = main(distil_args(faces, votes, out, tmp_path / "cache", *[e.format(tmp=tmp_path) for e in extra]))
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_eval_scores_an_ensemble_of_two_models(tiny_voted, tmp_path: Path, capsys) -> None:
    faces, votes = tiny_voted
    reports = {}
    for name, models in (("one", [TEACHER]), ("two", [TEACHER, SECOND])):
        args = ["eval", str(faces), "--split", "publictest", "--votes", str(votes), "--json", str(tmp_path / f"{name}.json")]
        assert main(args + [a for m in models for a in ("--model", str(m))] + ["--mirror"]) == 0
        reports[name] = json.loads((tmp_path / f"{name}.json").read_text())
    capsys.readouterr()
    two = reports["two"]
    assert two["model"] == f"{TEACHER.stem}+{SECOND.stem} (mirrored)" and two["n"] == 48
    assert 0.0 < two["majority"]["accuracy"] <= 1.0 and two["labels"] == list(LABELS)
    assert reports["one"]["model"] == f"{TEACHER.stem} (mirrored)"


@pytest.mark.parametrize("mirror", [False, True])
def test_ensemble_is_the_mean_of_its_models(tiny_voted, mirror: bool) -> None:
    """A still model and a 5-frame one, each reading the crops its own way (size, t), averaged."""
    faces_path, _ = tiny_voted
    crops = StillFaces.load(faces_path, "publictest").x
    models = [ExpressionModel(TEACHER), ExpressionModel(SECOND)]
    views = [crops, np.ascontiguousarray(crops[:, :, ::-1])] if mirror else [crops]
    want = np.mean([m.predict(ModelEnsemble.windows(m, v)) for m in models for v in views], axis=0)
    assert np.allclose(ModelEnsemble(models, mirror=mirror).predict(crops), want, atol=1e-6)


def test_eval_refuses_an_ensemble_of_different_classes(tiny_voted, capsys) -> None:
    faces, _ = tiny_voted
    code = main(["eval", str(faces), "--split", "publictest", "--model", str(TEACHER), "--model", str(SEVEN_CLASSES)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "one set of classes" in err and len(err.splitlines()) == 1


def test_resume_refuses_other_teachers(tiny_voted, tmp_path: Path) -> None:
    """A checkpoint records its teachers' content hashes: resuming it with other teachers would change the targets."""
    from dataclasses import replace

    from confcam.errors import ConfcamError
    from confcam.train.data import SynthesizedWindows, WindowMix, WindowSynthesizer
    from confcam.train.trainer import TrainConfig, Trainer

    faces_path, votes = tiny_voted
    faces = StillFaces.load(faces_path, "train", size=48, votes=votes)
    data = WindowMix([SynthesizedWindows(faces, WindowSynthesizer(1))])
    config = TrainConfig(arch="minixception-2d", epochs=2, window=1, batch_size=32,
                         distill=Teacher([TEACHER]).fingerprint, distill_weight=0.5)
    Trainer(config, data, None, tmp_path / "run.ckpt", announce=lambda _: None).train(max_steps=1)
    same = Trainer(config, data, None, tmp_path / "run.ckpt", announce=lambda _: None)
    same.resume()
    assert same.start_epoch == 1
    other = replace(config, distill=Teacher([TEACHER, SECOND]).fingerprint)
    with pytest.raises(ConfcamError, match="other settings \\(distill\\)"):
        Trainer(other, data, None, tmp_path / "run.ckpt", announce=lambda _: None).resume()
