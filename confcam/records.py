"""The JSON shape of one frame's faces, shared by the events timeline and the WebRTC data channel."""

from __future__ import annotations

from typing import Any

import numpy as np

from confcam.types import Detections

DIGITS = 4


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def track_records(faces: Detections) -> list[dict[str, Any]]:
    """One record per face; fields a stage has not filled yet are null.

    probs are the model's raw probabilities in the model's class order; label and confidence are
    what was shown (after smoothing), so the timeline holds both the evidence and the decision.
    """
    records = []
    boxes = faces.xywh
    for row in range(len(faces)):
        probs = faces.probs[row] if faces.probs is not None else None
        records.append(
            {
                "id": None if faces.track_ids is None else int(faces.track_ids[row]),
                "box": [round(float(v), DIGITS) for v in boxes[row]],
                "label": None if faces.labels is None else faces.labels[row],
                "confidence": None if faces.confidences is None else _rounded(faces.confidences[row]),
                "probs": None if probs is None else [round(float(p), DIGITS) for p in np.asarray(probs)],
            }
        )
    return records


def frame_record(index: int, t: float, faces: Detections, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """{"frame", "t", "tracks": [...]}: one events line, one `predictions` message.

    t is the frame's presentation time in seconds (a file's pts), so variable-frame-rate recordings map
    to real time. size [w, h] is the picture the boxes refer to; it is given where a stream may change
    resolution mid-way (files, captures), so each frame's boxes say which size they belong to.
    """
    record: dict[str, Any] = {"frame": int(index), "t": round(float(t), DIGITS)}
    if size is not None:
        record["size"] = [int(size[0]), int(size[1])]
    record["tracks"] = track_records(faces)
    return record
