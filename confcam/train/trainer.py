"""Training a network on window sets the thesis' way, with checkpoints, resume and a progress display,
and exporting the result as a confcam model file."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from confcam.classify.crop import CropRule
from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError
from confcam.train.data import LABELS, StillFaces, WindowMix
from confcam.train.distributed import Distributed
from confcam.train.export import export_onnx
from confcam.train.nets import (
    BigXception,
    LastFrame,
    MiniXception,
    ResNet20,
    ResNet20Video,
    build_timeconvnet,
    count_params,
    inflate_first_conv,
    plain_copy,
    tune_temporal_only,
    widen_classifier,
)
from confcam.train.nano.net import NanoNet
from confcam.train.nano.space import NanoSpec, is_spec_path, load_spec

TUNING = ("all", "temporal")
"""What training may change: every weight, or only how a TimeConvNet's first conv weighs its frames."""
THESIS_EPOCHS = 200
THESIS_DECAYS = ((80, 1e-1), (120, 1e-2), (160, 1e-3), (180, 0.5e-3))
"""Keras' CIFAR ResNet schedule the thesis used: lr x factor after these of 200 epochs."""
SCALE = (-1.0, 1.0)
"""Network input range: that of the published mini-Xception weights, kept for every network."""


@dataclass(frozen=True)
class ArchSpec:
    """One trainable architecture: how to build it, its window, and the thesis' parameter count."""

    name: str
    window: int
    thesis_params: int | None
    build: Callable[[], nn.Module]
    note: str = ""
    size: int | None = None
    """The input size the network was made for (a searched spec's); None: any."""

    def check_input(self, size: int, window: int) -> None:
        """A one-line error when --size or --window does not fit the network."""
        if self.size is not None and size != self.size:
            raise ConfcamError(f"--size {size}: {self.name} was made for {self.size}x{self.size} faces; give --size {self.size}")
        if self.window > 1 and window != self.window:
            raise ConfcamError(f"--window {window}: {self.name} reads t={self.window} frames; give --window {self.window}")


THESIS_CLASSES = 7
"""The thesis' parameter counts are for its 7 classes; confcam's networks predict LABELS (8, with contempt)."""


def architectures(window: int = 5) -> dict[str, ArchSpec]:
    """Every architecture `confcam train` knows, at window t (2D ones always see one frame); build(classes)."""
    return {
        spec.name: spec
        for spec in (
            ArchSpec("minixception-2d", 1, 58_423, lambda c: MiniXception(1, c), "same count"),
            ArchSpec("resnet20-2d", 1, None, lambda c: ResNet20(1, c), "not in the thesis' table"),
            ArchSpec("bigxception-2d", 1, None, lambda c: BigXception(1, c),
                     "not in the thesis: Arriaga's big_XCEPTION, a teacher for distillation"),
            ArchSpec("timeconvnet-minixception", window, 58_711, lambda c: build_timeconvnet("minixception", window, c),
                     "same count (t=5): only the first conv grows, 8 x 9 x (t - 1) weights"),
            ArchSpec("timeconvnet-resnet20", window, 274_535, lambda c: build_timeconvnet("resnet20", window, c),
                     "same count (t=5) with global average pooling; Keras' AveragePooling2D(8) adds no weights"),
            ArchSpec("timeconvnet-mobilenetv2", window, 2_267_527, lambda c: build_timeconvnet("mobilenetv2", window, c),
                     "same count (t=5): Keras MobileNetV2 (alpha 1, no top) + Dense(7)"),
            ArchSpec("resnet20-3d", window, 808_775, lambda c: ResNet20Video(factorised=False, num_classes=c),
                     "same count: every 3x3 conv of ResNet20 made 3x3x3, 1 input channel"),
            ArchSpec("resnet20-2plus1d", window, 523_357, lambda c: ResNet20Video(factorised=True, num_classes=c),
                     "more: Tran et al.'s rule sizes each (2+1)D pair to match its 3D conv (+ a BN between); "
                     "the thesis does not give its intermediate widths, so its 523,357 cannot be rebuilt"),
        )
    }


def arch_spec(arch: str, window: int = 5) -> ArchSpec:
    """A built-in architecture by name, or one found by `confcam train search` from its spec file (.json)."""
    if is_spec_path(arch):
        return nano_arch(load_spec(Path(arch)))
    specs = architectures(window)
    if arch not in specs:
        raise ConfcamError(f"--arch {arch!r}: unknown architecture; known: {', '.join(specs)}, "
                           "or a spec .json of `confcam train search`")
    return specs[arch]


def nano_arch(spec: NanoSpec) -> ArchSpec:
    return ArchSpec(spec.name, spec.frames, None, lambda c: NanoNet(spec, c),
                    f"EmotionNet Nano found by confcam train search: {spec.describe()}", spec.input_size)


def input_defaults(arch: str) -> tuple[int, int]:
    """(size, window) a command uses when not told: a spec's own, else 48 and 5."""
    spec = arch_spec(arch)
    return spec.size or 48, spec.window if spec.window > 1 else 5


def build_network(arch: str, window: int = 5, init: Path | None = None, classes: int = len(LABELS),
                  inflate: str = "mean") -> tuple[nn.Module, ArchSpec]:
    """The network (logits out, input [N, t, S, S]) and its spec. init starts it from a 2D model: the
    published mini-Xception .hdf5 (its 7 FER2013 classes widened to LABELS) or the .ckpt of an earlier
    2D `confcam train` run; a TimeConvNet gets the 2D first conv inflated over t (see INFLATIONS)."""
    spec = arch_spec(arch, window)
    if init is None:
        return spec.build(classes), spec
    from_checkpoint = Path(init).suffix == ".ckpt"
    family = _published_family(arch)
    if not from_checkpoint and family is None:
        raise ConfcamError(f"--init {init}: Keras weights exist for {', '.join(PUBLISHED_FAMILIES)} networks only, "
                           f"not {arch}")
    if not Path(init).is_file():
        raise ConfcamError(f"--init {init}: no such file")
    net = _checkpoint_2d(Path(init), classes) if from_checkpoint else _published_2d(Path(init), family, classes)
    if spec.window > 1:
        net = inflate_first_conv(net, spec.window, inflate)
    wanted = spec.build(classes)
    try:
        wanted.load_state_dict(plain_copy(net).state_dict())
    except RuntimeError:
        raise ConfcamError(f"--init {init}: its network does not fit {arch}") from None
    return net, spec


PUBLISHED_FAMILIES = ("bigxception", "minixception")
"""Networks whose published Keras .hdf5 (Arriaga et al.) --init can read; the arch name says which."""


def _published_family(arch: str) -> str | None:
    return next((family for family in PUBLISHED_FAMILIES if family in arch), None)


def _published_2d(path: Path, family: str, classes: int) -> nn.Module:
    """The published Keras model at path, its 7 FER2013 classes widened to `classes`."""
    from confcam.train.keras_weights import load_bigxception, load_minixception

    loader = load_bigxception if family == "bigxception" else load_minixception
    return widen_classifier(loader(path), classes)


def _checkpoint_2d(path: Path, classes: int) -> nn.Module:
    """The 2D network of a `confcam train` checkpoint."""
    state = _load_checkpoint(path)
    arch = state["config"]["arch"]
    if "spec" in state:  # a searched architecture: its spec travels in the checkpoint, the file may have moved
        spec: ArchSpec | None = nano_arch(NanoSpec.from_dict(state["spec"]))
    else:
        spec = arch_spec(arch, 1) if is_spec_path(arch) else architectures(1).get(arch)
    if spec is None or spec.window != 1:
        raise ConfcamError(f"--init {path}: a checkpoint of a 2D network is needed, this one is {arch}")
    net = spec.build(classes)
    try:
        net.load_state_dict(state["net"])
    except RuntimeError:
        raise ConfcamError(f"--init {path}: its {arch} does not have {classes} classes") from None
    return net


def _load_checkpoint(path: Path) -> dict:
    """A checkpoint's contents; a one-line error for anything that is not a confcam checkpoint."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch.load raises many unrelated types for a foreign file
        raise ConfcamError(f"{path}: not a confcam checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or "arch" not in state.get("config", {}) or "net" not in state:
        raise ConfcamError(f"{path}: not a confcam checkpoint (no network or settings in it)")
    return state


def check_tuning(arch: str, window: int, tune: str) -> None:
    if tune not in TUNING:
        raise ConfcamError(f"--tune {tune!r}: choose one of {', '.join(TUNING)}")
    if tune == "temporal" and arch_spec(arch, window).window < 2:
        raise ConfcamError(f"--tune temporal needs a TimeConvNet; {arch} sees one frame")


SCHEDULES = ("thesis", "cosine")
"""Learning-rate schedules: the thesis' step decays, or a cosine from lr to 0 (gentler on fine-tunes)."""


def scheduled_lr(schedule: str, base: float, progress: float) -> float:
    """The learning rate at a fraction of training done."""
    if schedule == "cosine":
        return base * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
    return thesis_lr(base, progress)


def thesis_lr(base: float, progress: float) -> float:
    """The learning rate at a fraction of training done, the 200-epoch schedule scaled to any length."""
    lr = base
    for epoch, factor in THESIS_DECAYS:
        if progress >= epoch / THESIS_EPOCHS:
            lr = base * factor
    return lr


@dataclass(frozen=True)
class TrainConfig:
    arch: str
    epochs: int
    window: int = 5
    size: int = 48
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    threads: int = 1
    epoch_limit: int | None = None
    """Windows drawn per epoch (None: every window of every set once)."""
    init: str | None = None
    tune: str = "all"
    schedule: str = "thesis"
    inflate: str = "mean"
    labels: tuple[str, ...] = LABELS
    """What the network's outputs mean: LABELS, or a protocol's own classes (CK+: 7)."""
    distill: tuple[str, ...] = ()
    """Content hashes of the --distill teachers (a resume with other teachers is refused)."""
    distill_weight: float = 0.0


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


class Trainer:
    """Adam + thesis or cosine schedule + soft-target cross-entropy over a WindowMix, validated on still faces."""

    def __init__(self, config: TrainConfig, data: WindowMix | None, validation: StillFaces | None,
                 checkpoint: Path | None = None, announce: Callable[[str], None] = print,
                 distributed: Distributed = Distributed()) -> None:
        if config.epochs < 1:
            raise ConfcamError("--epochs must be at least 1")
        distributed.check_batch(config.batch_size)
        torch.set_num_threads(max(1, config.threads))
        self.distributed = distributed
        self.config = config
        self.data = data
        self.validation = validation
        self.checkpoint = Path(checkpoint) if checkpoint else None
        self.announce = announce
        check_tuning(config.arch, config.window, config.tune)
        torch.manual_seed(config.seed)
        self.net, self.spec = build_network(config.arch, config.window, Path(config.init) if config.init else None,
                                            classes=len(config.labels), inflate=config.inflate)
        self.net.to(distributed.device)
        self.optimizer = torch.optim.Adam(self._trainable(), lr=config.lr)
        self.history = History()
        self.start_epoch = 0
        self.about: dict[str, str] = {}
        """What the checkpoint and model card say about the run: recipe, trained_on, validation, command."""

    def _trainable(self) -> list[nn.Parameter]:
        if self.config.tune == "all":
            return list(self.net.parameters())
        return tune_temporal_only(self.net)

    def _train_mode(self) -> None:
        """Train mode, except when only the frame weighting trains: the frozen layers then keep their
        BatchNorm statistics, so still faces stay exactly as the starting model classifies them."""
        self.net.train(self.config.tune == "all")

    @property
    def model(self) -> nn.Module:
        """The network as trained: 2D ones see the last frame of each window."""
        return LastFrame(self.net) if self.spec.window == 1 else self.net

    def steps_per_epoch(self) -> int:
        return math.ceil(self.data.epoch_size() / self.config.batch_size)

    def resume(self) -> None:
        """Continue from the checkpoint; the config must be the one it was written with."""
        if self.checkpoint is None or not self.checkpoint.is_file():
            raise ConfcamError(f"--resume: no checkpoint at {self.checkpoint}")
        state = _load_checkpoint(self.checkpoint)
        fields = TrainConfig.__dataclass_fields__
        changed = [k for k, v in asdict(self.config).items() if state["config"].get(k, fields[k].default) != v]
        if changed:
            raise ConfcamError(f"--resume: checkpoint was made with other settings ({', '.join(changed)})")
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history = History(state["history"], state["seconds"])
        self.start_epoch = int(state["epoch"]) + 1
        self.about = {**state.get("about", {}), **self.about}

    @staticmethod
    def from_checkpoint(path: Path, announce: Callable[[str], None] = print) -> Trainer:
        """The trained network and history of a checkpoint, ready to validate and export (not to train)."""
        path = Path(path)
        if not path.is_file():
            raise ConfcamError(f"--checkpoint {path}: no such file")
        state = _load_checkpoint(path)
        try:
            config = TrainConfig(**{**state["config"], "init": None})
        except TypeError as exc:
            raise ConfcamError(f"{path}: not a confcam checkpoint ({exc})") from None
        trainer = Trainer(config, None, None, None, announce)
        trainer.config = TrainConfig(**state["config"])
        trainer.net.load_state_dict(state["net"])
        trainer.history = History(state["history"], state["seconds"])
        trainer.about = dict(state.get("about", {}))
        return trainer

    def _save(self, epoch: int) -> None:
        if self.checkpoint is None or not self.distributed.is_main:
            return
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        temp = self.checkpoint.with_name(f".{self.checkpoint.name}.part")
        torch.save({"config": asdict(self.config), "net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "history": self.history.epochs, "seconds": self.history.seconds, "epoch": epoch,
                    "about": self.about, **({"spec": self.net.spec.to_dict()} if isinstance(self.net, NanoNet) else {})},
                   temp)
        os.replace(temp, self.checkpoint)

    def _scaled(self, windows: np.ndarray) -> torch.Tensor:
        low, high = SCALE
        return torch.from_numpy(windows * np.float32(high - low) + np.float32(low)).to(self.distributed.device)

    def train(self, progress: Callable[[int, int, dict[str, float]], None] | None = None, max_steps: int | None = None,
              until: int | None = None) -> History:
        """Run the remaining epochs; progress(epoch, step, stats) after every step. max_steps stops early
        (CI smoke runs); until stops after that epoch, and a later call goes on from there (a search
        looks at a candidate's first epoch before spending the rest on it). Under torchrun each process
        trains on its share of every batch; only the main one validates, writes the checkpoint and announces."""
        steps = self.steps_per_epoch()
        total = steps * self.config.epochs
        done = 0
        shard = (self.distributed.rank, self.distributed.world)
        model = self.distributed.wrap(self.model)
        for epoch in range(self.start_epoch, min(self.config.epochs, until or self.config.epochs)):
            started = time.perf_counter()
            rng = np.random.default_rng([self.config.seed, epoch])
            torch.manual_seed(self.config.seed * 100_003 + epoch)
            self._train_mode()
            loss_sum, correct, seen = 0.0, 0, 0
            for step, (windows, targets) in enumerate(self.data.batches(self.config.batch_size, rng, shard)):
                for group in self.optimizer.param_groups:
                    group["lr"] = scheduled_lr(self.config.schedule, self.config.lr, (epoch * steps + step) / total)
                x = self._scaled(windows)
                t = torch.from_numpy(targets).to(self.distributed.device)
                logits = model(x)
                loss = -(t * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                loss_sum += float(loss.detach()) * len(x)
                correct += int((logits.argmax(1) == t.argmax(1)).sum())
                seen += len(x)
                done += 1
                if progress:
                    progress(epoch, step, {"loss": loss_sum / seen, "acc": correct / seen})
                if max_steps is not None and done >= max_steps:
                    break
            loss_sum, correct, seen = self.distributed.total([loss_sum, correct, seen])
            row = {"epoch": epoch + 1, "loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
                   "lr": self.optimizer.param_groups[0]["lr"], "windows": int(seen)}
            if self.validation is not None and self.distributed.is_main:
                row["val_acc"] = self.validate()
            self.history.seconds += time.perf_counter() - started
            self.history.epochs.append(row)
            self.start_epoch = epoch + 1
            self._save(epoch)
            if self.distributed.is_main:
                self.announce(json.dumps(row | {"seconds": round(self.history.seconds, 1)}))
            if max_steps is not None and done >= max_steps:
                break
        self.distributed.barrier()
        return self.history

    def predict_windows(self, windows: np.ndarray, batch: int = 512) -> np.ndarray:
        """Probabilities for uint8 (N, t, S, S) windows (2D networks see the last frame)."""
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(windows), batch):
                x = windows[start : start + batch].astype(np.float32) / 255.0
                out.append(torch.softmax(self.model(self._scaled(x)), dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.config.labels)), np.float32)

    def predict_still(self, faces: np.ndarray, batch: int = 512) -> np.ndarray:
        """Probabilities for still uint8 crops, each repeated over the window as the evaluator does."""
        return self.predict_windows(np.repeat(faces[:, None], self.config.window, axis=1), batch)

    def validate(self) -> float:
        assert self.validation is not None
        probs = self.predict_still(self.validation.x)
        return float((probs.argmax(1) == self.validation.y).mean())

    def export(self, path: Path, trained_on: str, recipe: str, extra: dict[str, object] | None = None) -> ExpressionModel:
        """Write the ONNX model file, then check it loads and agrees with PyTorch on real windows."""
        self.net.eval()
        metadata: dict[str, object] = {
            "kind": "expression",
            "labels": self.config.labels,
            "window": self.spec.window,
            "input_size": self.config.size,
            "scale": f"{SCALE[0]:g},{SCALE[1]:g}",
            "crop": str(CropRule()),
            "arch": self.spec.name,
            "trained_on": trained_on,
            "source": "trained by confcam (confcam train); architecture after J. R. H. Lee's thesis; MIT",
            "recipe": recipe,
            "epochs": len(self.history.epochs),
            "train_seconds": round(self.history.seconds),
            "params": count_params(self.net),
            **(extra or {}),
        }
        export_onnx(plain_copy(self.net).cpu(), Path(path), metadata)
        model = ExpressionModel(Path(path))
        probe = np.random.default_rng(0).random((4, *model.window_shape), dtype=np.float32)
        with torch.no_grad():
            want = torch.softmax(self.net(self._scaled(probe)), dim=1).cpu().numpy()
        diff = float(np.abs(model.predict(probe) - want).max())
        if diff > 1e-4:
            Path(path).unlink(missing_ok=True)
            raise ConfcamError(f"exported {path} disagrees with PyTorch by {diff:.1e}; file removed")
        return model
