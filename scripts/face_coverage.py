"""How often the face detector finds a face on each shared clip, and how long it takes.

Coverage on close-up clips is the detector's main quality bar (every frame without a face is a
frame without a label), and detect time is its share of the 30 FPS budget. From the repo root:

    python -m scripts.face_coverage --variant short
    python -m scripts.face_coverage --variant short+full
    python -m scripts.face_coverage --variant full --every 4 --threads 2
    python -m scripts.face_coverage --variant short+full --gallery

--gallery instead composes 3x3 video-call galleries (nine close-up clips, one per cell) at 1280x720
and 1920x1080 and prints how many of the nine faces are found.

Prints a Markdown table: frames, frames with >= 1 face, coverage %, median faces per frame and
median / p95 detect ms per clip, and the median CPU time of the detecting thread (with threads=1,
onnxruntime runs in that thread, so this stays meaningful when other work shares the cores).
Clips without a face on every frame (face_noface, noface_face, short_hamilton_clip) are listed for
reference; their coverage is not expected to be 100 %.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from confcam.detect.base import FaceDetector
from confcam.detect.blazeface import VARIANT_NAMES, BlazeFaceDetector, MultiRangeDetector

POOLED = "short+full"

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
CLIP_SUFFIXES = (".mp4", ".mov")
GALLERY_CLIPS = (
    "WolfgangLanger_Pexels.mp4", "lp_d0.mp4", "lp_d10.mp4", "lp_d11.mp4", "lp_d3.mp4",
    "lp_d6.mp4", "lp_d9.mp4", "lp_s18.mp4", "single_face.mp4",
)


@dataclass
class ClipStats:
    name: str
    size: str
    counts: list[int]
    millis: list[float]
    cpu_millis: list[float]

    def row(self) -> str:
        frames = len(self.counts)
        hits = sum(1 for c in self.counts if c > 0)
        return (
            f"| {self.name} | {self.size} | {frames} | {hits} | {100.0 * hits / max(frames, 1):.1f} | "
            f"{np.median(self.counts):.0f} | {np.median(self.millis):.2f} | {np.percentile(self.millis, 95):.2f} | "
            f"{np.median(self.cpu_millis):.2f} |"
        )


def measure(detector: FaceDetector, clip: Path, every: int) -> ClipStats:
    capture = cv2.VideoCapture(str(clip))
    counts, millis, cpu_millis = [], [], []
    index = 0
    size = "?"
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            size = f"{frame.shape[1]}x{frame.shape[0]}"
            start, cpu_start = time.perf_counter(), time.thread_time()
            faces = detector.detect(frame)
            millis.append((time.perf_counter() - start) * 1000.0)
            cpu_millis.append((time.thread_time() - cpu_start) * 1000.0)
            counts.append(len(faces))
        index += 1
    capture.release()
    return ClipStats(clip.name, size, counts, millis, cpu_millis)


def gallery(videos: Path, index: int, size: tuple[int, int]) -> np.ndarray:
    """Frame `index` of nine clips, each letterboxed into one cell of a 3x3 grid."""
    width, height = size
    cell_w, cell_h = width // 3, height // 3
    canvas = np.zeros((cell_h * 3, cell_w * 3, 3), np.uint8)
    for k, name in enumerate(GALLERY_CLIPS):
        capture = cv2.VideoCapture(str(videos / name))
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        capture.release()
        if not ok:
            continue
        scale = min(cell_w / frame.shape[1], cell_h / frame.shape[0])
        size = (int(frame.shape[1] * scale), int(frame.shape[0] * scale))
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        top = (k // 3) * cell_h + (cell_h - small.shape[0]) // 2
        left = (k % 3) * cell_w + (cell_w - small.shape[1]) // 2
        canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
    return canvas


def measure_galleries(detector: FaceDetector, videos: Path) -> None:
    print("| gallery | galleries | faces found per gallery (of 9) | median ms | median CPU ms |")
    print("|---|---|---|---|---|")
    for size in ((1280, 720), (1920, 1080)):
        counts, millis, cpu_millis = [], [], []
        for index in range(0, 60, 5):
            image = gallery(videos, index, size)
            start, cpu_start = time.perf_counter(), time.thread_time()
            counts.append(len(detector.detect(image)))
            millis.append((time.perf_counter() - start) * 1000.0)
            cpu_millis.append((time.thread_time() - cpu_start) * 1000.0)
        print(f"| {size[0]}x{size[1]} | {len(counts)} | min {min(counts)}, median {np.median(counts):.0f}, "
              f"max {max(counts)} | {np.median(millis):.2f} | {np.median(cpu_millis):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=(*VARIANT_NAMES, POOLED), default="full")
    parser.add_argument("--threshold", type=float, default=None, help="score threshold (default: the variant's)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--tiles", type=int, nargs=2, default=(1, 1), metavar=("COLS", "ROWS"))
    parser.add_argument("--every", type=int, default=1, help="use every n-th frame")
    parser.add_argument("--videos", type=Path, default=VIDEOS)
    parser.add_argument("--gallery", action="store_true", help="measure 3x3 galleries instead of clips")
    args = parser.parse_args()

    variants = VARIANT_NAMES if args.variant == POOLED else (args.variant,)
    nets = [
        BlazeFaceDetector(v, args.threshold, pooled=len(variants) > 1, threads=args.threads, tiles=tuple(args.tiles))
        for v in variants
    ]
    detector = nets[0] if len(nets) == 1 else MultiRangeDetector(nets)
    thresholds = "/".join(str(n.decode.score_threshold) for n in nets)
    if not args.videos.is_dir():
        raise SystemExit(f"no clip folder at {args.videos}")
    clips = sorted(p for p in args.videos.iterdir() if p.suffix in CLIP_SUFFIXES)
    if args.gallery:
        print(f"variant {args.variant}, threshold {thresholds}, tiles {args.tiles[0]}x{args.tiles[1]}\n")
        measure_galleries(detector, args.videos)
        return
    print(f"variant {args.variant}, threshold {thresholds}, threads {args.threads}, "
          f"tiles {args.tiles[0]}x{args.tiles[1]}, every {args.every} frame(s)\n")
    columns = ("clip", "size", "frames", "frames with face", "coverage %", "median faces", "median ms", "p95 ms",
               "median CPU ms")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for clip in clips:
        print(measure(detector, clip, args.every).row(), flush=True)


if __name__ == "__main__":
    main()
