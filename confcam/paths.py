"""Where bundled files live, whether confcam runs from a checkout or an installed wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _bundled_dir(package: str, repo_folder: str) -> Path:
    checkout = _REPO_ROOT / repo_folder
    if checkout.is_dir() and (_REPO_ROOT / "pyproject.toml").is_file():
        return checkout
    return Path(str(resources.files(package)))


def models_dir() -> Path:
    return _bundled_dir("confcam.bundled_models", "models")


def overlays_dir() -> Path:
    return _bundled_dir("confcam.bundled_overlays", "overlays")


def sample_clip() -> Path:
    return Path(__file__).resolve().parent / "assets" / "sample.mp4"
