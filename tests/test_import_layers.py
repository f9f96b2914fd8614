"""The package's layers, checked over every module's imports (top-level and inside functions): a module
imports only from its own layer's allowed neighbours, never from a higher one, so a stage can be read,
tested and replaced without the parts that use it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "confcam"

BASE = {"errors", "types", "paths", "fileio", "records", "signals", "geometry", "imaging", "displays", "onnx_session", "plugins", "slots"}
"""Helpers every layer may use; they use nothing of confcam's but each other."""
ALLOWED: dict[str, set[str]] = {
    **{name: BASE for name in BASE},
    "sources": BASE | {"sources"},
    "detect": BASE | {"detect"},
    "track": BASE | {"track"},
    "classify": BASE | {"classify"},
    "render": BASE | {"render"},
    "sinks": BASE | {"sinks", "render"},
    "pipeline": BASE | {"detect", "track", "classify"},
    "practice": BASE | {"practice", "render", "sinks"},
}
"""What each lower-layer module or package may import; everything not named here (config, build, runner,
analysis, app, bench, cli, web, train) sits above them and may import them."""


def confcam_imports(path: Path) -> set[str]:
    """The first name after `confcam.` of every confcam import in a file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("confcam.") and n.count(".") >= 1}
    return found


def layer_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if layer_of(p) in ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lower_layers_import_nothing_above_them(path: Path) -> None:
    layer = layer_of(path)
    wrong = sorted(confcam_imports(path) - ALLOWED[layer] - {layer})
    assert not wrong, f"{path.relative_to(PACKAGE)} ({layer}) imports {', '.join(wrong)}, which sit above it"


def test_every_lower_layer_is_checked() -> None:
    assert {layer_of(p) for p in MODULES} == set(ALLOWED)
