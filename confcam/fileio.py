"""Output files appear whole or not at all: written under a hidden temp name, renamed on success."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from confcam.errors import SinkError


def check_writable(path: Path) -> None:
    """Fail before any work starts if the output cannot be created there."""
    folder = path.expanduser().parent
    if not folder.is_dir():
        raise SinkError(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise SinkError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise SinkError(f"cannot write {path}: folder {folder} is not writable")


class AtomicOutput:
    """A temp path beside the final one; commit() renames it into place, discard() deletes it.

    The temp file is created here (with the user's umask, unlike mkstemp's 0600), so an unwritable
    folder is reported when the output opens, before any frame is processed.
    """

    def __init__(self, path: Path, suffix: str) -> None:
        self.path = path
        check_writable(path)
        self.temp = path.expanduser().parent / f".{path.stem}.{secrets.token_hex(4)}.part{suffix}"
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


def write_json(path: Path, document: object) -> None:
    output = AtomicOutput(path, ".json")
    try:
        output.temp.write_text(json.dumps(document, indent=1) + "\n")
    except BaseException:
        output.discard()
        raise
    output.commit()
