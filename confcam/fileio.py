"""Output files appear whole or not at all: written to a temp name beside the target, then renamed."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confcam.errors import ConfcamError


def check_writable(path: Path) -> None:
    """Fail before any work starts if the output cannot be created."""
    folder = path.expanduser().resolve().parent
    if not folder.is_dir():
        raise ConfcamError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfcamError(f"cannot write {path}: folder {folder} is not writable")
    if path.is_dir():
        raise ConfcamError(f"cannot write {path}: it is a folder")


@contextmanager
def atomic_output(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yields a temp path in the target's folder; renamed to `path` only if the block succeeds."""
    check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.expanduser().resolve().parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: Path, document: object) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(document, indent=1) + "\n")
