"""Where bundled files live, whether confcam runs from a checkout or an installed wheel.

In a checkout they are the top-level `models/` and `overlays/`; pyproject.toml installs the same folders
as `confcam/bundled_models/` and `confcam/bundled_overlays/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE.parent


def _bundled_dir(installed_name: str, repo_folder: str) -> Path:
    checkout = _REPO_ROOT / repo_folder
    if checkout.is_dir() and (_REPO_ROOT / "pyproject.toml").is_file():
        return checkout
    return _PACKAGE / installed_name


def models_dir() -> Path:
    return _bundled_dir("bundled_models", "models")


def overlays_dir() -> Path:
    return _bundled_dir("bundled_overlays", "overlays")


def sample_clip() -> Path:
    return _PACKAGE / "assets" / "sample.mp4"
