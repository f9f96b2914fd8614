"""--events: a JSON-lines timeline of every face, one line per frame, for later analysis."""

from __future__ import annotations

import json
from pathlib import Path

from confcam.errors import SinkError
from confcam.fileio import AtomicTextFile
from confcam.records import frame_record
from confcam.sinks.base import Sink
from confcam.plugins import Entry, Option
from confcam.types import Result


class EventsSink(Sink):
    """Writes the timeline to a .jsonl file that appears only once the run finished.

    A file that cannot be written (a full disk) fails the run with the reason, never quietly.
    """

    name = "events"
    needs_image = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: AtomicTextFile | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        if self.path.suffix.lower() not in (".jsonl", ".json", ".ndjson"):
            raise SinkError(f"cannot write events {self.path}: use a .jsonl file")
        self._file = AtomicTextFile(self.path, ".jsonl")

    def write(self, result: Result) -> None:
        if self._file is None:
            raise SinkError("events sink written before open()")
        frame = result.frame
        line = frame_record(frame.index, frame.timestamp, result.faces, size=(frame.width, frame.height))
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")

    def close(self, success: bool = True) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        if success:
            file.commit()
        else:
            file.discard()


ENTRY = Entry(
    "events",
    "A JSON-lines timeline of every face, one line per frame.",
    lambda events: EventsSink(events),
    (Option("events", Path, "Events sink: JSONL timeline to write.", required="--events PATH.jsonl", writes_file=True),),
)
