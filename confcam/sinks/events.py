"""--events: a JSON-lines timeline of every face, one line per frame, for later analysis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from confcam.errors import SinkError
from confcam.fileio import AtomicOutput
from confcam.sinks.base import Sink
from confcam.records import frame_record
from confcam.types import Result

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
        line = frame_record(result.frame.index, result.frame.timestamp, result.faces)
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
