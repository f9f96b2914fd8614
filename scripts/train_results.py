"""Score expression models the way docs/results.md reports them, and write that page.

    python scripts/train_results.py --cache CACHE_DIR [--teacher minixception-2d-ferplus] [--models NAME|PATH ...] [--docs docs/]

For each model: FER2013 PublicTest (still faces, each repeated over the window, as `confcam eval` does)
on FER2013's own labels and on the FER+ crowd majority (faces of a class the model lacks count as wrong),
macro recall, the recall of the classes people confuse most (angry, disgust, fear), confusion PNGs;
params; onnxruntime ms/face at batch 1 and 9 (1 thread, this machine); and on real video windows of the
held-out shared clips (cached by `confcam train` in CACHE_DIR; each window's reference label is the
teacher's reading of its last frame, mirror-averaged and averaged over the frames just before and after
it): agreement with that reference, overall and on windows whose face is changing, and how often the
label flips between consecutive windows of a face. Needs the `train` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from confcam.classify.evaluate import evaluate_npz  # noqa: E402
from confcam.classify.model import ExpressionModel  # noqa: E402
from confcam.classify.registry import ModelRegistry  # noqa: E402
from confcam.classify.smoother import ExpressionSmoother  # noqa: E402
from confcam.train.data import CHANGE_SPAN, LABELS, CachedWindows, resize_faces  # noqa: E402
from confcam.train.report import EvalReport, latency_ms_per_face, onnx_params  # noqa: E402

FER2013 = REPO.parent / "shared" / "data" / "fer2013" / "fer2013_train_publictest.npz"
FERPLUS = FER2013.parent / "ferplus_votes.npz"
VIDEOS = REPO.parent / "shared" / "data" / "videos"
HARD_CLASSES = ("angry", "disgust", "fear")
"""The classes the published model recalls worst; the recognition issue asks each to improve."""
HELD_OUT = ("lp_d11", "lp_s18", "lp_s32", "noface_face", "short_hamilton_clip", "single_face")
"""Shared clips never used for training (the others gave teacher-labelled training windows)."""
DEFAULT_MODELS = tuple(p.stem for p in sorted((REPO / "models").glob("*.onnx")) if not p.stem.startswith("blazeface")) + \
    tuple(str(p) for p in sorted((REPO / "models" / "trained").glob("*.onnx")))
"""The bundled expression models and every file in models/trained/ (trained here; not bundled)."""
TWINS = ("timeconvnet-minixception-ferplus=minixception-2d-ferplus", "timeconvnet-minixception-temporal=minixception-2d",
         "timeconvnet-nano-250k=emotionnet-nano-250k", "timeconvnet-nano-20k=emotionnet-nano-20k")
"""TimeConvNets and the still model they were built from / trained beside."""
NANO_STUDY = REPO / "models" / "search" / "emotionnet-nano.db"
"""The committed `confcam train search` study the EmotionNet Nano models were picked from."""
THESIS_NANO = (("EmotionNet Nano-A (thesis)", 232_000, 0.976), ("EmotionNet Nano-B (thesis)", 136_000, 0.927))
"""The thesis' Chapter 4 figures: params and CK+ accuracy (subject-independent 10-fold)."""


def teacher_caches(cache: Path, teacher: str) -> list[Path]:
    """The held-out clips' windows labelled by `teacher` (built into cache on first use, reused after)."""
    from confcam.train.video import VideoWindowBuilder, WindowCache

    models = [ExpressionModel(info.path) for info in ModelRegistry().resolve_all(teacher, "expression")]
    store = WindowCache(cache, VideoWindowBuilder(models, window=5, size=64))
    clips = [next(VIDEOS.glob(f"{stem}.*")) for stem in HELD_OUT]
    return [store.windows(clip) for clip in clips]


def held_out_caches(cache: Path) -> list[Path]:
    """Without --teacher, each held-out clip must have exactly one window file: two (other teachers or
    settings) would count its windows twice."""
    files = [p for p in sorted(cache.glob("*.npz")) if p.stem.rsplit("-", 1)[0] in HELD_OUT]
    if not files:
        raise SystemExit(f"no cached windows of the held-out clips in {cache}")
    clips = [p.stem.rsplit("-", 1)[0] for p in files]
    if twice := sorted({clip for clip in clips if clips.count(clip) > 1}):
        raise SystemExit(f"{cache} holds several window files of {', '.join(twice)} (other teachers or settings): "
                         "name the reference with --teacher")
    return files


def video_scores(model: ExpressionModel, caches: list[Path]) -> dict[str, float]:
    """Agreement with the reference (all windows, and windows whose face is changing), and how often a
    face's label changes between consecutive frames: the raw argmax, and the label the live path shows
    (after confcam's ExpressionSmoother)."""
    t, size = model.info.window, model.info.input_size
    to_labels = np.array([LABELS.index(name) for name in model.info.labels])
    agree, total, agree_changing, changing, flips, shown_flips, pairs = 0, 0, 0, 0, 0, 0, 0
    for path in caches:
        cached = CachedWindows.load(path)
        tracks, same_face = face_order(path)
        with np.load(path) as data:
            times = data["last_frames"] / clip_fps(path)
        x = np.stack([resize_faces(w, size) for w in cached.x[:, -t:]]).astype(np.float32) / 255.0
        probs = np.concatenate([model.predict(x[i : i + 256]) for i in range(0, len(x), 256)])
        predicted = to_labels[probs.argmax(1)]
        reference = cached.targets.argmax(1)
        right = predicted == reference
        agree += int(right.sum())
        total += len(predicted)
        moving = cached.changing
        assert moving is not None, f"{path}: a window cache of confcam's own names each window's face and frame"
        agree_changing += int(right[moving].sum())
        changing += int(moving.sum())
        smoother = ExpressionSmoother(model.info.labels)
        shown = np.array([smoother.update(tracks[i : i + 1], probs[i : i + 1], times[i])[1][0] for i in range(len(probs))])
        flips += changes(predicted, same_face)
        shown_flips += changes(shown, same_face)
        pairs += int(same_face.sum())
    return {"agreement": agree / max(total, 1), "windows": total, "changing_agreement": agree_changing / max(changing, 1),
            "changing": changing, "flips_per_100": 100.0 * flips / max(pairs, 1),
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
    parser.add_argument("--teacher", help="label the held-out clips with this still model (name or path) into --cache "
                        "first and use exactly those windows (the reference of the video columns)")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--twins", nargs="*", default=list(TWINS), metavar="TEMPORAL=STILL",
                        help="TimeConvNets and the still model trained beside them, compared check by check")
    parser.add_argument("--docs", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    registry = ModelRegistry()
    caches = teacher_caches(args.cache, args.teacher) if args.teacher else held_out_caches(args.cache)
    rows = []
    for spec in args.models:
        info = registry.resolve(spec, "expression")
        model = ExpressionModel(info.path, threads=2)
        result = evaluate_npz(model, FER2013, split="publictest", votes=FERPLUS)
        ms, params = latency_ms_per_face(info.path), onnx_params(info.path)
        own = EvalReport(info.name, "FER2013 PublicTest", list(info.labels), np.array(result["confusion"]), params, ms)
        crowd = EvalReport(info.name, "FER+ PublicTest majority", list(info.labels),
                           np.array(result["majority"]["confusion"]), params, ms)
        png = crowd.write(args.docs / "results")["png"]
        own.write(args.docs / "results")
        scores = {"own": result["accuracy"], "own_recall": result["macro_recall"],
                  "ferplus": result["majority"]["accuracy_all"], "ferplus_recall": result["majority"]["macro_recall"],
                  **{name: class_recall(crowd, name) for name in HARD_CLASSES}}
        video = video_scores(ExpressionModel(info.path), caches)
        rows.append(Row(info, own, scores, video, png))
        print(f"{info.name}: FER+ {scores['ferplus']:.4f} FER2013 {scores['own']:.4f} video {video['agreement']:.4f} "
              f"changing {video['changing_agreement']:.4f} flips/100 {video['flips_per_100']:.1f}")
    write_page(args.docs / "results.md", rows, caches, [tuple(t.split("=", 1)) for t in args.twins], args.teacher)


@dataclass(frozen=True)
class Row:
    info: object
    report: EvalReport
    scores: dict[str, float]
    video: dict[str, float]
    png: Path


def class_recall(report: EvalReport, name: str) -> float:
    if name not in report.labels:
        return 0.0
    i = report.labels.index(name)
    support = report.confusion[i].sum()
    return float(report.confusion[i, i] / support) if support else 0.0


def write_page(path: Path, rows: list[Row], caches: list[Path], twins: list[tuple[str, str]], teacher: str | None) -> None:
    video = rows[0].video if rows else {"windows": 0, "changing": 0}
    lines = [
        "# Results: expression models on the data confcam has",
        "",
        "Measured on what this repository can share, in the spirit of the thesis' Table 3.2. Still faces: FER2013",
        "PublicTest (3,589 faces, never trained on; a temporal model sees each face repeated over its window, exactly",
        "as `confcam eval` and a still photo in the live path do), scored on the FER+ crowd majority (10 annotators;",
        "ties, unknown and not-a-face dropped: 3,396 faces; a face of a class the model lacks counts as wrong) and",
        "on FER2013's own labels. Video: real windows of the shared clips held out of training",
        f"({', '.join(HELD_OUT)}; {video['windows']} windows, {video['changing']} of them on a changing face), each",
        "labelled by the teacher's reading of its last frame (mirror-averaged, averaged over the frames just before",
        f"and after it; made offline, so it does not lag). The teacher is {teacher_words(teacher)}, so agreement",
        "favours models close to it; there is no human-labelled video here. A window's face is changing when that label",
        f"differs from the one {CHANGE_SPAN} frames earlier. Flips count how often the raw label of a face changes",
        "between consecutive frames, shown changes how often the label the live path shows (after confcam's",
        "smoother) does; lower is steadier. The reference label itself changes "
        f"{teacher_flips(caches):.1f} times per 100 frames.",
        "",
        f"Reproduce: `python scripts/train_results.py --cache CACHE --teacher {teacher or 'TEACHER'}` (CACHE: any",
        "folder; the held-out clips' windows are labelled into it once) after the runs in `models/MODEL_CARD.md`.",
        "",
        "| network | FER+ majority | FER+ macro recall | angry / disgust / fear recall (FER+) | FER2013 own labels "
        "| ms/face b1 | ms/face b9 | params | video agreement | changing-face agreement | flips / 100 frames "
        "| shown changes / 100 frames |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        sc, v, r = row.scores, row.video, row.report
        hard = " / ".join(f"{sc[name]:.2f}" for name in HARD_CLASSES)
        params = f"{r.params:,}" if r.params is not None else "-"
        lines.append(
            f"| {row.info.name} ({row.info.arch}, t={row.info.window}, {len(row.info.labels)} classes) | {sc['ferplus']:.4f} "
            f"| {sc['ferplus_recall']:.4f} | {hard} | {sc['own']:.4f} | {r.ms_per_face[1]:.3f} | {r.ms_per_face[9]:.3f} "
            f"| {params} | {v['agreement']:.4f} | {v['changing_agreement']:.4f} | {v['flips_per_100']:.1f} "
            f"| {v['shown_changes_per_100']:.1f} |"
        )
    load = os.getloadavg()[0]
    lines += ["", f"Latency: onnxruntime, 1 thread, median of 200 calls on the {os.cpu_count()}-core development machine "
              f"(load average {load:.1f} when the page was written).", ""]
    lines += training_table(rows) + [""] + twin_table(rows, twins) + [""] + default_bar(rows) + [""] + nano_table(rows)
    lines += ["", "For reference, the thesis' Table 3.2 (BigFaceX, their 20 % test split; not comparable data):", "",
              "| network | top-1 | ms | params |", "|---|---|---|---|",
              "| 2D ConvNet (mini-Xception, last frame) | 0.757 | 3.22 | 58,423 |",
              "| (2+1)D ConvNet (ResNet20) | 0.848 | 52.70 | 523,357 |", "| 3D ConvNet (ResNet20) | 0.851 | 35.64 | 808,775 |",
              "| TimeConvNet (mini-Xception) | 0.855 | 3.18 | 58,711 |", "| TimeConvNet (ResNet20) | 0.979 | 6.14 | 274,535 |",
              "| TimeConvNet (MobileNetV2) | 0.923 | 5.64 | 2,267,527 |", "",
              "## Confusion matrices (FER+ PublicTest majority)", ""]
    for row in rows:
        lines.append(f"![{row.info.name}](results/{row.png.name})")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")


def teacher_words(teacher: str | None) -> str:
    """The video reference's teacher, as the page names it."""
    if teacher is None:
        return "the still model the cached windows were labelled with"
    names = [Path(part).stem for part in teacher.split("+")]
    return f"`{names[0]}`" if len(names) == 1 else "the mean of " + " and ".join(f"`{n}`" for n in names)


def twin_table(rows: list[Row], twins: list[tuple[str, str]]) -> list[str]:
    """Each TimeConvNet beside the still model trained on the same data: every check, and which is better."""
    by_name = {row.info.name: row for row in rows}
    pairs = [(by_name[a], by_name[b]) for a, b in twins if a in by_name and b in by_name]
    if not pairs:
        return []
    checks = (("FER+ majority", lambda r: r.scores["ferplus"]), ("FER2013 own labels", lambda r: r.scores["own"]),
              ("video agreement", lambda r: r.video["agreement"]),
              ("changing-face agreement", lambda r: r.video["changing_agreement"]))
    lines = ["## TimeConvNet against its still twin", "",
             "| TimeConvNet | still twin | " + " | ".join(name for name, _ in checks) + " |",
             "|---|---|" + "---|" * len(checks)]
    for temporal, still in pairs:
        cells = [f"{get(temporal):.4f} vs {get(still):.4f} ({'=' if abs(get(temporal) - get(still)) < 5e-5 else '+' if get(temporal) > get(still) else '-'})"
                 for _, get in checks]
        lines.append(f"| {temporal.info.name} | {still.info.name} | " + " | ".join(cells) + " |")
    return lines


def training_table(rows: list[Row]) -> list[str]:
    """What each model was trained on and for how long, as its model file records it (confcam.trained_on,
    confcam.epochs, confcam.train_seconds: written by `confcam train`; published ports record no time)."""
    import onnx

    lines = ["## What each model was trained on, and for how long", "",
             "As each model file records it; wall time of `confcam train` on the 2-core development machine, which was "
             "shared with other work (recipes and commands in `models/MODEL_CARD.md`).", "",
             "| model | trained on | epochs | training wall time |", "|---|---|---|---|"]
    for row in rows:
        meta = {p.key: p.value for p in onnx.load(str(row.info.path), load_external_data=False).metadata_props}
        seconds = meta.get("confcam.train_seconds")
        took = f"{int(seconds) / 3600:.2f} h ({int(seconds):,} s)" if seconds else "- (published weights, not trained here)"
        lines.append(f"| {row.info.name} | {meta.get('confcam.trained_on', '-')} | {meta.get('confcam.epochs', '-')} | {took} |")
    return lines


def nano_table(rows: list[Row]) -> list[str]:
    """The EmotionNet Nano models beside the default and the thesis' Nano-A / Nano-B, with how long the
    search that found them took."""
    nano = [row for row in rows if "nano" in str(row.info.arch)]
    if not nano:
        return []
    reference = [row for row in rows if row.info.name == ModelRegistry.default_name("expression")]
    lines = ["## EmotionNet Nano (found by `confcam train search`)", "", search_words(NANO_STUDY), "",
             "| network | t | params | FER+ majority | FER2013 own labels | ms/face b1 | ms/face b9 | CK+ (thesis, 10-fold) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in nano + reference:
        r = row.report
        lines.append(f"| {row.info.name} | {row.info.window} | {r.params or 0:,} | {row.scores['ferplus']:.4f} "
                     f"| {row.scores['own']:.4f} | {r.ms_per_face[1]:.3f} | {r.ms_per_face[9]:.3f} | - |")
    lines += [f"| {name} | 1 | ~{params:,} | - | - | - | - | {ck:.3f} |" for name, params, ck in THESIS_NANO]
    lines += ["", "The thesis trained and tested on CK+ (posed lab sequences, not shareable here; run "
              "`confcam eval-protocol ckplus` on your copy); confcam's Nano models on FER2013 / FER+ faces, so "
              "the two are not comparable figures.", "", "![Pareto front](results/nano-pareto.png)"]
    return lines


def search_words(study_file: Path) -> str:
    """The search's size and wall time, read from the study file."""
    import optuna

    from confcam.train.nano.search import StudyCounts

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{study_file}")
    settings = study.user_attrs.get("settings", {})
    return (f"Search: `{study_file.relative_to(REPO)}`, {StudyCounts.of(study).text()}, on one core of the "
            f"{os.cpu_count()}-core development machine; each trial {settings.get('epochs')} epochs on a fixed {settings.get('subset', 0):,}-face subset of "
            f"{settings.get('data')} with {settings.get('votes')} vote targets, scored on {settings.get('val_subset', 0):,} "
            f"faces of {settings.get('val')}. Space: {settings.get('space')}. The models below were retrained fully "
            "from the picked specs (`models/emotionnet-nano-*.json`; recipes in `models/MODEL_CARD.md`), each TimeConvNet from "
            "its still twin. Reproduce: `models/search/run-search.sh --trials 0 --export models`.")


def default_bar(rows: list[Row]) -> list[str]:
    """Which models clear the recognition issue's bar for the default: FER+ majority >= 0.86, <= 0.5 ms/face at
    batch 9, <= 300 K params, FER2013's own labels >= 0.62, angry / disgust / fear each recalled better than by
    the published model."""
    base = next((row for row in rows if row.info.name == "minixception-2d"), None)
    if base is None:
        return []
    lines = ["## Which models meet the default's bar?", "",
             "Bar: FER+ majority >= 0.86, <= 0.5 ms/face at batch 9, <= 300,000 params, FER2013 own labels >= 0.62, and "
             "angry, disgust and fear each recalled (FER+) better than by the published minixception-2d "
             f"({' / '.join(f'{base.scores[n]:.2f}' for n in HARD_CLASSES)}).", "",
             "| model | FER+ >= 0.86 | <= 0.5 ms | <= 300 K params | FER2013 >= 0.62 | hard classes better | all |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        checks = (row.scores["ferplus"] >= 0.86, row.report.ms_per_face[9] <= 0.5,
                  row.report.params is not None and row.report.params <= 300_000, row.scores["own"] >= 0.62,
                  all(row.scores[n] > base.scores[n] for n in HARD_CLASSES))
        lines.append(f"| {row.info.name} | " + " | ".join("yes" if c else "no" for c in checks)
                     + f" | {'yes' if all(checks) else 'no'} |")
    return lines


if __name__ == "__main__":
    main()
