"""Errors a user can cause; the CLI turns them into one line and exit code 2."""


class ConfcamError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""


class SourceError(ConfcamError):
    """A source cannot be opened or was lost."""


class SinkError(ConfcamError):
    """A sink cannot be opened or written."""


class ModelError(ConfcamError):
    """A model file is missing or breaks the model-file contract."""
