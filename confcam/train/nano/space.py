"""The EmotionNet Nano design space as data: a NanoSpec (a small JSON file) describes one network, and a
SearchSpace says which specs the search may draw.

The prototype follows the thesis: a stem conv (reading t stacked frames, TimeConvNet-style, when t > 1),
then stages of projection 1x1 -> depthwise or regular KxK -> expansion 1x1 blocks, and selective
long-range connections that add an earlier stage's output to a later one's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from confcam.errors import ConfcamError

SIZES = (48, 64)
FRAMES = (1, 5)
KERNELS = (3, 5)
STRIDES = (1, 2)
BN_PARAMS = 4
"""Per-channel BatchNorm numbers counted the Keras way: scale, shift, moving mean, moving variance."""


class SpecError(ValueError):
    """What is wrong with a spec, in one line (the caller names the file)."""


def _whole(value: Any, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where} {value!r}: must be a whole number of 1 or more")


def _one_of(value: Any, choices: tuple[int, ...], where: str) -> None:
    if isinstance(value, bool) or value not in choices:
        raise SpecError(f"{where} {value!r}: choose one of {', '.join(map(str, choices))}")


@dataclass(frozen=True)
class Stage:
    """Blocks of one resolution: the first one strides, the others add their input back (a residual)."""

    width: int
    """Channels every block outputs (its expansion 1x1's)."""
    blocks: int
    bottleneck: int
    """Channels between the projection and expansion 1x1s."""
    kernel: int = 3
    depthwise: bool = True
    stride: int = 2

    def check(self, where: str) -> None:
        for name in ("width", "blocks", "bottleneck"):
            _whole(getattr(self, name), f"{where}.{name}")
        _one_of(self.kernel, KERNELS, f"{where}.kernel")
        _one_of(self.stride, STRIDES, f"{where}.stride")
        if not isinstance(self.depthwise, bool):
            raise SpecError(f"{where}.depthwise {self.depthwise!r}: must be true or false")

    def params(self, channels_in: int) -> int:
        """Keras-counted parameters of the stage's blocks, read from channels_in channels."""
        total = 0
        for index in range(self.blocks):
            cin = channels_in if index == 0 else self.width
            middle = self.kernel**2 * self.bottleneck * (1 if self.depthwise else self.bottleneck)
            total += cin * self.bottleneck + middle + self.bottleneck * self.width
            total += BN_PARAMS * (2 * self.bottleneck + self.width)
        return total

    def describe(self) -> str:
        kind = "dw" if self.depthwise else "conv"
        return f"{self.width}x{self.blocks}/{self.bottleneck} {kind}{self.kernel}"


@dataclass(frozen=True)
class NanoSpec:
    """One EmotionNet Nano network and the input it was found for."""

    name: str
    input_size: int
    frames: int
    stem_width: int
    stem_stride: int
    stages: tuple[Stage, ...]
    long_range: tuple[tuple[int, int], ...] = ()
    """(from, to) stage pairs, from < to: stage `to`'s output gets stage `from`'s added (through a strided
    1x1 conv + BatchNorm, or as it is when size and width already match)."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise SpecError(f"name {self.name!r}: must be a non-empty name without '/'")
        _one_of(self.input_size, SIZES, "input_size")
        _one_of(self.frames, FRAMES, "frames")
        _whole(self.stem_width, "stem_width")
        _one_of(self.stem_stride, STRIDES, "stem_stride")
        if not self.stages:
            raise SpecError("stages: at least one stage is needed")
        for index, stage in enumerate(self.stages):
            stage.check(f"stages[{index}]")
        for link in self.long_range:
            if len(link) != 2 or not 0 <= link[0] < link[1] < len(self.stages):
                raise SpecError(f"long_range {list(link)!r}: needs [from, to] stage indices with "
                                f"0 <= from < to < {len(self.stages)}")
        if len(set(self.long_range)) != len(self.long_range):
            raise SpecError("long_range: a connection is listed twice")

    def widths(self) -> list[int]:
        """Channels out of the stem and of every stage."""
        return [self.stem_width, *(stage.width for stage in self.stages)]

    def stride_between(self, source: int, target: int) -> int:
        """How much smaller stage target's output is than stage source's."""
        stride = 1
        for stage in self.stages[source + 1 : target + 1]:
            stride *= stage.stride
        return stride

    def link_is_identity(self, source: int, target: int) -> bool:
        return self.stride_between(source, target) == 1 and self.stages[source].width == self.stages[target].width

    def params(self, classes: int) -> int:
        """Keras-counted parameters of the network this spec builds, for `classes` outputs (what
        count_params finds on it), so the search can turn away an over-budget candidate untrained."""
        total = 9 * self.frames * self.stem_width + BN_PARAMS * self.stem_width
        widths = self.widths()
        for index, stage in enumerate(self.stages):
            total += stage.params(widths[index])
        for source, target in self.long_range:
            if not self.link_is_identity(source, target):
                width = self.stages[target].width
                total += self.stages[source].width * width + BN_PARAMS * width
        return total + self.stages[-1].width * classes + classes

    def describe(self) -> str:
        """One line: input, stem, stages and connections."""
        links = " ".join(f"{a}->{b}" for a, b in self.long_range) or "none"
        stages = " | ".join(stage.describe() for stage in self.stages)
        return f"{self.input_size}px t={self.frames} stem {self.stem_width}/s{self.stem_stride} | {stages} | long-range {links}"

    def renamed(self, name: str) -> NanoSpec:
        return replace(self, name=name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (lists, not tuples, so it equals what json.loads gives back)."""
        document = asdict(self)
        document["stages"] = list(document["stages"])
        document["long_range"] = [list(link) for link in self.long_range]
        return document

    @staticmethod
    def from_dict(document: Any) -> NanoSpec:
        """A spec from its JSON document; SpecError (one line) for anything else."""
        if not isinstance(document, dict):
            raise SpecError("a spec is a JSON object")
        _no_unknown(document, NanoSpec.__dataclass_fields__, "spec")
        missing = [k for k in ("name", "input_size", "frames", "stem_width", "stem_stride", "stages") if k not in document]
        if missing:
            raise SpecError(f"missing {', '.join(missing)}")
        stages = document["stages"]
        if not isinstance(stages, list):
            raise SpecError("stages: must be a list of stage objects")
        links = document.get("long_range", [])
        if not isinstance(links, list) or not all(isinstance(link, list) for link in links):
            raise SpecError("long_range: must be a list of [from, to] pairs")
        return NanoSpec(**{**document, "stages": tuple(_stage(s, i) for i, s in enumerate(stages)),
                           "long_range": tuple(tuple(link) for link in links)})

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path


def _no_unknown(document: dict[str, Any], fields: dict[str, Any], where: str) -> None:
    unknown = sorted(set(document) - set(fields))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(fields)})")


def _stage(document: Any, index: int) -> Stage:
    where = f"stages[{index}]"
    if not isinstance(document, dict):
        raise SpecError(f"{where}: must be an object")
    _no_unknown(document, Stage.__dataclass_fields__, where)
    missing = [k for k in ("width", "blocks", "bottleneck") if k not in document]
    if missing:
        raise SpecError(f"{where}: missing {', '.join(missing)}")
    return Stage(**document)


def is_spec_path(arch: str) -> bool:
    """Whether an --arch value names a spec file rather than a built-in network."""
    return arch.endswith(".json")


def load_spec(path: Path) -> NanoSpec:
    """A spec file; a one-line ConfcamError naming the file for anything wrong with it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfcamError(f"--arch {path}: no such spec file")
    try:
        return NanoSpec.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as error:
        raise ConfcamError(f"--arch {path}: not JSON ({error.msg}, line {error.lineno})") from None
    except (SpecError, TypeError) as error:
        raise ConfcamError(f"--arch {path}: {error}") from None


@dataclass(frozen=True)
class SearchSpace:
    """The choices the search draws a spec from (each stage's width, depth, bottleneck share, kernel and
    conv kind independently; every stage halves the size)."""

    sizes: tuple[int, ...] = SIZES
    frames: tuple[int, ...] = FRAMES
    stem_widths: tuple[int, ...] = (8, 16, 24, 32)
    stem_strides: tuple[int, ...] = (1, 2)
    stage_counts: tuple[int, ...] = (2, 3, 4)
    widths: tuple[int, ...] = (16, 24, 32, 48, 64, 96, 128)
    depths: tuple[int, ...] = (1, 2, 3)
    bottleneck_shares: tuple[float, ...] = (0.25, 0.5, 1.0)
    kernels: tuple[int, ...] = KERNELS
    depthwise: tuple[bool, ...] = (True, False)
    long_range: tuple[bool, ...] = (False, True)
    """Whether each (from, to) stage pair is connected."""

    def sample(self, trial: Any, name: str) -> NanoSpec:
        """A spec drawn through an optuna trial (its suggest_* calls record the choices)."""
        count = trial.suggest_categorical("stages", list(self.stage_counts))
        stages = []
        for index in range(count):
            width = trial.suggest_categorical(f"s{index}_width", list(self.widths))
            share = trial.suggest_categorical(f"s{index}_bottleneck", list(self.bottleneck_shares))
            stages.append(Stage(
                width=width,
                blocks=trial.suggest_categorical(f"s{index}_blocks", list(self.depths)),
                bottleneck=max(4, round(width * share)),
                kernel=trial.suggest_categorical(f"s{index}_kernel", list(self.kernels)),
                depthwise=trial.suggest_categorical(f"s{index}_depthwise", list(self.depthwise)),
            ))
        links = tuple((a, b) for a in range(count) for b in range(a + 1, count)
                      if trial.suggest_categorical(f"long_{a}_{b}", list(self.long_range)))
        return NanoSpec(
            name=name,
            input_size=trial.suggest_categorical("input_size", list(self.sizes)),
            frames=trial.suggest_categorical("frames", list(self.frames)),
            stem_width=trial.suggest_categorical("stem_width", list(self.stem_widths)),
            stem_stride=trial.suggest_categorical("stem_stride", list(self.stem_strides)),
            stages=tuple(stages),
            long_range=links,
        )

    def prototype(self) -> NanoSpec:
        """The human-designed starting point, the study's first trial: a TimeConvNet stem over 5 frames and
        three stages of two depthwise blocks (32, 64, 128 channels, bottleneck half the width), the first
        stage's output carried to the last."""
        stages = tuple(Stage(width, 2, width // 2) for width in (32, 64, 128))
        return NanoSpec("nano-prototype", 48, 5, 16, 1, stages, ((0, 2),))

    def choices_of(self, spec: NanoSpec) -> dict[str, object]:
        """The trial parameters `sample` turns into this spec (for a spec inside the space)."""
        choices: dict[str, object] = {"stages": len(spec.stages), "input_size": spec.input_size, "frames": spec.frames,
                                      "stem_width": spec.stem_width, "stem_stride": spec.stem_stride}
        for index, stage in enumerate(spec.stages):
            choices |= {f"s{index}_width": stage.width, f"s{index}_bottleneck": stage.bottleneck / stage.width,
                        f"s{index}_blocks": stage.blocks, f"s{index}_kernel": stage.kernel,
                        f"s{index}_depthwise": stage.depthwise}
        for a in range(len(spec.stages)):
            for b in range(a + 1, len(spec.stages)):
                choices[f"long_{a}_{b}"] = (a, b) in spec.long_range
        return choices

    def describe(self) -> str:
        """The space in one paragraph, for the model card."""
        return (f"input {'/'.join(map(str, self.sizes))} px, t in {{{', '.join(map(str, self.frames))}}} "
                f"(t > 1: a TimeConvNet stem), stem width {'/'.join(map(str, self.stem_widths))} with stride "
                f"{'/'.join(map(str, self.stem_strides))}, {'/'.join(map(str, self.stage_counts))} stages of "
                f"{'/'.join(map(str, self.depths))} projection 1x1 -> depthwise or regular "
                f"{'/'.join(f'{k}x{k}' for k in self.kernels)} -> expansion 1x1 blocks, stage widths "
                f"{'/'.join(map(str, self.widths))}, bottleneck {'/'.join(f'{s:g}' for s in self.bottleneck_shares)} "
                f"of the width, and any long-range connection from an earlier stage's output to a later one's")
