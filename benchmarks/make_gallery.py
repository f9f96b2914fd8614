"""Compose a 1920x1080 "gallery view" clip from the shared face clips, the way a call shows them.

--grid 3 (default): cells are 640x360, each clip letterboxed into its cell at its own zoom, so face sizes
range from a close-up to a small face in a wide cell (several at ~10 % of the gallery's width or less).

--grid 5 / --grid 7 (issue 13): 25 or 49 webcam-style tiles, one face each, as Zoom, Meet and Teams show
large calls: each tile is a clip cropped to fill it (centre crop, the face near the middle), tiles
separated by a dark gap of --gap pixels. The ten one-person clips are reused, each copy mirrored or
not and started at another time, so no two neighbouring tiles show the same frame.

The clip lasts --seconds, at 30 fps.

    python benchmarks/make_gallery.py ../shared/data/videos gallery-1080p.mp4
    python benchmarks/make_gallery.py ../shared/data/videos gallery-7x7.mp4 --grid 7
    confcam bench gallery-1080p.mp4 --frames 600 --json bench-gallery.json
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import cv2  # noqa: F401  (before av, see confcam/__init__.py)
import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from confcam.imaging import fill  # noqa: E402

CLIPS = (
    ("WolfgangLanger_Pexels.mp4", 1.0),
    ("lp_d0.mp4", 0.45),
    ("lp_d3.mp4", 0.7),
    ("lp_d6.mp4", 0.5),
    ("single_face.mp4", 0.8),
    ("lp_d9.mp4", 0.6),
    ("lp_d10.mp4", 0.4),
    ("lp_s18.mp4", 1.0),
    ("lp_d11.mp4", 0.55),
)
"""(clip, zoom): zoom 1.0 fills the cell; smaller zooms make smaller faces, centred on a dark cell."""
CELL = (640, 360)
FPS = 30
SIZE = (1920, 1080)
ONE_FACE_CLIPS = (
    "WolfgangLanger_Pexels.mp4", "single_face.mp4", "lp_d0.mp4", "lp_d3.mp4", "lp_d6.mp4",
    "lp_d9.mp4", "lp_d10.mp4", "lp_d11.mp4", "lp_s18.mp4", "lp_s32.mp4",
)
"""Every shared clip that shows one person all the time (the two-person and face-leaves clips are left out)."""


def fit(image: np.ndarray, zoom: float) -> np.ndarray:
    """The frame letterboxed into a dark cell at `zoom` of the largest fitting size."""
    cell_w, cell_h = CELL
    h, w = image.shape[:2]
    scale = min(cell_w / w, cell_h / h) * zoom
    small = cv2.resize(image, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
    out = np.full((cell_h, cell_w, 3), 24, np.uint8)
    y, x = (cell_h - small.shape[0]) // 2, (cell_w - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def frames_of(path: Path, skip: int = 0, mirror: bool = False):
    """Frames of a clip at about FPS, looping when it ends; `skip` frames dropped first."""
    while True:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if skip > 0:
                    skip -= 1
                    continue
                image = frame.to_ndarray(format="bgr24")
                yield image[:, ::-1] if mirror else image


def tile_boxes(grid: int, gap: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of each tile, row by row: equal tiles with `gap` dark pixels between and around them."""
    width, height = SIZE
    tile_w, tile_h = (width - gap * (grid + 1)) // grid, (height - gap * (grid + 1)) // grid
    left = (width - grid * tile_w - (grid - 1) * gap) // 2
    top = (height - grid * tile_h - (grid - 1) * gap) // 2
    return [(left + c * (tile_w + gap), top + r * (tile_h + gap), tile_w, tile_h) for r in range(grid) for c in range(grid)]


def closeup_gallery(videos: Path, grid: int, gap: int):
    """Frames of a grid x grid gallery of close-up tiles."""
    boxes = tile_boxes(grid, gap)
    readers = [
        frames_of(videos / ONE_FACE_CLIPS[i % len(ONE_FACE_CLIPS)], skip=37 * (i // len(ONE_FACE_CLIPS)), mirror=(i // 2) % 2 == 1)
        for i in range(len(boxes))
    ]
    while True:
        gallery = np.full((SIZE[1], SIZE[0], 3), 18, np.uint8)
        for (x, y, w, h), reader in zip(boxes, readers):
            gallery[y : y + h, x : x + w] = fill(next(reader), w, h)
        yield gallery


def zoomed_gallery(videos: Path):
    """Frames of the 3x3 gallery of letterboxed clips at several zooms."""
    readers = [(frames_of(videos / name), zoom) for name, zoom in CLIPS]
    while True:
        cells = [fit(next(reader), zoom) for reader, zoom in readers]
        yield np.vstack([np.hstack(cells[row * 3 : row * 3 + 3]) for row in range(3)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path, help="folder with the shared clips")
    parser.add_argument("output", type=Path, help="mp4 to write")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--grid", type=int, default=3, help="3: the zoomed 3x3 gallery; 4-8: close-up tiles")
    parser.add_argument("--gap", type=int, default=4, help="dark pixels between close-up tiles")
    args = parser.parse_args()
    if not 3 <= args.grid <= 8:
        parser.error("--grid must be 3 to 8")
    galleries = zoomed_gallery(args.videos) if args.grid == 3 else closeup_gallery(args.videos, args.grid, args.gap)
    with av.open(str(args.output), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}
        for _ in range(int(args.seconds * FPS)):
            gallery = next(galleries)
            for packet in stream.encode(av.VideoFrame.from_ndarray(gallery, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    print(f"wrote {args.output}: {SIZE[0]}x{SIZE[1]}, {args.grid}x{args.grid}, {int(args.seconds * FPS)} frames")


if __name__ == "__main__":
    main()
