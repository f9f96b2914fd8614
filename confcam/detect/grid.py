"""Gallery views are grids: find the tiles once, then look for each face inside its own tile.

A 7x7 gallery on a 1080p screen shows 49 faces of ~70 px. Letterboxed whole, the frame shrinks them to a
few pixels of the detector's input; swept with generic overlapping tiles, most faces are cut or small.
A meeting app's own tiles are the right crops: each is a webcam picture with one face at a size the
short-range net reads well. So `GridFinder` finds the tile layout from the picture (tile borders are
straight lines across the whole gallery, at a regular pitch), and `GridDetector` runs the near-range net
on the tiles in one batch: a few tiles per frame in turn, each tile keeping its last faces until its
next look (faces in a call barely move in 150 ms), so a 49-tile gallery costs what 12 tiles cost. The
layout is checked again every `recheck_frames`; with no grid on screen, the fallback detector (the
FocusedDetector) does the work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from confcam.detect.base import CandidateDetector, FaceDetector
from confcam.detect.blazeface import RawFaces, WeightedNms
from confcam.types import Detections

Region = tuple[int, int, int, int]


@dataclass(frozen=True)
class GridConfig:
    enabled: bool = True
    """Look for a gallery grid at all (off: the FocusedDetector always)."""
    recheck_frames: int = 30
    """Frames between two layout checks (a layout check costs ~3 ms at 1080p)."""
    tiles_per_frame: int = 8
    """Tiles the near-range net looks at per frame; the others keep their faces until their turn."""
    min_tiles: int = 9
    """Galleries with fewer tiles are left to the FocusedDetector: up to 2x2 its whole-frame pass already
    sees every face, and searching a big tile on its own only adds chances of a false face in its
    background (seen on the web page's 2x2 test gallery)."""
    min_pitch: int = 64
    """Smallest tile side in pixels worth treating as a webcam picture."""
    edge_level: int = 10
    """Grey-level step that counts as an edge between neighbouring pixels."""
    line_share: float = 0.45
    """A column (row) is a tile border when an edge runs along this share of its length."""
    hits_needed: float = 0.7
    """Share of a layout's inner borders that must be seen as lines for the layout to count."""
    min_cover: float = 0.6
    """The tiles span at least this share of the frame's width and of its height (the rest: margins)."""


@dataclass(frozen=True)
class GridLayout:
    """Tile borders along x and along y, in frame pixels (first and last are the gallery's outer edges)."""

    xs: tuple[int, ...]
    ys: tuple[int, ...]

    @property
    def tiles(self) -> list[Region]:
        """(x, y, w, h) of every tile, row by row."""
        return [
            (x0, y0, x1 - x0, y1 - y0)
            for y0, y1 in zip(self.ys, self.ys[1:])
            for x0, x1 in zip(self.xs, self.xs[1:])
        ]

    @property
    def shape(self) -> tuple[int, int]:
        """(columns, rows)."""
        return len(self.xs) - 1, len(self.ys) - 1


class GridFinder:
    """Finds a regular grid of tiles from the straight borders that run across a gallery."""

    SCALE = 2
    """Look at half resolution: borders stay sharp, the check costs a quarter."""

    def __init__(self, config: GridConfig = GridConfig()) -> None:
        self.config = config

    def find(self, image: np.ndarray) -> GridLayout | None:
        gray = cv2.cvtColor(image[:: self.SCALE, :: self.SCALE], cv2.COLOR_BGR2GRAY).astype(np.int16)
        xs = self._axis(np.abs(np.diff(gray, axis=1)), gray.shape[1])
        ys = self._axis(np.abs(np.diff(gray, axis=0)).T, gray.shape[0])
        if xs is None or ys is None:
            return None
        layout = GridLayout(tuple(x * self.SCALE for x in xs), tuple(y * self.SCALE for y in ys))
        columns, rows = layout.shape
        if columns < 2 or rows < 2 or columns * rows < self.config.min_tiles:
            return None
        return layout

    def _axis(self, steps: np.ndarray, length: int) -> list[int] | None:
        """Border positions along one axis (including the outer edges), or None without a regular grid.

        steps: |difference| between neighbours across the axis, one column per position."""
        share = (steps > self.config.edge_level).mean(axis=0)
        lines = _line_centres(share >= self.config.line_share)
        candidates = sorted({0, length, *lines})
        best: list[int] | None = None
        best_hits = 0
        min_pitch = self.config.min_pitch / self.SCALE
        for i, a in enumerate(candidates):
            for b in candidates[i + 1 :]:
                pitch = b - a
                if pitch < min_pitch:
                    continue
                points, hits = _progression(a, pitch, length, candidates)
                inner = len(points) - 2
                if inner < 1 or hits < max(1, self.config.hits_needed * inner) or points[-1] - points[0] < self.config.min_cover * length:
                    continue
                if hits > best_hits or (hits == best_hits and best is not None and len(points) > len(best)):
                    best, best_hits = points, hits
        return best


def _line_centres(is_line: np.ndarray, merge: int = 4) -> list[int]:
    """Centres of runs of border columns; runs closer than `merge` (the two sides of a gap) join."""
    where = np.flatnonzero(is_line)
    if where.size == 0:
        return []
    groups = np.split(where, np.flatnonzero(np.diff(where) > merge) + 1)
    return [int(round((g[0] + g[-1] + 1) / 2)) for g in groups]


def _progression(start: int, pitch: int, length: int, lines: list[int]) -> tuple[list[int], int]:
    """The borders a + k * pitch inside [0, length] that match a seen line (or the frame's edge), snapped
    to it, and how many inner ones matched."""
    tolerance = max(2.0, 0.03 * pitch)
    k_min = -int((start + tolerance) // pitch)
    points, hits = [], 0
    k = k_min
    while start + k * pitch <= length + tolerance:
        expected = start + k * pitch
        nearest = min(lines, key=lambda line: abs(line - expected))
        seen = abs(nearest - expected) <= tolerance
        if seen:
            points.append(nearest)
            hits += 0 < nearest < length
        elif 0 < expected < length:
            points.append(int(round(expected)))
        k += 1
    first = next((i for i, p in enumerate(points) if p in lines), 0)
    last = max((i for i, p in enumerate(points) if p in lines), default=len(points) - 1)
    return points[first : last + 1], hits


class GridDetector(FaceDetector):
    """Per-tile detection when the frame is a gallery grid; the fallback detector otherwise."""

    _layout: GridLayout | None
    _size: tuple[int, int]
    _faces: dict[int, RawFaces]
    _next: int
    _frames: int

    def __init__(
        self,
        near: CandidateDetector,
        fallback: FaceDetector,
        config: GridConfig = GridConfig(),
        iou_threshold: float = 0.3,
    ) -> None:
        self.near = near
        self.fallback = fallback
        self.config = config
        self.finder = GridFinder(config)
        self.nms = WeightedNms(iou_threshold)
        self.reset()

    @property
    def layout(self) -> GridLayout | None:
        return self._layout

    def detect(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        if self._frames % self.config.recheck_frames == 0 or (width, height) != self._size:
            self._use(self.finder.find(image), (width, height))
        self._frames += 1
        if self._layout is None:
            return self.fallback.detect(image)
        tiles = self._layout.tiles
        chosen = self._turn(len(tiles))
        found = self.near.candidates(image, [tiles[i] for i in chosen])
        centres = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2
        for i in chosen:
            x, y, w, h = tiles[i]
            inside = (centres[:, 0] >= x) & (centres[:, 0] < x + w) & (centres[:, 1] >= y) & (centres[:, 1] < y + h)
            # Merged once per look, not every frame: a face lies in one tile, so tiles never share a face.
            self._faces[i] = self.nms(RawFaces(found.boxes[inside], found.keypoints[inside], found.scores[inside]))
        return RawFaces.concat([RawFaces.empty(), *self._faces.values()]).to_detections(width, height)

    def _turn(self, count: int) -> list[int]:
        """Tiles never looked at first (a new layout is read whole once), then the next ones in turn."""
        unseen = [i for i in range(count) if i not in self._faces]
        if unseen:
            return unseen
        step = min(self.config.tiles_per_frame, count)
        chosen = [(self._next + i) % count for i in range(step)]
        self._next = (self._next + step) % count
        return chosen

    def _use(self, layout: GridLayout | None, size: tuple[int, int]) -> None:
        if layout == self._layout and size == self._size:
            return
        if layout is None or self._layout is None:
            self.fallback.reset()
        self._layout, self._size = layout, size
        self._faces = {}
        self._next = 0

    def reset(self) -> None:
        self._layout = None
        self._size = (0, 0)
        self._faces = {}
        self._next = 0
        self._frames = 0
        self.fallback.reset()
