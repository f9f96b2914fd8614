"""`confcam train search` from start to end: check the options, run the trials, show and plot the Pareto
front, retrain the chosen candidates."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from confcam.errors import ConfcamError
from confcam.fileio import check_writable
from confcam.train.data import BALANCING
from confcam.train.nano.candidates import ExportPlan, export_candidates
from confcam.train.nano.search import SearchRequest, console, StudyCounts, pareto_table, plot_pareto, run_search


def check_search(request: SearchRequest, plot: Path | None, plan: ExportPlan | None) -> None:
    """One-line errors for the user's mistakes, before any data is read or trial run."""
    settings = request.settings
    if request.study.suffix != ".db":
        raise ConfcamError(f"--study {request.study}: the study file must end in .db (SQLite)")
    if settings.val == settings.data:
        raise ConfcamError(f"--val {settings.val} is also the --data set; validation must be held out")
    if settings.votes is not None and not Path(settings.votes).is_file():
        raise ConfcamError(f"--votes {settings.votes}: no such file")
    if plot is not None and plot.suffix != ".png":
        raise ConfcamError(f"--plot {plot}: the plot file must end in .png")
    if plot is not None:
        check_writable(plot)
    if plan is not None and plan.out.exists() and not plan.out.is_dir():
        raise ConfcamError(f"--export {plan.out}: not a folder")
    if plan is not None and plan.balance not in BALANCING:
        raise ConfcamError(f"--export-balance {plan.balance!r}: choose one of {', '.join(BALANCING)}")
    if request.trials == 0 and not request.study.is_file():
        raise ConfcamError(f"--study {request.study}: no such study file to report on; give --trials")


def search_command(request: SearchRequest, plot: Path | None, plan: ExportPlan | None) -> None:
    check_search(request, plot, plan)
    study = run_search(request)
    Console().print(pareto_table(study))
    Console().print(StudyCounts.of(study).text(), soft_wrap=True)
    if plot is not None:
        console.print(f"wrote {plot_pareto(study, plot)}")
    if plan is not None:
        export_candidates(study, request, plan)
