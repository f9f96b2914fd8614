"""One client's synchronous work: a decoded frame in, the annotated frame and its `predictions` message out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import av
import numpy as np

from confcam.pipeline import FacePipeline
from confcam.render.base import Annotator
from confcam.types import Detections, Frame


def predictions_message(index: int, t: float, faces: Detections) -> dict[str, Any]:
    """The data-channel message for one processed frame (boxes in the incoming frame's pixels)."""
    tracks: list[dict[str, Any]] = []
    if len(faces) and faces.track_ids is not None and faces.probs is not None and faces.labels is not None:
        confidences = faces.confidences if faces.confidences is not None else np.zeros(len(faces))
        for row, box in enumerate(faces.xywh):
            tracks.append(
                {
                    "id": int(faces.track_ids[row]),
                    "box": [round(float(v), 1) for v in box],
                    "label": faces.labels[row],
                    "confidence": round(float(confidences[row]), 4),
                    "probs": [round(float(p), 4) for p in faces.probs[row]],
                }
            )
    return {"frame": index, "t": round(t, 3), "tracks": tracks}


class FrameAnalyser:
    """Owns a client's pipeline and annotators; used from that client's worker thread only.

    Each client gets its own analyser, so track ids, crop windows and smoothing never mix between people
    who happen to use the page at the same time.
    """

    def __init__(self, pipeline: FacePipeline, annotators: Sequence[Annotator]) -> None:
        self.pipeline = pipeline
        self.annotators = list(annotators)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.pipeline.class_names

    def analyse(self, video: av.VideoFrame, index: int, t: float) -> tuple[av.VideoFrame, dict[str, Any]]:
        """The returned frame keeps the incoming pts, so the browser plays it on the sender's clock."""
        image = video.to_ndarray(format="bgr24")
        faces = self.pipeline.process(Frame(image=image, index=index, timestamp=t))
        for annotator in self.annotators:
            image = annotator.annotate(image, faces, self.class_names)
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24").reformat(format="yuv420p")
        out.pts, out.time_base = video.pts, video.time_base
        return out, predictions_message(index, t, faces)
