"""Compose a 1920x1080 3x3 "gallery view" clip from nine shared face clips, the way a call shows them.

Cells are 640x360. Each clip is letterboxed into its cell at its own zoom, so face sizes range from a
close-up to a small face in a wide cell (several at ~10 % of the gallery's width or less), as in a real
call. The clip is as long as the shortest input (or --seconds), at 30 fps.

    python benchmarks/make_gallery.py ../shared/data/videos gallery-1080p.mp4
    confcam bench gallery-1080p.mp4 --frames 600 --json bench-gallery.json
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import cv2  # noqa: F401  (before av, see confcam/__init__.py)
import av
import numpy as np

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


def frames_of(path: Path):
    """Frames of a clip at about FPS, looping when it ends."""
    while True:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="bgr24")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", type=Path, help="folder with the shared clips")
    parser.add_argument("output", type=Path, help="mp4 to write")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    readers = [(frames_of(args.videos / name), zoom) for name, zoom in CLIPS]
    with av.open(str(args.output), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = CELL[0] * 3, CELL[1] * 3, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "20"}
        for _ in range(int(args.seconds * FPS)):
            cells = [fit(next(reader), zoom) for reader, zoom in readers]
            gallery = np.vstack([np.hstack(cells[row * 3 : row * 3 + 3]) for row in range(3)])
            for packet in stream.encode(av.VideoFrame.from_ndarray(gallery, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    print(f"wrote {args.output}: 1920x1080, {int(args.seconds * FPS)} frames")


if __name__ == "__main__":
    main()
