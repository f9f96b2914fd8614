"""The `fer` package's own video analysis speed on a clip, for the table in docs/benchmarks.md.

fer (MIT) pairs an OpenCV Haar-cascade face detector with the same mini-Xception that confcam ports.
It needs TensorFlow and an OpenCV that still ships Haar cascades (< 5), so it runs in a venv of its
own, never beside confcam:

    python -m venv /tmp/fervenv
    /tmp/fervenv/bin/pip install tensorflow-cpu "opencv-contrib-python<5" pandas tqdm "moviepy<2" \\
        ffmpeg-python Pillow matplotlib requests av
    /tmp/fervenv/bin/pip install --no-deps fer
    /tmp/fervenv/bin/python benchmarks/fer_baseline.py CLIP --frames 150

It times fer's per-frame call (`FER.detect_emotions`, what `fer.Video.analyze` runs on every frame)
after a warm-up, and prints one JSON line: median FPS and faces per frame.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import av
from fer.fer import FER


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    detector = FER(mtcnn=False)
    times, faces = [], []
    with av.open(args.clip) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= args.warmup + args.frames:
                break
            image = frame.to_ndarray(format="bgr24")
            started = time.perf_counter()
            found = detector.detect_emotions(image)
            if index >= args.warmup:
                times.append(time.perf_counter() - started)
                faces.append(len(found))
    print(json.dumps({
        "clip": args.clip,
        "frames": len(times),
        "fps": round(1.0 / statistics.median(times), 2),
        "faces_per_frame": round(statistics.fmean(faces), 2),
    }))


if __name__ == "__main__":
    main()
