"""The confcam command line: thin commands that fill in typed configs and hand them to confcam.app."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, cast

import typer

from confcam import app as actions
from confcam.config import (
    PipelineConfig,
    PracticeOptions,
    SinkConfig,
    SourceConfig,
    WebConfig,
    parse_steadiness,
)
from confcam.cli_options import with_stage_options
from confcam.config_file import pipeline_config, reference_markdown
from confcam.errors import ConfcamError
from confcam.render import style_registry
from confcam.sinks import sink_registry
from confcam.sources import source_registry
from confcam.signals import StopSignals
from confcam.train.commands import register as register_training_commands

CUT_SHORT = 130
"""What Typer returns for a command that a KeyboardInterrupt (Ctrl+C, or StopSignals' SIGTERM/SIGHUP) cut short."""

cli = typer.Typer(
    name="confcam",
    help="Real-time facial-expression companion for video calls: every face tracked and labelled.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
models_cli = typer.Typer(help="List and inspect the bundled expression and detector models.", no_args_is_help=True)
cli.add_typer(models_cli, name="models")

MODEL_HELP = "Expression model: a name from `confcam models list` or a path to an .onnx file (default: the bundled default)."
DETECTOR_HELP = (
    "Face detector: a name from `confcam models list`, a path, or NEAR+FAR (default blazeface-short+blazeface-full: "
    "whole frame plus close looks at small faces). blazeface-short alone is fastest for one close-up face."
)
STEADINESS_HELP = (
    "How steady the shown label is: calm (1.2), balanced (0.6, default) or quick (0.3), or a number of seconds: "
    "how long a new label must lead (a clear change shows sooner than a faint one). Example: --steadiness calm"
)
STYLE_HELP = "How to mark faces: emoji above the head (default), text label + confidence, coloured ring, or all."
STYLES = "<" + "|".join(style_registry().names()) + ">"
"""--style NAME: confcam's styles and any plugin's (confcam.annotators entry points), checked by PipelineConfig."""
CONFIG_HELP = (
    "TOML file with stage options ([pipeline], [pipeline.tracker], [pipeline.smoother], [pipeline.focus], "
    "[pipeline.grid]; see docs/configuration.md); flags given here win over it."
)
SINK_HELP = (
    "Where results go (repeatable): " + ", ".join(sink_registry().names())
    + " (see `confcam plugins`). Default: virtual camera if usable, else the side panel."
)
TOKEN_HELP = (
    "Secret the page (and any client) must send as Authorization: Bearer TOKEN; at least 16 URL-safe "
    "characters. Default: a fresh random one per run, printed in the page URL (#token=...)."
)


@cli.command(epilog="Example: confcam demo --output my-demo.mp4")
def demo(
    output: Path = typer.Option(Path("confcam-demo.mp4"), "--output", "-o", help="Annotated video to write."),
    model: Optional[str] = typer.Option(None, help=MODEL_HELP),
    style: Optional[str] = typer.Option(None, help=STYLE_HELP, metavar=STYLES),
    show: Optional[bool] = typer.Option(None, "--show/--no-show", help="Open a window (default: when a display exists)."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Run the bundled sample clip through the whole pipeline and write an annotated video."""
    actions.demo(output=output, pipeline=_pipeline(config, model=model, style=style), show=show)


@cli.command(
    epilog=(
        "Examples:\n\n"
        "  confcam start --source screen --monitor 1\n\n"
        '  confcam start --source window --window-title "Zoom Meeting" --sink virtualcam\n\n'
        "  confcam start --source file --input call.mp4 --sink file --output out.mp4 --sink events --events out.jsonl"
    )
)
@with_stage_options(sink_registry(), "sink", SINK_HELP, into="sink_options")
@with_stage_options(source_registry(), "source", "Where the faces come from.", into="source_options",
                    default=SourceConfig.kind)
def start(
    port: int = typer.Option(WebConfig.port, min=0, max=65535, help="WebRTC source: port of the page that sends the stream."),
    token: Optional[str] = typer.Option(None, help="WebRTC source: " + TOKEN_HELP),
    max_sessions: int = typer.Option(
        WebConfig.max_sessions, help="WebRTC source: peers connecting at once (the newest connected one sends)."
    ),
    max_frames: Optional[int] = typer.Option(None, min=1, help="Stop after this many frames."),
    model: Optional[str] = typer.Option(None, help=MODEL_HELP),
    detector: Optional[str] = typer.Option(None, help=DETECTOR_HELP),
    style: Optional[str] = typer.Option(None, help=STYLE_HELP, metavar=STYLES),
    steadiness: Optional[str] = typer.Option(None, help=STEADINESS_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
    source: str = SourceConfig.kind,
    source_options: Optional[dict[str, Any]] = None,
    sink: Sequence[str] = (),
    sink_options: Optional[dict[str, Any]] = None,
) -> None:
    """Label every face live and send the result to a virtual camera, the side panel, a window or a file.

    Then select the "confcam" camera in Zoom, Meet, Teams or OBS.
    """
    source_config = SourceConfig(
        kind=source,
        options=source_options or {},
        web=_with_token(WebConfig(port=port, max_sessions=max_sessions), token),
    )
    sink_config = SinkConfig(kinds=tuple(sink), options=sink_options or {})
    pipeline = _pipeline(config, model=model, detector=detector, style=style, steadiness=steadiness)
    actions.start(source_config, sink_config, pipeline, max_frames=max_frames)


@cli.command(
    epilog=(
        "Examples:\n\n"
        "  confcam practice                                   (the bundled sample clip)\n\n"
        "  confcam practice --source file --input call.mp4 --save-progress ~/confcam-progress.json\n\n"
        '  confcam practice --source window --window-title "Zoom Meeting"\n\n'
        "Keys: 1-8 answer, Space or Enter go on, q or Esc stop. In a browser: confcam web, then the Practice switch."
    )
)
@with_stage_options(source_registry(), "source", "Where the faces come from (default: the bundled sample clip).",
                    into="source_options", default=PracticeOptions.source)
def practice(
    save_progress: Optional[Path] = typer.Option(
        None, help="Keep the per-expression score in this JSON file, added to what earlier sessions saved there "
        "(default: the score is only printed)."
    ),
    max_frames: Optional[int] = typer.Option(None, min=1, help="Stop after this many frames."),
    model: Optional[str] = typer.Option(None, help=MODEL_HELP),
    detector: Optional[str] = typer.Option(None, help=DETECTOR_HELP),
    steadiness: Optional[str] = typer.Option(None, help=STEADINESS_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
    source: str = PracticeOptions.source,
    source_options: Optional[dict[str, Any]] = None,
) -> None:
    """Learn to read faces: labels hidden, confcam pauses on a clear face and asks what it shows (keys 1-8),
    then shows its own reading with a cue to look for, and a score per expression at the end."""
    source_config = SourceConfig(kind=source, options=source_options or {})
    pipeline = _pipeline(config, model=model, detector=detector, steadiness=steadiness)
    actions.practice(source_config, PracticeOptions(source=source, save_progress=save_progress), pipeline, max_frames)


@cli.command(epilog="Examples:\n\n  confcam analyze interview.mp4 --json interview.json\n\n  confcam analyze interview.mp4 --output labelled.mp4 --plot timeline.png")
def analyze(
    path: Path = typer.Argument(..., help="A video or a photo (a photo counts as a still clip)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the per-person timeline here."),
    model: Optional[str] = typer.Option(None, help=MODEL_HELP),
    detector: Optional[str] = typer.Option(None, help=DETECTOR_HELP),
    max_frames: Optional[int] = typer.Option(None, min=1, help="Analyse only the first N frames."),
    steadiness: Optional[str] = typer.Option(None, help=STEADINESS_HELP),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the labelled video here (every "
                                          "frame, the recording's sound kept): .mp4, .mov or .mkv."),
    style: Optional[str] = typer.Option(None, help=STYLE_HELP, metavar=STYLES),
    plot: Optional[Path] = typer.Option(None, help="Also draw each person's expression over time into this PNG."),
    live_labels: bool = typer.Option(False, "--live-labels", help="Label each frame as a live session would, "
                                     "from what came before it only (default: with hindsight, from the 2 s "
                                     "after it too, so a change is labelled where it starts and the last "
                                     "frames are not behind). A smoother plugin set in --config always "
                                     "labels live."),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Analyse a recording offline, as fast as the machine allows: per-person timeline and summary."""
    pipeline = _pipeline(config, model=model, detector=detector, style=style, steadiness=steadiness)
    actions.analyze(path, json_out=json_out, pipeline=pipeline, max_frames=max_frames, output=output, plot=plot,
                    hindsight=not live_labels)


@cli.command(name="eval", epilog="Examples:\n\n  confcam eval ../shared/data/fer2013/fer2013_train_publictest.npz --split publictest\n\n"
             "  confcam eval ../shared/data/fer2013/fer2013_train_publictest.npz --split publictest "
             "--votes ../shared/data/fer2013/ferplus_votes.npz\n\n"
             "  confcam eval ../shared/data/fer2013/fer2013_train_publictest.npz --split publictest "
             "--model teacher.onnx --model minixception-2d-ferplus --mirror")
def eval_(
    crops: Path = typer.Argument(..., help="npz with x (N x H x W uint8 face crops), y (int) and labels (names)."),
    model: list[str] = typer.Option([], help=MODEL_HELP + " Repeat it to score an ensemble: the mean of the models' "
                                    "probabilities (they must share one set of classes)."),
    mirror: bool = typer.Option(False, help="Average each model's probabilities on a crop and on its mirror image."),
    split: Optional[str] = typer.Option(None, help="Read x_SPLIT / y_SPLIT instead of x / y (e.g. publictest)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report here."),
    votes: Optional[Path] = typer.Option(None, help="Crowd votes for the same faces (e.g. ferplus_votes.npz, votes_SPLIT): "
                                         "also score on the crowd's majority labels."),
) -> None:
    """Accuracy of an expression model (or an ensemble of them) on labelled face crops."""
    actions.evaluate(crops, models=model, split=split, json_out=json_out, votes=votes, mirror=mirror)


@cli.command(
    epilog="Examples:\n\n  confcam bench\n\n  confcam bench gallery-1080p.mp4 --frames 600 --json bench.json"
)
def bench(
    video: Optional[Path] = typer.Argument(None, help="Clip to loop (default: the bundled sample clip)."),
    frames: int = typer.Option(300, min=1, help="Frames to measure."),
    warmup: int = typer.Option(30, min=0, help="Frames run first and not measured."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report here."),
    model: Optional[str] = typer.Option(None, help=MODEL_HELP),
    detector: Optional[str] = typer.Option(None, help=DETECTOR_HELP),
    style: Optional[str] = typer.Option(None, help=STYLE_HELP, metavar=STYLES),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Measure the whole live pipeline (decode, detect, track, classify, render) flat out on this machine."""
    pipeline = _pipeline(config, model=model, detector=detector, style=style)
    actions.bench(video, frames=frames, warmup=warmup, json_out=json_out, pipeline=pipeline)


@cli.command(epilog="Example: confcam web --port 8080   (then open the URL it prints: it carries the token)")
def web(
    host: str = typer.Option(
        WebConfig.host,
        help="Address to listen on. The default lets only this machine in. To serve your network, give this "
        "machine's address or name as others will type it (requests naming another host are refused; browsers "
        "then need https or an SSH tunnel for the camera; see docs/security.md).",
    ),
    port: int = typer.Option(WebConfig.port, min=0, max=65535, help="Port to listen on."),
    token: Optional[str] = typer.Option(None, help=TOKEN_HELP),
    max_sessions: int = typer.Option(
        WebConfig.max_sessions, help="Browsers served at once; each costs a thread and a pipeline."
    ),
    model: Optional[str] = typer.Option(None, help=MODEL_HELP),
    style: Optional[str] = typer.Option(None, help=STYLE_HELP, metavar=STYLES),
    steadiness: Optional[str] = typer.Option(None, help=STEADINESS_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Serve the browser demo: camera or shared tab in, labelled video and a panel of people back."""
    web_config = _with_token(WebConfig(host=host, port=port, max_sessions=max_sessions), token)
    actions.web(web_config, pipeline=_pipeline(config, model=model, style=style, steadiness=steadiness))


def _pipeline(config: Path | None, steadiness: str | None = None, **flags: object) -> PipelineConfig:
    """Defaults, then --config's [pipeline], then the flags given (None: not given)."""
    return pipeline_config(config, smoother=parse_steadiness(steadiness) if steadiness is not None else None, **flags)


def _with_token(config: WebConfig, token: str | None) -> WebConfig:
    """Keeps the fresh random token unless --token gave one (checked by WebConfig)."""
    return config if token is None else replace(config, token=token)


@models_cli.command("list")
def models_list(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The bundled models, their kind, window and labels."""
    actions.models_list(as_json=as_json)


@models_cli.command("info")
def models_info(name: str = typer.Argument(..., help="Model name or path.")) -> None:
    """Everything a model file says about itself (metadata, size, provenance)."""
    actions.models_info(name)


@cli.command()
def devices(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Monitors, windows, cameras and the virtual-camera backend (and how to install one if missing)."""
    actions.devices(as_json=as_json)


@cli.command(epilog="Example: confcam options > my-options.md   (then: confcam start --config confcam.toml)")
def options() -> None:
    """Every stage option a --config TOML file can set, with its type, default and meaning (Markdown)."""
    print(reference_markdown(), end="")


@cli.command(epilog="Example: confcam plugins --json")
def plugins(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """The sources, detectors, smoothers, styles and sinks confcam can use, its own and those other installed
    packages add (entry point groups confcam.sources, confcam.detectors, confcam.smoothers,
    confcam.annotators, confcam.sinks), with their options; plugins that failed to load are listed with the
    reason."""
    actions.plugins(as_json=as_json)


register_training_commands(cli)


def main(argv: list[str] | None = None) -> int:
    """Every user mistake ends as one line on stderr and exit code 2, never a traceback.

    Ctrl+C, SIGTERM and SIGHUP stop a command cleanly (outputs finished or removed); a live run stopped
    that way ends normally (0), a command cut short before it finished exits 128 + the signal's number."""
    try:
        with StopSignals() as signals:
            code = cli(args=argv, standalone_mode=False, prog_name="confcam")
    except ConfcamError as error:
        print(f"confcam: error: {error}", file=sys.stderr)
        return 2
    except typer.Abort:
        return 130
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            # Click's usage error, which carries its context; typer exports no class to narrow it by (matched by name).
            print(cast(Any, error).ctx.get_help())
            return 0
        print(f"confcam: error: {_usage_message(error)}", file=sys.stderr)
        return 2
    if code == CUT_SHORT and signals.received is not None:
        return signals.exit_code
    return code if isinstance(code, int) else 0


def _usage_message(error: typer.TyperException) -> str:
    """Click's message, on one line, naming the option it is about."""
    message = " ".join(error.format_message().split())
    param = getattr(error, "param", None)
    names = getattr(param, "opts", None)
    if names and names[0] not in message:
        message = f"{names[0]}: {message}"
    return message.replace("Value error, ", "")


if __name__ == "__main__":
    sys.exit(main())
