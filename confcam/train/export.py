"""Writes a trained network as a confcam model file: ONNX with softmax output and the metadata contract."""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

INPUT_NAME = "window"
OUTPUT_NAME = "probs"
OPSET = 17
REQUIRED_METADATA = (
    "labels", "window", "input_size", "scale", "crop", "arch", "trained_on", "source",
)  # fmt: skip


class ProbabilityHead(nn.Module):
    """The network followed by softmax, so the file outputs probabilities as the contract asks."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, window: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(window), dim=1)


def _metadata_props(metadata: dict[str, object]) -> dict[str, str]:
    props = {f"confcam.{k}" if not k.startswith("confcam.") else k: v for k, v in metadata.items()}
    props.setdefault("confcam.kind", "expression")
    missing = [k for k in REQUIRED_METADATA if f"confcam.{k}" not in props]
    if missing:
        raise ValueError(f"metadata lacks {', '.join(missing)}")
    out = {}
    for key, value in props.items():
        out[key] = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    return out


def export_onnx(model: nn.Module, path: Path, metadata: dict[str, object]) -> Path:
    """Export model (logits out) to path with a dynamic batch axis and confcam.* metadata_props.

    metadata keys may be given with or without the 'confcam.' prefix; list values are joined by
    commas. The file appears only once it is complete.
    """
    props = _metadata_props(metadata)
    window = int(props["confcam.window"])
    size = int(props["confcam.input_size"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ProbabilityHead(model).eval()
    example = torch.zeros(1, window, size, size, dtype=torch.float32)
    fd, tmp_name = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                head,
                (example,),
                str(tmp),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}},
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        proto = onnx.load(str(tmp))
        del proto.metadata_props[:]
        for key, value in sorted(props.items()):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        proto.producer_name = "confcam"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        tmp.chmod(0o644)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
