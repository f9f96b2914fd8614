"""The trainable networks: every architecture builds for t = 1 / 5 and 48 / 64 px, its parameter count
matches the thesis (or the difference is the documented one), and `confcam train nets` prints them."""

from __future__ import annotations

import pytest
import torch
import typer
from typer.testing import CliRunner

from confcam.train.commands import register
from confcam.train.nets import LastFrame, MiniXception, ResNet20Video, build_timeconvnet, count_params
from confcam.train.data import LABELS
from confcam.train.trainer import THESIS_CLASSES, architectures, build_network, thesis_lr
from confcam.errors import ConfcamError

THESIS = {
    "minixception-2d": 58_423,
    "timeconvnet-minixception": 58_711,
    "timeconvnet-resnet20": 274_535,
    "timeconvnet-mobilenetv2": 2_267_527,
    "resnet20-3d": 808_775,
}


@pytest.mark.parametrize("arch, params", sorted(THESIS.items()))
def test_parameter_count_equals_the_thesis_table(arch: str, params: int) -> None:
    net, spec = build_network(arch, window=5, classes=THESIS_CLASSES)
    assert count_params(net) == params == spec.thesis_params


def test_two_plus_one_d_count_differs_and_says_why() -> None:
    net, spec = build_network("resnet20-2plus1d", window=5, classes=THESIS_CLASSES)
    assert count_params(net) != spec.thesis_params
    assert "Tran" in spec.note and "cannot be rebuilt" in spec.note
    assert count_params(net) == pytest.approx(count_params(ResNet20Video(factorised=False)), rel=0.02)


@pytest.mark.parametrize("window", [1, 5])
@pytest.mark.parametrize("size", [48, 64])
@pytest.mark.parametrize("arch", sorted(architectures()))
def test_every_network_classifies_windows_of_t_frames(arch: str, window: int, size: int) -> None:
    net, spec = build_network(arch, window=window)
    net.eval()
    frames = spec.window if spec.window > 1 else 1
    model = LastFrame(net) if spec.window == 1 else net
    with torch.no_grad():
        logits = model(torch.rand(2, max(frames, window), size, size))
    assert logits.shape == (2, len(LABELS)) and len(LABELS) == 8
    assert torch.isfinite(logits).all()


def test_timeconvnet_first_conv_is_the_only_layer_that_grows_with_t() -> None:
    grown = count_params(build_timeconvnet("minixception", 5)) - count_params(MiniXception(1))
    assert grown == 8 * 9 * 4


@pytest.mark.parametrize(
    "progress, factor",
    [(0.0, 1.0), (0.399, 1.0), (0.4, 1e-1), (0.6, 1e-2), (0.8, 1e-3), (0.9, 0.5e-3), (0.999, 0.5e-3)],
)
def test_thesis_schedule_scales_to_any_length(progress: float, factor: float) -> None:
    assert thesis_lr(1e-3, progress) == pytest.approx(1e-3 * factor)


@pytest.mark.parametrize("arch, init, message", [
    ("resnet9", None, "unknown architecture"),
    ("timeconvnet-resnet20", "x.hdf5", "Keras weights exist for"),
    ("minixception-2d", "/nonexistent.hdf5", "no such file"),
])
def test_bad_architecture_requests_are_one_line_errors(arch: str, init: str | None, message: str) -> None:
    from pathlib import Path

    with pytest.raises(ConfcamError, match=message):
        build_network(arch, 5, Path(init) if init else None)


def test_train_nets_command_prints_each_count_beside_the_thesis() -> None:
    app = typer.Typer()
    app.command("noop")(lambda: None)
    register(app)
    result = CliRunner().invoke(app, ["train", "nets"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for arch, params in THESIS.items():
        line = next(line for line in result.output.splitlines() if arch in line)
        assert line.count(f"{params:,}") == 2
    assert "523,357" in result.output and "Tran" in result.output


def test_bigxception_starts_from_the_published_big_xception_widened_to_eight_classes() -> None:
    """--init with Arriaga's big_XCEPTION: the 7 FER2013 classes keep their logits, contempt starts unlikely."""
    from tests.conftest import big_xception_hdf5
    from confcam.train.keras_weights import load_bigxception

    from tests.test_expression_models import publictest_faces

    net, spec = build_network("bigxception-2d", window=1, init=big_xception_hdf5())
    published = load_bigxception(big_xception_hdf5())
    faces, _ = publictest_faces(16, 64)
    x = torch.from_numpy(faces[:, None] * 2 - 1)
    with torch.no_grad():
        wide, seven = net.eval()(x), published(x)
    assert spec.window == 1 and wide.shape == (16, len(LABELS))
    assert torch.allclose(wide[:, :7], seven, atol=1e-5)
    assert (torch.softmax(wide, dim=1)[:, LABELS.index("contempt")] < 0.01).all()
