"""Loads the published Keras mini-Xception and big_XCEPTION (.hdf5) into MiniXception / BigXception with
h5py alone, so no Keras or TensorFlow is needed to rebuild the bundled models or start a teacher."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from confcam.errors import ModelError
from confcam.train.nets import BigXception, MiniXception, XceptionModule


class KerasWeights:
    """The weight arrays of a Keras 2 .hdf5 file, in the order its layers were built."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            with h5py.File(self.path, "r") as f:
                config = json.loads(_text(f.attrs["model_config"]))
                group = f["model_weights"] if "model_weights" in f else f
                self.layers = [layer["config"]["name"] for layer in config["config"]["layers"]]
                self.classes = {layer["config"]["name"]: layer["class_name"] for layer in config["config"]["layers"]}
                self.arrays = {name: _layer_arrays(group, name) for name in self.layers if name in group}
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(f"{self.path}: not a readable Keras hdf5 model ({exc})") from exc

    def of_class(self, class_name: str) -> list[str]:
        """Names of the layers of one Keras class, in build order (the order of their numeric suffix)."""
        names = [n for n in self.layers if self.classes[n] == class_name]
        return sorted(names, key=_suffix)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _suffix(name: str) -> int:
    tail = name.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _layer_arrays(group: h5py.Group, layer: str) -> dict[str, np.ndarray]:
    """Weight arrays of one layer keyed by their short name (kernel, gamma, moving_mean, ...)."""
    names = [_text(n) for n in group[layer].attrs.get("weight_names", [])]
    return {n.rsplit("/", 1)[-1].split(":")[0]: np.asarray(group[layer][n]) for n in names}


def _set(param: torch.Tensor, value: np.ndarray) -> None:
    if tuple(param.shape) != value.shape:
        raise ModelError(f"weight shape {value.shape} does not fit {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _load_conv(conv: nn.Conv2d, arrays: dict[str, np.ndarray]) -> None:
    _set(conv.weight, arrays["kernel"].transpose(3, 2, 0, 1))
    if conv.bias is not None:
        _set(conv.bias, arrays["bias"])


def _load_bn(bn: nn.BatchNorm2d, arrays: dict[str, np.ndarray]) -> None:
    _set(bn.weight, arrays["gamma"])
    _set(bn.bias, arrays["beta"])
    _set(bn.running_mean, arrays["moving_mean"])
    _set(bn.running_var, arrays["moving_variance"])


def _load_separable(sep: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    _set(sep.depthwise.weight, arrays["depthwise_kernel"].transpose(2, 3, 0, 1))
    _set(sep.pointwise.weight, arrays["pointwise_kernel"].transpose(3, 2, 0, 1))


def load_minixception(path: Path) -> MiniXception:
    """A MiniXception in eval mode carrying the weights of the Arriaga et al. Keras model at path.

    Keras names layers by creation order; the reference builder creates, per module, the shortcut
    conv and its BN before the two separable convs and their BNs, which fixes the mapping below.
    """
    weights = KerasWeights(path)
    convs = weights.of_class("Conv2D")
    bns = weights.of_class("BatchNormalization")
    seps = weights.of_class("SeparableConv2D")
    model = MiniXception(in_channels=1, num_classes=weights.arrays[convs[-1]]["kernel"].shape[-1])
    blocks = [b for b in model.blocks if isinstance(b, XceptionModule)]
    if len(convs) != 3 + len(blocks) or len(bns) != 2 + 3 * len(blocks) or len(seps) != 2 * len(blocks):
        raise ModelError(f"{path}: layer counts do not match mini-Xception")
    a = weights.arrays
    _load_conv(model.conv1, a[convs[0]])
    _load_bn(model.bn1, a[bns[0]])
    _load_conv(model.conv2, a[convs[1]])
    _load_bn(model.bn2, a[bns[1]])
    for i, block in enumerate(blocks):
        _load_conv(block.shortcut, a[convs[2 + i]])
        _load_bn(block.shortcut_bn, a[bns[2 + 3 * i]])
        _load_separable(block.sep1, a[seps[2 * i]])
        _load_bn(block.bn1, a[bns[3 + 3 * i]])
        _load_separable(block.sep2, a[seps[2 * i + 1]])
        _load_bn(block.bn2, a[bns[4 + 3 * i]])
    _load_conv(model.classifier, a[convs[-1]])
    return model.eval()


BIG_XCEPTION_BNS = ("block1_conv1_bn", "block1_conv2_bn", "block2_sepconv1_bn", "block2_sepconv2_bn",
                    "block3_sepconv1_bn", "block3_sepconv2_bn")
"""The BatchNorms Arriaga's big_XCEPTION builder names; the two shortcut BNs keep Keras' default names."""


def load_bigxception(path: Path) -> BigXception:
    """A BigXception in eval mode carrying the weights of Arriaga's big_XCEPTION Keras model at path.

    Convs and separable convs follow their numeric suffix (creation order: stem, stem, shortcut 1,
    shortcut 2, classifier); the BNs the builder named are matched by name, the two it left unnamed are
    the shortcut BNs in creation order.
    """
    weights = KerasWeights(path)
    convs = weights.of_class("Conv2D")
    seps = weights.of_class("SeparableConv2D")
    bns = weights.of_class("BatchNormalization")
    shortcut_bns = [n for n in bns if n not in BIG_XCEPTION_BNS]
    if (len(convs) != 5 or len(seps) != 4 or len(shortcut_bns) != 2
            or any(n not in weights.arrays for n in BIG_XCEPTION_BNS)):
        raise ModelError(f"{path}: layers do not match big_XCEPTION")
    a = weights.arrays
    model = BigXception(in_channels=1, num_classes=a[convs[-1]]["kernel"].shape[-1])
    _load_conv(model.conv1, a[convs[0]])
    _load_bn(model.bn1, a["block1_conv1_bn"])
    _load_conv(model.conv2, a[convs[1]])
    _load_bn(model.bn2, a["block1_conv2_bn"])
    for i, block in enumerate(model.blocks):
        _load_conv(block.shortcut, a[convs[2 + i]])
        _load_bn(block.shortcut_bn, a[shortcut_bns[i]])
        _load_separable(block.sep1, a[seps[2 * i]])
        _load_bn(block.bn1, a[f"block{i + 2}_sepconv1_bn"])
        _load_separable(block.sep2, a[seps[2 * i + 1]])
        _load_bn(block.bn2, a[f"block{i + 2}_sepconv2_bn"])
    _load_conv(model.classifier, a[convs[-1]])
    return model.eval()
