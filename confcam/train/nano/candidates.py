"""Pareto candidates of a search made into model files: each retrained fully by `confcam train`'s own
run, its spec JSON beside it and the search recorded in its model-card section."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

from confcam.errors import ConfcamError
from confcam.train.nano.search import SearchRequest, StudyCounts, console, pareto_front
from confcam.train.nano.space import NanoSpec, SearchSpace
from confcam.train.run import TrainRequest, default_checkpoint, run_training, spec_name


@dataclass(frozen=True)
class ExportPlan:
    """Which candidates to retrain (the most accurate under each parameter budget) and how long."""

    out: Path
    budgets: tuple[int, ...] = (250_000, 150_000)
    epochs: int = 30
    cache: Path = Path("~/.cache/confcam/windows")
    balance: str = "sqrt"
    """Class balancing of the full retraining: a short trial ranks fine without it, but a shipped model
    trained without it all but never says disgust or fear (the rare classes)."""


def pick(front: list[FrozenTrial], budget: int, taken: Collection[int] = ()) -> FrozenTrial | None:
    """The most accurate Pareto candidate with at most `budget` parameters that no larger budget took (a
    small candidate may win every budget; each budget should still ship its own model)."""
    fitting = [t for t in front if t.values[1] <= budget and t.number not in taken]
    return max(fitting, key=lambda t: t.values[0]) if fitting else None


def assign(front: list[FrozenTrial], budgets: tuple[int, ...]) -> list[tuple[int, FrozenTrial | None]]:
    """Each budget, largest first, with the candidate it ships (None: no other candidate fits)."""
    chosen: list[tuple[int, FrozenTrial | None]] = []
    for budget in sorted(budgets, reverse=True):
        chosen.append((budget, pick(front, budget, {t.number for _, t in chosen if t is not None})))
    return chosen


def candidate_name(budget: int) -> str:
    return f"emotionnet-nano-{budget // 1000}k" if budget % 1000 == 0 else f"emotionnet-nano-{budget}"


def search_notes(study: optuna.Study, request: SearchRequest, trial: FrozenTrial, budget: int,
                 space: SearchSpace, spec_file: str) -> str:
    """The model card's record of how the architecture was found."""
    settings = request.settings
    accuracy, params, ms = trial.values
    runs = study.user_attrs.get("runs", [])
    asked = sum(run["trials"] for run in runs)
    timeouts = [run["timeout"] for run in runs if run.get("timeout")]
    return (
        f"### How the architecture was found\n\n"
        f"`confcam train search`, study `{study.study_name}` ({request.study.name}), multi-objective optuna "
        f"(TPE; accuracy up, params down, ms/face down): {StudyCounts.of(study).text()}; budget {asked} trials in "
        f"{len(runs)} run(s)" + (f", timeouts {', '.join(f'{t:g} s' for t in timeouts)}" if timeouts else "") + ".\n\n"
        f"**Space**: {space.describe()}.\n\n"
        f"**Each trial**: {settings.budget_text()}; ms/face: onnxruntime, batch 9, 1 thread, median of "
        f"{settings.latency_runs} calls on the search machine.\n\n"
        f"**Constraints**: {settings.constraints_text()}.\n\n"
        f"**Picked**: trial {trial.number}, the most accurate feasible Pareto candidate with at most {budget:,} params "
        f"(in the search: accuracy {accuracy:.4f}, {int(params):,} params, {ms:.3f} ms/face). Spec: `{spec_file}`.\n"
    )


def export_candidates(study: optuna.Study, request: SearchRequest, plan: ExportPlan,
                      space: SearchSpace = SearchSpace()) -> list[Path]:
    """Retrain and export the candidate of every budget; returns the model files written."""
    front = pareto_front(study)
    if not front:
        raise ConfcamError(f"--export: study {study.study_name!r} has no feasible complete trial yet; run more --trials")
    settings = request.settings
    written: list[Path] = []
    for budget, trial in assign(front, plan.budgets):
        name = candidate_name(budget)
        if trial is None:
            console.print(f"--export-under {budget:,}: no other feasible Pareto candidate that small; skipped")
            continue
        spec = NanoSpec.from_dict(trial.user_attrs["spec"]).renamed(name)
        spec_file = spec.save(plan.out / f"{name}.json")
        console.print(f"{name}: trial {trial.number} ({spec.describe()}), {plan.epochs} epochs")
        checkpoint = default_checkpoint(plan.cache.expanduser(), name)  # a rerun resumes it
        written.append(run_training(TrainRequest(
            arch=str(spec_file), data=[settings.data], val=settings.val, epochs=plan.epochs, out=plan.out / f"{name}.onnx",
            size=spec.input_size, window=spec.frames if spec.frames > 1 else 5, batch_size=settings.batch_size,
            lr=settings.lr, schedule="cosine", balance=plan.balance, votes=Path(settings.votes) if settings.votes else None,
            seed=settings.seed, threads=request.threads, cache=plan.cache.expanduser(), checkpoint=checkpoint,
            resume=checkpoint.is_file(),
            card=plan.out / "MODEL_CARD.md",
            card_notes=search_notes(study, request, trial, budget, space, spec_file.name),
        )))
    if not written:
        raise ConfcamError(f"--export: no feasible Pareto candidate under {', '.join(f'{b:,}' for b in plan.budgets)} params")
    console.print(f"wrote {', '.join(str(p) for p in written)} (specs and MODEL_CARD.md beside them; data {spec_name(settings.data)})")
    return written
