"""`confcam bench`: the full live pipeline on a clip, flat out, with per-stage medians and latency.

Numbers come from one run on one machine; compare ratios measured in the same run, not across machines.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from confcam.processor import RunStats

STAGES = ("capture", "detect", "track", "classify", "render", "sink")


@dataclass(frozen=True)
class BenchReport:
    input: str
    frames: int
    fps: float
    faces_per_frame: float
    stages_ms: dict[str, float]
    latency_ms: dict[str, float]
    cpu_cores: float
    """User + system CPU seconds per wall second while measuring (all threads)."""
    rss_mb: dict[str, float]
    machine: dict[str, object]

    @staticmethod
    def from_stats(input: str, stats: RunStats, rss_start: float, rss_end: float) -> BenchReport:
        medians = stats.median_stage_ms()
        return BenchReport(
            input=input,
            frames=stats.frames,
            fps=round(stats.fps, 2),
            faces_per_frame=round(statistics.fmean(stats.faces), 2) if stats.faces else 0.0,
            stages_ms={stage: round(medians.get(stage, 0.0), 3) for stage in STAGES},
            latency_ms={"p50": round(stats.latency_percentile(50), 2), "p95": round(stats.latency_percentile(95), 2)},
            cpu_cores=round(stats.cores, 3),
            rss_mb={"start": round(rss_start, 1), "end": round(rss_end, 1)},
            machine=machine_info(),
        )

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; elsewhere the peak from getrusage)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, object]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": usable,
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("confcam", "onnxruntime", "numpy", "opencv-python", "av")},
    }
