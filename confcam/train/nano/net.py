"""The network a NanoSpec describes, in PyTorch (logits out, input [N, t, S, S])."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from confcam.train.nano.space import NanoSpec, Stage
from confcam.train.nets import KERAS_BN_EPS, _Conv1Stem


def _bn(channels: int) -> nn.BatchNorm2d:
    """BatchNorm with PyTorch's usual momentum (0.1), not the Keras-port 0.01 of the thesis networks: no
    published weights to match, and a search trial's few hundred steps must leave the moving statistics
    those of the data, or every candidate reads as a constant at validation."""
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS)


class NanoBlock(nn.Module):
    """Projection 1x1 -> depthwise or regular KxK (strided) -> expansion 1x1, each with BatchNorm; the
    input is added back when the shapes allow."""

    def __init__(self, channels_in: int, stage: Stage, stride: int) -> None:
        super().__init__()
        mid = stage.bottleneck
        self.project = nn.Conv2d(channels_in, mid, 1, bias=False)
        self.bn1 = _bn(mid)
        self.spatial = nn.Conv2d(mid, mid, stage.kernel, stride=stride, padding=stage.kernel // 2,
                                 groups=mid if stage.depthwise else 1, bias=False)
        self.bn2 = _bn(mid)
        self.expand = nn.Conv2d(mid, stage.width, 1, bias=False)
        self.bn3 = _bn(stage.width)
        self.residual = stride == 1 and channels_in == stage.width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.project(x)))
        y = F.relu(self.bn2(self.spatial(y)))
        y = self.bn3(self.expand(y))
        return F.relu(y + x if self.residual else y)


class LongRange(nn.Module):
    """An earlier stage's output brought to a later stage's size and width (strided 1x1 conv + BN)."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, 1, stride=stride, bias=False)
        self.bn = _bn(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class NanoNet(_Conv1Stem, nn.Module):
    """EmotionNet Nano as a spec describes it: stem, stages, long-range sums, global average pooling and a
    dense classifier. The stem conv reads the t frames as channels (a TimeConvNet when t > 1)."""

    def __init__(self, spec: NanoSpec, num_classes: int = 8) -> None:
        super().__init__()
        self.spec = spec
        self.in_channels = spec.frames
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(spec.frames, spec.stem_width, 3, stride=spec.stem_stride, padding=1, bias=False)
        self.bn1 = _bn(spec.stem_width)
        widths = spec.widths()
        self.stages = nn.ModuleList(
            nn.Sequential(*(NanoBlock(widths[index] if block == 0 else stage.width, stage,
                                      stage.stride if block == 0 else 1) for block in range(stage.blocks)))
            for index, stage in enumerate(spec.stages)
        )
        self.links = nn.ModuleDict({
            f"{a}_{b}": nn.Identity() if spec.link_is_identity(a, b)
            else LongRange(spec.stages[a].width, spec.stages[b].width, spec.stride_between(a, b))
            for a, b in spec.long_range
        })
        self.classifier = nn.Linear(spec.stages[-1].width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        outputs: list[torch.Tensor] = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            for a, b in self.spec.long_range:
                if b == index:
                    x = x + self.links[f"{a}_{b}"](outputs[a])
            outputs.append(x)
        return self.classifier(x.mean(dim=(2, 3)))
