"""One run, one machine: confcam bench beside the fer package's own analysis on the same clips.

    python benchmarks/make_gallery.py ../shared/data/videos /tmp/gallery-1080p.mp4
    python benchmarks/make_gallery.py ../shared/data/videos /tmp/gallery-5x5.mp4 --grid 5
    python benchmarks/make_gallery.py ../shared/data/videos /tmp/gallery-7x7.mp4 --grid 7
    python benchmarks/compare.py --fer-python /tmp/fervenv/bin/python --live-seconds 20 \\
        ../shared/data/videos/lp_s18.mp4 /tmp/gallery-1080p.mp4 /tmp/gallery-5x5.mp4 /tmp/gallery-7x7.mp4

Prints the Markdown rows of docs/benchmarks.md: per clip, faces found per frame after the first second
(bench's warm-up is the first 30 frames), FPS flat out, per-stage medians, latency, and with
--live-seconds the CPU cores confcam keeps busy playing the clip live at its own 30 FPS
(`confcam start --source file --loop --sink none`, user + system CPU over wall time). fer runs in its
own venv (see fer_baseline.py); leave --fer-python out to measure confcam alone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def live_cores(clip: str, seconds: float) -> float:
    """CPU cores busy while `confcam start` plays the clip in real time (its summary line says)."""
    frames = str(int(seconds * 30))
    done = subprocess.run(
        [sys.executable, "-m", "confcam", "start", "--source", "file", "--input", clip, "--loop", "--sink", "none",
         "--max-frames", frames],
        check=True, capture_output=True, text=True,
    )
    found = re.search(r"CPU ([0-9.]+) cores", done.stderr)
    if found is None:
        raise RuntimeError(f"no CPU figure in confcam start's summary: {done.stderr[-300:]}")
    return float(found.group(1))


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
    parser.add_argument("--live-seconds", type=float, default=0.0, help="also measure CPU cores at the clip's own pace")
    args = parser.parse_args()
    print("| clip | size | faces/frame | confcam FPS | detect ms | classify ms | render ms | latency p50 / p95 ms "
          "| CPU cores live at 30 FPS | fer FPS (faces/frame) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for clip in args.clips:
        ours = confcam_bench(clip, args.frames)
        cores = f"{live_cores(clip, args.live_seconds):.2f}" if args.live_seconds > 0 else "-"
        theirs = fer_bench(args.fer_python, clip, args.fer_frames) if args.fer_python else None
        with av.open(clip) as container:
            stream = container.streams.video[0]
            size = f"{stream.codec_context.width}x{stream.codec_context.height}"
        fer_cell = f"{theirs['fps']:.1f} ({theirs['faces_per_frame']:.2f})" if theirs else "-"
        print(
            f"| {Path(clip).name} | {size} | {ours['faces_per_frame']:.2f} | {ours['fps']:.1f} | "
            f"{ours['stages_ms']['detect']:.1f} | {ours['stages_ms']['classify']:.1f} | "
            f"{ours['stages_ms']['render']:.1f} | "
            f"{ours['latency_ms']['p50']:.1f} / {ours['latency_ms']['p95']:.1f} | {cores} | {fer_cell} |",
            flush=True,
        )
    print(f"\nmachine: {json.dumps(ours['machine'])}")


if __name__ == "__main__":
    main()
