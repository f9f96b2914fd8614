"""--steadiness: names and seconds become the smoother's typed config, and reach the pipeline of every command."""

import json

import pytest

from confcam.classify.smoother import SmootherConfig
from confcam.cli import main
from confcam.config import PipelineConfig, parse_steadiness
from confcam.types import UNCERTAIN
from confcam.web.demo import analyser_factory
from tests.conftest import video


@pytest.mark.parametrize(
    "text,expected",
    [
        (None, SmootherConfig()),
        ("balanced", SmootherConfig()),
        ("calm", SmootherConfig(time_constant_s=0.4 * 1.2, hold_s=1.2)),
        (" Quick ", SmootherConfig(time_constant_s=0.4 * 0.3, hold_s=0.3)),
        ("0.8", SmootherConfig(time_constant_s=0.4 * 0.8, hold_s=0.8)),
    ],
)
def test_steadiness_names_and_seconds_give_the_smoother_config(text, expected):
    assert parse_steadiness(text) == expected


def test_presets_order_from_quick_to_calm():
    quick, balanced, calm = (SmootherConfig.preset(name) for name in ("quick", "balanced", "calm"))
    assert quick.time_constant_s < balanced.time_constant_s < calm.time_constant_s
    assert quick.evidence_needed < balanced.evidence_needed < calm.evidence_needed


def first_labelled_frame(tmp_path, steadiness: str) -> int:
    out = tmp_path / f"{steadiness}.json"
    assert main(["analyze", str(video("single_face.mp4")), "--json", str(out), "--steadiness", steadiness,
                 "--live-labels"]) == 0
    frames = json.loads(out.read_text())["frames"]
    return next(f["frame"] for f in frames for face in f["tracks"] if face["label"] != UNCERTAIN)


def test_analyze_follows_the_steadiness_option(tmp_path):
    assert first_labelled_frame(tmp_path, "quick") < first_labelled_frame(tmp_path, "balanced")


def test_web_sessions_get_the_steadiness_option():
    make = analyser_factory(PipelineConfig(smoother=parse_steadiness("calm")))
    assert make().pipeline.smoother.config == SmootherConfig.preset("calm")
