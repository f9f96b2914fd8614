"""The research commands: `confcam train ...`, `confcam eval-protocol`, `confcam eval-videos`,
`confcam dataset ...`. PyTorch and the training modules are imported only inside the commands, so the
live path and `confcam --help` never load them."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Optional

import typer

from confcam.errors import ConfcamError

TRAIN_EXTRA = 'pip install "confcam[train]"'


def _missing(modules: tuple[str, ...]) -> list[str]:
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def require_train_extra() -> None:
    """A one-line error instead of an ImportError when the optional training extra is missing."""
    missing = _missing(("torch", "onnx", "h5py"))
    if missing:
        raise ConfcamError(f"this command needs {', '.join(missing)}: {TRAIN_EXTRA}")


def require_matplotlib() -> None:
    if _missing(("matplotlib",)):
        raise ConfcamError(f"this command needs matplotlib for its confusion-matrix plot: {TRAIN_EXTRA}")


ARCH_HELP = (
    "minixception-2d, resnet20-2d, bigxception-2d (a teacher; --init fer2013_big_XCEPTION.54-0.66.hdf5), timeconvnet-minixception, timeconvnet-resnet20, timeconvnet-mobilenetv2, "
    "resnet20-3d, resnet20-2plus1d; or a spec .json from `confcam train search` (EmotionNet Nano)."
)
DATA_HELP = (
    "Training set (repeatable, mixed): an npz of still faces (x/y/labels), NPZ:SPLIT for x_SPLIT/y_SPLIT "
    "(e.g. fer2013_train_publictest.npz:train), a window npz (x: N x t x S x S uint8, targets), or a folder "
    "of videos (faces tracked and labelled by --teacher, windows cached in --cache)."
)


def register(cli: typer.Typer) -> None:
    """Add the training and research-evaluation commands to the main confcam app."""
    train_cli = typer.Typer(
        help=f"Train expression networks the way the thesis does and export confcam model files (needs {TRAIN_EXTRA}).",
        invoke_without_command=True,
        no_args_is_help=False,
    )

    @train_cli.callback(epilog="Example: confcam train --arch timeconvnet-minixception "
                               "--data ../shared/data/fer2013/fer2013_train_publictest.npz:train --epochs 10 --out tcn.onnx")
    def train(
        ctx: typer.Context,
        arch: Optional[str] = typer.Option(None, help=f"Network: {ARCH_HELP}"),
        data: list[str] = typer.Option([], help=DATA_HELP),
        epochs: int = typer.Option(200, min=1, help="Epochs; the thesis schedule (decays at 81/121/161/181 of 200) is scaled to it."),
        out: Optional[Path] = typer.Option(None, help="ONNX model file to write."),
        val: Optional[str] = typer.Option(None, help="Validation still faces, NPZ or NPZ:SPLIT (e.g. ...npz:publictest)."),
        size: Optional[int] = typer.Option(None, min=16, help="Input size (default 48 as in the thesis, or a spec file's "
                                           "own; 64 for the published mini-Xception)."),
        window: Optional[int] = typer.Option(None, min=1, help="t, frames per window (default 5, or a spec file's t)."),
        batch_size: int = typer.Option(64, min=1),
        lr: float = typer.Option(1e-3, min=0.0, help="Adam learning rate before the decays."),
        balance: str = typer.Option("none", help="Class balancing of still sets: none, sqrt or equal."),
        epoch_limit: Optional[int] = typer.Option(None, min=1, help="Windows per epoch (default: all once)."),
        init: Optional[Path] = typer.Option(None, help="Start from a 2D model: the published mini-Xception (or, for "
                                            "bigxception-2d, big_XCEPTION) Keras .hdf5 or the "
                                            ".ckpt of an earlier 2D run (inflated for t > 1, see --inflate)."),
        tune: str = typer.Option("all", help="What trains: all, or temporal (only how the first conv weighs the t frames; "
                                             "a still face keeps the --init model's answer exactly)."),
        teacher: str = typer.Option("minixception-2d", help="Still-image model that labels video windows; A+B pools several (their mean, each mirror-averaged)."),
        cache: Path = typer.Option(Path("~/.cache/confcam/windows"), help="Where video windows (face crops) are cached."),
        checkpoint: Optional[Path] = typer.Option(None, help="Checkpoint file (default: CACHE/../checkpoints/OUT-NAME.ckpt)."),
        resume: bool = typer.Option(False, help="Continue from the checkpoint."),
        seed: int = typer.Option(0),
        threads: int = typer.Option(1, min=1, help="PyTorch threads."),
        card: Optional[Path] = typer.Option(None, help="Write the model-card section for OUT into this Markdown file."),
        trained_on: Optional[str] = typer.Option(None, help="Override the confcam.trained_on text."),
        votes: Optional[Path] = typer.Option(None, help="Crowd votes for the NPZ:SPLIT sets (e.g. ferplus_votes.npz, arrays "
                                             "votes_SPLIT): train on the votes, validate on their majority."),
        vote_mode: str = typer.Option("crossentropy", help="How votes become targets: crossentropy (the vote distribution), "
                                      "probability (a label drawn from it each time) or majority."),
        label_weight: float = typer.Option(0.0, help="With --votes: the set's own label joins the crowd with this weight "
                                           "(e.g. 0.3; 0 = the votes alone)."),
        schedule: str = typer.Option("thesis", help="Learning rate: thesis (step decays) or cosine (to 0; for fine-tunes)."),
        device: str = typer.Option("cpu", help="cpu or cuda. Under torchrun (e.g. torchrun --nproc-per-node 2 -m confcam train "
                                   "...) each process trains its share of every --batch-size batch (DDP: gloo / nccl)."),
        inflate: str = typer.Option("mean", help="TimeConvNet from a 2D --init: its first conv spread evenly over the t frames "
                                    "(mean) or all on the newest (last: starts as the 2D model on every window)."),
        distill: list[str] = typer.Option([], help="Teacher model (name or .onnx; repeatable: their mean, each averaged "
                                           "with its mirror image) whose probabilities join the still faces' targets. "
                                           "Computed once, cached in --cache. Same 8 classes as the student."),
        distill_weight: Optional[float] = typer.Option(None, help="With --distill: target = (1 - W) x votes/label + W x "
                                                        "teacher (default 0.5)."),
        onset_weight: float = typer.Option(1.0, help="Video windows whose face is changing (its label at the last frame "
                                           "differs from 4 frames earlier) are drawn this many times as often: they "
                                           "are what a TimeConvNet must get right, and few (e.g. 4)."),
    ) -> None:
        """Train a network and export it as a confcam model file (see `confcam train nets`)."""
        if ctx.invoked_subcommand is not None:
            return
        require_train_extra()
        from confcam.train.run import TrainRequest, run_training
        from confcam.train.trainer import input_defaults

        if arch is None or out is None or not data:
            raise ConfcamError("confcam train needs --arch, --data and --out (or a subcommand: nets, export, search)")
        default_size, default_window = input_defaults(arch)
        size, window = size or default_size, window or default_window
        run_training(TrainRequest(
            arch=arch, data=data, epochs=epochs, out=out, val=val, size=size, window=window, batch_size=batch_size,
            lr=lr, balance=balance, epoch_limit=epoch_limit, init=init, teacher=teacher, cache=cache.expanduser(),
            checkpoint=checkpoint.expanduser() if checkpoint else None, resume=resume, seed=seed, threads=threads, card=card, trained_on=trained_on,
            tune=tune, votes=votes.expanduser() if votes else None, vote_mode=vote_mode, schedule=schedule, label_weight=label_weight,
            inflate=inflate, device=device, distill=tuple(distill), distill_weight=distill_weight, onset_weight=onset_weight,
        ))

    @train_cli.command("nets")
    def nets(
        size: int = typer.Option(48, min=16, help="Input size to build them for."),
        window: int = typer.Option(5, min=1, help="t for the temporal networks."),
    ) -> None:
        """Every network's parameter count beside the thesis' figure, and why any differs."""
        require_train_extra()
        from confcam.train.run import print_nets

        print_nets(size, window)

    @train_cli.command("export", epilog="Example: confcam train export --checkpoint ~/.cache/confcam/checkpoints/tcn.ckpt --out tcn.onnx")
    def export(
        checkpoint: Path = typer.Option(..., help="Checkpoint of a `confcam train` run (finished or stopped early)."),
        out: Path = typer.Option(..., help="ONNX model file to write."),
        val: Optional[str] = typer.Option(None, help="Validate on these still faces first (NPZ or NPZ:SPLIT)."),
        card: Optional[Path] = typer.Option(None, help="Write the model-card section into this Markdown file."),
        trained_on: Optional[str] = typer.Option(None, help="Override the confcam.trained_on text."),
        votes: Optional[Path] = typer.Option(None, help="Crowd votes: validate on their majority where they cover --val."),
    ) -> None:
        """Export a checkpoint as a confcam model file (the recipe notes an early stop)."""
        require_train_extra()
        from confcam.train.run import export_checkpoint

        export_checkpoint(checkpoint.expanduser(), out, val, card, trained_on, votes.expanduser() if votes else None)

    @train_cli.command("search", epilog="Example: confcam train search --study nano.db --data "
                       "../shared/data/fer2013/fer2013_train_publictest.npz:train --val "
                       "../shared/data/fer2013/fer2013_train_publictest.npz:publictest --votes "
                       "../shared/data/fer2013/ferplus_votes.npz --trials 40 --max-params 250000 --plot nano.png")
    def search(
        study: Path = typer.Option(..., help="SQLite study file (.db): created, or resumed when it exists."),
        data: str = typer.Option(..., help="Training still faces, NPZ or NPZ:SPLIT; each trial uses the same --subset."),
        val: str = typer.Option(..., help="Validation still faces, NPZ or NPZ:SPLIT (the same --val-subset every trial)."),
        votes: Optional[Path] = typer.Option(None, help="Crowd votes for the NPZ:SPLIT sets (e.g. ferplus_votes.npz)."),
        trials: int = typer.Option(20, min=0, help="Trials to add to the study (0: only report or export)."),
        timeout: Optional[float] = typer.Option(None, min=1, help="Start no new trial after this many seconds."),
        subset: int = typer.Option(10_000, min=16, help="Training faces per trial (a fixed, seeded choice)."),
        val_subset: int = typer.Option(1000, min=16, help="Validation faces per trial (a fixed, seeded choice)."),
        epochs: int = typer.Option(4, min=1, help="Epochs per trial (fewer, on fewer faces, leave every candidate "
                                   "near the majority-class rate: see docs/training.md)."),
        batch_size: int = typer.Option(64, min=1),
        lr: float = typer.Option(2e-3, min=0.0, help="Adam learning rate of a trial (cosine to 0)."),
        max_params: Optional[int] = typer.Option(None, min=1, help="Constraint: at most this many parameters."),
        max_ms_per_face: Optional[float] = typer.Option(None, min=0.0, help="Constraint: at most this many ms/face "
                                                        "(onnxruntime on this machine, batch 9, 1 thread)."),
        min_accuracy: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Constraint: at least this validation "
                                                     "accuracy; a first epoch 0.05 below it stops the trial (pruned)."),
        latency_runs: int = typer.Option(30, min=1, help="Calls whose median is a candidate's ms/face."),
        study_name: str = typer.Option("emotionnet-nano", help="Study name inside the file."),
        plot: Optional[Path] = typer.Option(None, help="Write the Pareto plot (accuracy vs params vs ms) to this PNG."),
        export: Optional[Path] = typer.Option(None, help="Retrain the chosen Pareto candidates fully into this folder: "
                                              "model files, spec JSON beside each, MODEL_CARD.md."),
        export_under: list[int] = typer.Option([250_000, 150_000], min=1, help="With --export: the most accurate "
                                               "candidate with at most this many params (repeatable)."),
        export_epochs: int = typer.Option(30, min=1, help="With --export: epochs of each full retraining."),
        export_balance: str = typer.Option("sqrt", help="With --export: class balancing of the full retraining "
                                           "(none, sqrt or equal; the trials use none)."),
        cache: Path = typer.Option(Path("~/.cache/confcam/windows"), help="With --export: checkpoints go beside it."),
        seed: int = typer.Option(0),
        threads: int = typer.Option(1, min=1, help="PyTorch threads (latency is always measured on 1)."),
    ) -> None:
        """Search the EmotionNet Nano design space for accurate, small, fast networks (resumable)."""
        require_train_extra()
        require_matplotlib()
        if _missing(("optuna",)):
            raise ConfcamError(f"this command needs optuna: {TRAIN_EXTRA}")
        from confcam.train.nano.candidates import ExportPlan
        from confcam.train.nano.command import search_command
        from confcam.train.nano.search import SearchRequest, SearchSettings

        settings = SearchSettings(
            data=data, val=val, votes=str(votes.expanduser()) if votes else None, subset=subset, val_subset=val_subset,
            epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, max_params=max_params, max_ms_per_face=max_ms_per_face,
            min_accuracy=min_accuracy, latency_runs=latency_runs,
        )
        search_command(SearchRequest(study.expanduser(), settings, trials, timeout, study_name, threads), plot,
                       ExportPlan(export.expanduser(), tuple(export_under), export_epochs, cache, export_balance)
                       if export else None)

    cli.add_typer(train_cli, name="train")

    @cli.command("eval-videos", epilog="Example: confcam eval-videos clips/ --labels labels.csv --model timeconvnet-minixception")
    def eval_videos(
        folder: Path = typer.Argument(..., help="Folder of video clips."),
        labels: Path = typer.Option(..., help="CSV with one row per clip: file name, label."),
        model: Optional[str] = typer.Option(None, help="Expression model name or .onnx path (default: the default)."),
        report: Path = typer.Option(Path("eval-videos"), help="Report folder: confusion PNG, Markdown row, JSON."),
        split: str = typer.Option("videos", help="Name of the split, written into the report."),
    ) -> None:
        """Video-level accuracy: one label per clip, the prediction at the last frame of the main track."""
        require_matplotlib()
        from confcam.train.protocols import run_video_eval

        run_video_eval(folder, labels, model, report, split)

    @cli.command("eval-protocol", epilog="Example: confcam eval-protocol ckplus --root ~/data/CK+ --arch timeconvnet-minixception --epochs 30")
    def eval_protocol(
        protocol: str = typer.Argument(..., help="ckplus: subject-independent 10-fold CV on the last 3 frames of each labelled sequence."),
        root: Path = typer.Option(..., help="Dataset root in its published layout."),
        arch: str = typer.Option("minixception-2d", help=f"Network trained in each fold: {ARCH_HELP}"),
        epochs: int = typer.Option(30, min=1),
        folds: int = typer.Option(10, min=2),
        size: Optional[int] = typer.Option(None, min=16, help="Face size (default 48, or a spec file's own)."),
        report: Path = typer.Option(Path("eval-ckplus"), help="Report folder: confusion PNG, Markdown row, JSON."),
        seed: int = typer.Option(0),
        threads: int = typer.Option(1, min=1),
        max_steps: Optional[int] = typer.Option(None, min=1, help="Stop each fold after N steps (smoke runs)."),
    ) -> None:
        """A published evaluation protocol, reproduced on the user's own copy of the dataset."""
        require_train_extra()
        require_matplotlib()
        from confcam.train.protocols import run_ckplus_protocol
        from confcam.train.trainer import input_defaults

        if protocol != "ckplus":
            raise ConfcamError(f"unknown protocol {protocol!r}; known: ckplus")
        run_ckplus_protocol(root, arch, epochs, folds, size or input_defaults(arch)[0], report, seed, threads, max_steps)

    @cli.command("dataset", epilog="Example: confcam dataset bigfacex --ckplus ~/data/CK+ --baum1 ~/data/BAUM1 --out bigfacex.npz")
    def dataset(
        name: str = typer.Argument(..., help="bigfacex (CK+, BAUM-1, eNTERFACE'05) or faceparty (+ AFEW, KDEF-dyn, iSAFE)."),
        out: Path = typer.Option(..., help="Window npz to write (x: N x 5 x 48 x 48 uint8, y, labels, source)."),
        ckplus: Optional[Path] = typer.Option(None, help="CK+ root (cohn-kanade-images/, Emotion/)."),
        baum1: Optional[Path] = typer.Option(None, help="BAUM-1 root."),
        enterface: Optional[Path] = typer.Option(None, help="eNTERFACE'05 root."),
        afew: Optional[Path] = typer.Option(None, help="AFEW root (FaceParty)."),
        kdef_dyn: Optional[Path] = typer.Option(None, help="KDEF-dyn root (FaceParty)."),
        isafe: Optional[Path] = typer.Option(None, help="iSAFE root (FaceParty)."),
        scorer: Optional[str] = typer.Option("minixception-2d", help="FaceParty: still-image model that picks the peak frames."),
    ) -> None:
        """Build the thesis' BigFaceX / FaceParty window sets from the user's licensed datasets."""
        from confcam.train.datasets import build_dataset_command

        build_dataset_command(name, out, {"ckplus": ckplus, "baum1": baum1, "enterface": enterface, "afew": afew,
                                          "kdef_dyn": kdef_dyn, "isafe": isafe}, scorer)
