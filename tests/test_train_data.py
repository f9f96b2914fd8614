"""Training data: still-face sets and class balancing, webcam-like window synthesis, the epoch mix, and
real video windows tracked by confcam's own detector and labelled by a teacher, cached once."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError
from confcam.paths import models_dir
from confcam.train.data import (
    CHANGE_SPAN,
    LABELS,
    CachedWindows,
    StillFaces,
    SynthesizedWindows,
    WebcamMotion,
    WindowMix,
    WindowSynthesizer,
    changing_windows,
)
from confcam.train.video import TeacherLabeller, VideoWindowBuilder, WindowCache
from tests.conftest import FER2013, SHARED, video

MUXSPACE = SHARED / "muxspace" / "muxspace_faces64.npz"


def shared(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared file {path} is missing")
    return path


@pytest.fixture(scope="module")
def publictest() -> StillFaces:
    return StillFaces.load(shared(FER2013), "publictest", size=64)


def test_still_sets_are_read_in_confcam_label_order_and_resized(publictest: StillFaces) -> None:
    assert publictest.x.shape[1:] == (64, 64) and publictest.x.dtype == np.uint8
    counts = publictest.class_counts()
    assert len(publictest) == 3589 and counts[: LABELS.index("contempt")].min() > 0
    assert counts[LABELS.index("contempt")] == 0, "FER2013's own labels have no contempt"


def test_every_fer_plus_class_is_kept_in_label_order() -> None:
    with np.load(shared(MUXSPACE)) as data:
        names = [str(n) for n in data["labels"]]
        contempt = int((data["y"] == names.index("contempt")).sum())
        total = len(data["y"])
    faces = StillFaces.load(MUXSPACE)
    assert len(LABELS) == 8 and len(faces) == total
    assert contempt > 0 and faces.class_counts()[LABELS.index("contempt")] == contempt


@pytest.mark.parametrize("balancing, spread", [("none", "natural"), ("sqrt", "flatter"), ("equal", "flat")])
def test_balancing_flattens_the_class_mix(balancing: str, spread: str, publictest: StillFaces) -> None:
    weights = publictest.draw_weights(balancing)
    per_class = np.bincount(publictest.y, weights=weights, minlength=len(LABELS))
    natural = publictest.class_counts() / len(publictest)
    present = natural > 0
    assert (per_class[~present] == 0).all(), "a class with no faces is never drawn"
    per_class, natural = per_class[present], natural[present]
    if spread == "natural":
        assert np.allclose(per_class, natural)
    elif spread == "flatter":
        assert per_class.min() > natural.min() and per_class.max() < natural.max()
    else:
        assert np.allclose(per_class, 1 / present.sum())


def test_unknown_balancing_is_a_user_error(publictest: StillFaces) -> None:
    with pytest.raises(ConfcamError, match="unknown balancing"):
        publictest.draw_weights("magic")


def test_synthesized_window_moves_smoothly_like_a_webcam(publictest: StillFaces) -> None:
    synthesizer = WindowSynthesizer(5, WebcamMotion(still=0.0))
    rng = np.random.default_rng(0)
    face = publictest.x[100]
    windows = np.stack([synthesizer.synthesize(face, rng) for _ in range(32)])
    assert windows.shape == (32, 5, 64, 64) and windows.dtype == np.float32
    assert 0.0 <= windows.min() and windows.max() <= 1.0
    step = np.abs(np.diff(windows, axis=1)).mean(axis=(2, 3))
    assert (step > 0.002).all(), "every frame differs from the one before"
    span = np.abs(windows[:, -1] - windows[:, 0]).mean(axis=(1, 2))
    assert np.median(span) > np.median(step), "drift accumulates over the window instead of jittering"
    original = face.astype(np.float32) / 255.0
    assert np.abs(windows[:, 2] - original).mean() < 0.2, "still the same face"


def test_still_share_gives_identical_frames(publictest: StillFaces) -> None:
    synthesizer = WindowSynthesizer(5, WebcamMotion(still=1.0))
    window = synthesizer.synthesize(publictest.x[0], np.random.default_rng(1))
    assert np.array_equal(window, np.repeat(window[:1], 5, axis=0))


def test_epoch_mix_draws_every_set_and_respects_the_limit(publictest: StillFaces) -> None:
    small = publictest.subset(np.arange(0, 3589, 60))
    uniform = 1 / len(LABELS)
    video_like = CachedWindows(np.repeat(small.x[:20, None], 5, axis=1), np.full((20, len(LABELS)), uniform, np.float32),
                               "uniform")
    sets = [SynthesizedWindows(small, WindowSynthesizer(5)), video_like]
    rng = np.random.default_rng(0)
    batches = list(WindowMix(sets).batches(16, rng))
    targets = np.concatenate([t for _, t in batches])
    assert len(targets) == len(small) + 20
    assert (targets.max(axis=1) == 1.0).sum() == len(small) and np.isclose(targets, uniform).all(axis=1).sum() == 20
    limited = WindowMix(sets, limit=40)
    assert limited.epoch_size() == 40
    assert sum(len(x) for x, _ in limited.batches(16, rng)) == pytest.approx(40, abs=2)


@pytest.fixture(scope="module")
def teacher() -> ExpressionModel:
    return ExpressionModel(models_dir() / "minixception-2d.onnx")


def test_teacher_soft_labels_are_mirror_averaged_distributions(teacher: ExpressionModel, publictest: StillFaces) -> None:
    crops = publictest.x[:8].astype(np.float32) / 255.0
    probs = TeacherLabeller(teacher).per_crop(crops)
    plain = teacher.predict(crops[:, None])
    mirrored = teacher.predict(np.ascontiguousarray(crops[:, None, :, ::-1]))
    order = [teacher.info.labels.index(name) for name in LABELS if name in teacher.info.labels]
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(probs[:, : len(order)], ((plain + mirrored) / 2)[:, order], atol=1e-5)
    assert (probs[:, LABELS.index("contempt")] == 0).all(), "a class the teacher lacks gets no probability"


def test_pooled_teachers_label_with_the_mean_of_each(publictest: StillFaces) -> None:
    crops = publictest.x[:8].astype(np.float32) / 255.0
    ferplus = ExpressionModel(models_dir() / "minixception-2d-ferplus.onnx")
    fer2013 = ExpressionModel(models_dir() / "minixception-2d.onnx")
    pooled = TeacherLabeller([ferplus, fer2013])
    each = [TeacherLabeller(model).per_crop(crops) for model in (ferplus, fer2013)]
    assert pooled.name == "minixception-2d-ferplus+minixception-2d"
    assert np.allclose(pooled.per_crop(crops), (each[0] + each[1]) / 2, atol=1e-5)


def test_temporal_model_cannot_be_a_teacher() -> None:
    with pytest.raises(ConfcamError, match="still-image model"):
        TeacherLabeller(ExpressionModel(models_dir() / "timeconvnet-minixception.onnx"))


def test_video_windows_follow_the_tracked_face(teacher: ExpressionModel) -> None:
    builder = VideoWindowBuilder(teacher, window=5, size=64, max_frames=30)
    built = builder.build(video("single_face.mp4"))
    assert built.x.shape[1:] == (5, 64, 64) and built.x.dtype == np.uint8
    assert 20 <= len(built.x) <= 27, "one window per frame once the track is confirmed and has 5 crops"
    assert np.allclose(built.targets.sum(axis=1), 1.0, atol=1e-5)
    assert (np.diff(built.last_frames) == 1).all() and len(set(built.track_ids.tolist())) == 1
    assert np.abs(np.diff(built.x.astype(np.float32), axis=1)).mean() > 0.5, "frames of a real video differ"


def test_window_cache_is_built_once_and_reused_even_from_a_copy_of_the_videos(
    teacher: ExpressionModel, tmp_path: Path
) -> None:
    clip_dir, copy_dir = tmp_path / "clips", tmp_path / "copied"
    clip_dir.mkdir()
    copy_dir.mkdir()
    (clip_dir / "single_face.mp4").symlink_to(video("single_face.mp4"))
    shutil.copyfile(video("single_face.mp4"), copy_dir / "single_face.mp4")
    cache = WindowCache(tmp_path / "cache", VideoWindowBuilder(teacher, window=5, size=64, max_frames=15))
    first = cache.load_folder(clip_dir, announce=lambda _: None)
    files = list((tmp_path / "cache").iterdir())
    stamp = files[0].stat().st_mtime_ns
    again = cache.load_folder(copy_dir, announce=lambda _: None)
    assert list((tmp_path / "cache").iterdir()) == files and files[0].stat().st_mtime_ns == stamp
    assert np.array_equal(first.x, again.x) and len(first) > 0
    batch, targets = first.windows(np.arange(len(first)), np.random.default_rng(0))
    assert batch.shape == (len(first), 5, 64, 64) and np.allclose(targets, first.targets)


def test_a_folder_without_videos_is_a_user_error(teacher: ExpressionModel, tmp_path: Path) -> None:
    cache = WindowCache(tmp_path / "cache", VideoWindowBuilder(teacher))
    with pytest.raises(ConfcamError, match="no video files"):
        cache.load_folder(tmp_path)


@pytest.mark.parametrize(
    "labels,tracks,expected",
    [
        ([0, 0, 0, 0, 0, 0], [1] * 6, [False] * 6),
        ([0, 0, 0, 0, 2, 2], [1] * 6, [False, False, False, False, True, True]),
        ([0, 0, 0, 0, 2, 2], [1, 1, 1, 1, 2, 2], [False] * 6),
    ],
    ids=["still face", "a change four frames on", "another face is no change"],
)
def test_a_window_is_changing_when_its_label_differs_from_four_frames_earlier_on_the_same_face(labels, tracks, expected):
    assert CHANGE_SPAN == 4
    targets = np.eye(len(LABELS))[labels]
    assert changing_windows(targets, np.array(tracks), np.arange(len(labels))).tolist() == expected


def test_the_onset_weight_draws_real_changing_windows_more_often(teacher: ExpressionModel, tmp_path: Path) -> None:
    clip_dir = tmp_path / "clips"
    clip_dir.mkdir()
    (clip_dir / "lp_d3.mp4").symlink_to(video("lp_d3.mp4"))
    windows = WindowCache(tmp_path / "cache", VideoWindowBuilder(teacher, window=5, size=48)).load_folder(
        clip_dir, announce=lambda _: None)
    assert windows.changing is not None and 0 < windows.changing.sum() < len(windows) / 4
    share = lambda: windows.changing[windows.epoch_indices(np.random.default_rng(0))].mean()  # noqa: E731
    plain = share()
    windows.onset_weight = 5.0
    weighted = share()
    assert len(windows.epoch_indices(np.random.default_rng(0))) == len(windows)
    assert weighted > 2.5 * plain
