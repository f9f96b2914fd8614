"""Gallery grids on real faces: the tile layout is found from the picture, every tile's face is found by
the real near-range detector, and a frame that is not a gallery is left to the FocusedDetector."""

from __future__ import annotations

import numpy as np
import pytest

from confcam.detect.blazeface import BlazeFaceDetector
from confcam.detect.focus import FocusedDetector
from confcam.detect.grid import GridConfig, GridDetector, GridFinder
from confcam.imaging import fill
from confcam.sources.file import FileSource
from tests.conftest import video

ONE_FACE = ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "lp_d0.mp4", "lp_d3.mp4", "lp_d6.mp4",
            "lp_d9.mp4", "lp_d10.mp4", "lp_d11.mp4", "lp_s18.mp4", "lp_s32.mp4")
NOT_GALLERIES = (*ONE_FACE, "short_hamilton_clip.mp4", "face_noface.mov", "noface_face.mov")


def frame_of(name: str, index: int = 10) -> np.ndarray:
    """Frame `index` of a clip (its last frame when it is shorter)."""
    with FileSource(video(name)) as source:
        last = source.read()
        for _ in range(index):
            last = source.read() or last
        return last.image


def gallery(n: int, gap: int = 4, margin: int = 0, size: tuple[int, int] = (1920, 1080)) -> np.ndarray:
    """An n x n call gallery of the shared one-person clips (mirrored on alternate repeats), tiles filled
    webcam-style, `gap` dark pixels between them and `margin` dark pixels left and right."""
    width, height = size
    tile_w = (width - 2 * margin - gap * (n - 1)) // n
    tile_h = (height - gap * (n + 1)) // n
    out = np.full((height, width, 3), 18, np.uint8)
    faces = [frame_of(name) for name in ONE_FACE]
    for i in range(n * n):
        face = faces[i % len(faces)]
        face = face[:, ::-1] if (i // len(faces)) % 2 else face
        r, c = divmod(i, n)
        x, y = margin + c * (tile_w + gap), gap + r * (tile_h + gap)
        out[y : y + tile_h, x : x + tile_w] = fill(face, tile_w, tile_h)
    return out


@pytest.mark.parametrize(
    "n,gap,margin",
    [(3, 4, 0), (4, 2, 0), (5, 4, 0), (5, 8, 160), (6, 4, 0), (7, 4, 0), (7, 2, 240)],
)
def test_the_tile_layout_of_a_gallery_is_found(n, gap, margin):
    layout = GridFinder().find(gallery(n, gap, margin))
    assert layout is not None and layout.shape == (n, n)
    tile_w = (1920 - 2 * margin - gap * (n - 1)) // n
    assert abs(layout.xs[0] - margin) <= 4 and abs((layout.xs[1] - layout.xs[0]) - (tile_w + gap)) <= 6


def test_a_2x2_call_is_left_to_the_whole_frame_detector_unless_asked():
    image = gallery(2)
    assert GridFinder().find(image) is None
    layout = GridFinder(GridConfig(min_tiles=4)).find(image)
    assert layout is not None and layout.shape == (2, 2)


@pytest.mark.parametrize("name", NOT_GALLERIES)
def test_a_clip_that_is_not_a_gallery_has_no_layout(name):
    for index in (0, 60, 150):
        assert GridFinder().find(frame_of(name, index)) is None


def grid_detector(**config) -> GridDetector:
    near = BlazeFaceDetector("short", pooled=True)
    return GridDetector(near, FocusedDetector(near, BlazeFaceDetector("full", pooled=True)), GridConfig(**config))


@pytest.mark.parametrize("n", [5, 7])
def test_every_face_of_a_big_gallery_is_found_and_kept_while_tiles_take_turns(n):
    image = gallery(n)
    detector = grid_detector(tiles_per_frame=8)
    counts = [len(detector.detect(image)) for _ in range(8)]
    assert detector.layout is not None and detector.layout.shape == (n, n)
    assert min(counts) >= n * n - 1, counts  # the first frame reads every tile; later ones carry unseen tiles
    tiles = detector.layout.tiles
    boxes = detector.detect(image).boxes
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    per_tile = [sum(x <= cx < x + w and y <= cy < y + h for cx, cy in centres) for x, y, w, h in tiles]
    assert sum(1 for c in per_tile if c == 1) >= n * n - 1, per_tile


def test_without_a_gallery_the_grid_detector_answers_as_the_focused_detector():
    frames = [frame_of("short_hamilton_clip.mp4", i) for i in (0, 5, 10)]
    grid = grid_detector()
    near = BlazeFaceDetector("short", pooled=True)
    focused = FocusedDetector(near, BlazeFaceDetector("full", pooled=True))
    for frame in frames:
        assert grid.detect(frame) == focused.detect(frame)
    assert grid.layout is None


def test_a_gallery_that_ends_hands_back_to_the_focused_detector():
    detector = grid_detector(recheck_frames=2)
    detector.detect(gallery(5))
    assert detector.layout is not None
    plain = frame_of("WolfgangLanger_Pexels.mp4")
    for _ in range(3):
        faces = detector.detect(plain)
    assert detector.layout is None and len(faces) == 1
