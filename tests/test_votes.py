"""Crowd votes (FER+): the rules that turn 10 annotators' votes into targets and majority labels, training
on them end to end, and scoring a model on the crowd's majority with `confcam eval --votes`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from confcam.classify.evaluate import LabelledCrops
from confcam.classify.model import ExpressionModel
from confcam.classify.votes import EMOTIONS, CrowdVotes, majority_crops
from confcam.cli import main
from confcam.errors import ConfcamError
from confcam.train.commands import register
from confcam.train.data import LABELS, StillFaces, SynthesizedWindows, WindowSynthesizer
from confcam.train.video import last_frame_targets
from tests.conftest import FER2013, REPO

FERPLUS = FER2013.parent / "ferplus_votes.npz"
COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")


def shared(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared file {path} is missing")
    return path


def votes_file(tmp_path: Path, rows: list[list[int]], split: str = "test") -> Path:
    path = tmp_path / "votes.npz"
    np.savez(path, **{f"votes_{split}": np.array(rows, np.int64), "columns": np.array(COLUMNS)})
    return path


def vote_row(**counts: int) -> list[int]:
    return [counts.get(name, 0) for name in COLUMNS]


@pytest.mark.parametrize("row, majority, target", [
    (vote_row(happiness=8, unknown=2), "happy", {"happy": 1.0}),
    (vote_row(neutral=5, happiness=5), None, {"neutral": 0.5, "happy": 0.5}),
    (vote_row(neutral=1, happiness=6, surprise=3), "happy", {"happy": 2 / 3, "surprise": 1 / 3}),
    (vote_row(anger=1, disgust=1, fear=1, unknown=1), None, {"angry": 1 / 3, "disgust": 1 / 3, "fear": 1 / 3}),
    (vote_row(contempt=4, unknown=4, NF=2), None, None),
    (vote_row(unknown=6, NF=4), None, None),
    ([-1] * 10, None, None),
], ids=["clear", "tie", "single-vote-noise", "only-single-votes", "contempt-ties-unknown", "not-an-emotion", "unmatched"])
def test_votes_become_majority_labels_and_targets_as_fer_plus_does(
    row: list[int], majority: str | None, target: dict[str, float] | None, tmp_path: Path
) -> None:
    votes = CrowdVotes.load(votes_file(tmp_path, [row]), "test", 1)
    assert votes.majority()[0] == (EMOTIONS.index(majority) if majority else -1)
    kept, targets = votes.targets("crossentropy")
    if target is None:
        assert len(kept) == 0, "faces the crowd could not read are left out of training"
        return
    want = np.zeros(len(EMOTIONS), np.float32)
    for name, share in target.items():
        want[EMOTIONS.index(name)] = share
    assert list(kept) == [0] and np.allclose(targets[0], want)


def test_fer_plus_public_test_majority_keeps_the_published_face_count() -> None:
    crops = LabelledCrops.load(shared(FER2013), "publictest")
    votes = CrowdVotes.load(shared(FERPLUS), "publictest", len(crops.x))
    majority = majority_crops(crops, votes)
    assert len(majority.y) == 3396 and majority.labels == EMOTIONS
    counts = np.bincount(majority.y, minlength=len(EMOTIONS))
    assert counts.min() > 0 and counts[EMOTIONS.index("contempt")] > 0
    fer_labels = crops.y[votes.majority() >= 0]
    assert 0.6 < (fer_labels == majority.y).mean() < 0.7, "FER2013's own labels agree with the crowd on ~65 %"


@pytest.mark.parametrize("mode", ["crossentropy", "majority"])
def test_voted_still_faces_carry_their_targets(mode: str, tmp_path: Path) -> None:
    rows = [vote_row(happiness=8, neutral=2), vote_row(neutral=4, sadness=4, anger=2), vote_row(unknown=9, NF=1)]
    crops = tmp_path / "crops.npz"
    np.savez(crops, x_test=np.full((3, 48, 48), 128, np.uint8), y_test=np.array([3, 6, 0]), labels=np.array(LABELS[:7]))
    faces = StillFaces.load(crops, "test", votes=votes_file(tmp_path, rows), vote_mode=mode)
    assert faces.targets is not None and np.allclose(faces.targets.sum(axis=1), 1.0)
    assert (faces.y == faces.targets.argmax(axis=1)).all()
    if mode == "crossentropy":
        assert len(faces) == 2 and faces.targets[1, LABELS.index("sad")] == pytest.approx(0.4)
    else:
        assert len(faces) == 1 and faces.y[0] == LABELS.index("happy"), "ties and unreadable faces dropped"


def test_probability_mode_draws_one_label_per_use_from_the_votes(tmp_path: Path) -> None:
    crops = tmp_path / "crops.npz"
    np.savez(crops, x_test=np.full((1, 48, 48), 128, np.uint8), y_test=np.array([3]), labels=np.array(LABELS[:7]))
    votes = votes_file(tmp_path, [vote_row(happiness=6, surprise=4)])
    faces = StillFaces.load(crops, "test", votes=votes, vote_mode="probability")
    windows = SynthesizedWindows(faces, WindowSynthesizer(1), draw_labels=True)
    _, targets = windows.windows(np.zeros(400, np.int64), np.random.default_rng(0))
    assert set(targets.sum(axis=1)) == {1.0} and set(targets.max(axis=1)) == {1.0}, "one-hot each time"
    assert targets[:, LABELS.index("happy")].mean() == pytest.approx(0.6, abs=0.07)


@pytest.mark.parametrize("rows, count, message", [
    ([vote_row(happiness=10)], 2, "expected \\(2, 10\\)"),
    ([vote_row(happiness=10)] * 2, 2, None),
])
def test_votes_must_match_the_faces_one_row_each(rows: list[list[int]], count: int, message: str | None,
                                                 tmp_path: Path) -> None:
    path = votes_file(tmp_path, rows)
    if message is None:
        assert len(CrowdVotes.load(path, "test", count)) == count
        return
    with pytest.raises(ConfcamError, match=message):
        CrowdVotes.load(path, "test", count)


def test_eval_scores_a_model_on_the_crowd_majority(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report.json"
    code = main(["eval", str(shared(FER2013)), "--split", "publictest", "--model", "minixception-2d",
                 "--votes", str(shared(FERPLUS)), "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["n"] == 3589 and report["accuracy"] == pytest.approx(0.6523, abs=1e-4), "FER2013's own labels"
    crowd = report["majority"]
    assert crowd["votes"] == "ferplus_votes.npz" and crowd["n"] + crowd["skipped"] == 3396
    assert crowd["skipped"] > 0, "the published 7-class model cannot say contempt"
    assert crowd["accuracy_all"] == pytest.approx(0.657, abs=0.005), "skipped faces count as wrong"


def test_eval_with_votes_for_other_faces_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    wrong = votes_file(tmp_path, [vote_row(happiness=10)], split="publictest")
    code = main(["eval", str(shared(FER2013)), "--split", "publictest", "--votes", str(wrong)])
    err = capsys.readouterr().err
    assert code == 2 and "one row per face" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("frames, window_targets", [
    ("NNNNN", "N"),
    ("NNNNHHHH", "HHHH"),
    ("HHHHHHNN", "HHNN"),
], ids=["still", "onset", "offset"])
def test_video_window_targets_follow_the_last_frame_not_the_window_mean(frames: str, window_targets: str) -> None:
    names = {"N": "neutral", "H": "happy"}
    probs = np.eye(len(LABELS), dtype=np.float32)[[LABELS.index(names[f]) for f in frames]]
    targets = last_frame_targets(probs, window=5, reach=1)
    assert targets.shape == (len(frames) - 4, len(LABELS)) and np.allclose(targets.sum(axis=1), 1.0)
    assert "".join("N" if LABELS[i] == "neutral" else "H" for i in targets.argmax(axis=1)) == window_targets


def test_training_on_votes_exports_an_eight_class_model_that_runs_live(tmp_path: Path) -> None:
    with np.load(shared(FER2013)) as data, np.load(shared(FERPLUS)) as votes:
        pick = np.linspace(0, len(data["y_train"]) - 1, 96).astype(int)
        np.savez(tmp_path / "faces.npz", x_train=data["x_train"][pick], y_train=data["y_train"][pick],
                 labels=data["labels"])
        np.savez(tmp_path / "votes.npz", votes_train=votes["votes_train"][pick], columns=votes["columns"])
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("noop")(lambda: None)
    register(app)
    out = tmp_path / "voted.onnx"
    args = ["train", "--arch", "minixception-2d", "--window", "1", "--data", f"{tmp_path / 'faces.npz'}:train",
            "--votes", str(tmp_path / "votes.npz"), "--epochs", "1", "--batch-size", "32", "--schedule", "cosine",
            "--out", str(out), "--cache", str(tmp_path / "cache" / "windows")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    model = ExpressionModel(out)
    assert model.info.labels == LABELS and model.info.window == 1
    meta = model.session.get_modelmeta().custom_metadata_map
    assert "crowd votes in votes.npz (crossentropy)" in meta["confcam.recipe"] and "cosine" in meta["confcam.recipe"]
    from tests.test_train_trainer import live_labels

    assert set(live_labels(out, frames=12)) <= set(LABELS) | {"uncertain"}


def test_contempt_has_its_own_overlay_and_colour() -> None:
    from confcam.render.colors import LABEL_COLORS

    assert (REPO / "overlays" / "contempt.png").is_file()
    assert "contempt" in LABEL_COLORS and LABEL_COLORS["contempt"] not in (
        c for name, c in LABEL_COLORS.items() if name != "contempt")


@pytest.mark.parametrize("weight, fear_share", [(0.0, 0.0), (0.3, 0.3 / 1.3), (2.0, 2 / 3)])
def test_the_sets_own_label_can_join_the_crowd(weight: float, fear_share: float, tmp_path: Path) -> None:
    crops = tmp_path / "crops.npz"
    np.savez(crops, x_test=np.full((1, 48, 48), 128, np.uint8), y_test=np.array([LABELS.index("fear")]),
             labels=np.array(LABELS[:7]))
    faces = StillFaces.load(crops, "test", votes=votes_file(tmp_path, [vote_row(neutral=10)]), label_weight=weight)
    assert faces.targets[0, LABELS.index("fear")] == pytest.approx(fear_share)
    assert faces.targets[0].sum() == pytest.approx(1.0)
    assert faces.y[0] == LABELS.index("neutral" if fear_share < 0.5 else "fear"), "y follows the mixed target"
