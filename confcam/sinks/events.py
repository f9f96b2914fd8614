"""--events: a JSON-lines timeline of every face, one line per frame, for later analysis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from confcam.errors import SinkError
from confcam.fileio import AtomicOutput
from confcam.sinks.base import Sink
from confcam.types import Detections, Result

DIGITS = 4


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def track_records(faces: Detections) -> list[dict[str, Any]]:
    """One record per face; fields a stage has not filled yet are null.

    probs are the model's raw probabilities in the model's class order; label and confidence are
    what was shown (after smoothing), so the timeline holds both the evidence and the decision.
    """
    records = []
    boxes = faces.xywh
    for row in range(len(faces)):
        probs = faces.probs[row] if faces.probs is not None else None
        records.append(
            {
                "id": None if faces.track_ids is None else int(faces.track_ids[row]),
                "box": [round(float(v), DIGITS) for v in boxes[row]],
                "label": None if faces.labels is None else faces.labels[row],
                "confidence": None if faces.confidences is None else _rounded(faces.confidences[row]),
                "probs": None if probs is None else [round(float(p), DIGITS) for p in np.asarray(probs)],
            }
        )
    return records


class EventsSink(Sink):
    """Writes the timeline to a .jsonl file that appears only once the run finished."""

    name = "events"
    needs_image = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._output: AtomicOutput | None = None
        self._file: TextIO | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        if self.path.suffix.lower() not in (".jsonl", ".json", ".ndjson"):
            raise SinkError(f"cannot write events {self.path}: use a .jsonl file")
        self._output = AtomicOutput(self.path, ".jsonl")
        self._file = open(self._output.temp, "w", encoding="utf-8")

    def write(self, result: Result) -> None:
        if self._file is None:
            raise SinkError("events sink written before open()")
        line = {
            "frame": int(result.frame.index),
            "t": round(float(result.frame.timestamp), DIGITS),
            "tracks": track_records(result.faces),
        }
        try:
            self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
        except OSError as error:
            raise SinkError(f"cannot write events {self.path}: {error.strerror or error}") from None

    def close(self, success: bool = True) -> None:
        if self._output is None:
            return
        output, self._output = self._output, None
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                success = False
            self._file = None
        if success:
            output.commit()
        else:
            output.discard()
