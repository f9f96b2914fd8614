"""Reports every evaluation writes the same way: a confusion-matrix PNG, a Markdown table row
(accuracy, macro recall, params, ms/face at batch 1 and 9 on this machine) and a JSON file; and the
model-card section of a trained model."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from confcam.classify.model import ExpressionModel
from confcam.errors import ConfcamError

if TYPE_CHECKING:
    from confcam.train.trainer import Trainer

ROW_HEADER = "| model | split | n | accuracy | macro recall | params | ms/face (batch 1) | ms/face (batch 9) |\n|---|---|---|---|---|---|---|---|"


def latency_ms_per_face(path: Path, runs: int = 200, threads: int = 1) -> dict[int, float]:
    """Median onnxruntime ms per face at batch 1 and 9 on this machine (random windows, after warm-up)."""
    model = ExpressionModel(Path(path), threads=threads)
    rng = np.random.default_rng(0)
    return {
        batch: median_ms_per_face(model, rng.random((batch, *model.window_shape), dtype=np.float32), runs)
        for batch in (1, 9)
    }


def median_ms_per_face(model: ExpressionModel, windows: np.ndarray, runs: int = 200) -> float:
    """Median ms per face of one batched predict() over `windows`, after 20 warm-up calls."""
    for _ in range(20):
        model.predict(windows)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict(windows)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000.0 / len(windows)


def onnx_params(path: Path) -> int | None:
    """Parameters of a model file counted as Keras does: its confcam.params metadata, else those of the
    network its arch names, else its stored weights."""
    model = ExpressionModel(Path(path))
    declared = model.session.get_modelmeta().custom_metadata_map.get("confcam.params")
    if declared:
        return int(declared)
    try:
        from confcam.train.nets import count_params
        from confcam.train.trainer import build_network

        arch = {"minixception": "minixception-2d"}.get(model.info.arch, model.info.arch)
        return count_params(build_network(arch, model.info.window, classes=len(model.info.labels))[0])
    except ImportError:
        return None
    except ConfcamError:
        pass  # an architecture confcam cannot build: count the stored weights (BN folded into convs)
    import onnx

    proto = onnx.load(str(path))
    return int(sum(np.prod(t.dims) for t in proto.graph.initializer))


def macro_recall(confusion: np.ndarray) -> float:
    support = confusion.sum(axis=1)
    present = support > 0
    return float(np.mean(np.diag(confusion)[present] / support[present])) if present.any() else 0.0


def plot_confusion(confusion: np.ndarray, labels: list[str] | tuple[str, ...], title: str, path: Path) -> Path:
    """Row-normalised confusion matrix with counts, as a PNG (written whole or not at all)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape, float), where=rows > 0)
    fig, ax = plt.subplots(figsize=(5.6, 4.8), dpi=100)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(confusion.shape[0]):
        for j in range(confusion.shape[1]):
            ax.text(j, i, f"{share[i, j]:.2f}\n{confusion[i, j]}", ha="center", va="center", fontsize=6,
                    color="white" if share[i, j] > 0.5 else "black")
    return save_figure(fig, path)


def save_figure(fig: Any, path: Path) -> Path:
    """Lay out a matplotlib figure and write it as a PNG, whole or not at all; the figure is closed."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.stem}.part.png")
    try:
        fig.savefig(temp)
        os.replace(temp, path)
    finally:
        plt.close(fig)
        temp.unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class EvalReport:
    """One model on one named split."""

    model: str
    split: str
    labels: list[str]
    confusion: np.ndarray
    params: int | None
    ms_per_face: dict[int, float]

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / max(self.n, 1))

    def markdown_row(self) -> str:
        params = f"{self.params:,}" if self.params is not None else "-"
        ms = [f"{self.ms_per_face[b]:.3f}" if b in self.ms_per_face else "-" for b in (1, 9)]
        return (f"| {self.model} | {self.split} | {self.n} | {self.accuracy:.4f} | {macro_recall(self.confusion):.4f} "
                f"| {params} | {ms[0]} | {ms[1]} |")

    def write(self, folder: Path) -> dict[str, Path]:
        """confusion.png, row.md and report.json in folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9._+-]+", "-", f"{self.model}-{self.split.split(' (')[0]}").strip("-")
        png = plot_confusion(self.confusion, self.labels, f"{self.model} on {self.split} (n={self.n}, acc {self.accuracy:.3f})",
                             folder / f"{stem}-confusion.png")
        row = folder / f"{stem}.md"
        row.write_text(ROW_HEADER + "\n" + self.markdown_row() + "\n")
        document = {"model": self.model, "split": self.split, "n": self.n, "accuracy": self.accuracy,
                    "macro_recall": macro_recall(self.confusion), "params": self.params,
                    "ms_per_face": {str(k): v for k, v in self.ms_per_face.items()}, "labels": self.labels,
                    "confusion": self.confusion.tolist()}
        js = folder / f"{stem}.json"
        js.write_text(json.dumps(document, indent=1) + "\n")
        return {"png": png, "markdown": row, "json": js}


class ModelCard:
    """The Markdown section `models/MODEL_CARD.md` keeps for one trained model file."""

    def __init__(self, model: ExpressionModel, trainer: Trainer, recipe: str, trained_on: str, validation: str | None,
                 val_acc: float | None, latency: dict[int, float], command: str, notes: str = "") -> None:
        self.model = model
        self.trainer = trainer
        self.recipe = recipe
        self.trained_on = trained_on
        self.validation = validation
        self.val_acc = val_acc
        self.latency = latency
        self.command = command
        self.notes = notes
        """Markdown ending the section (its own ### headings stay inside the section)."""

    def text(self) -> str:
        from confcam.train.nets import count_params

        info = self.model.info
        history = self.trainer.history
        hours = history.seconds / 3600.0
        val = f"{self.val_acc:.4f}" if self.val_acc is not None else "not measured"
        rows = "\n".join(
            f"| {r['epoch']} | {r['loss']:.4f} | {r['train_acc']:.4f} | {r.get('val_acc', float('nan')):.4f} | {r['lr']:.2e} |"
            for r in history.epochs
        )
        return (
            f"## Expression model: `{info.name}.onnx`\n\n"
            f"| arch | window | input | scale | params | licence |\n|---|---|---|---|---|---|\n"
            f"| {info.arch} | {info.window} | {info.input_size}x{info.input_size} | {info.scale[0]:g},{info.scale[1]:g} "
            f"| {count_params(self.trainer.net):,} | MIT (trained by confcam) |\n\n"
            f"**Trained on**: {self.trained_on}.\n\n"
            f"**Recipe**: {self.recipe}; {len(history.epochs)} of {self.trainer.config.epochs} epochs in {hours:.2f} h "
            f"wall time on this 2-core machine (shared with other work).\n\n"
            f"**Validation** ({self.validation or 'none'}, still faces repeated over the window, never trained on): "
            f"accuracy {val}.\n\n"
            f"**Latency** (onnxruntime, 1 thread, median of 200 calls, this machine): {self.latency[1]:.3f} ms/face at "
            f"batch 1, {self.latency[9]:.3f} ms/face at batch 9.\n\n"
            f"**Reproduce**: `{self.command}`\n\n"
            f"| epoch | loss | train acc | val acc | lr |\n|---|---|---|---|---|\n{rows}\n"
            + (f"\n{self.notes.rstrip()}\n" if self.notes else "")
        )

    def write(self, path: Path) -> Path:
        """Replace this model's section in path (or add it), leaving the other sections alone."""
        path = Path(path)
        text = path.read_text() if path.is_file() else "# confcam model card: trained models\n\n"
        heading = f"## Expression model: `{self.model.info.name}.onnx`"
        pattern = re.compile(re.escape(heading) + r".*?(?=\n## |\Z)", re.S)
        section = self.text().rstrip("\n")
        text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
        temp = path.with_name(f".{path.name}.part")
        temp.write_text(text.rstrip("\n") + "\n")
        os.replace(temp, path)
        return path

