"""`confcam train`: turn the command's options into window sets, a Trainer, a model file and its card."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from confcam.classify.model import ExpressionModel
from confcam.classify.registry import ModelRegistry
from confcam.errors import ConfcamError
from confcam.fileio import check_writable
from confcam.classify.votes import VOTE_MODES
from confcam.train.data import BALANCING, CachedWindows, StillFaces, SynthesizedWindows, WindowMix, WindowSet, WindowSynthesizer
from confcam.train.distill import DISTILL_WEIGHT, Teacher, TeacherCache
from confcam.train.distributed import Distributed
from confcam.train.nets import INFLATIONS, count_params
from confcam.train.report import ModelCard, latency_ms_per_face
from confcam.train.trainer import SCHEDULES, THESIS_CLASSES, TrainConfig, Trainer, arch_spec, architectures, check_tuning

console = Console(stderr=True)


@dataclass(frozen=True)
class TrainRequest:
    arch: str
    data: list[str]
    epochs: int
    out: Path
    val: str | None = None
    size: int = 48
    window: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    balance: str = "none"
    epoch_limit: int | None = None
    init: Path | None = None
    teacher: str = "minixception-2d"
    cache: Path = Path("~/.cache/confcam/windows")
    checkpoint: Path | None = None
    resume: bool = False
    seed: int = 0
    threads: int = 1
    card: Path | None = None
    trained_on: str | None = None
    max_steps: int | None = None
    tune: str = "all"
    votes: Path | None = None
    """Crowd votes (e.g. FER+) for the --data / --val splits they cover: train on them, validate on their majority."""
    vote_mode: str = "crossentropy"
    label_weight: float = 0.0
    """With --votes: the set's own label joins the crowd with this weight (0: votes alone)."""
    schedule: str = "thesis"
    inflate: str = "mean"
    device: str = "cpu"
    distill: tuple[str, ...] = ()
    """Teacher models (names or .onnx paths): their mirrored mean probabilities join the still sets' targets."""
    distill_weight: float | None = None
    """The teacher's share of the targets (None: DISTILL_WEIGHT when distill is given)."""
    onset_weight: float = 1.0
    """Video windows on a changing face are drawn this many times as often (CachedWindows.onset_weight)."""
    card_notes: str = ""
    """Markdown the card section ends with (e.g. how `confcam train search` found the architecture)."""

    @property
    def teacher_weight(self) -> float:
        if not self.distill:
            return 0.0
        return DISTILL_WEIGHT if self.distill_weight is None else self.distill_weight


def split_spec(spec: str) -> tuple[Path, str | None]:
    """'file.npz:split' -> (file.npz, split); a plain path -> (path, None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and head.endswith(".npz") and tail and "/" not in tail:
        return Path(head).expanduser(), tail
    return Path(spec).expanduser(), None


def spec_name(spec: str) -> str:
    """A --data/--val spec without its folders, for metadata that must not carry one machine's paths."""
    path, split = split_spec(spec)
    return f"{path.name}:{split}" if split else path.name


def load_window_set(spec: str, request: TrainRequest, synthesizer: WindowSynthesizer,
                    teacher: TeacherCache | None = None) -> WindowSet:
    """One --data entry as a window set (see DATA_HELP); with a teacher, still faces are distilled."""
    path, split = split_spec(spec)
    if teacher is not None and (path.is_dir() or (split is None and path.is_file() and _is_window_npz(path))):
        console.print(f"--distill: {spec} keeps its own targets (the teacher reads still faces only)")
    if path.is_dir():
        from confcam.train.video import VideoWindowBuilder, WindowCache

        teachers = [ExpressionModel(info.path) for info in ModelRegistry().resolve_all(request.teacher, "expression")]
        builder = VideoWindowBuilder(teachers, window=request.window, size=request.size)
        console.print(f"labelling video windows of {path} with {builder.labeller.name} (cache: {request.cache})")
        windows = WindowCache(request.cache, builder).load_folder(path, announce=console.print)
        windows.synthesizer = synthesizer
        return _weigh_onsets(windows, spec, request.onset_weight)
    if not path.is_file():
        raise ConfcamError(f"--data {spec}: no such file or folder")
    if split is None:
        if _is_window_npz(path):
            windows = CachedWindows.load(path)
            if windows.x.shape[1:] != (request.window, request.size, request.size):
                raise ConfcamError(f"--data {spec}: windows are {windows.x.shape[1:]}, not "
                                   f"({request.window}, {request.size}, {request.size})")
            windows.synthesizer = synthesizer
            return _weigh_onsets(windows, spec, request.onset_weight)
    votes = votes_for(request.votes, split)
    faces = StillFaces.load(path, split, size=request.size, votes=votes, vote_mode=request.vote_mode,
                            label_weight=request.label_weight)
    if teacher is not None:
        faces = teacher.distil(faces, request.teacher_weight)
    return SynthesizedWindows(faces, synthesizer, request.balance, draw_labels=votes is not None and request.vote_mode == "probability")


def _weigh_onsets(windows: CachedWindows, spec: str, weight: float) -> CachedWindows:
    if weight == 1.0:
        return windows
    if windows.changing is None:
        raise ConfcamError(f"--onset-weight: {spec} does not say which windows are on a changing face "
                           "(a window npz needs track_ids and last_frames, as confcam's video cache writes)")
    windows.onset_weight = weight
    console.print(f"{spec}: {int(windows.changing.sum())} of {len(windows)} windows on a changing face, "
                  f"drawn {weight:g} times as often")
    return windows


def _is_window_npz(path: Path) -> bool:
    with np.load(path, allow_pickle=False) as data:
        return "targets" in data.files


def votes_for(votes: Path | None, split: str | None) -> Path | None:
    """The votes file when it covers this split (has votes_SPLIT), else None: that set trains on its labels."""
    if votes is None or split is None:
        return None
    with np.load(votes, allow_pickle=False) as data:
        return votes if f"votes_{split}" in data.files else None


def load_validation(spec: str, size: int | None, votes: Path | None) -> StillFaces:
    """Validation faces: labelled by the crowd majority where the votes cover the split, else by their labels."""
    path, split = split_spec(spec)
    return StillFaces.load(path, split, size=size, votes=votes_for(votes, split), vote_mode="majority")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f} acc {task.fields[acc]:.3f} val {task.fields[val]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def run_training(request: TrainRequest) -> Path:
    """Train, export request.out (whole or not at all), write its card section; returns the path."""
    if request.balance not in BALANCING:
        raise ConfcamError(f"--balance {request.balance!r}: choose one of {', '.join(BALANCING)}")
    arch_spec(request.arch, request.window).check_input(request.size, request.window)
    if request.out.suffix != ".onnx":
        raise ConfcamError(f"--out {request.out}: the model file must end in .onnx")
    check_writable(request.out)
    check_tuning(request.arch, request.window, request.tune)
    if request.tune == "temporal" and request.init is None:
        raise ConfcamError("--tune temporal keeps a trained 2D model's answer on still faces; give that model with --init")
    if request.val and request.val in request.data:
        raise ConfcamError(f"--val {request.val} is also a --data set; validation must be held out")
    if request.vote_mode not in VOTE_MODES:
        raise ConfcamError(f"--vote-mode {request.vote_mode!r}: choose one of {', '.join(VOTE_MODES)}")
    if request.schedule not in SCHEDULES:
        raise ConfcamError(f"--schedule {request.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    if request.inflate not in INFLATIONS:
        raise ConfcamError(f"--inflate {request.inflate!r}: choose one of {', '.join(INFLATIONS)}")
    if request.label_weight < 0:
        raise ConfcamError(f"--label-weight {request.label_weight:g}: must be 0 or more")
    if request.onset_weight < 1:
        raise ConfcamError(f"--onset-weight {request.onset_weight:g}: must be 1 or more")
    if request.votes is not None and not request.votes.is_file():
        raise ConfcamError(f"--votes {request.votes}: no such file")
    if request.distill_weight is not None and not request.distill:
        raise ConfcamError("--distill-weight needs a teacher: give it with --distill MODEL.onnx")
    if not 0.0 <= request.teacher_weight <= 1.0:
        raise ConfcamError(f"--distill-weight {request.teacher_weight:g}: must be between 0 and 1")
    teacher = Teacher(request.distill, threads=1) if request.distill else None
    distributed = Distributed.start(request.device)
    distributed.check_batch(request.batch_size)
    console.quiet = not distributed.is_main
    try:
        return _train(request, distributed, teacher)
    finally:
        distributed.close()


def _train(request: TrainRequest, distributed: Distributed, teacher: Teacher | None = None) -> Path:
    synthesizer = WindowSynthesizer(request.window)
    teacher_cache = TeacherCache(request.cache, teacher, console) if teacher else None
    if not distributed.is_main:
        distributed.barrier()  # the main process builds any video-window and teacher cache first
    sets = [load_window_set(spec, request, synthesizer, teacher_cache) for spec in request.data]
    if request.onset_weight != 1.0 and not any(isinstance(s, CachedWindows) for s in sets):
        raise ConfcamError("--onset-weight weighs video windows; no --data set is a folder of videos or a window npz")
    if distributed.is_main:
        distributed.barrier()
    validation = load_validation(request.val, request.size, request.votes) if request.val else None
    config = TrainConfig(
        arch=request.arch, epochs=request.epochs, window=request.window, size=request.size,
        batch_size=request.batch_size, lr=request.lr, seed=request.seed, threads=request.threads,
        epoch_limit=request.epoch_limit, init=str(request.init) if request.init else None, tune=request.tune,
        schedule=request.schedule, inflate=request.inflate,
        distill=teacher.fingerprint if teacher else (), distill_weight=request.teacher_weight,
    )
    checkpoint = request.checkpoint or default_checkpoint(request.cache, request.out.stem)
    mix = WindowMix(sets, request.epoch_limit)
    trainer = Trainer(config, mix, validation, checkpoint, announce=console.print, distributed=distributed)
    if request.resume:
        trainer.resume()
    trainer.about = {"recipe": recipe_text(request), "trained_on": request.trained_on or "; ".join(s.name for s in sets),
                     "validation": validation_name(request.val, request.votes) if request.val else "",
                     "command": reproduce_command(request)}
    console.print(f"checkpoint after every epoch: {checkpoint}")
    for window_set in sets:
        console.print(f"data: {window_set.name}: {len(window_set)} windows")
    console.print(f"{request.arch}: {count_params(trainer.net):,} params, {trainer.steps_per_epoch()} steps x "
                  f"{request.epochs} epochs, {request.threads} thread(s), from epoch {trainer.start_epoch + 1}"
                  + (f", {distributed.world} processes on {distributed.device.type} (global batch {request.batch_size})"
                     if distributed.world > 1 else f", on {distributed.device.type}"))
    started = time.perf_counter()
    steps = trainer.steps_per_epoch()
    with _progress() as progress:
        task = progress.add_task("train", total=steps * (request.epochs - trainer.start_epoch), epoch=trainer.start_epoch + 1,
                                 loss=0.0, acc=0.0, val="-")

        def advance(epoch: int, step: int, stats: dict[str, float]) -> None:
            last = trainer.history.epochs[-1].get("val_acc") if trainer.history.epochs else None
            progress.update(task, advance=1, epoch=f"{epoch + 1}/{request.epochs}", loss=stats["loss"],
                            acc=stats["acc"], val=f"{last:.3f}" if last is not None else "-")

        trainer.train(advance, max_steps=request.max_steps)
    if not distributed.is_main:
        return request.out
    model = trainer.export(request.out, trainer.about["trained_on"], trainer.about["recipe"],
                           extra_metadata(trainer, trainer.about["validation"]))
    console.print(f"wrote {request.out} ({time.perf_counter() - started:.0f} s)")
    if request.card:
        write_card(request.card, model, trainer, request.card_notes)
    return request.out


def default_checkpoint(cache: Path, stem: str) -> Path:
    """Where a run writing STEM.onnx checkpoints each epoch when not told: beside the window cache."""
    return cache.parent / "checkpoints" / f"{stem}.ckpt"


def recipe_text(request: TrainRequest) -> str:
    schedule = (f"cosine to 0 over {request.epochs} epochs" if request.schedule == "cosine"
                else f"thesis step decay scaled to {request.epochs} epochs")
    votes = (f", targets from the crowd votes in {request.votes.name} ({request.vote_mode}"
             + (f", the set's own label weighted {request.label_weight:g}" if request.label_weight else "") + ")"
             if request.votes else "")
    return (f"Adam lr {request.lr:g}, {schedule}, batch {request.batch_size}{votes}, "
            f"soft-target cross-entropy, augmentation: rotation/shift/zoom/flip + webcam drift, seed {request.seed}, "
            f"{request.threads} torch thread(s)" + (f", init {Path(request.init).name}" if request.init else "")
            + (f" (first conv inflated: {request.inflate})" if request.init and arch_spec(request.arch, request.window).window > 1
               else "")
            + (f", {request.epoch_limit} windows/epoch" if request.epoch_limit else "") + f", balance {request.balance}"
            + (f", video windows on a changing face drawn {request.onset_weight:g} times as often"
               if request.onset_weight != 1.0 else "")
            + (f", distilled: targets {1 - request.teacher_weight:g} x own + {request.teacher_weight:g} x the mean of "
               f"{', '.join(Path(str(d)).stem for d in request.distill)} (each averaged with its mirror image)"
               if request.distill else "")
            + (", only the first conv's frame weighting trained (its sum over frames held at the 2D kernel, BatchNorm "
               "statistics frozen)" if request.tune == "temporal" else ""))


def reproduce_command(r: TrainRequest) -> str:
    parts = ["confcam train", f"--arch {r.arch}", *(f"--data {d}" for d in r.data), f"--epochs {r.epochs}",
             f"--out {r.out}", f"--size {r.size}", f"--window {r.window}", f"--batch-size {r.batch_size}",
             f"--lr {r.lr:g}", f"--balance {r.balance}", f"--seed {r.seed}", f"--threads {r.threads}"]
    parts += [f"--val {r.val}"] if r.val else []
    parts += [f"--epoch-limit {r.epoch_limit}"] if r.epoch_limit else []
    parts += [f"--init {r.init}"] if r.init else []
    parts += [f"--teacher {r.teacher}"] if r.teacher != TrainRequest.teacher else []
    parts += [f"--tune {r.tune}"] if r.tune != "all" else []
    parts += [f"--votes {r.votes}", f"--vote-mode {r.vote_mode}"] if r.votes else []
    parts += [f"--label-weight {r.label_weight:g}"] if r.votes and r.label_weight else []
    parts += [f"--schedule {r.schedule}"] if r.schedule != "thesis" else []
    parts += [f"--inflate {r.inflate}"] if r.inflate != "mean" else []
    parts += [f"--distill {d}" for d in r.distill]
    parts += [f"--distill-weight {r.teacher_weight:g}"] if r.distill else []
    parts += [f"--onset-weight {r.onset_weight:g}"] if r.onset_weight != 1.0 else []
    return " ".join(parts)


def validation_name(spec: str, votes: Path | None) -> str:
    """The validation set as the model file and card name it: file and split, and whose labels were used."""
    covered = votes_for(votes, split_spec(spec)[1])
    return spec_name(spec) + (f", crowd majority of {covered.name}" if covered else "")


def extra_metadata(trainer: Trainer, validation: str | None) -> dict[str, object]:
    """validation: the set's validation_name."""
    val_acc = trainer.history.epochs[-1].get("val_acc") if trainer.history.epochs else None
    return {"validation": f"{validation}: accuracy {val_acc:.4f}"} if validation and val_acc is not None else {}


def write_card(path: Path, model: ExpressionModel, trainer: Trainer, notes: str = "") -> None:
    about = trainer.about
    val_acc = trainer.history.epochs[-1].get("val_acc") if trainer.history.epochs else None
    card = ModelCard(model, trainer, about.get("recipe", ""), about.get("trained_on", ""), about.get("validation") or None,
                     val_acc, latency_ms_per_face(model.info.path), about.get("command", "(not recorded)"), notes)
    card.write(path)
    console.print(f"wrote the model-card section to {path}")


def export_checkpoint(checkpoint: Path, out: Path, val: str | None, card: Path | None, trained_on: str | None,
                      votes: Path | None = None) -> Path:
    """`confcam train export`: a model file from a checkpoint (e.g. of a run stopped early)."""
    if out.suffix != ".onnx":
        raise ConfcamError(f"--out {out}: the model file must end in .onnx")
    check_writable(out)
    trainer = Trainer.from_checkpoint(checkpoint, announce=console.print)
    if trained_on:
        trainer.about["trained_on"] = trained_on
    if not trainer.about.get("trained_on"):
        raise ConfcamError(f"{checkpoint} does not say what it was trained on; give --trained-on")
    if val:
        trainer.validation = load_validation(val, trainer.config.size, votes)
        trainer.history.epochs[-1]["val_acc"] = trainer.validate()
        trainer.about["validation"] = validation_name(val, votes)
    done = len(trainer.history.epochs)
    recipe = trainer.about.get("recipe") or f"{trainer.config}"
    if done < trainer.config.epochs:
        recipe += f"; stopped after epoch {done} of {trainer.config.epochs}"
    trainer.about["recipe"] = recipe
    model = trainer.export(out, trainer.about["trained_on"], recipe, extra_metadata(trainer, trainer.about.get("validation")))
    console.print(f"wrote {out} from epoch {done} of {checkpoint}")
    if card:
        write_card(card, model, trainer)
    return out


def print_nets(size: int, window: int) -> None:
    table = Table(title=f"confcam train networks ({size}x{size}, t={window}, the thesis' {THESIS_CLASSES} classes); "
                        "params counted as Keras does")
    for column in ("arch", "t", "params", "thesis", "difference"):
        table.add_column(column)
    for spec in architectures(window).values():
        net = spec.build(THESIS_CLASSES)
        with torch.no_grad():
            net.eval()
            x = torch.zeros(1, window if spec.window > 1 else 1, size, size)
            logits = net(x)
        assert logits.shape == (1, THESIS_CLASSES)
        params = count_params(net)
        thesis = f"{spec.thesis_params:,}" if spec.thesis_params else "-"
        note = spec.note if spec.thesis_params is None or window == 5 else f"t={window}: first layer differs from the thesis' t=5"
        if spec.thesis_params and window == 5 and params != spec.thesis_params:
            note = f"{params - spec.thesis_params:+,}: {spec.note}"
        table.add_row(spec.name, str(spec.window), f"{params:,}", thesis, note)
    Console().print(table)
