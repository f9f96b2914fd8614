"""A picture of each person's shown expression over time, for people who would rather look than read:
one row per person, each stretch of a label in that label's colour with its word written in where it
fits (colour is never the only cue), seconds along the bottom."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from confcam.errors import SinkError
from confcam.fileio import AtomicOutput, os_reason
from confcam.render.colors import color_for, text_color_on
from confcam.types import UNCERTAIN


@dataclass
class LabelRun:
    """One stretch of time during which a person's shown label stayed the same."""

    label: str
    start: float
    end: float


@dataclass
class PersonTimeline:
    """A person's label runs, merged as they come (a few per change, whatever the clip's length)."""

    person: int
    runs: list[LabelRun] = field(default_factory=list)

    def add(self, label: str, t: float, frame_s: float) -> None:
        if self.runs and self.runs[-1].label == label and t - self.runs[-1].end <= 2 * frame_s:
            self.runs[-1].end = t + frame_s
        else:
            self.runs.append(LabelRun(label, t, t + frame_s))


def _rgb(bgr: tuple[int, int, int]) -> tuple[float, float, float]:
    """An OpenCV BGR colour as matplotlib's RGB in [0, 1]."""
    b, g, r = bgr
    return r / 255, g / 255, b / 255


def plot_timelines(people: list[PersonTimeline], path: Path, title: str) -> Path:
    """Writes the PNG (whole or not at all); SinkError names the file if it cannot be written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = max(len(people), 1)
    end = max((run.end for p in people for run in p.runs), default=1.0)
    fig, ax = plt.subplots(figsize=(10, 0.9 + 0.55 * rows), dpi=100)
    for row, person in enumerate(people):
        y = rows - 1 - row
        for run in person.runs:
            colour = _rgb(color_for(run.label))
            ax.barh(y, run.end - run.start, left=run.start, height=0.8, color=colour,
                    hatch="//" if run.label == UNCERTAIN else None, edgecolor="white", linewidth=0.5)
            if (run.end - run.start) / end > 0.06:
                ax.text((run.start + run.end) / 2, y, run.label, ha="center", va="center", fontsize=9,
                        color=_rgb(text_color_on(color_for(run.label))))
    ax.set_yticks(range(rows), [f"Person {p.person}" for p in reversed(people)] or [""])
    ax.set_xlim(0, end)
    ax.set_xlabel("seconds")
    ax.set_title(title, fontsize=10)
    labels = sorted({run.label for p in people for run in p.runs})
    ax.legend(handles=[Rectangle((0, 0), 1, 1, color=_rgb(color_for(name)), label=name) for name in labels],
              loc="upper center", bbox_to_anchor=(0.5, -0.35 if rows < 3 else -0.15), ncol=min(len(labels), 9) or 1,
              fontsize=8, frameon=False)
    fig.tight_layout()
    output = AtomicOutput(Path(path), ".png")
    try:
        fig.savefig(output.temp, format="png")
    except OSError as error:
        output.discard()
        raise SinkError(f"cannot write {path}: {os_reason(error)}") from None
    finally:
        plt.close(fig)
    output.commit()
    return Path(path)
