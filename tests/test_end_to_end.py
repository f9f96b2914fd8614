"""The product path on real clips: real detector, real models, real sinks, driven from the CLI."""

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from confcam.build import build_pipeline
from confcam.cli import main
from confcam.config import PipelineConfig
from confcam.pipeline import FacePipeline
from confcam.sources.file import FileSource
from confcam.track.tracker import iou_distance
from tests.conftest import video

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt"]


def frames_of(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_demo_writes_an_annotated_clip_and_a_summary(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    assert main(["demo", "--no-show", "--output", str(out)]) == 0
    err = capsys.readouterr().err
    assert "Person 1" in err
    assert frames_of(out) == 472
    assert not [p for p in tmp_path.iterdir() if p.name != "demo.mp4"]


def test_analyze_json_follows_the_contract(tmp_path):
    out = tmp_path / "a.json"
    clip = video("single_face.mp4")
    assert main(["analyze", str(clip), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert {k: doc[k] for k in ("frames_analysed", "frames_skipped", "width", "height", "complete")} == {
        "frames_analysed": 72, "frames_skipped": 0, "width": 640, "height": 360, "complete": True
    }
    assert doc["labels"] == LABELS and doc["model"] and doc["fps"] == pytest.approx(30, abs=0.1)
    assert [f["frame"] for f in doc["frames"]] == list(range(72))
    assert [f["t"] for f in doc["frames"]] == sorted(f["t"] for f in doc["frames"])
    (person,) = doc["tracks"]
    assert set(person) == {"id", "first_frame", "last_frame", "frames_seen", "seconds", "label", "shares"}
    assert person["frames_seen"] >= 0.9 * 72 and person["label"] in LABELS
    faces = [face for f in doc["frames"] for face in f["tracks"]]
    assert len(faces) == person["frames_seen"]
    for f in doc["frames"]:
        assert set(f) == {"frame", "t", "size", "tracks"} and f["size"] == [640, 360]
    for face in faces:
        assert set(face) == {"id", "box", "probs", "label", "confidence"} and face["id"] == person["id"]
        assert len(face["box"]) == 4 and face["box"][2] > 20 and face["box"][3] > 20
        assert sum(face["probs"]) == pytest.approx(1, abs=1e-3)
        assert face["label"] in LABELS + ["uncertain"]


def test_a_photo_is_analysed_as_a_still_clip(tmp_path):
    with FileSource(video("WolfgangLanger_Pexels.mp4")) as source:
        frame = source.read()
    photo = tmp_path / "face.jpg"
    cv2.imwrite(str(photo), frame.image)
    out = tmp_path / "photo.json"
    assert main(["analyze", str(photo), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert (doc["width"], doc["height"]) == (640, 360)
    assert len(doc["tracks"]) == 1
    labels = [face["label"] for f in doc["frames"] for face in f["tracks"]]
    assert labels[-1] in LABELS and set(labels) == {labels[-1]}, "one steady reading, from the first frame"


def test_events_sink_writes_one_line_per_frame(tmp_path):
    out = tmp_path / "e.jsonl"
    clip = video("single_face.mp4")
    args = ["start", "--source", "file", "--input", str(clip), "--sink", "events", "--events", str(out), "--max-frames", "30"]
    assert main(args) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    frames = [line["frame"] for line in lines]
    assert len(lines) == 30 and frames == sorted(set(frames))
    assert sum(bool(line["tracks"]) for line in lines) >= 25


def pipeline_results(path: Path) -> tuple[list, list[list[int]], FacePipeline]:
    """Per frame: the faces, and the ids of the tracks (with their crops) the tracker still holds."""
    pipeline = build_pipeline(PipelineConfig())
    results, held = [], []
    with FileSource(path) as source:
        while (frame := source.read()) is not None:
            results.append(pipeline.process(frame))
            held.append([t.track_id for t in pipeline.tracker.tracks])
    return results, held, pipeline


def test_faces_keep_their_ids_from_frame_to_frame_in_a_multi_person_clip():
    results, _, _ = pipeline_results(video("short_hamilton_clip.mp4"))
    assert max(len(r) for r in results) >= 2
    assert sum(len(r) >= 2 for r in results) >= 10
    switches = 0
    for before, after in zip(results, results[1:]):
        if len(before) and len(after):
            overlap = 1 - iou_distance(before.boxes, after.boxes)
            for i, j in zip(*np.nonzero(overlap > 0.5)):
                switches += int(before.track_ids[i] != after.track_ids[j])
    assert switches == 0


def test_a_track_ends_and_frees_its_crops_when_the_face_leaves():
    results, held, pipeline = pipeline_results(video("face_noface.mov"))
    seen = [i for i, r in enumerate(results) if 1 in r.track_ids.tolist()]
    assert seen[0] < 5 and len(seen) >= 60
    end_frame = next(i for i, ids in enumerate(held) if i > seen[0] and 1 not in ids)
    assert seen[-1] < end_frame <= seen[-1] + pipeline.tracker.config.max_missed + 1
    assert 1 not in [t.track_id for t in pipeline.tracker.tracks]


def test_models_list_json_contract(capsys):
    assert main(["models", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    by_name = {e["name"]: e for e in entries}
    assert {"minixception-2d", "timeconvnet-minixception", "blazeface-short"} <= set(by_name)
    default = by_name["minixception-2d-ferplus"]
    assert default["default"] and default["window"] == 1 and not by_name["timeconvnet-minixception"]["default"]
    for e in entries:
        assert {"name", "kind", "path", "default", "window", "input_size", "labels"} <= set(e)
        assert e["kind"] in ("expression", "detector")


def test_start_sends_labelled_frames_to_the_virtual_camera(recording_backend):
    backend, recording = recording_backend
    clip = video("single_face.mp4")
    args = ["start", "--source", "file", "--input", str(clip), "--sink", "virtualcam", "--backend", backend, "--max-frames", "20"]
    assert main(args) == 0
    assert recording.opened and recording.opened[0]["width"] == 640 and recording.opened[0]["height"] == 360
    assert len(recording.frames) == 20 and recording.closed == 1
    with FileSource(clip) as source:
        original = source.read().image
    sent = recording.frames[-1].reshape(original.shape)
    changed = np.abs(sent.astype(np.int16) - original.astype(np.int16)).max(axis=2) > 40
    faces = build_pipeline(PipelineConfig()).detector.detect(original)
    x1, y1, x2, _ = faces.boxes[0].astype(int)
    above_face = changed[max(0, y1 - (x2 - x1)) : y1 + (x2 - x1) // 2, x1:x2]
    assert above_face.mean() > 0.1
    assert changed.mean() < 0.2


def test_bench_reports_every_stage_as_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", str(video("single_face.mp4")), "--frames", "40", "--warmup", "5", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report) == {"input", "frames", "fps", "faces_per_frame", "stages_ms", "latency_ms", "cpu_cores", "rss_mb", "machine"}
    assert 0 < report["cpu_cores"] <= report["machine"]["cores"] + 0.5
    assert report["frames"] == 40 and report["fps"] > 0 and report["faces_per_frame"] >= 0.9
    assert set(report["stages_ms"]) == {"capture", "detect", "track", "classify", "render", "sink"}
    assert report["stages_ms"]["detect"] > 0 and report["stages_ms"]["render"] > 0
    assert report["latency_ms"]["p95"] >= report["latency_ms"]["p50"] > 0
    assert report["machine"]["cores"] >= 1 and "onnxruntime" in report["machine"]["versions"]
    assert "frames per second" in capsys.readouterr().err


@pytest.mark.parametrize("clip, max_frames, has_sound", [
    ("single_face.mp4", None, True),
    ("WolfgangLanger_Pexels.mp4", 45, True),
    ("lp_d0.mp4", 30, False),
], ids=["whole-clip", "first-45-frames", "no-sound"])
def test_analyze_writes_every_frame_labelled_with_the_recordings_sound(tmp_path, clip, max_frames, has_sound):
    out = tmp_path / "labelled.mp4"
    args = ["analyze", str(video(clip)), "--output", str(out)] + (["--max-frames", str(max_frames)] if max_frames else [])
    assert main(args) == 0
    with av.open(str(video(clip))) as original:
        frames_in = [f.to_ndarray(format="bgr24") for f in original.decode(video=0)]
        sound_in = original.streams.audio[0].codec_context.name if original.streams.audio else None
        fps = float(original.streams.video[0].average_rate)
    wanted = len(frames_in) if max_frames is None else max_frames
    with av.open(str(out)) as labelled:
        assert bool(labelled.streams.audio) is has_sound
        if has_sound:
            assert labelled.streams.audio[0].codec_context.name == sound_in, "the sound is copied, not re-encoded"
            audio = labelled.streams.audio[0]
            audio_s = sum(float(p.duration * audio.time_base) for p in labelled.demux(audio) if p.duration)
            assert audio_s == pytest.approx(wanted / fps, abs=0.15), "the sound ends with the picture"
    with av.open(str(out)) as labelled:
        frames_out = [f.to_ndarray(format="bgr24") for f in labelled.decode(video=0)]
    assert len(frames_out) == wanted, "analyze never drops a frame"
    changed = [np.abs(a[: b.shape[0], : b.shape[1]].astype(int) - b.astype(int)).max() > 60
               for a, b in zip(frames_in, frames_out)]
    assert sum(changed) > 0.5 * wanted, "the faces are labelled in the picture"


def test_analyze_plots_each_persons_expression_over_time(tmp_path):
    plot, doc_path = tmp_path / "timeline.png", tmp_path / "doc.json"
    assert main(["analyze", str(video("WolfgangLanger_Pexels.mp4")), "--max-frames", "150", "--plot", str(plot),
                 "--json", str(doc_path)]) == 0
    picture = cv2.imread(str(plot))
    assert picture is not None and picture.shape[1] >= 800
    doc = json.loads(doc_path.read_text())
    shown = {face["label"] for f in doc["frames"] for face in f["tracks"]} - {"uncertain"}
    assert shown, "the clip shows at least one expression"
    from confcam.render.colors import color_for

    for label in shown:
        colour = np.array(color_for(label))
        assert (np.abs(picture.astype(int) - colour).sum(axis=2) < 12).sum() > 200, f"{label} is drawn in its colour"
