"""Score expression models the way docs/results.md reports them, and write that page.

    python scripts/train_results.py --cache CACHE_DIR [--models NAME|PATH ...] [--docs docs/]

For each model: FER2013 PublicTest (still faces, each repeated over the window, as `confcam eval` does)
accuracy, macro recall and confusion PNG; params; onnxruntime ms/face at batch 1 and 9 (1 thread, this
machine); and on real video windows of the held-out shared clips (cached by `confcam train` in CACHE_DIR,
labelled by the mirror- and window-averaged minixception-2d teacher): agreement with the teacher and how
often the label flips between consecutive windows of a face. Needs the `train` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from confcam.classify.evaluate import evaluate_npz  # noqa: E402
from confcam.classify.model import ExpressionModel  # noqa: E402
from confcam.classify.registry import ModelRegistry  # noqa: E402
from confcam.classify.smoother import ExpressionSmoother  # noqa: E402
from confcam.train.data import LABELS, CachedWindows, resize_faces  # noqa: E402
from confcam.train.report import EvalReport, latency_ms_per_face, macro_recall, onnx_params  # noqa: E402

FER2013 = REPO.parent / "shared" / "data" / "fer2013" / "fer2013_train_publictest.npz"
VIDEOS = REPO.parent / "shared" / "data" / "videos"
HELD_OUT = ("lp_d11", "lp_s18", "lp_s32", "noface_face", "short_hamilton_clip", "single_face")
"""Shared clips never used for training (the others gave teacher-labelled training windows)."""
DEFAULT_MODELS = ("minixception-2d", "timeconvnet-minixception", "timeconvnet-minixception-temporal",
                  *(str(p) for p in sorted((REPO / "models" / "trained").glob("*.onnx"))))
"""The bundled expression models and every file in models/trained/ (trained here; not bundled)."""


def held_out_caches(cache: Path) -> list[Path]:
    files = [p for p in sorted(cache.glob("*.npz")) if p.stem.rsplit("-", 1)[0] in HELD_OUT]
    if not files:
        raise SystemExit(f"no cached windows of the held-out clips in {cache}")
    return files


def video_scores(model: ExpressionModel, caches: list[Path]) -> dict[str, float]:
    """Agreement with the teacher, and how often a face's label changes between consecutive frames: the
    raw argmax, and the label the live path shows (after confcam's ExpressionSmoother)."""
    order = [model.info.labels.index(name) for name in LABELS]
    t, size = model.info.window, model.info.input_size
    agree, total, flips, shown_flips, pairs = 0, 0, 0, 0, 0
    for path in caches:
        cached = CachedWindows.load(path)
        tracks, same_face = face_order(path)
        with np.load(path) as data:
            times = data["last_frames"] / clip_fps(path)
        x = np.stack([resize_faces(w, size) for w in cached.x[:, -t:]]).astype(np.float32) / 255.0
        probs = np.concatenate([model.predict(x[i : i + 256]) for i in range(0, len(x), 256)])[:, order]
        predicted = probs.argmax(1)
        agree += int((predicted == cached.targets.argmax(1)).sum())
        total += len(predicted)
        smoother = ExpressionSmoother(LABELS)
        shown = np.array([smoother.update(tracks[i : i + 1], probs[i : i + 1], times[i])[1][0] for i in range(len(probs))])
        flips += changes(predicted, same_face)
        shown_flips += changes(shown, same_face)
        pairs += int(same_face.sum())
    return {"agreement": agree / max(total, 1), "windows": total, "flips_per_100": 100.0 * flips / max(pairs, 1),
            "shown_changes_per_100": 100.0 * shown_flips / max(pairs, 1)}


def face_order(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Each cached window's track id, and for each neighbouring pair: is the second the same face one
    frame later?"""
    with np.load(path) as data:
        tracks, frames = data["track_ids"], data["last_frames"]
    return tracks, (tracks[1:] == tracks[:-1]) & (frames[1:] == frames[:-1] + 1)


def clip_fps(path: Path) -> float:
    """The frame rate of the shared clip a cache file was cut from, so the smoother gets real seconds."""
    import av

    clip = next(VIDEOS.glob(f"{path.stem.rsplit('-', 1)[0]}.*"))
    with av.open(str(clip)) as container:
        return float(container.streams.video[0].average_rate)


def changes(labels: np.ndarray, same_face: np.ndarray) -> int:
    return int((labels[1:] != labels[:-1])[same_face].sum())


def teacher_flips(caches: list[Path]) -> float:
    """How often the teacher's own label changes between consecutive frames of a face (a reference)."""
    flips, pairs = 0, 0
    for path in caches:
        _, same_face = face_order(path)
        flips += changes(CachedWindows.load(path).targets.argmax(1), same_face)
        pairs += int(same_face.sum())
    return 100.0 * flips / max(pairs, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True, help="window cache of `confcam train` (shared clips)")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--docs", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    registry = ModelRegistry()
    caches = held_out_caches(args.cache)
    rows = []
    for spec in args.models:
        info = registry.resolve(spec, "expression")
        model = ExpressionModel(info.path, threads=2)
        result = evaluate_npz(model, FER2013, split="publictest")
        confusion = np.array(result["confusion"])
        report = EvalReport(info.name, "FER2013 PublicTest", list(info.labels), confusion, onnx_params(info.path),
                            latency_ms_per_face(info.path))
        paths = report.write(args.docs / "results")
        video = video_scores(ExpressionModel(info.path), caches)
        rows.append((info, report, video, paths["png"]))
        print(report.markdown_row(), f"video agreement {video['agreement']:.4f} flips/100 {video['flips_per_100']:.1f} "
              f"shown changes/100 {video['shown_changes_per_100']:.1f}")
    write_page(args.docs / "results.md", rows, caches)


def write_page(path: Path, rows, caches: list[Path]) -> None:
    lines = [
        "# Results: TimeConvNets on the data confcam has",
        "",
        "In the shape of the thesis' Table 3.2, but measured on what this repository can share: FER2013",
        "PublicTest (3,589 still faces; a temporal model sees each face repeated over its window, exactly as",
        "`confcam eval` and a still photo in the live path do) and real video windows of the shared clips held",
        f"out of training ({', '.join(HELD_OUT)}; {rows[0][2]['windows'] if rows else 0} windows), labelled by the",
        "teacher (minixception-2d averaged over each window's frames and their mirror images). The teacher is",
        "built from the published 2D model, so agreement favours models close to it. Flips count how often the",
        "raw label of a face changes between consecutive frames, shown changes how often the label the live path",
        "shows (after confcam's smoother) does; lower is steadier. The teacher's own label changes "
        f"{teacher_flips(caches):.1f} times per 100 frames.",
        "",
        "Reproduce: `python scripts/train_results.py --cache CACHE` after the `confcam train` runs in",
        "`models/MODEL_CARD.md` ('Trained here'; CACHE is their `--cache`).",
        "",
        "| network | PublicTest top-1 | macro recall | ms/face batch 1 | ms/face batch 9 | params | video agreement "
        "| flips / 100 frames | shown changes / 100 frames |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for info, report, video, _ in rows:
        lines.append(
            f"| {info.name} ({info.arch}, t={info.window}) | {report.accuracy:.4f} | {macro_recall(report.confusion):.4f} "
            f"| {report.ms_per_face[1]:.3f} | {report.ms_per_face[9]:.3f} | {report.params:,} "
            f"| {video['agreement']:.4f} | {video['flips_per_100']:.1f} | {video['shown_changes_per_100']:.1f} |"
        )
    load = os.getloadavg()[0]
    lines += ["", f"Latency: onnxruntime, 1 thread, median of 200 calls on the {os.cpu_count()}-core development machine "
              f"(load average {load:.1f} when the page was written).", ""]
    lines += default_bar(rows)
    lines += ["", "For reference, the thesis' Table 3.2 (BigFaceX, their 20 % test split; not comparable data):", "",
              "| network | top-1 | ms | params |", "|---|---|---|---|",
              "| 2D ConvNet (mini-Xception, last frame) | 0.757 | 3.22 | 58,423 |",
              "| (2+1)D ConvNet (ResNet20) | 0.848 | 52.70 | 523,357 |", "| 3D ConvNet (ResNet20) | 0.851 | 35.64 | 808,775 |",
              "| TimeConvNet (mini-Xception) | 0.855 | 3.18 | 58,711 |", "| TimeConvNet (ResNet20) | 0.979 | 6.14 | 274,535 |",
              "| TimeConvNet (MobileNetV2) | 0.923 | 5.64 | 2,267,527 |", "", "## Confusion matrices (FER2013 PublicTest)", ""]
    for info, _, _, png in rows:
        lines.append(f"![{info.name}](results/{png.name})")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def default_bar(rows) -> list[str]:
    """Which TimeConvNets clear the issue's bar for becoming the default model: PublicTest at least the
    2D default's, <= 1 ms/face at batch 9, and real-video agreement at least the 2D default's."""
    base = next(((r, v) for info, r, v, _ in rows if info.name == "minixception-2d"), None)
    if base is None:
        return []
    report_2d, video_2d = base
    lines = ["## Can a TimeConvNet become the default?", "",
             f"Bar: PublicTest >= {report_2d.accuracy:.4f} (minixception-2d), <= 1 ms/face at batch 9, video agreement "
             f">= {video_2d['agreement']:.4f} (minixception-2d).", "",
             "| TimeConvNet | PublicTest | ms/face batch 9 | video agreement | meets the bar |", "|---|---|---|---|---|"]
    for info, report, video, _ in rows:
        if info.window == 1:
            continue
        checks = (report.accuracy >= report_2d.accuracy, report.ms_per_face[9] <= 1.0,
                  video["agreement"] >= video_2d["agreement"])
        marks = ["yes" if c else "no" for c in checks]
        lines.append(f"| {info.name} | {report.accuracy:.4f} ({marks[0]}) | {report.ms_per_face[9]:.3f} ({marks[1]}) "
                     f"| {video['agreement']:.4f} ({marks[2]}) | {'yes' if all(checks) else 'no'} |")
    return lines


if __name__ == "__main__":
    main()
