"""Output files that appear only when complete: written under a hidden temp name, renamed on success."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from confcam.errors import SinkError


class AtomicOutput:
    """A temp path beside the final one; commit() renames it into place, discard() deletes it.

    The temp file is created here (with the user's umask, unlike mkstemp's 0600), so an unwritable
    folder is reported when the sink opens, before any frame is processed.
    """

    def __init__(self, path: Path, suffix: str) -> None:
        self.path = path
        folder = path.parent
        if not folder.is_dir():
            raise SinkError(f"cannot write {path}: folder {folder} does not exist")
        if path.is_dir():
            raise SinkError(f"cannot write {path}: it is a folder")
        self.temp = folder / f".{path.stem}.{secrets.token_hex(4)}.part{suffix}"
        try:
            os.close(os.open(self.temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as error:
            raise SinkError(f"cannot write {path}: {error.strerror or error}") from None

    def commit(self) -> None:
        try:
            os.replace(self.temp, self.path)
        except OSError as error:
            self.discard()
            raise SinkError(f"cannot write {self.path}: {error.strerror or error}") from None

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)
