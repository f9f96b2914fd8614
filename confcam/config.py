"""Typed configuration: the one place where defaults live. The CLI only fills these in."""

from __future__ import annotations

import re
import secrets
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confcam.classify import smoother_registry
from confcam.classify.smoother import STEADINESS_PRESETS, SmootherConfig
from confcam.detect.focus import FocusConfig
from confcam.detect.grid import GridConfig
from confcam.errors import ConfcamError
from confcam.practice.quiz import PracticeConfig
from confcam.render import style_registry
from confcam.sinks import sink_registry
from confcam.sources import source_registry
from confcam.track.tracker import TrackerConfig


_TOKEN = re.compile(r"[A-Za-z0-9._~-]{16,}")


def new_token() -> str:
    """A fresh per-run secret; it travels in the page URL's fragment, so it must be URL-safe."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class WebConfig:
    """The local web server (`confcam web`, `--source webrtc`): address, the per-run token and its limits.

    The token is the one secret that separates the user's page from any other page or local user: every
    POST /offer and GET /stats must carry it as `Authorization: Bearer TOKEN`. It is kept out of repr().
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str = field(default_factory=new_token, repr=False)
    max_sessions: int = 4
    """Peers at once (connected or still connecting); each analysing peer costs a thread and a pipeline."""
    offer_burst: int = 5
    """Offers one client address may send at once; the bucket refills over `offer_window_s`."""
    offer_window_s: float = 10.0

    def __post_init__(self) -> None:
        if not _TOKEN.fullmatch(self.token):
            raise ConfcamError("--token must be at least 16 URL-safe characters (letters, digits, - _ . ~)")
        if self.max_sessions < 1:
            raise ConfcamError(f"--max-sessions must be at least 1 (got {self.max_sessions})")
        if self.offer_burst < 1 or self.offer_window_s <= 0:
            raise ConfcamError("the offer rate limit needs a burst of at least 1 and a positive window")


@dataclass(frozen=True)
class SourceConfig:
    """Which source (a name from the source registry, plugins included) and its options by name."""

    kind: str = "screen"
    """What `confcam start` captures unless told otherwise: the screen, where the meeting is."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Option values by name (e.g. input, monitor, region); what each source takes is in its registry entry."""
    pace: bool = True
    """Play files at their own frame rate (live use); analysis turns this off to run flat out."""
    web: WebConfig = field(default_factory=lambda: WebConfig())
    """WebRTC source: where its page listens and the token a peer must present."""

    def __post_init__(self) -> None:
        source_registry().checked(self.kind, self.options)

    def input_files(self) -> dict[str, Path]:
        """The files the source will read, by the flag that named each."""
        return source_registry().files((self.kind,), self.options, output=False)


@dataclass(frozen=True)
class SinkConfig:
    """Which sinks (names from the sink registry, plugins included) and their options by name."""

    kinds: tuple[str, ...] = ()
    """Empty: the virtual camera when a backend is usable, else the side panel."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Option values by name (e.g. output, events, device); what each sink takes is in its registry entry."""

    def __post_init__(self) -> None:
        for kind in self.kinds:
            sink_registry().checked(kind, self.options)
        if "none" in self.kinds and len(self.kinds) > 1:
            raise ConfcamError("--sink none cannot be combined with other sinks")

    def output_files(self) -> dict[str, Path]:
        """The files the chosen sinks will write, by the flag that named each."""
        return sink_registry().files(self.kinds, self.options, output=True)


@dataclass(frozen=True)
class PipelineConfig:
    model: str | None = None
    """Expression model name or path; None means the registry's default."""
    detector: str | None = None
    """Detector model name or path, or 'near+far' for a FocusedDetector; None means the registry's default."""
    style: str = "emoji"
    """How faces are marked: emoji (above the head), text (a label with its confidence), ring (coloured), all
    of them, or a plugin's style (`confcam plugins`)."""
    threads: int = 1
    """onnxruntime threads for the expression model; 1 measured fastest for batches of up to 9 faces on 2 cores."""
    focus: FocusConfig = field(default_factory=FocusConfig)
    detect_interval_s: float = 0.06
    """Look for faces at most this often (seconds of the source's own time); frames in between reuse the
    last faces found. 0.06 s: every 2nd frame at 30 FPS, every frame at 15 FPS or less."""
    classify_interval_s: float = 0.1
    """Read each face's expression at most this often (10 readings a second); in between it keeps its last
    reading. The smoother averages over half a second or more, so this costs nothing visible and saves
    most of the classifier's work in a big gallery."""
    grid: GridConfig = field(default_factory=GridConfig)
    """Gallery grids: per-tile detection (with the near+far detector, the default)."""
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    smoothing: str = "evidence"
    """Which smoother turns each face's readings into the label shown: evidence, or a plugin's (`confcam
    plugins`); [pipeline.smoother] sets its time constants."""
    smoother: SmootherConfig = field(default_factory=SmootherConfig)

    def __post_init__(self) -> None:
        style_registry().get(self.style)
        smoother_registry().get(self.smoothing)


@dataclass(frozen=True)
class PracticeOptions:
    """`confcam practice`: where the faces come from and where progress is kept (nowhere unless asked)."""

    source: str = "sample"
    """With no --source, the bundled sample clip: practice should work the first time, with no call going on."""
    save_progress: Path | None = None
    """The per-expression score file; it accumulates over sessions. None keeps the score in memory only."""
    quiz: PracticeConfig = field(default_factory=PracticeConfig)


MAX_STEADINESS_S = 10.0
"""Beyond this a label would trail a whole sentence; a typo, not a wish."""


def parse_steadiness(text: str | None) -> SmootherConfig:
    """'calm' | 'balanced' | 'quick' | seconds -> the smoother's config; a one-line error for anything else."""
    if text is None:
        return SmootherConfig()
    name = text.strip().lower()
    if name in STEADINESS_PRESETS:
        return SmootherConfig.preset(name)
    choices = ", ".join(STEADINESS_PRESETS)
    try:
        seconds = float(name)
    except ValueError:
        raise ConfcamError(f"--steadiness must be one of {choices} or a number of seconds (got {text!r})") from None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_STEADINESS_S):
        raise ConfcamError(f"--steadiness in seconds must be above 0 and at most {MAX_STEADINESS_S:g} (got {text!r})")
    return SmootherConfig.from_seconds(seconds)
