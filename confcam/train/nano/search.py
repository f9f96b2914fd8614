"""`confcam train search`: a multi-objective optuna study over the EmotionNet Nano space (accuracy up,
parameters and ms/face down) under constraints, kept in SQLite so it resumes; and its Pareto front."""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import NoReturn

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError
from confcam.train.data import LABELS, StillFaces, SynthesizedWindows, WindowMix, WindowSynthesizer, resize_faces
from confcam.train.nano.space import NanoSpec, SearchSpace
from confcam.train.report import median_ms_per_face, save_figure
from confcam.train.run import load_validation, spec_name, split_spec, votes_for
from confcam.train.trainer import TrainConfig, Trainer

console = Console(stderr=True)
DIRECTIONS = ("maximize", "minimize", "minimize")
"""The objectives, in order: validation accuracy, parameters, ms/face."""
LATENCY_BATCH = 9
"""ms/face is measured on batches of 9 faces: a 3x3 gallery call."""


@dataclass(frozen=True)
class SearchSettings:
    """Everything that makes trials comparable; a study resumes only with the settings it was made with."""

    data: str
    val: str
    votes: str | None = None
    subset: int = 10_000
    val_subset: int = 1000
    epochs: int = 4
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    max_params: int | None = None
    max_ms_per_face: float | None = None
    min_accuracy: float | None = None
    prune_margin: float = 0.05
    """A trial whose first epoch is this far below --min-accuracy stops there (pruned)."""
    latency_runs: int = 30

    def comparable(self) -> dict[str, object]:
        """The settings without this machine's folders, so a committed study resumes anywhere."""
        return asdict(self) | {"data": spec_name(self.data), "val": spec_name(self.val),
                               "votes": Path(self.votes).name if self.votes else None}

    def constraints_text(self) -> str:
        parts = ([f"at most {self.max_params:,} params"] if self.max_params is not None else []) \
            + ([f"at most {self.max_ms_per_face:g} ms/face"] if self.max_ms_per_face is not None else []) \
            + ([f"accuracy at least {self.min_accuracy:g}"] if self.min_accuracy is not None else [])
        return ", ".join(parts) or "none"

    def budget_text(self) -> str:
        return (f"{self.epochs} epoch(s) on {self.subset:,} faces of {spec_name(self.data)}, validated on "
                f"{self.val_subset:,} faces of {spec_name(self.val)}"
                + (f" (crowd votes {Path(self.votes).name})" if self.votes else "")
                + f", Adam lr {self.lr:g} cosine, batch {self.batch_size}, seed {self.seed}")


@dataclass(frozen=True)
class SearchRequest:
    study: Path
    settings: SearchSettings
    trials: int = 20
    timeout: float | None = None
    name: str = "emotionnet-nano"
    threads: int = 1


class FaceSubsets:
    """The fixed training and validation faces every trial sees (chosen once by the seed), at 48 or 64 px."""

    def __init__(self, settings: SearchSettings) -> None:
        votes = Path(settings.votes) if settings.votes else None
        path, split = split_spec(settings.data)
        train = StillFaces.load(path, split, votes=votes_for(votes, split))
        validation = load_validation(settings.val, None, votes)
        self.train = _fixed_subset(train, settings.subset, settings.seed, "--subset", settings.data)
        self.validation = _fixed_subset(validation, settings.val_subset, settings.seed + 1, "--val-subset", settings.val)
        self._sized: dict[int, tuple[StillFaces, StillFaces]] = {}

    def at(self, size: int) -> tuple[StillFaces, StillFaces]:
        """(training, validation) faces at size x size."""
        if size not in self._sized:
            train, validation = (replace(faces, x=resize_faces(faces.x, size)) for faces in (self.train, self.validation))
            self._sized[size] = (train, validation)
        return self._sized[size]


def _fixed_subset(faces: StillFaces, count: int, seed: int, flag: str, spec: str) -> StillFaces:
    if count > len(faces):
        raise ConfcamError(f"{flag} {count}: {spec} has {len(faces)} faces")
    picked = np.sort(np.random.default_rng(seed).choice(len(faces), count, replace=False))
    return faces.subset(picked)


class CandidateTrial:
    """The objective: draw a spec, train it briefly on the fixed subset, measure its ms/face, record the
    constraints. A candidate over --max-params is turned away untrained, one far below --min-accuracy
    after its first epoch is stopped there; both count as pruned."""

    def __init__(self, settings: SearchSettings, faces: FaceSubsets, space: SearchSpace, threads: int) -> None:
        self.settings = settings
        self.faces = faces
        self.space = space
        self.threads = threads

    def __call__(self, trial: optuna.Trial) -> tuple[float, float, float]:
        try:
            return self._run(trial)
        except ConfcamError as error:
            trial.set_user_attr("failed", str(error))
            raise

    def _run(self, trial: optuna.Trial) -> tuple[float, float, float]:
        started = time.perf_counter()
        spec = self.space.sample(trial, f"nano-trial-{trial.number}")
        params = spec.params(len(LABELS))
        trial.set_user_attr("spec", spec.to_dict())
        trial.set_user_attr("params", params)
        limits = self.settings
        if limits.max_params is not None:
            trial.set_constraint("params", params - limits.max_params)
            if params > limits.max_params:
                self._prune(trial, f"{params:,} params, over --max-params")
        with tempfile.TemporaryDirectory(prefix="confcam-nano-") as folder:
            trainer = self._trainer(spec, Path(folder))
            self._first_epoch(trainer, trial)
            trainer.train()
            accuracy = float(trainer.history.epochs[-1]["val_acc"])
            exported = trainer.export(Path(folder) / "candidate.onnx", "search subset", "search trial")
            ms = self._ms_per_face(exported.info.path)
        if limits.max_ms_per_face is not None:
            trial.set_constraint("ms_per_face", ms - limits.max_ms_per_face)
        if limits.min_accuracy is not None:
            trial.set_constraint("accuracy", limits.min_accuracy - accuracy)
        trial.set_user_attr("seconds", round(time.perf_counter() - started, 1))
        return accuracy, float(params), ms

    def _trainer(self, spec: NanoSpec, folder: Path) -> Trainer:
        train, validation = self.faces.at(spec.input_size)
        s = self.settings
        config = TrainConfig(arch=str(spec.save(folder / f"{spec.name}.json")), epochs=s.epochs, window=spec.frames,
                             size=spec.input_size, batch_size=s.batch_size, lr=s.lr, seed=s.seed, threads=self.threads,
                             schedule="cosine")
        data = WindowMix([SynthesizedWindows(train, WindowSynthesizer(spec.frames))])
        return Trainer(config, data, validation, None, announce=lambda _: None)

    def _first_epoch(self, trainer: Trainer, trial: optuna.Trial) -> None:
        trainer.train(until=1)
        accuracy = float(trainer.history.epochs[-1]["val_acc"])
        floor = self.settings.min_accuracy
        if floor is not None and trainer.config.epochs > 1 and accuracy < floor - self.settings.prune_margin:
            trial.set_constraint("accuracy", floor - accuracy)
            self._prune(trial, f"first epoch {accuracy:.3f}, below --min-accuracy {floor:g} - {self.settings.prune_margin:g}")

    def _prune(self, trial: optuna.Trial, why: str) -> NoReturn:
        trial.set_user_attr("pruned", why)
        raise optuna.TrialPruned(why)

    def _ms_per_face(self, path: Path) -> float:
        model = ExpressionModel(path, threads=1)
        windows = np.random.default_rng(0).random((LATENCY_BATCH, *model.window_shape), dtype=np.float32)
        return median_ms_per_face(model, windows, self.settings.latency_runs)


def open_study(request: SearchRequest, space: SearchSpace = SearchSpace()) -> optuna.Study:
    """The study in request.study: created, or loaded when it exists (then its settings and space must match)."""
    request.study.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{request.study.resolve()}"
    study = optuna.create_study(storage=storage, study_name=request.name, directions=list(DIRECTIONS),
                                load_if_exists=True)
    wanted = request.settings.comparable() | {"space": space.describe()}
    stored = study.user_attrs.get("settings")
    if stored is None:
        study.set_user_attr("settings", wanted)
    elif stored != wanted:
        changed = ", ".join(k for k in wanted if stored.get(k) != wanted[k])
        raise ConfcamError(f"--study {request.study}: study {request.name!r} was made with other settings ({changed}); "
                           f"resume with the same ones or start a new study file")
    study.sampler = optuna.samplers.TPESampler(seed=request.settings.seed + len(study.trials))
    if not study.trials:
        study.enqueue_trial(space.choices_of(space.prototype()), user_attrs={"prototype": True})
    return study


def run_search(request: SearchRequest, space: SearchSpace = SearchSpace()) -> optuna.Study:
    """Run request.trials more trials (or until request.timeout) of the study, with a progress bar."""
    if request.trials == 0:
        return open_study(request, space)
    faces = FaceSubsets(request.settings)  # a mistake in the data is reported before the study file is made
    study = open_study(request, space)
    study.set_user_attr("runs", [*study.user_attrs.get("runs", []), {"trials": request.trials, "timeout": request.timeout}])
    objective = CandidateTrial(request.settings, faces, space, request.threads)
    console.print(f"study {request.name!r} in {request.study}: {len(study.trials)} trials so far; "
                  f"{request.trials} more" + (f" or {request.timeout:g} s" if request.timeout else "")
                  + f"; each {request.settings.budget_text()}; constraints: {request.settings.constraints_text()}")
    with Progress(TextColumn("[bold]search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("search", total=request.trials)

        def finished(_: optuna.Study, trial: FrozenTrial) -> None:
            progress.update(task, advance=1)
            progress.console.print(trial_line(trial))

        # A candidate that cannot be exported (ConfcamError) fails alone; the study goes on.
        study.optimize(objective, n_trials=request.trials, timeout=request.timeout, callbacks=[finished],
                       catch=(ConfcamError,))
    return study


def feasible(trial: FrozenTrial) -> bool:
    return all(value <= 0 for value in trial.constraints.values())


def trial_line(trial: FrozenTrial) -> str:
    """One line about a finished trial."""
    if trial.state == TrialState.PRUNED:
        return f"trial {trial.number}: pruned ({trial.user_attrs.get('pruned', 'stopped early')})"
    if trial.state != TrialState.COMPLETE:
        return f"trial {trial.number}: {trial.state.name.lower()} ({trial.user_attrs.get('failed', 'stopped')})"
    accuracy, params, ms = trial.values
    verdict = "feasible" if feasible(trial) else "infeasible: " + ", ".join(k for k, v in trial.constraints.items() if v > 0)
    return f"trial {trial.number}: accuracy {accuracy:.4f}, {int(params):,} params, {ms:.3f} ms/face ({verdict})"


@dataclass(frozen=True)
class StudyCounts:
    complete: int
    infeasible: int
    pruned: int
    failed: int
    seconds: float

    @staticmethod
    def of(study: optuna.Study) -> StudyCounts:
        trials = study.trials
        seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials
                      if t.datetime_complete and t.datetime_start)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        return StudyCounts(len(complete), sum(not feasible(t) for t in complete),
                           sum(t.state == TrialState.PRUNED for t in trials),
                           sum(t.state == TrialState.FAIL for t in trials), seconds)

    def text(self) -> str:
        total = self.complete + self.pruned + self.failed
        return (f"{total} trials: {self.complete} complete ({self.infeasible} infeasible), {self.pruned} pruned, "
                f"{self.failed} failed; {self.seconds / 60:.1f} min of trial wall time")


def pareto_front(study: optuna.Study) -> list[FrozenTrial]:
    """The feasible complete trials no other feasible one beats on all three objectives, most accurate first."""
    front = [t for t in study.best_trials if feasible(t)]
    return sorted(front, key=lambda t: (-t.values[0], t.values[1]))


def pareto_table(study: optuna.Study) -> Table:
    table = Table(title=f"Pareto front of study {study.study_name!r} (feasible trials only)")
    for column in ("trial", "accuracy", "params", "ms/face", "design"):
        table.add_column(column, justify="right" if column != "design" else "left")
    for trial in pareto_front(study):
        accuracy, params, ms = trial.values
        spec = NanoSpec.from_dict(trial.user_attrs["spec"])
        table.add_row(str(trial.number), f"{accuracy:.4f}", f"{int(params):,}", f"{ms:.3f}", spec.describe())
    return table


def plot_pareto(study: optuna.Study, path: Path) -> Path:
    """Accuracy against parameters, coloured by ms/face; the Pareto front ringed and numbered; infeasible
    trials as grey crosses. Written whole or not at all."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    front = pareto_front(study)
    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=100)
    shown = [t for t in complete if feasible(t)]
    if shown:
        dots = ax.scatter([t.values[1] for t in shown], [t.values[0] for t in shown], c=[t.values[2] for t in shown],
                          cmap="viridis", s=28)
        fig.colorbar(dots, ax=ax, label="ms/face (batch 9, 1 thread)")
    rejected = [t for t in complete if not feasible(t)]
    ax.scatter([t.values[1] for t in rejected], [t.values[0] for t in rejected], marker="x", color="0.6",
               label="infeasible")
    ax.scatter([t.values[1] for t in front], [t.values[0] for t in front], s=90, facecolors="none", edgecolors="red",
               label="Pareto front")
    for trial in front:
        ax.annotate(str(trial.number), (trial.values[1], trial.values[0]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("parameters (Keras count)")
    ax.set_ylabel("validation accuracy (search subset)")
    ax.set_title(f"{study.study_name}: {StudyCounts.of(study).text()}", fontsize=8)
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)
