"""EmotionNet Nano: the design space as JSON specs, the networks they build, `confcam train search` on a few
hundred real FER2013 faces (SQLite study, resume, constraints, pruning, Pareto table and plot), and the
exported candidate in the live pipeline, `confcam train` and the CK+ protocol."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch
from optuna.trial import TrialState
from typer.testing import CliRunner

from confcam.classify.model import ExpressionModel
from confcam.classify.registry import ModelRegistry
from confcam.errors import ConfcamError
from confcam.train.data import LABELS
from confcam.train.nano.candidates import assign
from confcam.train.nano.net import NanoNet
from confcam.train.nano.space import NanoSpec, SearchSpace, Stage, load_spec
from confcam.train.nets import count_params
from confcam.train.protocols import CKPLUS_PROTOCOL_LABELS
from tests.conftest import FER2013
from tests.test_train_datasets import make_ckplus, real_frames
from tests.test_train_trainer import app, live_labels

torch.set_num_threads(1)

SMALL = NanoSpec("small", 48, 1, 8, 2, (Stage(16, 1, 8), Stage(32, 2, 8, kernel=5, depthwise=False)), ((0, 1),))
TEMPORAL = NanoSpec("temporal", 64, 5, 16, 1,
                    (Stage(24, 2, 12), Stage(24, 1, 24, stride=1), Stage(48, 2, 12, kernel=5), Stage(96, 1, 24)),
                    ((0, 1), (0, 3), (1, 2)))
"""TEMPORAL's 0->1 connection is a plain sum (same size and width), the others strided 1x1 convs."""
QUICK = ["--subset", "200", "--val-subset", "64", "--epochs", "1", "--latency-runs", "3", "--batch-size", "50"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """300 real FER2013 Training faces and 100 PublicTest faces, in the evaluation npz format."""
    if not FER2013.is_file():
        pytest.skip(f"shared FER2013 file {FER2013} is missing")
    folder = tmp_path_factory.mktemp("fer")
    with np.load(FER2013) as data:
        for split, count in (("train", 300), ("publictest", 100)):
            pick = np.linspace(0, len(data[f"y_{split}"]) - 1, count).astype(int)
            np.savez(folder / f"{split}.npz", x=data[f"x_{split}"][pick], y=data[f"y_{split}"][pick], labels=data["labels"])
    return folder / "train.npz", folder / "publictest.npz"


def search(faces: tuple[Path, Path], study: Path, *extra: str) -> str:
    """What the command printed, its whitespace (rich's wrapping) made single spaces."""
    train, val = faces
    result = CliRunner().invoke(app(), ["train", "search", "--study", str(study), "--data", str(train), "--val", str(val),
                                        *QUICK, *extra])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return " ".join(result.output.split())


def load(study: Path) -> optuna.Study:
    return optuna.load_study(study_name="emotionnet-nano", storage=f"sqlite:///{study}")


@pytest.fixture(scope="module")
def searched(faces, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 3-trial study (no constraints) and what the command printed."""
    study = tmp_path_factory.mktemp("study") / "nano.db"
    output = search(faces, study, "--trials", "3", "--plot", str(study.with_suffix(".png")))
    return study, output


@pytest.mark.parametrize("spec", [SMALL, TEMPORAL], ids=["t1-48", "t5-64"])
def test_spec_round_trips_through_json(spec: NanoSpec, tmp_path: Path) -> None:
    assert NanoSpec.from_dict(json.loads(spec.to_json())) == spec
    assert load_spec(spec.save(tmp_path / "spec.json")) == spec


@pytest.mark.parametrize("frames", [1, 5])
@pytest.mark.parametrize("size", [48, 64])
@pytest.mark.parametrize("shape", [SMALL, TEMPORAL], ids=["small", "temporal"])
def test_built_network_has_the_spec_parameter_count_and_output_shape(shape: NanoSpec, frames: int, size: int) -> None:
    spec = NanoSpec(shape.name, size, frames, shape.stem_width, shape.stem_stride, shape.stages, shape.long_range)
    net = NanoNet(spec, len(LABELS)).eval()
    with torch.no_grad():
        out = net(torch.rand(3, frames, size, size))
    assert out.shape == (3, len(LABELS))
    assert count_params(net) == spec.params(len(LABELS))


def test_sampled_specs_stay_in_the_space_and_count_their_parameters() -> None:
    space = SearchSpace()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for number in range(25):
        trial = study.ask()
        spec = space.sample(trial, f"t{number}")
        assert spec.input_size in space.sizes and spec.frames in space.frames
        assert count_params(NanoNet(spec, len(LABELS))) == spec.params(len(LABELS))
        seen.add((spec.frames, spec.input_size, bool(spec.long_range)))
        study.tell(trial, spec.params(len(LABELS)))
    assert len(seen) >= 4, "the draws cover t, size and long-range connections"


@pytest.mark.parametrize("document, message", [
    ("{not json", "not JSON"),
    ("[1, 2]", "a spec is a JSON object"),
    (dict(SMALL.to_dict(), input_size=56), "input_size 56: choose one of 48, 64"),
    (dict(SMALL.to_dict(), frames=3), "frames 3: choose one of 1, 5"),
    (dict(SMALL.to_dict(), colour=True), "unknown key"),
    (dict(SMALL.to_dict(), stages=[]), "at least one stage"),
    (dict(SMALL.to_dict(), stages=[dict(width=16, blocks=1, bottleneck=8, kernel=4)]), r"stages\[0\].kernel 4"),
    (dict(SMALL.to_dict(), stages=[dict(width=0, blocks=1, bottleneck=8)]), r"stages\[0\].width 0"),
    (dict(SMALL.to_dict(), stages=[dict(width=16, blocks=1)]), r"stages\[0\]: missing bottleneck"),
    (dict(SMALL.to_dict(), long_range=[[1, 0]]), "long_range"),
    ({k: v for k, v in SMALL.to_dict().items() if k != "stem_width"}, "missing stem_width"),
])
def test_an_invalid_spec_is_a_one_line_error(document: object, message: str, faces, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(ConfcamError, match=message) as caught:
        app()(["train", "--arch", str(path), "--data", str(faces[0]), "--out", str(tmp_path / "m.onnx"),
               "--epochs", "1"], standalone_mode=False)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_confcam_train_builds_a_spec_file_at_its_own_size_and_window(faces, tmp_path: Path) -> None:
    spec_file = TEMPORAL.save(tmp_path / "temporal.json")
    out = tmp_path / "temporal.onnx"
    result = CliRunner().invoke(app(), ["train", "--arch", str(spec_file), "--data", str(faces[0]), "--val", str(faces[1]),
                                        "--epochs", "1", "--out", str(out), "--batch-size", "100",
                                        "--cache", str(tmp_path / "cache" / "windows")])
    assert result.exit_code == 0, result.output
    model = ExpressionModel(out)
    assert (model.info.arch, model.info.window, model.info.input_size) == ("temporal", 5, 64)
    assert model.session.get_modelmeta().custom_metadata_map["confcam.params"] == str(TEMPORAL.params(len(LABELS)))
    with pytest.raises(ConfcamError, match="made for 64x64 faces; give --size 64"):
        app()(["train", "--arch", str(spec_file), "--data", str(faces[0]), "--out", str(tmp_path / "x.onnx"),
               "--size", "48"], standalone_mode=False)


def test_a_still_spec_checkpoint_starts_its_timeconvnet_twin_after_the_spec_file_moved(faces, tmp_path: Path) -> None:
    still_file = SMALL.save(tmp_path / "small.json")
    twin_file = NanoSpec.from_dict(SMALL.to_dict() | {"frames": 5}).renamed("small-t5").save(tmp_path / "small-t5.json")
    checkpoint = tmp_path / "small.ckpt"
    common = ["--data", str(faces[0]), "--epochs", "1", "--batch-size", "100", "--size", "48",
              "--cache", str(tmp_path / "cache" / "windows")]
    app()(["train", "--arch", str(still_file), *common, "--out", str(tmp_path / "small.onnx"), "--checkpoint",
           str(checkpoint)], standalone_mode=False)
    still_file.unlink()
    out = tmp_path / "small-t5.onnx"
    app()(["train", "--arch", str(twin_file), *common, "--window", "5", "--out", str(out), "--init", str(checkpoint),
           "--inflate", "last", "--tune", "temporal"], standalone_mode=False)
    faces_now = np.load(faces[1])["x"][:8].astype(np.float32) / 255.0
    still, twin = ExpressionModel(tmp_path / "small.onnx"), ExpressionModel(out)
    window = np.repeat(faces_now[:, None], 5, axis=1)
    assert twin.info.window == 5
    np.testing.assert_allclose(twin.predict(window), still.predict(faces_now[:, None]), atol=1e-4,
                               err_msg="a still face gets the still twin's answer")


def test_search_writes_a_sqlite_study_the_pareto_table_and_plot(searched) -> None:
    study_file, output = searched
    study = load(study_file)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    assert all(set(t.user_attrs) >= {"spec", "params", "seconds"} for t in study.trials)
    prototype = SearchSpace().prototype()
    assert study.trials[0].user_attrs["prototype"] and study.trials[0].user_attrs["spec"] == prototype.renamed(
        "nano-trial-0").to_dict(), "the human prototype is the machine's first trial"
    assert all(t.values[1] == NanoSpec.from_dict(t.user_attrs["spec"]).params(len(LABELS)) for t in study.trials)
    assert "Pareto front" in output and "3 trials: 3 complete (0 infeasible)" in output
    front = study.best_trials
    assert front and all(f"{int(t.values[1]):,}" in output for t in front)
    image = study_file.with_suffix(".png")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000


def test_a_second_search_resumes_the_study_file_elsewhere(searched, faces, tmp_path: Path) -> None:
    study_file = shutil.copy(searched[0], tmp_path / "copied.db")
    moved = tmp_path / "other-machine"
    moved.mkdir()
    moved_faces = (shutil.copy(faces[0], moved), shutil.copy(faces[1], moved))
    search(moved_faces, study_file, "--trials", "2")
    study = load(study_file)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4], "trials were added, not restarted"
    assert [r["trials"] for r in study.user_attrs["runs"]] == [3, 2]
    with pytest.raises(ConfcamError, match=r"other settings \(subset\)"):
        app()(["train", "search", "--study", str(study_file), "--data", str(faces[0]), "--val", str(faces[1]), *QUICK,
               "--subset", "150"], standalone_mode=False)


@pytest.mark.parametrize("constraint, state, infeasible, why", [
    (["--max-ms-per-face", "0.0001"], TrialState.COMPLETE, True, None),
    (["--max-params", "500"], TrialState.PRUNED, True, "over --max-params"),
    (["--min-accuracy", "0.99", "--epochs", "2"], TrialState.PRUNED, True, "below --min-accuracy"),
    (["--max-params", "10000000", "--min-accuracy", "0"], TrialState.COMPLETE, False, None),
])
def test_constraints_mark_trials_infeasible_and_hopeless_ones_are_pruned(
    constraint: list[str], state: TrialState, infeasible: bool, why: str | None, faces, tmp_path: Path
) -> None:
    study_file = tmp_path / "constrained.db"
    output = search(faces, study_file, "--trials", "2", *constraint)
    trials = load(study_file).trials
    assert [t.state for t in trials] == [state] * 2
    assert all(t.constraints and any(v > 0 for v in t.constraints.values()) == infeasible for t in trials)
    assert all(why in t.user_attrs["pruned"] for t in trials) if why else all("pruned" not in t.user_attrs for t in trials)
    if state == TrialState.PRUNED:
        assert "2 pruned" in output
    if infeasible and state == TrialState.COMPLETE:
        assert "(2 infeasible)" in output and not load(study_file).best_trials


@pytest.mark.parametrize("change, message", [
    (["--study", "nano.sqlite"], "must end in .db"),
    (["--val", "TRAIN"], "must be held out"),
    (["--plot", "pareto.jpg"], "must end in .png"),
    (["--subset", "5000"], "--subset 5000: .* has 300 faces"),
    (["--trials", "0", "--study", "missing.db"], "no such study file"),
    (["--votes", "no-votes.npz"], "no such file"),
    (["--export", "out", "--export-balance", "most"], "--export-balance 'most': choose one of none, sqrt, equal"),
])
def test_bad_search_options_fail_with_one_line_and_write_nothing(change: list[str], message: str, faces,
                                                                  tmp_path: Path) -> None:
    train, val = faces
    options = {"--study": "nano.db", "--data": str(train), "--val": str(val), "--trials": "1"}
    for flag, value in zip(change[::2], change[1::2]):
        options[flag] = str(train) if value == "TRAIN" else value
    for flag in ("--study", "--plot", "--votes", "--export"):
        if flag in options:
            options[flag] = str(tmp_path / options[flag])
    args = ["train", "search", *QUICK, *(x for pair in options.items() for x in pair)]
    with pytest.raises(ConfcamError, match=message) as caught:
        app()(args, standalone_mode=False)
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_exported_candidate_is_retrained_with_its_spec_and_card_and_runs_live(searched, faces, tmp_path: Path) -> None:
    study_file = shutil.copy(searched[0], tmp_path / "study.db")
    out = tmp_path / "models"
    search(faces, study_file, "--trials", "0", "--export", str(out), "--export-under", "10000000",
           "--export-epochs", "1", "--cache", str(tmp_path / "cache" / "windows"))
    chosen = max(load(study_file).best_trials, key=lambda t: t.values[0])
    model_file = out / "emotionnet-nano-10000k.onnx"
    spec = load_spec(out / "emotionnet-nano-10000k.json")
    assert spec.to_dict() | {"name": ""} == chosen.user_attrs["spec"] | {"name": ""}
    assert [m.name for m in ModelRegistry(out).models("expression")] == ["emotionnet-nano-10000k"]
    model = ExpressionModel(model_file)
    assert (model.info.arch, model.info.input_size) == ("emotionnet-nano-10000k", spec.input_size)
    card = (out / "MODEL_CARD.md").read_text()
    assert "## Expression model: `emotionnet-nano-10000k.onnx`" in card and "### How the architecture was found" in card
    assert f"trial {chosen.number}" in card and "3 trials: 3 complete" in card and "budget 3 trials" in card
    assert "**Space**: input 48/64 px" in card and "**Constraints**: none" in card
    labels = live_labels(model_file)
    assert labels and all(label in model.info.labels + ("uncertain",) for label in labels)
    again = search(faces, study_file, "--trials", "0", "--export", str(out), "--export-under", "10000000",
                   "--export-epochs", "1", "--cache", str(tmp_path / "cache" / "windows"))
    assert "from epoch 2" in again, "a second export resumes the finished run's checkpoint instead of retraining"


FRONT = [(0, 0.534, 57_848), (1, 0.533, 11_308), (2, 0.468, 8_940), (3, 0.540, 240_000)]
"""(trial number, accuracy, params) of a Pareto front like the committed study's."""


@pytest.mark.parametrize("budgets, picked", [
    ((250_000,), [3]),
    ((150_000,), [0]),
    ((250_000, 150_000), [3, 0]),
    ((150_000, 100_000), [0, 1]),
    ((100_000, 150_000), [0, 1]),
    ((150_000, 100_000, 50_000, 10_000), [0, 1, 2]),
    ((5_000,), []),
])
def test_each_budget_picks_its_own_most_accurate_candidate(budgets: tuple[int, ...], picked: list[int]) -> None:
    front = [optuna.trial.create_trial(values=[acc, params, 0.1]) for _, acc, params in FRONT]
    for number, trial in zip((n for n, _, _ in FRONT), front):
        trial.number = number
    assert [trial.number for _, trial in assign(front, budgets) if trial is not None] == picked


def test_ckplus_protocol_trains_a_searched_architecture(tmp_path: Path) -> None:
    sequences = [("S005", "001", 3), ("S010", "002", 5), ("S011", "001", 2), ("S014", "003", 7)]
    root = make_ckplus(tmp_path / "CK+", sequences, real_frames(8))
    spec_file = TEMPORAL.renamed("nano-ck").save(tmp_path / "nano-ck.json")
    report_dir = tmp_path / "report"
    result = CliRunner().invoke(app(), ["eval-protocol", "ckplus", "--root", str(root), "--arch", str(spec_file),
                                        "--folds", "2", "--epochs", "1", "--max-steps", "1", "--report", str(report_dir)])
    assert result.exit_code == 0, result.output
    report = json.loads(next(report_dir.glob("*.json")).read_text())
    assert report["model"] == "nano-ck" and report["n"] == 3 * len(sequences)
    assert report["params"] == TEMPORAL.params(len(CKPLUS_PROTOCOL_LABELS))
