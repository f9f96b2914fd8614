"""The package type-checks: mypy --strict over confcam/ outside train/, as configured in pyproject.toml's
[tool.mypy]. The stages meet at Protocols (confcam/detect/base.py, track/base.py, classify/base.py, ...), so
this is what checks that every concrete stage still fits the seam it is plugged into."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mypy_strict_passes() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"mypy found type errors (exit {run.returncode}):\n{output}"
    assert "Success: no issues found" in run.stdout, output
