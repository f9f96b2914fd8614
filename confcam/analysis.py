"""Per-person timelines of a run: the summary printed after a run and the streamed `analyze --json` document.

Both keep numbers only (boxes, probabilities, labels), never pictures, and neither holds the run's
frames in memory: the summary keeps a few counters per person, the document is written frame by frame,
so a ten-hour recording costs no more memory than a ten-second one.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from confcam.fileio import AtomicTextFile
from confcam.records import frame_record
from confcam.render.timeline import PersonTimeline
from confcam.sinks.base import Sink
from confcam.sources.base import Source
from confcam.types import UNCERTAIN, Result


def shown_label_changes(labels: list[str]) -> int:
    """How often a face's shown label changes, to and from "uncertain" included; a new face's first label
    (from "uncertain" while the smoother has no evidence yet) is its appearance, not a change."""
    start = next((i for i, label in enumerate(labels) if label != UNCERTAIN), len(labels))
    return sum(a != b for a, b in zip(labels[start:], labels[start + 1 :]))


@dataclass
class TrackTally:
    """What the summary needs of one person: when they were seen and how often with each label."""

    track_id: int
    first_frame: int
    last_frame: int
    labels: Counter[str] = field(default_factory=Counter)

    @property
    def frames(self) -> int:
        return sum(self.labels.values())


@dataclass(frozen=True)
class PersonSummary:
    track_id: int
    first_frame: int
    last_frame: int
    frames: int
    seconds: float
    main_label: str
    main_share: float
    shares: dict[str, float]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.track_id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames_seen": self.frames,
            "seconds": round(self.seconds, 3),
            "label": self.main_label,
            "shares": {label: round(share, 4) for label, share in self.shares.items()},
        }


class TimelineSink(Sink):
    """Tallies every tracked face's shown labels, for the per-person summary (a few counters per person),
    and keeps each person's label runs (a few per change) for the timeline picture."""

    name = "timeline"
    needs_image = False

    def __init__(self) -> None:
        self.tracks: dict[int, TrackTally] = {}
        self.runs: dict[int, PersonTimeline] = {}
        self.frames = 0
        self.class_names: tuple[str, ...] = ()
        self.frame_s = 1 / 30

    def open(self, width: int, height: int, fps: float) -> None:
        """A frame covers 1/fps of a person's timeline."""
        if fps > 0:
            self.frame_s = 1.0 / fps

    def write(self, result: Result) -> None:
        self.frames += 1
        self.class_names = result.class_names
        faces = result.faces
        if len(faces) == 0 or faces.track_ids is None or faces.labels is None:
            return
        index = result.frame.index
        for track_id, label in zip(faces.track_ids.tolist(), faces.labels):
            tally = self.tracks.setdefault(track_id, TrackTally(track_id, index, index))
            tally.last_frame = index
            tally.labels[label] += 1
            self.runs.setdefault(track_id, PersonTimeline(track_id)).add(label, result.frame.timestamp, self.frame_s)

    def summaries(self, fps: float) -> list[PersonSummary]:
        """One line per person: how long they were seen and which expression they showed most."""
        out = []
        for tally in sorted(self.tracks.values(), key=lambda t: t.track_id):
            counts = tally.labels
            n = tally.frames
            shares = {label: count / n for label, count in counts.most_common()}
            certain = [(label, c) for label, c in counts.most_common() if label != UNCERTAIN]
            main_label, main_count = certain[0] if certain else (UNCERTAIN, counts[UNCERTAIN])
            out.append(
                PersonSummary(
                    track_id=tally.track_id,
                    first_frame=tally.first_frame,
                    last_frame=tally.last_frame,
                    frames=n,
                    seconds=n / fps if fps > 0 else 0.0,
                    main_label=main_label,
                    main_share=main_count / n,
                    shares=shares,
                )
            )
        return out


class AnalysisJsonSink(Sink):
    """Streams the `analyze --json` document: header, one line per frame, then the summary and "complete".

    Written under a temp name and renamed when the run ends. A run stopped by Ctrl+C / SIGTERM / SIGHUP
    still gets a valid document, marked "complete": false with the number of frames done; a run that
    failed leaves no file.
    """

    name = "analysis-json"
    needs_image = False

    def __init__(self, path: Path, header: dict[str, Any], timeline: TimelineSink, source: Source) -> None:
        """header: the fields known before the run (input, model, labels); timeline and source give the
        summary and the damaged-frame count at the end."""
        self.path = path
        self.header = header
        self.timeline = timeline
        self.source = source
        self.frames = 0
        self._fps = 0.0
        self._file: AtomicTextFile | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        self._fps = fps
        self._file = AtomicTextFile(self.path, ".json")
        head = {**self.header, "fps": fps, "width": width, "height": height}
        self._file.write(json.dumps(head, indent=1)[:-2] + ',\n "frames": [')

    def write(self, result: Result) -> None:
        if self._file is None:
            return
        frame = result.frame
        record = frame_record(frame.index, frame.timestamp, result.faces, size=(frame.width, frame.height))
        self._file.write(("\n  " if self.frames == 0 else ",\n  ") + json.dumps(record, separators=(",", ":")))
        self.frames += 1

    def close(self, success: bool = True) -> None:
        self._finish(success, complete=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self._finish(True, complete=False)
        else:
            self._finish(exc_type is None, complete=True)

    def _finish(self, success: bool, complete: bool) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        if not success:
            file.discard()
            return
        tail = {
            "frames_analysed": self.frames,
            "frames_skipped": self.source.skipped_frames,
            "tracks": [person.to_json() for person in self.timeline.summaries(self._fps)],
            "complete": complete,
        }
        try:
            file.write(("\n ],\n" if self.frames else "],\n") + json.dumps(tail, indent=1)[2:] + "\n")
        except BaseException:
            file.discard()
            raise
        file.commit()
