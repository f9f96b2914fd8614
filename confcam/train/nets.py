"""Expression networks in PyTorch, laid out so that the published Keras weights load one-to-one.

Keras conventions are kept where they change the numbers: BatchNorm epsilon 1e-3 and TensorFlow
'same' padding, which puts the odd extra pixel of a strided window at the bottom/right.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

KERAS_BN_EPS = 1e-3


def count_params(model: nn.Module) -> int:
    """Parameters counted the Keras way (BatchNorm moving mean/variance included), as papers report them."""
    trainable = sum(p.numel() for p in model.parameters())
    running = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d) and m.running_mean is not None
    )
    return trainable + running


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS, momentum=0.01)


class SamePadMaxPool(nn.Module):
    """3x3 / stride-2 max pooling with TensorFlow 'same' padding (extra pad at the bottom/right)."""

    def __init__(self, kernel: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def _pads(self, size: int) -> tuple[int, int]:
        total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self._pads(int(x.shape[-2]))
        left, right = self._pads(int(x.shape[-1]))
        if bottom - top == right - left in (0, 1):
            # One extra pixel at the end is what ceil_mode adds: a single plain MaxPool in ONNX.
            return F.max_pool2d(x, self.kernel, self.stride, padding=(top, left), ceil_mode=bottom > top)
        x = F.pad(x, (left, right, top, bottom), value=float("-inf"))
        return F.max_pool2d(x, self.kernel, self.stride)


class SeparableConv(nn.Module):
    """Keras SeparableConv2D (depth multiplier 1, no bias): depthwise 3x3 then pointwise 1x1."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionModule(nn.Module):
    """Two separable convs and a strided max-pool, added to a strided 1x1 shortcut; halves the size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = _bn(out_channels)
        self.sep1 = SeparableConv(in_channels, out_channels)
        self.bn1 = _bn(out_channels)
        self.sep2 = SeparableConv(out_channels, out_channels)
        self.bn2 = _bn(out_channels)
        self.pool = SamePadMaxPool()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x))
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.pool(self.bn2(self.sep2(y)))
        return y + residual


class MiniXception(nn.Module):
    """mini-Xception (Arriaga et al. 2017); returns logits. in_channels = t makes it a TimeConvNet.

    The first convolution is the one that reads the input channels, i.e. TimeConvNet's
    spatiotemporal encoding layer when in_channels is the window length.
    """

    module_widths = (16, 32, 64, 128)

    def __init__(self, in_channels: int = 1, num_classes: int = 7) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_channels, 8, 3, bias=False)
        self.bn1 = _bn(8)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = _bn(8)
        widths = (8, *self.module_widths)
        self.blocks = nn.Sequential(*(XceptionModule(a, b) for a, b in zip(widths[:-1], widths[1:])))
        self.classifier = nn.Conv2d(widths[-1], num_classes, 3, padding=1, bias=True)

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.conv1

    def replace_first_conv(self, conv: nn.Conv2d) -> None:
        self.conv1 = conv
        self.in_channels = conv.in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.blocks(x)
        return self.classifier(x).mean(dim=(2, 3))


BACKBONES: dict[str, type[nn.Module]] = {"minixception": MiniXception}


def build_timeconvnet(backbone: str = "minixception", window: int = 5, num_classes: int = 7) -> nn.Module:
    """A TimeConvNet: the 2D backbone whose first conv reads the t stacked crops as channels."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[backbone](in_channels=window, num_classes=num_classes)


def inflate_first_conv(model_2d: nn.Module, t: int) -> nn.Module:
    """A TimeConvNet initialised from a 2D model: its first-conv kernel spread evenly over t frames.

    Each of the t input channels gets the 2D kernel divided by t, so t identical crops give
    exactly the 2D model's output; training can then learn temporal differences from there.
    """
    first = model_2d.first_conv
    if first.in_channels != 1:
        raise ValueError(f"expected a single-channel 2D model, got {first.in_channels} input channels")
    model = copy.deepcopy(model_2d)
    inflated = nn.Conv2d(
        t, first.out_channels, first.kernel_size, first.stride, first.padding, bias=first.bias is not None
    )
    with torch.no_grad():
        inflated.weight.copy_(first.weight.repeat(1, t, 1, 1) / t)
        if first.bias is not None:
            inflated.bias.copy_(first.bias)
    model.replace_first_conv(inflated)
    return model
