"""How often the face detector finds a face on each shared clip, and how long it takes.

Coverage on close-up clips is the detector's main quality bar (every frame without a face is a
frame without a label), and detect time is its share of the 30 FPS budget. From the repo root:

    python -m scripts.face_coverage --variant short
    python -m scripts.face_coverage --variant full --every 4 --threads 2

Prints a Markdown table: frames, frames with >= 1 face, coverage %, median faces per frame and
median / p95 detect ms per clip. Clips without a face on every frame (face_noface, noface_face,
short_hamilton_clip) are listed for reference; their coverage is not expected to be 100 %.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from confcam.detect.blazeface import VARIANT_NAMES, BlazeFaceDetector

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
CLIP_SUFFIXES = (".mp4", ".mov")


@dataclass
class ClipStats:
    name: str
    size: str
    counts: list[int]
    millis: list[float]

    def row(self) -> str:
        frames = len(self.counts)
        hits = sum(1 for c in self.counts if c > 0)
        return (
            f"| {self.name} | {self.size} | {frames} | {hits} | {100.0 * hits / max(frames, 1):.1f} | "
            f"{np.median(self.counts):.0f} | {np.median(self.millis):.2f} | {np.percentile(self.millis, 95):.2f} |"
        )


def measure(detector: BlazeFaceDetector, clip: Path, every: int) -> ClipStats:
    capture = cv2.VideoCapture(str(clip))
    counts, millis = [], []
    index = 0
    size = "?"
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            size = f"{frame.shape[1]}x{frame.shape[0]}"
            start = time.perf_counter()
            faces = detector.detect(frame)
            millis.append((time.perf_counter() - start) * 1000.0)
            counts.append(len(faces))
        index += 1
    capture.release()
    return ClipStats(clip.name, size, counts, millis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=VARIANT_NAMES, default="short")
    parser.add_argument("--threshold", type=float, default=None, help="score threshold (default: the variant's)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    parser.add_argument("--tiles", type=int, nargs=2, default=(1, 1), metavar=("COLS", "ROWS"))
    parser.add_argument("--every", type=int, default=1, help="use every n-th frame")
    parser.add_argument("--videos", type=Path, default=VIDEOS)
    args = parser.parse_args()

    detector = BlazeFaceDetector(args.variant, score_threshold=args.threshold, threads=args.threads,
                                 tiles=tuple(args.tiles))
    clips = sorted(p for p in args.videos.iterdir() if p.suffix in CLIP_SUFFIXES)
    print(f"variant {args.variant}, threshold {detector.decode.score_threshold}, threads {args.threads}, "
          f"tiles {args.tiles[0]}x{args.tiles[1]}, every {args.every} frame(s)\n")
    print("| clip | size | frames | frames with face | coverage % | median faces | median ms | p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in clips:
        print(measure(detector, clip, args.every).row(), flush=True)


if __name__ == "__main__":
    main()
