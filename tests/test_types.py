"""Detections, the one type that flows through the pipeline: checked on construction, compared, indexed
and merged with every per-face column (extra `data` columns included) kept row-aligned."""

from __future__ import annotations

import numpy as np
import pytest

from confcam.types import LANDMARK_NAMES, Detections


def faces(n: int, **extra) -> Detections:
    return Detections(
        boxes=np.arange(n * 4, dtype=np.float32).reshape(n, 4),
        scores=np.linspace(0.5, 0.9, n, dtype=np.float32),
        landmarks=np.zeros((n, len(LANDMARK_NAMES), 2), np.float32),
        **extra,
    )


@pytest.mark.parametrize("build, message", [
    (lambda: Detections(boxes=np.zeros((2, 4), np.float32), scores=np.zeros(3, np.float32),
                        landmarks=np.zeros((2, 6, 2), np.float32)), "scores"),
    (lambda: Detections(boxes=np.zeros((2, 3), np.float32)), "boxes"),
    (lambda: faces(2, track_ids=np.array([1])), "track_ids has 1 rows for 2 faces"),
    (lambda: faces(2, labels=["happy"]), "labels has 1 rows"),
    (lambda: faces(2, data={"crop": np.zeros((3, 8, 8))}), "crop has 3 rows"),
    (lambda: faces(1, probs=np.zeros((2, 8))), "probs"),
], ids=["scores", "box-shape", "track_ids", "labels", "data", "probs"])
def test_columns_of_different_lengths_are_refused_when_built(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("a, b, equal", [
    (Detections(), Detections(), True),
    (faces(2), faces(2), True),
    (faces(2), faces(3), False),
    (faces(2, labels=["happy", "sad"]), faces(2, labels=["happy", "sad"]), True),
    (faces(2, labels=["happy", "sad"]), faces(2, labels=["happy", "fear"]), False),
    (faces(2, track_ids=np.array([1, 2])), faces(2), False),
    (faces(2, data={"w": np.ones(2)}), faces(2, data={"w": np.ones(2)}), True),
    (faces(2, data={"w": np.ones(2)}), faces(2, data={"w": np.zeros(2)}), False),
], ids=["empty", "same", "lengths", "same-labels", "labels", "missing-column", "same-data", "data"])
def test_equality_compares_every_column(a: Detections, b: Detections, equal: bool) -> None:
    assert (a == b) is equal and (b == a) is equal


@pytest.mark.parametrize("index, rows", [
    (1, [1]),
    (-1, [2]),
    (slice(0, 2), [0, 1]),
    ([2, 0], [2, 0]),
    (np.array([True, False, True]), [0, 2]),
], ids=["int", "negative-int", "slice", "list", "mask"])
def test_indexing_keeps_one_row_per_face_in_every_column(index, rows: list[int]) -> None:
    full = faces(3, track_ids=np.array([10, 11, 12]), labels=["a", "b", "c"], data={"tag": ["x", "y", "z"]})
    picked = full[index]
    assert len(picked) == len(rows)
    assert picked.track_ids.tolist() == [10 + r for r in rows]
    assert picked.labels == [["a", "b", "c"][r] for r in rows]
    assert picked.data["tag"] == [["x", "y", "z"][r] for r in rows]
    assert np.array_equal(picked.boxes, full.boxes[rows])


def test_merge_joins_faces_and_carries_extra_columns() -> None:
    a = faces(2, track_ids=np.array([1, 2]), data={"age": np.array([0, 1])})
    b = faces(1, track_ids=np.array([7]), data={"age": np.array([5])})
    merged = Detections.merge([a, b])
    assert len(merged) == 3 and merged.track_ids.tolist() == [1, 2, 7]
    assert merged.data["age"].tolist() == [0, 1, 5]
    assert merged[2] == b and merged[:2] == a


@pytest.mark.parametrize("parts, message", [
    ([faces(1, track_ids=np.array([1])), faces(1)], "track_ids"),
    ([faces(1, data={"age": np.array([1])}), faces(1)], "data.age"),
], ids=["fixed-column", "data-column"])
def test_merge_refuses_parts_with_different_columns(parts: list[Detections], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Detections.merge(parts)


def test_empty_parts_merge_into_the_others() -> None:
    assert Detections.merge([Detections(), faces(2)]) == faces(2)
    assert len(Detections.merge([])) == 0


def test_with_data_adds_a_column_and_keeps_the_rest() -> None:
    base = faces(2, labels=["happy", "sad"])
    tagged = base.with_data(window=np.zeros((2, 5, 64, 64)))
    assert tagged.labels == base.labels and tagged.data["window"].shape == (2, 5, 64, 64) and base.data == {}
