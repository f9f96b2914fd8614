"""Opening ONNX models with onnxruntime: one place for the session options every confcam model uses,
and for keeping onnxruntime offline."""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import onnxruntime as ort

from confcam.errors import ModelError


@cache
def disable_onnxruntime_telemetry() -> None:
    """onnxruntime queues usage telemetry events unless told not to; confcam promises to stay offline.

    Called before every session is opened; runs once. Older onnxruntime builds lack the switch. The
    uploader and device id are stopped earlier, by ORT_DISABLE_TELEMETRY (confcam/__init__.py)."""
    if hasattr(ort, "disable_telemetry_events"):
        ort.disable_telemetry_events()


def open_session(path: Path, threads: int = 1, what: str = "model") -> ort.InferenceSession:
    """An onnxruntime CPU session tuned for a small model on a 2-core machine; ModelError (naming `what`)
    if the file is missing or unreadable."""
    disable_onnxruntime_telemetry()
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{what} file not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Idle worker threads must not spin: capture, detection and rendering share the same two cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load {what} {path}: {first}") from None


class SessionPool:
    """Opens each model file once and hands the same session to every pipeline that asks.

    The web server builds one pipeline per browser client; each used to open its own detector and
    classifier sessions (~15 MB of weights, arenas and thread pools apiece), which the 30-minute soak saw
    as memory that never came back. onnxruntime's `run` is safe to call from several threads at once,
    and confcam keeps no per-client state in a session, so clients can share them. A file replaced on
    disk (new size or mtime) gets a new session."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, int, int, int], ort.InferenceSession] = {}
        self._lock = threading.Lock()

    def open(self, path: Path, threads: int = 1, what: str = "model") -> ort.InferenceSession:
        path = Path(path)
        try:
            stat = path.resolve().stat()
        except OSError:
            return open_session(path, threads, what)  # raises the usual "file not found"
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, max(1, int(threads)))
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = open_session(path, threads, what)
            return self._sessions[key]

    def __len__(self) -> int:
        return len(self._sessions)
