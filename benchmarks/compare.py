"""One run, one machine: confcam bench beside the fer package's own analysis on the same clips.

    python benchmarks/make_gallery.py ../shared/data/videos /tmp/gallery-1080p.mp4
    python benchmarks/compare.py --fer-python /tmp/fervenv/bin/python \\
        confcam/assets/sample.mp4 ../shared/data/videos/lp_s18.mp4 /tmp/gallery-1080p.mp4

Prints the Markdown rows of docs/benchmarks.md. fer runs in its own venv (see fer_baseline.py); leave
--fer-python out to measure confcam alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent


def confcam_bench(clip: str, frames: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bench.json"
        subprocess.run(
            [sys.executable, "-m", "confcam", "bench", clip, "--frames", str(frames), "--json", str(out)],
            check=True, capture_output=True,
        )
        return json.loads(out.read_text())


def fer_bench(python: str, clip: str, frames: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [python, str(HERE / "fer_baseline.py"), clip, "--frames", str(frames)],
        check=True, capture_output=True, text=True, env=env,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--fer-frames", type=int, default=60)
    parser.add_argument("--fer-python", help="python of a venv with the fer package")
    args = parser.parse_args()
    print("| clip | size | faces/frame | confcam FPS | detect ms | classify ms | latency p50 / p95 ms | fer FPS (faces/frame) |")
    print("|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        ours = confcam_bench(clip, args.frames)
        theirs = fer_bench(args.fer_python, clip, args.fer_frames) if args.fer_python else None
        with av.open(clip) as container:
            stream = container.streams.video[0]
            size = f"{stream.codec_context.width}x{stream.codec_context.height}"
        fer_cell = f"{theirs['fps']:.1f} ({theirs['faces_per_frame']:.2f})" if theirs else "-"
        print(
            f"| {Path(clip).name} | {size} | {ours['faces_per_frame']:.2f} | {ours['fps']:.1f} | "
            f"{ours['stages_ms']['detect']:.1f} | {ours['stages_ms']['classify']:.1f} | "
            f"{ours['latency_ms']['p50']:.1f} / {ours['latency_ms']['p95']:.1f} | {fer_cell} |",
            flush=True,
        )
    print(f"\nmachine: {json.dumps(ours['machine'])}")


if __name__ == "__main__":
    main()
