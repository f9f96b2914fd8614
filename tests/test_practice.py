"""Practice mode on real video through the real pipeline: when the quiz asks, what the reveal says, the score
and its progress file, the pictures that must not give the answer away, and the whole `confcam practice`
command in a window under Xvfb answered with real key presses (xdotool)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from confcam.build import build_pipeline, build_source
from confcam.cli import main
from confcam.config import PipelineConfig, SourceConfig
from confcam.errors import ConfcamError
from confcam.practice.cues import CUES, cue_line
from confcam.practice.overlay import PracticeCaption, PracticeMarks, question_lines, reveal_lines
from confcam.practice.quiz import PracticeConfig, PracticeQuiz, Question
from confcam.practice.score import PracticeScore, ProgressFile, Tally
from confcam.types import UNCERTAIN, Detections
from tests.conftest import REPO, video

CLIPS = ("sample", "lp_d9.mp4", "lp_d3.mp4")
"""Clips long enough for a steady second after the first label (single_face.mp4, 2.4 s, holds its smile for
~1.0 s at the very end: whether it is asked about depends on a frame)."""
KEPT_PICTURES = 120


@dataclass
class Seen:
    """One frame of a real clip after the real pipeline: its time, its picture and its faces."""

    t: float
    image: np.ndarray
    faces: Detections


def clip_path(name: str) -> Path:
    return REPO / "confcam" / "assets" / "sample.mp4" if name == "sample" else video(name)


@pytest.fixture(scope="module")
def runs() -> dict[str, list[Seen]]:
    """Each clip through the default pipeline once (pictures kept only for the sample clip's first seconds,
    where its first question comes, and only in memory)."""
    pipeline = build_pipeline(PipelineConfig())
    out: dict[str, list[Seen]] = {}
    for name in CLIPS:
        pipeline.reset()
        seen = []
        with build_source(SourceConfig(kind="file", options={"input": clip_path(name)}, pace=False)) as source:
            while (frame := source.read()) is not None:
                faces = pipeline.process(frame)
                keep = name == "sample" and frame.index < KEPT_PICTURES
                seen.append(Seen(frame.timestamp, frame.image if keep else np.empty(0), faces))
        out[name] = seen
    out["labels"] = pipeline.class_names  # type: ignore[assignment]
    return out


def play(quiz: PracticeQuiz, seen: list[Seen], answer_for) -> list[tuple[Seen, Question]]:
    """Offers every frame to the quiz as the window does; each question is answered at once with the choice
    answer_for(question) picks and the reveal is read (carry_on)."""
    asked = []
    for item in seen:
        question = quiz.offer(item.faces, item.t)
        if question is not None:
            asked.append((item, question))
            reveal = quiz.answer(answer_for(question))
            assert reveal.question is question
            quiz.carry_on()
    return asked


@pytest.mark.parametrize("clip", CLIPS)
def test_questions_come_only_for_steady_confident_faces_and_not_too_often(runs, clip: str) -> None:
    config = PracticeConfig()
    quiz = PracticeQuiz(runs["labels"], config)
    asked = play(quiz, runs[clip], lambda q: q.expression)
    print(clip, [(round(q.t, 2), q.track_id, q.expression, round(q.confidence, 2)) for _, q in asked])
    assert asked, f"no question on {clip}"
    for item, question in asked:
        row = [int(i) for i in item.faces.track_ids].index(question.track_id)
        assert item.faces.labels[row] == question.expression != UNCERTAIN
        assert float(item.faces.data["label_age"][row]) >= config.steady_s
        assert float(item.faces.confidences[row]) >= config.min_confidence
        assert question.box == tuple(float(v) for v in item.faces.boxes[row])
    times = [q.t for _, q in asked]
    assert all(b - a >= config.gap_s for a, b in zip(times, times[1:])), times
    by_face: dict[int, list[float]] = {}
    for _, question in asked:
        by_face.setdefault(question.track_id, []).append(question.t)
    for face_times in by_face.values():
        assert all(b - a >= config.face_cooldown_s for a, b in zip(face_times, face_times[1:])), by_face
    assert quiz.score.asked == quiz.score.correct == len(asked)


def test_the_sample_clip_asks_about_more_than_one_expression(runs) -> None:
    asked = play(PracticeQuiz(runs["labels"]), runs["sample"], lambda q: q.expression)
    assert len({q.expression for _, q in asked}) >= 2, [q.expression for _, q in asked]


@pytest.mark.parametrize("key_offset", range(8))
def test_a_key_answers_with_its_choice_and_the_score_counts_only_matches(runs, key_offset: int) -> None:
    quiz = PracticeQuiz(runs["labels"])
    chosen = quiz.choice_for_key(ord("1") + key_offset)
    reveals = []
    for item in runs["sample"]:
        question = quiz.offer(item.faces, item.t)
        if question is not None:
            reveals.append(quiz.answer(chosen))
            quiz.carry_on()
    assert chosen == runs["labels"][key_offset]
    assert reveals
    for reveal in reveals:
        assert reveal.answer == chosen
        assert reveal.correct == (reveal.question.expression == chosen)
        assert reveal.cue == cue_line(reveal.question.expression)
        assert reveal.cue.endswith(f": {reveal.question.expression}")
    expected: dict[str, Tally] = {}
    for reveal in reveals:
        tally = expected.setdefault(reveal.question.expression, Tally())
        tally.asked += 1
        tally.correct += int(reveal.correct)
    assert quiz.score.tallies == expected


@pytest.mark.parametrize("key", [ord("0"), ord("9"), ord("a"), ord(" "), -1])
def test_keys_that_are_not_choices_answer_nothing(runs, key: int) -> None:
    assert PracticeQuiz(runs["labels"]).choice_for_key(key) is None


def test_no_new_question_while_one_or_its_reveal_is_on_screen(runs) -> None:
    quiz = PracticeQuiz(runs["labels"], replace(PracticeConfig(), gap_s=0.0, face_cooldown_s=0.0))
    frames = iter(runs["sample"])
    first = next(q for item in frames if (q := quiz.offer(item.faces, item.t)) is not None)
    while_asking = [quiz.offer(item.faces, item.t) for item in runs["sample"]]
    with pytest.raises(ValueError, match="not one of"):
        quiz.answer("bored")
    quiz.answer(first.expression)
    while_revealed = [quiz.offer(item.faces, item.t) for item in runs["sample"]]
    quiz.carry_on()
    after = [quiz.offer(item.faces, item.t) for item in runs["sample"]]
    assert while_asking == [None] * len(runs["sample"]) == while_revealed
    assert any(q is not None for q in after)
    with pytest.raises(ValueError, match="no question"):
        PracticeQuiz(runs["labels"]).answer("happy")


def test_every_label_of_the_default_model_has_a_one_line_cue(runs) -> None:
    labels = runs["labels"]
    assert set(labels) == set(CUES), labels
    for label in labels:
        line = cue_line(label)
        assert line.endswith(f": {label}") and "\n" not in line and len(line) <= 80, line
    assert cue_line("smug") == "smug"


def first_question(runs) -> tuple[Seen, Question, PracticeQuiz]:
    """The sample clip's first question, still waiting for its answer."""
    quiz = PracticeQuiz(runs["labels"])
    item, question = next((item, q) for item in runs["sample"] if (q := quiz.offer(item.faces, item.t)) is not None)
    assert item.image.size, "the first question came after the frames whose pictures are kept"
    return item, question, quiz


def test_the_watching_and_asking_pictures_do_not_depend_on_confcam_s_reading(runs) -> None:
    marks = PracticeMarks()
    item, question, _ = first_question(runs)
    other = next(label for label in runs["labels"] if label != question.expression)
    relabelled = item.faces.with_fields(labels=[other] * len(item.faces))
    assert np.array_equal(marks.watching(item.image, item.faces), marks.watching(item.image, relabelled))
    assert np.array_equal(marks.asking(item.image, question), marks.asking(item.image, replace(question, expression=other)))
    assert not np.array_equal(marks.asking(item.image, question), item.image), "the face asked about is not marked"


def test_the_reveal_shows_confcam_s_emoji_over_the_face_asked_about(runs) -> None:
    marks = PracticeMarks()
    item, question, quiz = first_question(runs)
    reveal = quiz.answer(question.expression)
    asking, revealed = marks.asking(item.image, question), marks.reveal(item.image, reveal)
    x, y, size = marks.layout.place(np.array(question.box, np.float32), item.image.shape[1], item.image.shape[0])
    region = (slice(int(y), int(y + size)), slice(int(x), int(x + size)))
    assert float(np.abs(revealed[region].astype(int) - asking[region].astype(int)).mean()) > 20, "no emoji where it goes"
    lines = reveal_lines(reveal)
    assert lines[0] == f"Yes: confcam read {question.expression} too." and lines[1] == reveal.cue
    wrong = next(label for label in runs["labels"] if label != question.expression)
    _, _, again = first_question(runs)
    assert reveal_lines(again.answer(wrong))[0] == f"You said {wrong}; confcam read {question.expression}."


def test_the_caption_lists_every_key_and_fits_the_frame(runs) -> None:
    item, question, _ = first_question(runs)
    lines = question_lines(question)
    keyed = " ".join(lines[1:])
    for index, label in enumerate(question.choices):
        assert f"{index + 1} {label}" in keyed
    view = PracticeCaption().below(item.image, lines)
    assert view.shape[1] == item.image.shape[1] and view.shape[0] > item.image.shape[0]
    assert np.array_equal(view[: item.image.shape[0]], item.image)


# --- the score and its progress file -------------------------------------------------------------------


def session_score(runs, clip: str, answer: str) -> PracticeScore:
    quiz = PracticeQuiz(runs["labels"])
    play(quiz, runs[clip], lambda q: answer)
    return quiz.score


def test_the_score_goes_through_json_and_adds_up_over_sessions(runs) -> None:
    first, second = session_score(runs, "sample", "sad"), session_score(runs, "lp_d9.mp4", "happy")
    total = first.plus(second)
    assert PracticeScore.from_json(json.loads(json.dumps(first.to_json()))) == first
    assert total.sessions == 2 and total.asked == first.asked + second.asked
    assert total.correct == first.correct + second.correct
    for label, tally in total.tallies.items():
        parts = [s.tallies.get(label, Tally()) for s in (first, second)]
        assert tally == Tally(sum(p.asked for p in parts), sum(p.correct for p in parts))


BAD_PROGRESS = {
    "not an object": [1, 2],
    "another format": {"format": "something-else", "version": 1, "sessions": 1, "expressions": {}},
    "a newer version": {"format": "confcam-practice-progress", "version": 99, "sessions": 1, "expressions": {}},
    "negative sessions": {"format": "confcam-practice-progress", "version": 1, "sessions": -1, "expressions": {}},
    "more correct than asked": {"format": "confcam-practice-progress", "version": 1, "sessions": 1,
                                "expressions": {"happy": {"asked": 1, "correct": 2}}},
    "a count that is text": {"format": "confcam-practice-progress", "version": 1, "sessions": 1,
                             "expressions": {"happy": {"asked": "3", "correct": 1}}},
    "a count that is a bool": {"format": "confcam-practice-progress", "version": 1, "sessions": True, "expressions": {}},
}


@pytest.mark.parametrize("document", list(BAD_PROGRESS.values()), ids=list(BAD_PROGRESS))
def test_a_damaged_progress_document_is_refused_with_a_reason(document: object) -> None:
    with pytest.raises(ValueError):
        PracticeScore.from_json(document)


def test_the_progress_file_adds_each_session_and_leaves_no_temp_file(runs, tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    first, second = session_score(runs, "sample", "sad"), session_score(runs, "sample", "happy")
    ProgressFile(path).save(first)
    ProgressFile(path).save(second)
    saved = PracticeScore.from_json(json.loads(path.read_text()))
    assert saved == first.plus(second) and saved.sessions == 2
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]


@pytest.mark.parametrize("content", ["not json at all", '{"format": "something-else"}', ""])
def test_a_file_that_is_not_progress_is_refused_before_the_session_and_kept(tmp_path: Path, content: str) -> None:
    path = tmp_path / "notes.json"
    path.write_text(content)
    with pytest.raises(ConfcamError, match="not a confcam practice progress file"):
        ProgressFile(path)
    assert path.read_text() == content


# --- the command ---------------------------------------------------------------------------------------


def test_without_a_display_practice_says_so_in_one_line(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["practice", "--save-progress", str(tmp_path / "progress.json")])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("confcam: error:") and "DISPLAY" in lines[0] and "confcam web" in lines[0], lines[0]
    assert not list(tmp_path.iterdir())


def press_until_done(process: subprocess.Popen, display: str, keys: list[str], limit_s: float = 240) -> None:
    """Presses the keys on the practice window every half second until the run ends: keys that mean
    nothing at that moment (a digit while watching, Space while asking) are ignored by the window."""
    env = {**os.environ, "DISPLAY": display}
    deadline = time.monotonic() + limit_s
    while process.poll() is None and time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--name", "^confcam practice$"], env=env,
                               capture_output=True, text=True, check=False)
        for window in found.stdout.split():
            for key in keys:
                subprocess.run(["xdotool", "key", "--window", window, key], env=env, capture_output=True, check=False)
        time.sleep(0.5)
    if process.poll() is None:
        process.kill()
        process.wait()
        pytest.fail("confcam practice did not finish")


@pytest.mark.display
@pytest.mark.parametrize("answer_key", [4, 5])
def test_practice_in_a_window_answered_with_keys_saves_the_score(xvfb: str, tmp_path: Path, answer_key: int) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    progress = tmp_path / "progress.json"
    earlier = PracticeScore(sessions=3, tallies={"angry": Tally(2, 1)})
    progress.write_text(json.dumps(earlier.to_json()))
    command = [sys.executable, "-m", "confcam", "practice", "--max-frames", "300", "--save-progress", str(progress)]
    process = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "DISPLAY": xvfb, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    press_until_done(process, xvfb, [str(answer_key), "space"])
    out, err = process.communicate()
    print(err)
    assert process.returncode == 0, err
    saved = PracticeScore.from_json(json.loads(progress.read_text()))
    labels = build_pipeline(PipelineConfig()).class_names
    chosen = labels[answer_key - 1]
    session = PracticeScore(tallies={
        label: Tally(t.asked - earlier.tallies.get(label, Tally()).asked, t.correct - earlier.tallies.get(label, Tally()).correct)
        for label, t in saved.tallies.items()
    })
    assert saved.sessions == earlier.sessions + 1
    assert all(t.asked >= 0 and t.correct >= 0 for t in session.tallies.values()), saved
    assert session.asked >= 2, f"fewer than two questions in 300 frames of the sample clip: {err}"
    for label, tally in session.tallies.items():
        assert tally.correct == (tally.asked if label == chosen else 0), (label, tally, chosen)
    assert f"This session: {session.correct} of {session.asked}" in err
    assert "Saved progress" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.json"], "practice wrote something else"


@pytest.mark.display
def test_q_in_the_practice_window_stops_and_an_unused_progress_file_is_left_as_it_was(xvfb: str, tmp_path: Path) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    progress = tmp_path / "progress.json"
    before = json.dumps(PracticeScore(sessions=2, tallies={"sad": Tally(3, 2)}).to_json())
    progress.write_text(before)
    command = [sys.executable, "-m", "confcam", "practice", "--loop", "--save-progress", str(progress)]
    process = subprocess.Popen(command, cwd=tmp_path, env={**os.environ, "DISPLAY": xvfb, "PYTHONPATH": str(REPO)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    press_until_done(process, xvfb, ["q"], limit_s=120)
    _, err = process.communicate()
    assert process.returncode == 0, err
    assert "No question was asked" in err and "left as it was" in err, err
    assert progress.read_text() == before


@pytest.mark.display
def test_practice_on_a_meeting_window_captured_live(xvfb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real "Zoom Meeting" window (an OpenCV player showing the sample clip's sad stretch) captured by the
    window source; the practice window is moved off it (a capture of confcam's own window would be read too)."""
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (apt-get install xdotool)")
    from confcam.sources.window import list_windows
    from tests.test_window_capture import PLAYER

    monkeypatch.setenv("DISPLAY", xvfb)
    frames = []
    with build_source(SourceConfig(kind="sample", pace=False)) as clip:
        while (frame := clip.read()) is not None and frame.index < 160:
            if frame.index >= 60 and frame.index % 10 == 0:
                frames.append(frame.image)
    np.save(tmp_path / "frames.npy", np.stack(frames))
    env = {**os.environ, "DISPLAY": xvfb, "PYTHONPATH": str(REPO)}
    player = subprocess.Popen([sys.executable, "-c", PLAYER, str(tmp_path / "frames.npy"), "0", "100"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    progress = tmp_path / "progress.json"
    try:
        assert player.stdout.readline().strip() == "ready", "the player window did not come up"
        deadline = time.monotonic() + 20
        while not any(w["title"] == "Zoom Meeting" for w in list_windows()) and time.monotonic() < deadline:
            time.sleep(0.1)
        command = [sys.executable, "-m", "confcam", "practice", "--source", "window", "--window-title", "Zoom Meeting",
                   "--max-frames", "150", "--save-progress", str(progress)]
        practice = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        moved = False
        deadline = time.monotonic() + 60
        while not moved and practice.poll() is None and time.monotonic() < deadline:
            found = subprocess.run(["xdotool", "search", "--name", "^confcam practice$"], env=env,
                                   capture_output=True, text=True, check=False).stdout.split()
            for window in found:
                subprocess.run(["xdotool", "windowmove", window, "660", "0"], env=env, capture_output=True, check=False)
                moved = True
            time.sleep(0.1)
        press_until_done(practice, xvfb, ["5", "space"], limit_s=180)
        _, err = practice.communicate()
    finally:
        player.kill()
        player.wait(timeout=10)
    print(err)
    assert practice.returncode == 0, err
    saved = PracticeScore.from_json(json.loads(progress.read_text()))
    assert saved.asked >= 1, err
    for label, tally in saved.tallies.items():
        assert tally.correct == (tally.asked if label == "sad" else 0), (label, tally)
    assert "confcam practice: window" in err
