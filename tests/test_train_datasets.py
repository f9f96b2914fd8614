"""BigFaceX / FaceParty builders on small fixtures laid out like CK+, BAUM-1, eNTERFACE'05, AFEW, KDEF-dyn
and iSAFE, made of real face frames from a shared clip, so confcam's own detector finds real faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError
from confcam.paths import models_dir
from confcam.sources.file import FileSource
from confcam.train.commands import register
from confcam.train.data import LABELS
from confcam.train.datasets import (
    BIGFACEX_CROP,
    FACEPARTY_CROP,
    READERS,
    DatasetBuilder,
    StillScorer,
    peak_ends,
    sliding_ends,
)
from confcam.train.video import default_detector
from tests.conftest import video

FRAMES = 14
"""Frames per fixture clip: enough for every rule (skip 5, stride 2, 3 peak windows)."""


def real_frames(count: int = FRAMES, start: int = 0) -> list[np.ndarray]:
    """Real consecutive frames of a shared clip with one face, shrunk to 320x180 (fast to detect)."""
    frames = []
    with FileSource(video("WolfgangLanger_Pexels.mp4")) as source:
        while len(frames) < count + start and (frame := source.read()) is not None:
            frames.append(cv2.resize(frame.image, (320, 180), interpolation=cv2.INTER_AREA))
    return frames[start:]


def write_video(path: Path, frames: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 25, (320, 180))
    for frame in frames:
        writer.write(frame)
    writer.release()


def make_ckplus(root: Path, sequences: list[tuple[str, str, int]], frames: list[np.ndarray]) -> Path:
    """CK+ layout: cohn-kanade-images/Sxxx/yyy/*.png and Emotion/Sxxx/yyy/*_emotion.txt (code as CK+ writes it)."""
    for subject, sequence, code in sequences:
        folder = root / "cohn-kanade-images" / subject / sequence
        folder.mkdir(parents=True)
        for i, frame in enumerate(frames, start=1):
            cv2.imwrite(str(folder / f"{subject}_{sequence}_{i:08d}.png"), frame)
        if code >= 0:
            labels = root / "Emotion" / subject / sequence
            labels.mkdir(parents=True)
            (labels / f"{subject}_{sequence}_{len(frames):08d}_emotion.txt").write_text(f"   {code:.7e}\n")
    (root / "Emotion").mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small copy of every dataset, in its published layout."""
    base = tmp_path_factory.mktemp("datasets")
    frames = real_frames()
    ckplus = make_ckplus(base / "CK+", [("S005", "001", 3), ("S010", "002", 5), ("S011", "001", 2), ("S012", "004", -1)],
                         frames)
    write_video(base / "eNTERFACE" / "subject 1" / "anger" / "sentence 1" / "s1_an_1.avi", frames)
    write_video(base / "eNTERFACE" / "subject 2" / "happiness" / "sentence 3" / "s2_ha_3.avi", frames)
    write_video(base / "AFEW" / "Train_AFEW" / "Happy" / "000142.avi", frames)
    write_video(base / "AFEW" / "Val_AFEW" / "Sad" / "011603.avi", frames)
    write_video(base / "KDEF-dyn" / "F01AN.mp4", frames)
    write_video(base / "BAUM-1" / "surprise" / "S001_003.mp4", frames)
    write_video(base / "iSAFE" / "S01" / "clip_07.mp4", frames)
    (base / "iSAFE" / "annotations.csv").write_text("S01/clip_07.mp4,Disgust\nS01/missing.mp4,Happy\n")
    return {"ckplus": ckplus, "enterface": base / "eNTERFACE", "afew": base / "AFEW", "kdef_dyn": base / "KDEF-dyn",
            "baum1": base / "BAUM-1", "isafe": base / "iSAFE"}


@pytest.mark.parametrize("name, clips, labels", [
    ("ckplus", 3, {"disgust", "happy", "contempt"}),
    ("enterface", 2, {"angry", "happy"}),
    ("afew", 2, {"happy", "sad"}),
    ("kdef_dyn", 1, {"angry"}),
    ("baum1", 1, {"surprise"}),
    ("isafe", 1, {"disgust"}),
])
def test_each_reader_finds_the_labelled_clips_of_its_layout(name: str, clips: int, labels: set[str], roots) -> None:
    found = READERS[name](roots[name])
    assert len(found) == clips and {c.label for c in found} == labels
    assert all(len(c.read()) == FRAMES for c in found)


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_folder_of_another_layout_is_a_user_error(name: str, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ConfcamError):
        READERS[name](tmp_path)


@pytest.mark.parametrize("frames, stride, skip, ends", [
    (14, 1, 0, list(range(4, 14))),
    (14, 2, 5, [9, 11, 13]),
    (9, 2, 5, []),
    (4, 1, 0, []),
])
def test_sliding_windows_follow_the_thesis_stride_and_skip(frames: int, stride: int, skip: int, ends: list[int]) -> None:
    assert sliding_ends(frames, stride, skip) == ends


@pytest.mark.parametrize("peaks, ends", [
    ({10: 0.9, 7: 0.8, 12: 0.7}, [7, 10, 12]),
    ({1: 0.9, 9: 0.8, 3: 0.7}, [4, 4, 9]),
])
def test_faceparty_windows_end_at_the_three_peaks(peaks: dict[int, float], ends: list[int]) -> None:
    scores = np.zeros(FRAMES)
    for frame, score in peaks.items():
        scores[frame] = score
    assert peak_ends(scores) == ends


@pytest.mark.parametrize("rule, box", [(BIGFACEX_CROP, [80, 180, 320, 420]), (FACEPARTY_CROP, [120, 240, 280, 400])])
def test_crop_rules_grow_or_shrink_the_face_box_as_the_thesis_says(rule, box: list[float]) -> None:
    assert rule.apply(np.array([100.0, 200.0, 300.0, 400.0])).tolist() == box


@pytest.fixture(scope="module")
def detector():
    return default_detector()


def test_bigfacex_windows_per_clip_follow_the_rules(roots, detector) -> None:
    built = DatasetBuilder("bigfacex", detector).build({k: roots[k] for k in ("ckplus", "enterface", "baum1")})
    arrays = built.arrays()
    per_dataset = {d: int((arrays["dataset"] == d).sum()) for d in ("ckplus", "enterface", "baum1")}
    assert per_dataset == {"ckplus": 2 * (FRAMES - 4), "enterface": 2 * 3, "baum1": 3}, "contempt dropped; stride 2 after 5"
    assert arrays["x"].shape[1:] == (5, 48, 48) and arrays["x"].dtype == np.uint8
    assert np.allclose(arrays["targets"].sum(axis=1), 1.0) and (arrays["targets"].argmax(1) == arrays["y"]).all()
    first = arrays["x"][0]
    assert np.array_equal(first[1:], arrays["x"][1][:-1]), "stride 1: consecutive CK+ windows overlap by 4 frames"
    assert first.std() > 20, "a face, not a flat patch"


def test_faceparty_keeps_three_windows_per_clip_and_uses_the_scorer(roots, detector) -> None:
    scorer = StillScorer(ExpressionModel(models_dir() / "minixception-2d.onnx"))
    built = DatasetBuilder("faceparty", detector, scorer).build(roots)
    clips = np.array(built.clip)
    assert all((clips == c).sum() == 3 for c in set(built.clip))
    assert len(set(built.clip)) == 2 + 2 + 2 + 1 + 1 + 1
    with pytest.raises(ConfcamError, match="still-image model"):
        DatasetBuilder("faceparty", detector, None).build({"afew": roots["afew"]})


def test_faceparty_crop_is_the_inner_part_of_the_bigfacex_crop(roots, detector) -> None:
    ckplus = {"ckplus": roots["ckplus"]}
    wide = DatasetBuilder("bigfacex", detector).build(ckplus).arrays()["x"][FRAMES - 5, -1].astype(np.float32)
    tight = DatasetBuilder("faceparty", detector).build(ckplus).arrays()["x"][2, -1].astype(np.float32)
    # In the wide crop (box grown to 1.2 x), the FaceParty box spans x 0.2..1.0 and y 0.3..1.1 of 1.2 box sides.
    inner = cv2.resize(wide[12:44, 8:40], (48, 48), interpolation=cv2.INTER_LINEAR)
    assert np.abs(inner - tight).mean() < 0.5 * np.abs(wide - tight).mean()


def test_bigfacex_rejects_faceparty_only_sets(roots, detector) -> None:
    with pytest.raises(ConfcamError, match="does not use afew"):
        DatasetBuilder("bigfacex", detector).build({"afew": roots["afew"]})


def test_dataset_command_writes_a_window_set_training_can_read(roots, tmp_path: Path) -> None:
    from confcam.train.data import CachedWindows

    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("noop")(lambda: None)
    register(app)
    out = tmp_path / "bigfacex.npz"
    result = CliRunner().invoke(app, ["dataset", "bigfacex", "--ckplus", str(roots["ckplus"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    windows = CachedWindows.load(out)
    assert len(windows) == 2 * (FRAMES - 4) and windows.targets.shape == (len(windows), len(LABELS))
    assert windows.targets[:, LABELS.index("contempt")].sum() == 0, "BigFaceX keeps the thesis' 7 classes"
    with pytest.raises(ConfcamError, match="no such folder"):
        app(["dataset", "bigfacex", "--ckplus", str(tmp_path / "nope"), "--out", str(out)], standalone_mode=False)
