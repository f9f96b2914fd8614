"""--config FILE: stage options from TOML, checked against the typed configs; flags win over the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from confcam.classify.smoother import SmootherConfig
from confcam.cli import main
from confcam.config import PipelineConfig
from confcam.config_file import pipeline_config, reference_markdown
from confcam.errors import ConfcamError
from confcam.types import UNCERTAIN
from tests.conftest import video

DOCS = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "confcam.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text,check",
    [
        ("", lambda c: c == PipelineConfig()),
        ("[pipeline]\ndetect_interval_s = 0", lambda c: c.detect_interval_s == 0.0),
        ('[pipeline]\nstyle = "ring"', lambda c: c.style == "ring"),
        ("[pipeline.smoother]\ntime_constant_s = 0.8", lambda c: c.smoother.time_constant_s == 0.8),
        ("[pipeline.focus]\nsweep_grid = [4, 2]", lambda c: c.focus.sweep_grid == (4, 2)),
        ("[pipeline.grid]\nenabled = false\ntiles_per_frame = 6", lambda c: not c.grid.enabled and c.grid.tiles_per_frame == 6),
        ("[pipeline.tracker]\nmax_missed = 20", lambda c: c.tracker.max_missed == 20 and c.tracker.min_hits == 2),
    ],
)
def test_a_config_file_sets_stage_options(tmp_path, text, check):
    assert check(pipeline_config(write(tmp_path, text)))


def test_flags_given_win_over_the_file_and_absent_flags_do_not(tmp_path):
    path = write(tmp_path, '[pipeline]\nstyle = "ring"\nmodel = "minixception-2d"\n[pipeline.smoother]\nhold_s = 2.0')
    config = pipeline_config(path, model="minixception-2d-ferplus", style=None, smoother=None)
    assert config.model == "minixception-2d-ferplus" and config.style == "ring"
    assert config.smoother.hold_s == 2.0
    assert pipeline_config(path, smoother=SmootherConfig()).smoother == SmootherConfig()


@pytest.mark.parametrize(
    "text,message",
    [
        ("[pipline]\nmodel = 'x'", "unknown table [pipline]; known: pipeline"),
        ("[pipeline]\nthreds = 2", "unknown option pipeline.threds"),
        ("[pipeline.smoother]\nhold = 1", "unknown option pipeline.smoother.hold"),
        ("[pipeline]\nthreads = 'two'", "pipeline.threads must be int, got 'two'"),
        ("[pipeline]\nthreads = true", "pipeline.threads must be int, got True"),
        ('[pipeline]\nstyle = "sparkles"', "pipeline: unknown style 'sparkles'; known: all, emoji, ring, text"),
        ("[pipeline.focus]\nsweep_grid = [1, 2, 3]", "pipeline.focus.sweep_grid must be tuple"),
        ("[pipeline]\nsmoother = 3", "pipeline.smoother must be a table"),
        ("[pipeline\nmodel=", "not valid TOML"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_key(tmp_path, capsys, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfcamError, match=message.replace("[", r"\[").replace("]", r"\]")):
        pipeline_config(path)
    assert main(["analyze", str(video("single_face.mp4")), "--config", str(path), "--max-frames", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("confcam: error: --config ") and err.count("\n") == 1


def test_a_missing_config_file_is_named(tmp_path, capsys):
    assert main(["bench", "--config", str(tmp_path / "nope.toml"), "--frames", "1"]) == 2
    assert capsys.readouterr().err == f"confcam: error: --config {tmp_path / 'nope.toml'}: no such file\n"


def first_label_frame(tmp_path: Path, config: Path) -> int:
    out = tmp_path / f"{config.stem}.json"
    assert main(["analyze", str(video("single_face.mp4")), "--json", str(out), "--config", str(config), "--live-labels"]) == 0
    frames = json.loads(out.read_text())["frames"]
    return next(f["frame"] for f in frames for face in f["tracks"] if face["label"] != UNCERTAIN)


def test_analyze_runs_with_the_options_of_the_file(tmp_path):
    quick = tmp_path / "quick.toml"
    quick.write_text("[pipeline.smoother]\ntime_constant_s = 0.25\nhold_s = 0.25\n")
    calm = tmp_path / "calm.toml"
    calm.write_text("[pipeline.smoother]\ntime_constant_s = 1.0\nhold_s = 1.0\n")
    assert first_label_frame(tmp_path, quick) < first_label_frame(tmp_path, calm)


def test_the_options_page_matches_the_code(capsys):
    assert main(["options"]) == 0
    printed = capsys.readouterr().out
    assert printed == reference_markdown()
    assert printed in DOCS.read_text(), "docs/configuration.md is stale: regenerate its table with `confcam options`"
    assert "`pipeline.grid.tiles_per_frame`" in printed and "`pipeline.smoother.min_dwell_s`" in printed
