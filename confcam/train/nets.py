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
    """Parameters counted the Keras way (BatchNorm moving mean/variance included), as papers report them,
    for the network as exported (a StillPreservingConv counts as the one conv it folds into)."""
    model = plain_copy(model)
    trainable = sum(p.numel() for p in model.parameters())
    running = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None
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
    """Two separable convs and a strided max-pool, added to a strided 1x1 shortcut; halves the size.

    pre_activation: a ReLU on the main branch's input only (the shortcut reads it raw), as in the
    second module of Arriaga's big_XCEPTION, whose input is the previous module's un-activated sum.
    """

    def __init__(self, in_channels: int, out_channels: int, pre_activation: bool = False) -> None:
        super().__init__()
        self.pre_activation = pre_activation
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=2, bias=False)
        self.shortcut_bn = _bn(out_channels)
        self.sep1 = SeparableConv(in_channels, out_channels)
        self.bn1 = _bn(out_channels)
        self.sep2 = SeparableConv(out_channels, out_channels)
        self.bn2 = _bn(out_channels)
        self.pool = SamePadMaxPool()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut_bn(self.shortcut(x))
        y = F.relu(self.bn1(self.sep1(F.relu(x) if self.pre_activation else x)))
        y = self.pool(self.bn2(self.sep2(y)))
        return y + residual


class _Conv1Stem:
    """The first convolution (`conv1`) reads the input channels: TimeConvNet's spatiotemporal encoding
    layer when there are t of them. Inflation swaps it through these two members."""

    @property
    def first_conv(self) -> nn.Conv2d:
        return self.conv1

    def replace_first_conv(self, conv: nn.Conv2d) -> None:
        self.conv1 = conv
        self.in_channels = conv.in_channels


class MiniXception(_Conv1Stem, nn.Module):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.blocks(x)
        return self.classifier(x).mean(dim=(2, 3))


class BigXception(_Conv1Stem, nn.Module):
    """Arriaga et al.'s big_XCEPTION (face_classification, FER2013 0.66): a bigger teacher for the
    mini-Xception; returns logits.

    A stride-2 stem (32 then 64 channels, unpadded 3x3 convs) and two Xception modules of 128 and 256
    channels, the second ReLU-ing only its main branch; no ReLU after the last sum, then a 3x3 conv to the
    classes and global average pooling. 64x64 in: 31, 29, 15, 8 pixels after the stem and the modules.
    """

    module_widths = (128, 256)

    def __init__(self, in_channels: int = 1, num_classes: int = 7) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(in_channels, 32, 3, stride=2, bias=False)
        self.bn1 = _bn(32)
        self.conv2 = nn.Conv2d(32, 64, 3, bias=False)
        self.bn2 = _bn(64)
        widths = (64, *self.module_widths)
        self.blocks = nn.Sequential(*(XceptionModule(a, b, pre_activation=i > 0)
                                      for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))))
        self.classifier = nn.Conv2d(widths[-1], num_classes, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = self.blocks(x)
        return self.classifier(x).mean(dim=(2, 3))


class ResNet20(_Conv1Stem, nn.Module):
    """Keras' CIFAR ResNet20 v1 (He et al.) as the thesis used it: biased 3x3 convs, BN, 1x1 projection
    shortcuts without BN, global average pooling, a dense classifier. in_channels = t: TimeConvNet."""

    widths = (16, 32, 64)
    blocks_per_stage = 3

    def __init__(self, in_channels: int = 1, num_classes: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.bn1 = _bn(16)
        blocks: list[nn.Module] = []
        channels = 16
        for stage, width in enumerate(self.widths):
            for index in range(self.blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(_ResidualBlock(_Conv2dFactory(), channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.blocks(x)
        return self.classifier(x.mean(dim=(2, 3)))


class _Conv2dFactory:
    """Convs, norms and shortcuts of a 2D residual block."""

    def conv(self, cin: int, cout: int, stride: int) -> nn.Module:
        return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)

    def norm(self, channels: int) -> nn.Module:
        return _bn(channels)

    def shortcut(self, cin: int, cout: int, stride: int) -> nn.Module:
        return nn.Conv2d(cin, cout, 1, stride=stride)


class _Conv3dFactory(_Conv2dFactory):
    """Full 3x3x3 spatiotemporal convs; strides act on space only (a 5-frame window is short)."""

    def conv(self, cin: int, cout: int, stride: int) -> nn.Module:
        return nn.Conv3d(cin, cout, 3, stride=(1, stride, stride), padding=1)

    def norm(self, channels: int) -> nn.Module:
        return nn.BatchNorm3d(channels, eps=KERAS_BN_EPS, momentum=0.01)

    def shortcut(self, cin: int, cout: int, stride: int) -> nn.Module:
        return nn.Conv3d(cin, cout, 1, stride=(1, stride, stride))


class Conv2Plus1d(nn.Module):
    """Tran et al.'s (2+1)D conv: a 1x3x3 spatial conv to M channels, BN + ReLU, then a 3x1x1 temporal
    conv. M = floor(3*9*cin*cout / (9*cin + 3*cout)) keeps the parameters of the full 3x3x3 conv."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        mid = (3 * 9 * cin * cout) // (9 * cin + 3 * cout)
        self.spatial = nn.Conv3d(cin, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1))
        self.bn = nn.BatchNorm3d(mid, eps=KERAS_BN_EPS, momentum=0.01)
        self.temporal = nn.Conv3d(mid, cout, (3, 1, 1), padding=(1, 0, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal(F.relu(self.bn(self.spatial(x))))


class _Conv2Plus1dFactory(_Conv3dFactory):
    def conv(self, cin: int, cout: int, stride: int) -> nn.Module:
        return Conv2Plus1d(cin, cout, stride)


class _ResidualBlock(nn.Module):
    """ResNet v1 basic block: conv-BN-ReLU-conv-BN, added to the (projected) input, ReLU."""

    def __init__(self, factory: _Conv2dFactory, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = factory.conv(cin, cout, stride)
        self.bn1 = factory.norm(cout)
        self.conv2 = factory.conv(cout, cout, 1)
        self.bn2 = factory.norm(cout)
        self.shortcut = factory.shortcut(cin, cout, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x))


class ResNet20Video(nn.Module):
    """ResNet20 over the window as a clip [N, 1, t, H, W]: 3D convs or (2+1)D convs (the thesis' baselines)."""

    def __init__(self, factorised: bool, num_classes: int = 7) -> None:
        super().__init__()
        factory = _Conv2Plus1dFactory() if factorised else _Conv3dFactory()
        self.conv1 = factory.conv(1, 16, 1)
        self.bn1 = factory.norm(16)
        blocks: list[nn.Module] = []
        channels = 16
        for stage, width in enumerate(ResNet20.widths):
            for index in range(ResNet20.blocks_per_stage):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(_ResidualBlock(factory, channels, width, stride))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x.unsqueeze(1))))
        x = self.blocks(x)
        return self.classifier(x.mean(dim=(2, 3, 4)))


class _InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand (skipped at expansion 1), 3x3 depthwise, 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(cin, hidden, 1, bias=False), _bn(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            _bn(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, cout, 1, bias=False),
            _bn(cout),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(_Conv1Stem, nn.Module):
    """MobileNetV2 (Sandler et al., width 1.0) as Keras builds it, global average pooling and a dense
    classifier on top. in_channels = t: TimeConvNet."""

    settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

    def __init__(self, in_channels: int = 1, num_classes: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 32, 3, stride=2, padding=1, bias=False)
        self.bn1 = _bn(32)
        blocks: list[nn.Module] = []
        channels = 32
        for expansion, width, repeats, stride in self.settings:
            for index in range(repeats):
                blocks.append(_InvertedResidual(channels, width, stride if index == 0 else 1, expansion))
                channels = width
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Conv2d(channels, 1280, 1, bias=False), _bn(1280), nn.ReLU6())
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn1(self.conv1(x)))
        x = self.head(self.blocks(x))
        return self.classifier(x.mean(dim=(2, 3)))


BACKBONES: dict[str, type[nn.Module]] = {"minixception": MiniXception, "resnet20": ResNet20, "mobilenetv2": MobileNetV2}


class LastFrame(nn.Module):
    """A 2D single-frame network fed a window: it sees only the newest crop (the thesis' 2D baseline)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x[:, -1:])


def build_timeconvnet(backbone: str = "minixception", window: int = 5, num_classes: int = 7) -> nn.Module:
    """A TimeConvNet: the 2D backbone whose first conv reads the t stacked crops as channels."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; known: {', '.join(sorted(BACKBONES))}")
    return BACKBONES[backbone](in_channels=window, num_classes=num_classes)


def widen_classifier(model: nn.Module, classes: int) -> nn.Module:
    """The model with `classes` outputs: the trained ones kept in place, new ones (e.g. contempt after
    FER2013's 7) start with zero weights and a bias below every trained class, so the model's answers are
    unchanged until training teaches it the new class."""
    old = model.classifier
    have = old.out_channels if isinstance(old, nn.Conv2d) else old.out_features
    if classes == have:
        return model
    if classes < have:
        raise ValueError(f"cannot narrow a {have}-class classifier to {classes}")
    wide = copy.deepcopy(old)
    with torch.no_grad():
        wide.weight = nn.Parameter(torch.cat([old.weight, torch.zeros(classes - have, *old.weight.shape[1:])]))
        wide.bias = nn.Parameter(torch.cat([old.bias, torch.full((classes - have,), float(old.bias.min()) - 4.0)]))
    if isinstance(wide, nn.Conv2d):
        wide.out_channels = classes
    else:
        wide.out_features = classes
    model.classifier = wide
    model.num_classes = classes
    return model


INFLATIONS = ("mean", "last")
"""How a 2D first conv becomes a TimeConvNet's: spread evenly over the t frames (reads the window's mean),
or all on the newest frame (starts as exactly the 2D model on every window, a face that changes included)."""


def inflate_first_conv(model_2d: nn.Module, t: int, mode: str = "mean") -> nn.Module:
    """A TimeConvNet initialised from a 2D model (see INFLATIONS).

    Either way t identical crops give exactly the 2D model's output; training can then learn temporal
    differences from there.
    """
    if mode not in INFLATIONS:
        raise ValueError(f"inflation {mode!r}: choose one of {', '.join(INFLATIONS)}")
    first = model_2d.first_conv
    if first.in_channels != 1:
        raise ValueError(f"expected a single-channel 2D model, got {first.in_channels} input channels")
    model = copy.deepcopy(model_2d)
    inflated = nn.Conv2d(
        t, first.out_channels, first.kernel_size, first.stride, first.padding, bias=first.bias is not None
    )
    with torch.no_grad():
        if mode == "mean":
            inflated.weight.copy_(first.weight.repeat(1, t, 1, 1) / t)
        else:
            inflated.weight.zero_()
            inflated.weight[:, -1:] = first.weight
        if first.bias is not None:
            inflated.bias.copy_(first.bias)
    model.replace_first_conv(inflated)
    return model


class StillPreservingConv(nn.Module):
    """A TimeConvNet first conv whose kernel, summed over the t frames, is held at a 2D kernel.

    t identical crops (a still face) then give exactly the 2D model's output, whatever the kernel
    learns about the differences between frames: training can only change how motion is read.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv.requires_grad_(False)
        self.in_channels = conv.in_channels
        self.register_buffer("frame_sum", conv.weight.detach().sum(dim=1, keepdim=True).clone())
        self.kernel = nn.Parameter(conv.weight.detach().clone())

    def weight(self) -> torch.Tensor:
        return self.frame_sum / self.in_channels + self.kernel - self.kernel.mean(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv._conv_forward(x, self.weight(), self.conv.bias)

    def plain(self) -> nn.Conv2d:
        conv = copy.deepcopy(self.conv)
        with torch.no_grad():
            conv.weight.copy_(self.weight())
        return conv


def tune_temporal_only(model: nn.Module) -> list[nn.Parameter]:
    """Freeze a TimeConvNet except the frame weighting of its first conv (see StillPreservingConv);
    returns the parameters left to train. Keep the model in eval mode while training so BatchNorm
    statistics stay those of the 2D model."""
    if model.first_conv.in_channels < 2:
        raise ValueError("temporal-only tuning needs a TimeConvNet (t > 1)")
    model.requires_grad_(False)
    tuned = StillPreservingConv(model.first_conv)
    model.replace_first_conv(tuned)
    return [tuned.kernel]


def plain_copy(model: nn.Module) -> nn.Module:
    """A copy with ordinary convolutions only (a StillPreservingConv folded into its kernel), for export."""
    copied = copy.deepcopy(model)
    if isinstance(getattr(copied, "first_conv", None), StillPreservingConv):
        copied.replace_first_conv(copied.first_conv.plain())
    return copied
