"""Practice mode on the web: the data-channel requests and their guards, a real aiortc peer driving the quiz
on the real server (labels hidden, the video held on the question's face, answer, reveal, next), and the
page in real headless Chromium with the fake camera: the Practice switch from the keyboard, a question,
an answer by key and one by click, the reveal with its cue, the session's score, and axe-core on the way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from aiortc.contrib.media import MediaPlayer

from confcam.classify.smoother import STEADINESS_PRESETS
from confcam.config import PipelineConfig
from confcam.practice.cues import cue_line
from confcam.web.demo import demo_server
from confcam.web.server import WebServer
from confcam.web.signalling import BadControl, Control, parse_control
from tests.conftest import video
from tests.test_web import CLIP, ICE_TIMEOUT_S, WEB, Peer

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")

GOOD_REQUESTS = {
    '{"practice": true}': Control("practice", True),
    '{"practice": false}': Control("practice", False),
    '{"answer": "surprise"}': Control("answer", "surprise"),
    '{"next": true}': Control("next", True),
    '{"steadiness": "quick"}': Control("steadiness", "quick"),
}
BAD_REQUESTS = {
    '{"practice": "yes"}': "practice must be true or false",
    '{"practice": 1}': "practice must be true or false",
    '{"answer": "smug"}': "an answer must be one of angry",
    '{"answer": ["happy"]}': "an answer must be one of",
    '{"answer": "happy", "next": true}': "a request must be",
    '{"next": false}': "next must be true",
    '{"cheat": true}': "a request must be",
    '{"answer": ' + "[" * 20 + "]" * 20 + "}": "nests deeper",
    '{"answer": "' + "a" * 2000 + '"}': "at most 1024 bytes",
}


@pytest.mark.parametrize("message,expected", list(GOOD_REQUESTS.items()), ids=list(GOOD_REQUESTS))
def test_practice_requests_are_understood(message: str, expected: Control) -> None:
    assert parse_control(message, STEADINESS_PRESETS, LABELS) == expected


@pytest.mark.parametrize("message,reason", list(BAD_REQUESTS.items()), ids=[k[:40] for k in BAD_REQUESTS])
def test_bad_practice_requests_are_refused_with_a_reason(message: str, reason: str) -> None:
    with pytest.raises(BadControl, match=reason.replace("[", r"\[")):
        parse_control(message, STEADINESS_PRESETS, LABELS)


@pytest.fixture(scope="module")
def server() -> Iterator[WebServer]:
    with demo_server(WEB, PipelineConfig(), ice_timeout_s=ICE_TIMEOUT_S) as running:
        yield running


def practice_states(peer: Peer) -> list[dict]:
    return [m["practice"] for _, m in peer.tracked() if "practice" in m]


async def wait_for(condition, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return False


def changed_share(a: np.ndarray, b: np.ndarray, level: int = 40) -> float:
    """The share of pixels that differ by more than `level` in some channel: a held frame re-encoded by the
    video codec differs a little everywhere, a changed picture a lot somewhere."""
    return float((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > level).mean())


def test_a_peer_practises_labels_hidden_the_question_frame_held_then_answer_reveal_and_next(server: WebServer) -> None:
    async def scenario() -> dict:
        player = MediaPlayer(str(video(CLIP)))
        peer = Peer(player.video)
        await peer.connect(server.url)
        try:
            assert await wait_for(lambda: peer.labelled(), 30), "no labelled face before practice"
            peer.channel.send('{"practice": true}')
            assert await wait_for(lambda: any(s["state"] == "asking" for s in practice_states(peer)), 40), "no question"
            asked_at = time.perf_counter()
            await asyncio.sleep(1.0)
            held = [image for t, image in peer.frames if t > asked_at + 0.3]
            session = next(iter(server.webapp.sessions))
            expression = session.analyser.practice.quiz.pending.expression
            peer.channel.send('{"answer": "not-a-label"}')
            peer.channel.send('{"answer": "happy"}')
            assert await wait_for(lambda: practice_states(peer)[-1]["state"] == "revealed", 10), "no reveal"
            revealed = practice_states(peer)[-1]
            revealed_at = time.perf_counter()
            await asyncio.sleep(1.0)
            shown = [image for t, image in peer.frames if t > revealed_at + 0.3]
            peer.channel.send('{"next": true}')
            assert await wait_for(lambda: practice_states(peer)[-1]["state"] == "watching", 10), "no way on"
            peer.channel.send('{"practice": false}')
            assert await wait_for(lambda: "practice" not in peer.tracked()[-1][1], 10), "practice did not stop"
            return {"messages": [m for _, m in peer.tracked()], "held": held, "shown": shown, "expression": expression,
                    "revealed": revealed, "replies": peer.replies(), "last": peer.tracked()[-1][1]}
        finally:
            await peer.close()
            player.video.stop()

    found = asyncio.run(scenario())
    practising = [m for m in found["messages"] if "practice" in m]
    assert practising and all(t["label"] is None and t["probs"] is None for m in practising for t in m["tracks"])
    held, shown = found["held"], found["shown"]
    print([round(changed_share(a, held[-1]), 4) for a in held], [round(changed_share(a, shown[-1]), 4) for a in shown],
          changed_share(shown[-1], held[-1]))
    assert len(held) >= 3 and len(shown) >= 3, "the video stopped coming while the question or the reveal was shown"
    assert max(changed_share(a, held[-1]) for a in held) < 0.01, "the video was not held on the question"
    assert max(changed_share(a, shown[-1]) for a in shown) < 0.01, "the video was not held on the reveal"
    assert changed_share(shown[-1], held[-1]) > 0.02, "the reveal did not change the picture"
    reveal = found["revealed"]["reveal"]
    assert reveal["expression"] == found["expression"] and reveal["answer"] == "happy"
    assert reveal["correct"] == (found["expression"] == "happy")
    assert reveal["cue"] == cue_line(found["expression"])
    score = found["revealed"]["score"]
    assert score["asked"] == 1 and score["correct"] == int(reveal["correct"])
    assert score["expressions"] == {found["expression"]: {"asked": 1, "correct": int(reveal["correct"])}}
    assert found["replies"] == [{"error": "an answer must be one of " + ", ".join(LABELS) + " (got 'not-a-label')"}]
    assert found["last"]["tracks"] and found["last"]["tracks"][0]["label"] is not None, "labels did not come back"


# --- the page in Chromium ------------------------------------------------------------------------------

from tests.test_web_a11y import axe_script, axe_violations, serious, tab_to  # noqa: E402,F401 - axe_script is a fixture
from tests.test_web_browser import ARTIFACTS, CHROMIUM, chromium, fake_camera, new_page  # noqa: E402,F401 - fake_camera is a fixture


@pytest.fixture
def page(fake_camera: Path, tmp_path: Path) -> Iterator[object]:  # noqa: F811
    if not CHROMIUM.is_file():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)")
    with chromium(fake_camera, tmp_path / "profile") as context:
        yield new_page(context)


PANEL_JS = """() => ({
  prompt: document.getElementById('practice-prompt').textContent,
  cue: document.getElementById('practice-cue').textContent,
  revealHidden: document.getElementById('practice-reveal').hidden,
  answersHidden: document.getElementById('practice-answers').hidden,
  emoji: document.getElementById('practice-emoji').getAttribute('src'),
  emojiLoaded: (() => { const i = document.getElementById('practice-emoji'); return i.complete && i.naturalWidth > 0; })(),
  total: document.getElementById('practice-total').textContent,
  rows: [...document.querySelectorAll('#practice-score tbody tr')].map((r) => [...r.cells].map((c) => c.textContent)),
  peopleHidden: document.getElementById('people').hidden,
  focused: document.activeElement.id,
})"""
QUESTION_JS = "() => !document.getElementById('practice-answers').hidden"
REVEAL_JS = """() => { const i = document.getElementById('practice-emoji');
  return !document.getElementById('practice-reveal').hidden && i.complete && i.naturalWidth > 0; }"""


def server_quiz(server: WebServer):
    sessions = list(server.webapp.sessions)
    return sessions[0].analyser.practice.quiz if len(sessions) == 1 else None


def test_the_page_s_practice_switch_asks_takes_a_key_and_a_click_reveals_and_scores(
    server: WebServer, page, axe_script: Path  # noqa: F811
) -> None:
    page.goto(server.page_url)
    page.wait_for_selector("#practice-switch", state="visible")
    page.locator("body").focus()
    tab_to(page, "() => document.activeElement.id === 'practice-switch'")
    page.keyboard.press("Space")
    assert page.is_checked("#practice-switch") and page.is_visible("#practice") and page.is_hidden("#people")
    page.click("#start-camera")
    page.wait_for_function(QUESTION_JS, timeout=60_000)
    page.emulate_media(reduced_motion="reduce")
    asking_violations = axe_violations(page, axe_script)
    expression = server_quiz(server).pending.expression
    page.keyboard.press("4")  # key 4 is the fourth choice: happy
    page.wait_for_function(REVEAL_JS, timeout=10_000)
    first = page.evaluate(PANEL_JS)
    revealed_violations = axe_violations(page, axe_script)
    page.keyboard.press("Enter")  # the Next button has the focus after a reveal
    page.wait_for_function("() => document.getElementById('practice-reveal').hidden", timeout=10_000)
    page.wait_for_function(QUESTION_JS, timeout=60_000)
    second_expression = server_quiz(server).pending.expression
    page.click("#practice-answers button[data-label='sad']")
    page.wait_for_function(REVEAL_JS, timeout=10_000)
    second = page.evaluate(PANEL_JS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-practice.png"), full_page=True)
    score = server_quiz(server).score
    page.keyboard.press("Enter")
    page.locator("#practice-switch").click()
    page.wait_for_function("() => !document.getElementById('people').hidden")
    off = page.evaluate(PANEL_JS)
    print(first, second, off)
    assert not serious(asking_violations) and not serious(revealed_violations), (asking_violations, revealed_violations)
    for panel, answer, truth in ((first, "happy", expression), (second, "sad", second_expression)):
        verdict = f"Yes: confcam read {truth} too." if answer == truth else f"You said {answer}; confcam read {truth}."
        assert panel["prompt"] == verdict, panel
        assert panel["cue"] == f"Look for: {cue_line(truth)}" and panel["emoji"] == f"/overlays/{truth}.png"
        assert panel["emojiLoaded"] and panel["answersHidden"] and not panel["revealHidden"]
        assert panel["focused"] == "practice-next" and panel["peopleHidden"]
    matched = int(expression == "happy") + int(second_expression == "sad")
    assert second["total"] == f"Score this session: {matched} of 2 matched confcam", second
    assert score.asked == 2 and score.correct == matched
    expected_rows = sorted([[label, str(t.asked), str(t.correct)] for label, t in score.rows()], key=lambda r: LABELS.index(r[0]))
    assert second["rows"] == expected_rows
    assert off["prompt"] == "Practice is off. Your score this session:" and off["rows"] == expected_rows
