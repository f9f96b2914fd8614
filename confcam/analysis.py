"""Per-person timelines of a run: the `analyze --json` document and the summary printed after a run.

A TimelineSink keeps numbers only (boxes, probabilities, labels), never pictures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from confcam.sinks.base import Sink
from confcam.types import UNCERTAIN, Result


def shown_label_changes(labels: list[str]) -> int:
    """How often a face's shown label changes, to and from "uncertain" included; a new face's first label
    (from "uncertain" while the smoother has no evidence yet) is its appearance, not a change."""
    start = next((i for i, label in enumerate(labels) if label != UNCERTAIN), len(labels))
    return sum(a != b for a, b in zip(labels[start:], labels[start + 1 :]))


@dataclass
class TrackTimeline:
    track_id: int
    frames: list[dict] = field(default_factory=list)

    @property
    def first_frame(self) -> int:
        return self.frames[0]["frame"]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]["frame"]

    def to_json(self) -> dict:
        return {"id": self.track_id, "first_frame": self.first_frame, "last_frame": self.last_frame, "frames": self.frames}


@dataclass(frozen=True)
class PersonSummary:
    track_id: int
    frames: int
    seconds: float
    main_label: str
    main_share: float
    shares: dict[str, float]


class TimelineSink(Sink):
    """Collects every tracked face's per-frame result, in the analyze JSON shape."""

    name = "timeline"
    needs_image = False

    def __init__(self) -> None:
        self.tracks: dict[int, TrackTimeline] = {}
        self.frames = 0
        self.class_names: tuple[str, ...] = ()

    def write(self, result: Result) -> None:
        self.frames += 1
        self.class_names = result.class_names
        faces = result.faces
        if len(faces) == 0 or faces.track_ids is None or faces.probs is None:
            return
        boxes = faces.xywh.round(1).tolist()
        probs = faces.probs.round(4).tolist()
        for row, track_id in enumerate(faces.track_ids.tolist()):
            timeline = self.tracks.setdefault(track_id, TrackTimeline(track_id))
            timeline.frames.append(
                {
                    "frame": result.frame.index,
                    "box": boxes[row],
                    "probs": probs[row],
                    "label": faces.labels[row],
                    "confidence": round(float(faces.confidences[row]), 4),
                }
            )

    def summaries(self, fps: float) -> list[PersonSummary]:
        """One line per person: how long they were seen and which expression they showed most."""
        out = []
        for timeline in sorted(self.tracks.values(), key=lambda t: t.track_id):
            counts = Counter(f["label"] for f in timeline.frames)
            n = len(timeline.frames)
            shares = {label: count / n for label, count in counts.most_common()}
            certain = [(label, c) for label, c in counts.most_common() if label != UNCERTAIN]
            main_label, main_count = certain[0] if certain else (UNCERTAIN, counts[UNCERTAIN])
            out.append(
                PersonSummary(
                    track_id=timeline.track_id,
                    frames=n,
                    seconds=n / fps if fps > 0 else 0.0,
                    main_label=main_label,
                    main_share=main_count / n,
                    shares=shares,
                )
            )
        return out

    def to_json(self, *, input: str, fps: float, width: int, height: int, model: str) -> dict:
        return {
            "input": input,
            "frames": self.frames,
            "fps": fps,
            "width": width,
            "height": height,
            "model": model,
            "labels": list(self.class_names),
            "tracks": [t.to_json() for t in sorted(self.tracks.values(), key=lambda t: t.track_id)],
        }
