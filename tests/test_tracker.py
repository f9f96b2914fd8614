"""Tracker promises: stable ids, no ids for flukes, a short grace period, crops freed when a track ends."""

import numpy as np
import pytest

from confcam.track.tracker import FaceTracker, TrackerConfig, centre_distance, iou_distance
from confcam.types import Detections


def dets(*boxes: tuple[float, float, float, float]) -> Detections:
    b = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    return Detections(boxes=b, scores=np.ones(len(b), np.float32), landmarks=np.zeros((len(b), 6, 2), np.float32))


LEFT = (10, 10, 110, 110)
RIGHT = (300, 10, 400, 110)


def shift(box, dx):
    return (box[0] + dx, box[1], box[2] + dx, box[3])


@pytest.mark.parametrize("distance", [iou_distance, centre_distance])
def test_two_moving_faces_keep_their_ids(distance):
    tracker = FaceTracker(TrackerConfig(min_hits=2), distance=distance)
    seen = []
    for step in range(20):
        out = tracker.update(dets(shift(LEFT, 3 * step), shift(RIGHT, -3 * step))).faces
        if len(out) == 2:
            seen.append(tuple(out.track_ids.tolist()))
    assert len(seen) == 19
    assert set(seen) == {(1, 2)}


def test_a_new_face_gets_an_id_only_after_min_hits():
    tracker = FaceTracker(TrackerConfig(min_hits=3))
    counts = [len(tracker.update(dets(LEFT)).faces) for _ in range(4)]
    assert counts == [0, 0, 1, 1]


def test_a_one_frame_fluke_never_gets_an_id_and_ids_count_people():
    tracker = FaceTracker(TrackerConfig(min_hits=2))
    tracker.update(dets(RIGHT))
    tracker.update(dets())
    tracker.update(dets(LEFT))
    out = tracker.update(dets(LEFT)).faces
    assert out.track_ids.tolist() == [1]


def test_a_briefly_missed_face_keeps_its_id():
    tracker = FaceTracker(TrackerConfig(min_hits=1, max_missed=3))
    first = tracker.update(dets(LEFT)).faces.track_ids.tolist()
    for _ in range(3):
        tracker.update(dets())
    assert tracker.update(dets(LEFT)).faces.track_ids.tolist() == first


def test_a_track_ends_after_the_grace_period_and_its_crops_are_freed():
    tracker = FaceTracker(TrackerConfig(min_hits=1, max_missed=2, window=5))
    out = tracker.update(dets(LEFT)).faces
    tracker.add_crops(out, np.ones((1, 48, 48), np.float32))
    track = tracker.tracks[0]
    ended = []
    for _ in range(3):
        ended += tracker.update(dets()).ended
    assert ended == [1]
    assert tracker.tracks == []
    assert len(track.window) == 0


def test_windows_are_padded_with_the_first_crop_until_full():
    tracker = FaceTracker(TrackerConfig(min_hits=1, window=5))
    faces = tracker.update(dets(LEFT)).faces
    tracker.add_crops(faces, np.full((1, 4, 4), 0.25, np.float32))
    faces = tracker.update(dets(LEFT)).faces
    window = tracker.add_crops(faces, np.full((1, 4, 4), 0.75, np.float32)).data["window"]
    assert window.shape == (1, 5, 4, 4)
    assert window[0, :, 0, 0].tolist() == [0.25, 0.25, 0.25, 0.25, 0.75]


def test_window_keeps_only_the_last_t_crops():
    tracker = FaceTracker(TrackerConfig(min_hits=1, window=5))
    for value in range(8):
        faces = tracker.update(dets(LEFT)).faces
        windowed = tracker.add_crops(faces, np.full((1, 2, 2), value, np.float32))
    assert windowed.data["window"][0, :, 0, 0].tolist() == [3, 4, 5, 6, 7]


def test_reset_ends_every_confirmed_track_and_frees_its_crops():
    tracker = FaceTracker(TrackerConfig(min_hits=1))
    faces = tracker.update(dets(LEFT, RIGHT)).faces
    tracker.add_crops(faces, np.ones((2, 4, 4), np.float32))
    windows = [t.window for t in tracker.tracks]
    assert tracker.reset() == (1, 2)
    assert tracker.tracks == [] and all(len(w) == 0 for w in windows)
