"""BlazeFace (MediaPipe's face detector, converted to ONNX) run by onnxruntime.

The network predicts, for every SSD anchor, a box and 6 keypoints as offsets from the anchor centre
plus a face logit. Everything around it (anchors, decoding, weighted NMS, letterboxing) lives here as
small pieces so each can be checked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from confcam.detect.base import DetectorContext, FaceDetector
from confcam.errors import ModelError
from confcam.geometry import iou_matrix
from confcam.onnx_session import SessionPool, open_session
from confcam.paths import models_dir
from confcam.plugins import Entry
from confcam.types import LANDMARK_NAMES, Detections

VARIANT_NAMES = ("short", "full")


@dataclass(frozen=True)
class AnchorSpec:
    """The MediaPipe SsdAnchorsCalculator options of one BlazeFace variant (fixed-size anchors only).

    Consecutive layers with the same stride share one feature map; each layer puts one anchor per
    aspect ratio in every cell, plus one more when an interpolated scale is used. With fixed anchor
    size every anchor is 1x1 in normalised units, so only the centres matter.
    """

    input_size: int
    strides: tuple[int, ...]
    aspect_ratios: int = 1
    interpolated_scale: bool = True
    anchor_offset: float = 0.5

    def centres(self) -> np.ndarray:
        """(A, 2) anchor centres x, y in [0, 1], in the order the network emits its rows."""
        blocks = []
        layer = 0
        while layer < len(self.strides):
            stride = self.strides[layer]
            same = 1
            while layer + same < len(self.strides) and self.strides[layer + same] == stride:
                same += 1
            per_cell = same * (self.aspect_ratios + int(self.interpolated_scale))
            cells = int(np.ceil(self.input_size / stride))
            grid = (np.arange(cells, dtype=np.float32) + self.anchor_offset) / cells
            ys, xs = np.meshgrid(grid, grid, indexing="ij")
            xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
            blocks.append(np.repeat(xy, per_cell, axis=0))
            layer += same
        return np.concatenate(blocks).astype(np.float32)


@dataclass(frozen=True)
class VariantSpec:
    anchors: AnchorSpec
    score_threshold: float
    """Used when this net runs alone."""
    pooled_score_threshold: float
    """Used inside MultiRangeDetector, where the other net covers this one's weak face sizes."""


VARIANTS = {
    "blazeface-short": VariantSpec(AnchorSpec(128, (8, 16, 16, 16)), 0.5, 0.65),
    "blazeface-full": VariantSpec(AnchorSpec(192, (4,), interpolated_scale=False), 0.55, 0.6),
}
"""Thresholds measured on the shared clips (scripts/face_coverage.py, models/MODEL_CARD.md). Alone,
full-range scores big close-up faces as low as 0.52 yet gives up to 0.66 to a cartoon title card, so
0.55 keeps close-up coverage >= 97 % while dropping most false faces. Pooled, short-range carries the
close-ups (>= 0.84 on every close-up frame, <= 0.62 on the title card), so both can be stricter."""


@dataclass(frozen=True)
class RawFaces:
    """Candidate faces before NMS: in normalised model-input coordinates when decoded, frame pixels once placed."""

    boxes: np.ndarray  # (K, 4) x1, y1, x2, y2
    keypoints: np.ndarray  # (K, 6, 2) x, y
    scores: np.ndarray  # (K,)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> RawFaces:
        return RawFaces(np.zeros((0, 4), np.float32), np.zeros((0, len(LANDMARK_NAMES), 2), np.float32),
                        np.zeros((0,), np.float32))

    @staticmethod
    def concat(parts: list[RawFaces]) -> RawFaces:
        return RawFaces(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.keypoints for p in parts]),
            np.concatenate([p.scores for p in parts]),
        )

    def to_detections(self, width: int, height: int) -> Detections:
        """Frame-pixel faces clipped to the frame (a face cut by the edge keeps its visible part)."""
        limit = np.array([width, height], np.float32)
        boxes = np.clip(self.boxes.reshape(-1, 2, 2), 0, limit).reshape(-1, 4)
        landmarks = np.clip(self.keypoints, 0, limit)
        keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Detections(
            boxes=boxes[keep].astype(np.float32),
            scores=self.scores[keep].astype(np.float32),
            landmarks=landmarks[keep].astype(np.float32),
        )


class AnchorDecoder:
    """Turns the network's per-anchor regressors and logits into scored boxes and keypoints."""

    def __init__(self, anchors: np.ndarray, input_size: int, score_threshold: float) -> None:
        self.anchors = anchors
        self.input_size = float(input_size)
        self.score_threshold = score_threshold
        self.logit_threshold = float(np.log(score_threshold / (1.0 - score_threshold)))

    def __call__(self, regressors: np.ndarray, logits: np.ndarray) -> RawFaces:
        """regressors (A, 16), logits (A,) for one image."""
        keep = np.flatnonzero(logits > self.logit_threshold)
        raw = regressors[keep] / self.input_size
        anchors = self.anchors[keep]
        centre = raw[:, 0:2] + anchors
        half = raw[:, 2:4] / 2.0
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        keypoints = raw[:, 4:16].reshape(-1, len(LANDMARK_NAMES), 2) + anchors[:, None, :]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -100.0, 100.0)))
        return RawFaces(boxes, keypoints, scores.astype(np.float32))


def nesting(boxes: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Per box: the share of the smaller of (box, kept) that lies inside the other."""
    iw = np.clip(np.minimum(boxes[:, 2], kept[2]) - np.maximum(boxes[:, 0], kept[0]), 0, None)
    ih = np.clip(np.minimum(boxes[:, 3], kept[3]) - np.maximum(boxes[:, 1], kept[1]), 0, None)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept_area = (kept[2] - kept[0]) * (kept[3] - kept[1])
    # Numpy's stubs type arithmetic on an unparameterised ndarray as Any.
    return cast(np.ndarray, iw * ih / np.maximum(np.minimum(areas, kept_area), 1e-12))


class WeightedNms:
    """MediaPipe's weighted NMS: a face's overlapping candidates are blended, weighted by score.

    Blending many anchors' votes gives steadier boxes than keeping the single best one, which
    matters because the boxes feed the crops the expression model reads.
    """

    def __init__(self, iou_threshold: float, containment: float = 0.7) -> None:
        self.iou_threshold = iou_threshold
        self.containment = containment
        """A weaker face nested at least this much in a stronger one (or around it) is a duplicate: a
        face within a face confuses the tracker, and no real face hides inside another's box."""

    def __call__(self, faces: RawFaces) -> RawFaces:
        order = np.argsort(-faces.scores, kind="stable")
        boxes, keypoints, scores = faces.boxes[order], faces.keypoints[order], faces.scores[order]
        out_boxes, out_keypoints, out_scores = [], [], []
        while len(scores):
            overlap = iou_matrix(boxes[:1], boxes)[0] > self.iou_threshold
            overlap[0] = True
            weights = scores[overlap] / scores[overlap].sum()
            out_boxes.append(weights @ boxes[overlap])
            out_keypoints.append(np.tensordot(weights, keypoints[overlap], axes=1))
            out_scores.append(scores[0])
            rest = ~overlap & (nesting(boxes, out_boxes[-1]) < self.containment)
            boxes, keypoints, scores = boxes[rest], keypoints[rest], scores[rest]
        if not out_scores:
            return RawFaces.empty()
        return RawFaces(np.stack(out_boxes), np.stack(out_keypoints), np.array(out_scores, np.float32))


@dataclass(frozen=True)
class Placement:
    """Where a frame region sits inside the square model input: input_px = (frame_px - origin) * scale + pad."""

    origin: tuple[float, float]
    scale: float
    pad: tuple[float, float]

    def to_frame(self, normalised: np.ndarray, input_size: int) -> np.ndarray:
        """Map (..., 2) points in normalised input coordinates to frame pixels."""
        pixels = normalised * input_size - np.asarray(self.pad, np.float32)
        return pixels / self.scale + np.asarray(self.origin, np.float32)


class Letterbox:
    """Fits an image region into the square model input without distortion (centred, grey padding)."""

    def __init__(self, input_size: int) -> None:
        self.size = input_size

    def __call__(self, image_bgr: np.ndarray, origin: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, Placement]:
        """The RGB uint8 square input for image_bgr and how it maps back (origin: image's place in the frame)."""
        h, w = image_bgr.shape[:2]
        scale = self.size / max(h, w)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        resized = self._shrink(image_bgr, new_w, new_h) if scale < 1 else cv2.resize(image_bgr, (new_w, new_h))
        left, top = (self.size - new_w) // 2, (self.size - new_h) // 2
        square = cv2.copyMakeBorder(
            resized, top, self.size - new_h - top, left, self.size - new_w - left,
            cv2.BORDER_CONSTANT, value=(128, 128, 128),
        )
        rgb = cv2.cvtColor(square, cv2.COLOR_BGR2RGB)
        placement = Placement((float(origin[0]), float(origin[1])), scale, (float(left), float(top)))
        return rgb, placement

    @staticmethod
    def _shrink(image: np.ndarray, width: int, height: int) -> np.ndarray:
        """Area-average down to the input size; a bilinear step to twice that size first keeps a
        1080p frame at ~0.25 ms instead of ~1.6 ms with little more aliasing."""
        if image.shape[1] > 4 * width:
            image = cv2.resize(image, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def to_tensor(squares: list[np.ndarray]) -> np.ndarray:
    """Stack RGB uint8 squares into the model's NCHW float32 input scaled to [-1, 1]."""
    batch = np.stack(squares).astype(np.float32)
    batch *= 1.0 / 127.5
    batch -= 1.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def resolve_model(model: str | Path) -> Path:
    if isinstance(model, str) and model in VARIANT_NAMES:
        return models_dir() / f"blazeface-{model}.onnx"
    return Path(model)


def tile_origins(width: int, height: int, grid: tuple[int, int], overlap: float) -> list[tuple[int, int, int, int]]:
    """x, y, w, h of a cols x rows grid of tiles covering the frame, neighbours overlapping by `overlap`."""
    cols, rows = grid
    tile_w = int(np.ceil(width / (cols - (cols - 1) * overlap)))
    tile_h = int(np.ceil(height / (rows - (rows - 1) * overlap)))
    xs = np.linspace(0, width - tile_w, cols).round().astype(int) if cols > 1 else [0]
    ys = np.linspace(0, height - tile_h, rows).round().astype(int) if rows > 1 else [0]
    return [(int(x), int(y), min(tile_w, width), min(tile_h, height)) for y in ys for x in xs]


class BlazeFaceDetector(FaceDetector):
    """Faces with boxes, 6 keypoints and scores from one BlazeFace ONNX file ("short", "full" or a path).

    `pooled` picks the score threshold meant for use inside MultiRangeDetector. `tiles` (cols, rows)
    also runs the net on overlapping tiles, batched with the whole frame, so faces too small for the
    letterboxed whole frame are still found; (1, 1) runs the whole frame only. `sessions` lets several
    detectors (one per web client) share one onnxruntime session.
    """

    def __init__(
        self,
        model: str | Path = "full",
        score_threshold: float | None = None,
        pooled: bool = False,
        iou_threshold: float = 0.3,
        threads: int = 1,
        tiles: tuple[int, int] = (1, 1),
        tile_overlap: float = 0.15,
        sessions: SessionPool | None = None,
    ) -> None:
        path = resolve_model(model)
        opener = sessions.open if sessions is not None else open_session
        self.session = opener(path, threads, what="detector model")
        spec = self._variant(path)
        self.input_size = spec.anchors.input_size
        default = spec.pooled_score_threshold if pooled else spec.score_threshold
        threshold = default if score_threshold is None else score_threshold
        if not 0.0 < threshold < 1.0:
            raise ModelError(f"detector score threshold must be between 0 and 1, got {threshold}")
        self.letterbox = Letterbox(self.input_size)
        self.decode = AnchorDecoder(spec.anchors.centres(), self.input_size, threshold)
        self.nms = WeightedNms(iou_threshold)
        self.tiles = tiles
        self.tile_overlap = tile_overlap
        self.input_name = self.session.get_inputs()[0].name
        self._check_outputs(path, len(self.decode.anchors))

    def _variant(self, path: Path) -> VariantSpec:
        arch = self.session.get_modelmeta().custom_metadata_map.get("confcam.arch", "")
        if arch not in VARIANTS:
            raise ModelError(f"{path} is not a BlazeFace detector file (confcam.arch={arch or 'missing'})")
        return VARIANTS[arch]

    def _check_outputs(self, path: Path, anchors: int) -> None:
        shapes = {o.name: o.shape for o in self.session.get_outputs()}
        expected = {"regressors": [anchors, 16], "classificators": [anchors, 1]}
        if any(shapes.get(name, [None])[1:] != shape for name, shape in expected.items()):
            raise ModelError(f"{path}: outputs {shapes} do not match {anchors} BlazeFace anchors")

    def detect(self, image: np.ndarray) -> Detections:
        return self.nms(self.candidates(image)).to_detections(image.shape[1], image.shape[0])

    def candidates(self, image: np.ndarray, regions: list[tuple[int, int, int, int]] | None = None) -> RawFaces:
        """Every anchor above the threshold, in frame pixels, before NMS (so detectors can be pooled).

        regions (x, y, w, h): the parts of the frame to look at, in one batch; by default the whole
        frame plus the configured tiles."""
        if regions is None:
            regions = [(0, 0, image.shape[1], image.shape[0])]
            if self.tiles != (1, 1):
                regions += tile_origins(image.shape[1], image.shape[0], self.tiles, self.tile_overlap)
        if not regions:
            return RawFaces.empty()
        squares, placements = [], []
        for x, y, w, h in regions:
            square, placement = self.letterbox(image[y : y + h, x : x + w], (x, y))
            squares.append(square)
            placements.append(placement)
        regressors, logits = self.session.run(["regressors", "classificators"], {self.input_name: to_tensor(squares)})
        return RawFaces.concat(
            [self._in_frame(self.decode(r, c[:, 0]), p) for r, c, p in zip(regressors, logits, placements)]
        )

    def _in_frame(self, faces: RawFaces, placement: Placement) -> RawFaces:
        corners = placement.to_frame(faces.boxes.reshape(-1, 2, 2), self.input_size).reshape(-1, 4)
        return RawFaces(corners, placement.to_frame(faces.keypoints, self.input_size), faces.scores)


class MultiRangeDetector(FaceDetector):
    """Short- and full-range BlazeFace pooled: one weighted NMS over both nets' candidates.

    Measured on the shared clips, short-range misses faces narrower than ~15 % of the frame (a call
    gallery) and full-range misses faces wider than ~70 % (a webcam close-up); together they cover
    both for the price of the short net (~2 ms of CPU per frame).
    """

    def __init__(self, detectors: list[BlazeFaceDetector], iou_threshold: float = 0.3) -> None:
        self.detectors = detectors
        self.nms = WeightedNms(iou_threshold)

    @staticmethod
    def from_variants(variants: tuple[str, ...] = VARIANT_NAMES, threads: int = 1) -> MultiRangeDetector:
        return MultiRangeDetector([BlazeFaceDetector(v, pooled=True, threads=threads) for v in variants])

    def detect(self, image: np.ndarray) -> Detections:
        return self.nms(self.candidates(image)).to_detections(image.shape[1], image.shape[0])

    def candidates(self, image: np.ndarray) -> RawFaces:
        return RawFaces.concat([d.candidates(image) for d in self.detectors])


def _blazeface(context: DetectorContext) -> BlazeFaceDetector:
    return BlazeFaceDetector(context.model, pooled=context.pooled, sessions=context.sessions)


ENTRIES = tuple(Entry(arch, "MediaPipe's BlazeFace, run by onnxruntime.", _blazeface) for arch in VARIANTS)
"""One entry per BlazeFace model arch (short- and full-range)."""
