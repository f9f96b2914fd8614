"""Output files appear whole or not at all: written under a hidden temp name, renamed on success.

Inputs are checked before they are opened (a FIFO would block the open forever), and an output that
names an input is refused before any work, because writing it would destroy what is being read.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from confcam.errors import ConfcamError, SinkError, SourceError


def file_sha256(path: Path) -> str:
    """A file's content hash: what a cache keys on, so a copy or a touched file is still the same input."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def os_reason(error: BaseException) -> str:
    """The one-line reason of an OS (or FFmpeg) error, e.g. 'No space left on device'."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text).splitlines()[0]


def check_writable(path: Path) -> None:
    """Fail before any work starts if the output cannot be created there."""
    folder = path.expanduser().parent
    if not folder.is_dir():
        raise SinkError(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise SinkError(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK):
        raise SinkError(f"cannot write {path}: folder {folder} is not writable")


def check_input_file(path: Path, what: str) -> None:
    """An existing regular file; a FIFO, socket or device is refused by its type, without opening it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except OSError as error:
        raise SourceError(f"cannot read {path}: {os_reason(error)}") from None
    if stat.S_ISDIR(mode):
        raise SourceError(f"{path} is a directory, not {what}")
    if not stat.S_ISREG(mode):
        raise SourceError(f"{path} is not a regular file (a FIFO, socket or device), not {what}")


def same_file(a: Path, b: Path) -> bool:
    """Same file by (device, inode) when both exist, so symlinks and hard links count; else by absolute path."""
    a, b = a.expanduser(), b.expanduser()
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def refuse_overwriting(inputs: Mapping[str, Path | None], outputs: Mapping[str, Path | None]) -> None:
    """Refuse, before any work, an output that is one of the inputs or another output.

    Keys name the paths as the user gave them (e.g. "--input", "--json"), for the one-line error.
    """
    given_outputs = [(name, path) for name, path in outputs.items() if path is not None]
    given_inputs = [(name, path) for name, path in inputs.items() if path is not None]
    for index, (out_name, out_path) in enumerate(given_outputs):
        for in_name, in_path in given_inputs:
            if same_file(out_path, in_path):
                raise ConfcamError(
                    f"{out_name} {out_path} is the same file as {in_name} {in_path}; writing it would destroy the "
                    "input: choose another output path"
                )
        for other_name, other_path in given_outputs[index + 1 :]:
            if same_file(out_path, other_path):
                raise ConfcamError(f"{out_name} and {other_name} name the same file {out_path}: give each its own path")


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
            raise SinkError(f"cannot write {path}: {os_reason(error)}") from None

    def commit(self) -> None:
        try:
            os.replace(self.temp, self.path)
        except OSError as error:
            self.discard()
            raise SinkError(f"cannot write {self.path}: {os_reason(error)}") from None

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


class AtomicTextFile:
    """A text output written under its temp name; any OS error (a full disk) is a SinkError naming the file.

    Buffered writes can fail only when the file is closed, so commit() reports those too instead of
    quietly leaving no file.
    """

    def __init__(self, path: Path, suffix: str) -> None:
        self.path = path
        self._output = AtomicOutput(path, suffix)
        try:
            self._file = open(self._output.temp, "w", encoding="utf-8")
        except OSError as error:
            self._output.discard()
            raise SinkError(f"cannot write {path}: {os_reason(error)}") from None

    def write(self, text: str) -> None:
        try:
            self._file.write(text)
        except OSError as error:
            raise SinkError(f"cannot write {self.path}: {os_reason(error)}") from None

    def commit(self) -> None:
        """Flush, close and rename into place; on any failure the temp file is removed and the error raised."""
        try:
            self._file.close()
        except OSError as error:
            self._output.discard()
            raise SinkError(f"cannot write {self.path}: {os_reason(error)}") from None
        except BaseException:
            self._output.discard()
            raise
        self._output.commit()

    def discard(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass
        finally:
            self._output.discard()


def write_json(path: Path, document: object) -> None:
    output = AtomicTextFile(path, ".json")
    try:
        output.write(json.dumps(document, indent=1) + "\n")
    except BaseException:
        output.discard()
        raise
    output.commit()
