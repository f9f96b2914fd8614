"""Output files that appear only when complete: written under a hidden temp name, renamed on success."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from confcam.errors import SinkError


class AtomicOutput:
    """A temp path beside the final one; commit() renames it into place, discard() deletes it."""

    def __init__(self, path: Path, suffix: str) -> None:
        self.path = path
        folder = path.parent
        if not folder.is_dir():
            raise SinkError(f"cannot write {path}: folder {folder} does not exist")
        try:
            handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=folder)
        except OSError as error:
            raise SinkError(f"cannot write {path}: {error.strerror or error}") from None
        os.close(handle)
        self.temp = Path(name)

    def commit(self) -> None:
        try:
            os.replace(self.temp, self.path)
        except OSError as error:
            self.discard()
            raise SinkError(f"cannot write {self.path}: {error.strerror or error}") from None

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)
