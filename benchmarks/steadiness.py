"""How steady the shown label is, and how quickly it follows a held change: before and after issue 10.

    python benchmarks/steadiness.py [VIDEO ...] [--model NAME|PATH] [--cache DIR] [--markdown OUT.md]

Each clip (default: the shared lp_*.mp4 clips) goes once through `confcam analyze VIDEO --json` with the
chosen model; the raw per-frame probabilities of every face track in that JSON are then replayed, with
each frame's timestamp (frame / fps), through the frame-counting smoother confcam had before issue 10
("before") and through ExpressionSmoother at each --steadiness preset ("after"). The model and the frames
are the same for every column.

Changes per minute: for each face track, how often the shown label changes (to and from "uncertain"
included), divided by the track's duration ((last frame - first frame + 1) / fps). A new face's first
appearance (from "uncertain" while it has no evidence yet to its first class) is not a change.

Settle latency, on onsets built from real frames, since no video here is labelled: in each track's raw
probabilities, a *steady stretch* of class X is a maximal run of frames around each of which the 0.5 s
(centred) average of the raw probabilities gives X the majority (>= 0.5). An onset joins, from the same
track, a neutral steady stretch of at least 0.8 s (its last 2 s at most, played back to back until it
lasts 3 s, so the smoother meets the change from a settled neutral face, as in a call) to the first 3 s
at most of a later steady stretch of another class X of at least 1.5 s, and replays that as one new face
with continuous timestamps. The *peak* is the first frame of the expressive part: the expression is
already at its held level there, since the stretch is steady from its start. The shown label *settles*
at the earliest frame from which it is X until the end of the onset; the latency is settle time - peak
time. An onset whose shown label is not X at its end never settled: its latency is infinite.

"hindsight" replays the same probabilities through the HindsightDecoder that `confcam analyze` labels
with (balanced, 2 s lag, exactly as analyze's HindsightSink feeds it). Its settle latency can be 0: it
labels a change from where it starts.

Clip ends: each onset cut END_AFTER_S seconds after its peak, as a recording that stops while the face
is still expressive (a posed neutral -> apex sequence ends at its apex); the share of those cuts whose
last frame is labelled X.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from confcam.analysis import shown_label_changes  # noqa: E402
from confcam.bench import machine_info  # noqa: E402
from confcam.classify.hindsight import HindsightDecoder  # noqa: E402
from confcam.classify.smoother import STEADINESS_PRESETS, ExpressionSmoother, SmootherConfig  # noqa: E402
from confcam.types import UNCERTAIN  # noqa: E402

VIDEOS = REPO.parent / "shared" / "data" / "videos"
STEADY_WINDOW_S, STEADY_SHARE = 0.5, 0.5
NEUTRAL_MIN_S, NEUTRAL_KEEP_S, NEUTRAL_LEAD_IN_S = 0.8, 2.0, 3.0
EXPRESSIVE_MIN_S, EXPRESSIVE_KEEP_S = 1.5, 3.0
END_AFTER_S = (0.3, 0.5, 1.0)
HINDSIGHT = "hindsight"


class FrameCountSmoother:
    """The smoother before issue 10, kept only as this benchmark's "before": an EMA with alpha 0.35 per
    frame, "uncertain" below 0.40, and a challenger that leads by 0.08 for 3 consecutive frames wins."""

    def __init__(self, class_names: tuple[str, ...], alpha: float = 0.35, threshold: float = 0.40,
                 margin: float = 0.08, hold_frames: int = 3) -> None:
        self.class_names, self.alpha, self.threshold, self.margin, self.hold = class_names, alpha, threshold, margin, hold_frames
        self.ema: np.ndarray | None = None
        self.shown, self.challenger, self.streak = -1, -1, 0

    def label(self, probs: np.ndarray) -> str:
        if self.ema is None:
            self.ema = probs.copy()
            best = int(probs.argmax())
            self.shown = best if probs[best] >= self.threshold else -1
        else:
            self._step(probs)
        return UNCERTAIN if self.shown < 0 else self.class_names[self.shown]

    def _step(self, probs: np.ndarray) -> None:
        self.ema = (1.0 - self.alpha) * self.ema + self.alpha * probs
        best = int(self.ema.argmax())
        top = float(self.ema[best])
        if top < self.threshold:
            candidate = -1
        elif self.shown < 0:
            candidate = best if top >= self.threshold + self.margin / 2 else -1
        elif best != self.shown and top >= self.ema[self.shown] + self.margin:
            candidate = best
        else:
            candidate = self.shown
        if candidate == self.shown:
            self.challenger, self.streak = -1, 0
        elif candidate == self.challenger:
            self.streak += 1
        else:
            self.challenger, self.streak = candidate, 1
        if self.streak >= self.hold:
            self.shown, self.challenger, self.streak = candidate, -1, 0


def replay_before(labels: tuple[str, ...], probs: np.ndarray) -> list[str]:
    smoother = FrameCountSmoother(labels)
    return [smoother.label(p) for p in probs]


def replay_after(labels: tuple[str, ...], probs: np.ndarray, times: np.ndarray, config: SmootherConfig) -> list[str]:
    smoother = ExpressionSmoother(labels, config)
    ids = np.array([1])
    return [smoother.update(ids, p[None], float(t))[1][0] for p, t in zip(probs, times)]


def replay_hindsight(labels: tuple[str, ...], probs: np.ndarray, times: np.ndarray, config: SmootherConfig) -> list[str]:
    """What `confcam analyze` shows: each frame decided once the decoder's lag has passed, the rest at the end."""
    decoder = HindsightDecoder(labels, config, first_step_s=float(times[1] - times[0]) if len(times) > 1 else 1 / 30)
    shown: list[str] = []
    for p, t in zip(probs, times):
        decoder.push(1, p, float(t))
        while len(shown) < len(times) and t - times[len(shown)] >= decoder.lag_s:
            shown.append(decoder.decide_next(1).label)
    while len(shown) < len(times):
        shown.append(decoder.decide_next(1).label)
    return shown


def ends_right(replay, onset: Onset, after_s: float) -> bool | None:
    """Whether a clip cut after_s seconds past the onset's peak ends on its expression (None: too short)."""
    end = onset.peak + int(round(after_s / (onset.times[1] - onset.times[0]))) + 1
    if end > len(onset.probs):
        return None
    return replay(onset.probs[:end], onset.times[:end])[-1] == onset.target


def settle_latency(shown: list[str], times: np.ndarray, peak: int, target: str) -> float:
    """Seconds from the peak frame to the frame from which the shown label stays `target` to the end."""
    if shown[-1] != target:
        return math.inf
    settle = len(shown) - 1
    while settle > peak and shown[settle - 1] == target:
        settle -= 1
    return float(times[settle] - times[peak])


@dataclass(frozen=True)
class Track:
    clip: str
    probs: np.ndarray
    frames: np.ndarray
    fps: float

    @classmethod
    def all_from_json(cls, clip: str, doc: dict) -> list[Track]:
        """Every face track of an `analyze --json` document (its per-frame records grouped by track id)
        seen in at least two frames."""
        rows: dict[int, list[tuple[int, list[float]]]] = {}
        for frame in doc["frames"]:
            for face in frame["tracks"]:
                rows.setdefault(face["id"], []).append((frame["frame"], face["probs"]))
        return [cls(clip, np.array([p for _, p in r], dtype=np.float64), np.array([f for f, _ in r]), doc["fps"])
                for r in rows.values() if len(r) >= 2]

    @property
    def times(self) -> np.ndarray:
        return self.frames / self.fps

    @property
    def minutes(self) -> float:
        return (self.frames[-1] - self.frames[0] + 1) / self.fps / 60.0


@dataclass(frozen=True)
class Onset:
    clip: str
    probs: np.ndarray
    times: np.ndarray
    peak: int
    target: str


def steady_stretches(probs: np.ndarray, fps: float) -> list[tuple[int, int, int]]:
    """(class, first frame, end frame) runs where the centred moving average gives one class the majority
    (class -1: none has it)."""
    width = max(1, int(round(STEADY_WINDOW_S * fps)))
    kernel = np.ones(width) / width
    averaged = np.stack([np.convolve(probs[:, c], kernel, mode="same") for c in range(probs.shape[1])], axis=1)
    top = np.where(averaged.max(1) >= STEADY_SHARE, averaged.argmax(1), -1)
    runs, start = [], 0
    for i in range(1, len(top) + 1):
        if i == len(top) or top[i] != top[start]:
            runs.append((int(top[start]), start, i))
            start = i
    return runs


def onsets_of(track: Track, labels: tuple[str, ...]) -> list[Onset]:
    """Every (neutral stretch, later expressive stretch) pair of one track, joined as described above."""
    neutral = labels.index("neutral")
    runs = steady_stretches(track.probs, track.fps)
    calm = [(a, b) for c, a, b in runs if c == neutral and (b - a) >= NEUTRAL_MIN_S * track.fps]
    held = [(c, a, b) for c, a, b in runs if c not in (neutral, -1) and (b - a) >= EXPRESSIVE_MIN_S * track.fps]
    out = []
    for c, a, b in held:
        for na, nb in calm:
            if nb > a:
                continue
            kept = track.probs[max(na, nb - int(NEUTRAL_KEEP_S * track.fps)) : nb]
            lead_in = np.concatenate([kept] * math.ceil(NEUTRAL_LEAD_IN_S * track.fps / len(kept)))
            held_part = track.probs[a : min(b, a + int(EXPRESSIVE_KEEP_S * track.fps))]
            probs = np.concatenate([lead_in, held_part])
            out.append(Onset(track.clip, probs, np.arange(len(probs)) / track.fps, len(lead_in), labels[c]))
    return out


def analyse_clip(video: Path, model: str | None, out_dir: Path) -> dict:
    """The clip through `confcam analyze --json` (the real product path), once per clip and model."""
    out = out_dir / f"{video.stem}.json"
    if not out.is_file():
        command = [sys.executable, "-m", "confcam", "analyze", str(video), "--json", str(out)]
        if model:
            command += ["--model", model]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return json.loads(out.read_text())


def measure(videos: list[Path], model: str | None, cache: Path) -> tuple[list[dict], str]:
    columns = {"before": None, **{name: SmootherConfig.preset(name) for name in STEADINESS_PRESETS},
               HINDSIGHT: SmootherConfig.preset("balanced")}
    rows, model_name = [], ""
    for video in videos:
        doc = analyse_clip(video, model, cache)
        model_name = doc["model"]
        labels = tuple(doc["labels"])
        tracks = Track.all_from_json(video.stem, doc)
        onsets = [o for t in tracks for o in onsets_of(t, labels)]
        row = {"clip": video.name, "faces": len(tracks), "seconds": sum(t.minutes for t in tracks) * 60, "onsets": len(onsets)}
        for name, config in columns.items():
            def replay(probs: np.ndarray, times: np.ndarray) -> list[str]:
                if config is None:
                    return replay_before(labels, probs)
                if name == HINDSIGHT:
                    return replay_hindsight(labels, probs, times, config)
                return replay_after(labels, probs, times, config)

            row[name] = {
                "changes_per_min": [shown_label_changes(replay(t.probs, t.times)) / t.minutes for t in tracks],
                "settle_s": [settle_latency(replay(o.probs, o.times), o.times, o.peak, o.target) for o in onsets],
                "ends_right": {d: [e for o in onsets if (e := ends_right(replay, o, d)) is not None] for d in END_AFTER_S},
            }
        rows.append(row)
    return rows, model_name


def summary(values: list[float]) -> str:
    return "-" if not values else f"{statistics.median(values):.1f} / {max(values):.1f}".replace("inf", "never")


def share(values: list[bool]) -> str:
    return "-" if not values else f"{sum(values) / len(values):.2f} ({sum(values)}/{len(values)})"


def markdown(rows: list[dict], model_name: str, command: str) -> str:
    presets = [*STEADINESS_PRESETS, HINDSIGHT]
    machine = machine_info()
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    lines = [
        f"Model `{model_name}`; machine: {machine['cpu']}, {machine['cores']} cores, {machine['system']}, "
        f"Python {machine['python']}, {versions}.",
        "",
        "```bash",
        command,
        "```",
        "",
        "Changes per minute per face (median / max over the clip's faces) and settle latency in seconds "
        "(median / max over the clip's onsets); \"before\" is the frame-counting smoother, calm / balanced / "
        "quick the live `--steadiness` presets, hindsight what `confcam analyze` shows (balanced).",
        "",
        "| clip | faces | s | changes/min before | " + " | ".join(f"changes/min {p}" for p in presets)
        + " | onsets | settle s before | " + " | ".join(f"settle s {p}" for p in presets) + " |",
        "|---" * (5 + 2 * len(presets)) + "|---|",
    ]
    for row in rows:
        cells = [row["clip"], str(row["faces"]), f"{row['seconds']:.1f}"]
        cells += [summary(row[c]["changes_per_min"]) for c in ["before", *presets]]
        cells += [str(row["onsets"])] + [summary(row[c]["settle_s"]) for c in ["before", *presets]]
        lines.append("| " + " | ".join(cells) + " |")
    every = {c: ([v for r in rows for v in r[c]["changes_per_min"]], [v for r in rows for v in r[c]["settle_s"]])
             for c in ["before", *presets]}
    lines.append(
        "| **all faces / onsets** | " + str(sum(r["faces"] for r in rows)) + f" | {sum(r['seconds'] for r in rows):.1f} | "
        + " | ".join(f"**{summary(every[c][0])}**" for c in ["before", *presets])
        + f" | {sum(r['onsets'] for r in rows)} | "
        + " | ".join(f"**{summary(every[c][1])}**" for c in ["before", *presets]) + " |"
    )
    lines += [
        "",
        "Clip ends: every onset cut some seconds after its peak; share whose last frame shows the expression.",
        "",
        "| cut after the peak | " + " | ".join(["before", *presets]) + " |",
        "|---" * (2 + len(presets)) + "|",
    ]
    for after in END_AFTER_S:
        cells = [share([v for r in rows for v in r[c]["ends_right"][after]]) for c in ["before", *presets]]
        lines.append(f"| {after:g} s | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="*", type=Path, help="clips (default: ../shared/data/videos/lp_*.mp4)")
    parser.add_argument("--model", help="expression model name or path (default: the registry's default)")
    parser.add_argument("--cache", type=Path, help="keep analyze's JSON here and reuse it (default: a temporary folder)")
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    args = parser.parse_args()
    videos = args.videos or sorted(VIDEOS.glob("lp_*.mp4"))
    command = " ".join(["python benchmarks/steadiness.py", *map(str, args.videos)] + (["--model", args.model] if args.model else []))
    with tempfile.TemporaryDirectory() as scratch:
        cache = args.cache or Path(scratch)
        cache.mkdir(parents=True, exist_ok=True)
        rows, model_name = measure(videos, args.model, cache)
    text = markdown(rows, model_name, command)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
