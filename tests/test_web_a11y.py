"""Accessibility of the demo page in real headless Chromium, on the real server with real video: axe-core finds
nothing serious, the side panel is a polite live region that names each person, where they are and their label,
the steadiness control works from the keyboard and changes the session's smoother on the server, text is at
least 14 px and fades follow prefers-reduced-motion, and the cards follow the faces' reading order with live
thumbnails."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from confcam.classify.smoother import SmootherConfig
from confcam.imaging import fill
from confcam.config import PipelineConfig, WebConfig
from confcam.render.panel import position_words, reading_order
from confcam.sources.webrtc import WebRtcSource
from confcam.web.ingest import SinglePeerServer
from confcam.web.demo import demo_server
from confcam.web.server import WebServer
from tests.conftest import REPO, video
from tests.test_web import wait_until
from tests.test_web_browser import (
    ARTIFACTS,
    CHROMIUM,
    FPS,
    SIZE,
    chromium,
    clip_images,
    fake_camera,  # noqa: F401 - a fixture
    new_page,
    write_y4m,
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.is_file(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
)
pytest.importorskip("playwright.sync_api", reason="needs the playwright Python package (pip install playwright)")

AXE_DIR = REPO / "tests" / "web_a11y"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
GALLERY_CLIPS = ("WolfgangLanger_Pexels.mp4", "lp_d9.mp4", "lp_d3.mp4", "lp_s18.mp4")
"""Four real faces in a 2x2 call gallery: top left, top right, bottom left, bottom right."""
SUMMARY = re.compile(r"^Person (\d+)(?:, ([a-z ]+))?: ([a-z_]+)(?:, (\d+) %)?$")
"""The sentence a screen reader reads for a card: "Person 2, top left: happy, 80 %"."""


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core as pinned in tests/web_a11y/package-lock.json; .ci/run installs it, else it is installed here once."""
    if not AXE_JS.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("axe-core is not installed and npm is missing: npm ci --prefix tests/web_a11y")
        done = subprocess.run([npm, "ci", "--prefix", str(AXE_DIR), "--no-audit", "--no-fund"],
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0 or not AXE_JS.is_file():
            pytest.skip(f"could not install axe-core (npm ci --prefix tests/web_a11y): {done.stderr[-500:]}")
    return AXE_JS


AXE_RUN = """async () => {
  // A departed face's card is fading out on purpose: it is no longer content to read.
  const results = await axe.run({ exclude: [".card.gone"] });
  const violations = results.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(" ")}: ${n.failureSummary.split("\\n").slice(1).join(" ")}`),
  }));
  return { violations, passed: results.passes.map((p) => p.id) };
}"""


def axe_violations(page, axe_script: Path) -> list[dict]:
    """Every axe-core violation on the page as it is now (axe is injected from disk: nothing from the network)."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script))
    results = page.evaluate(AXE_RUN)
    # A check that ran no rule would pass anything: the page's contrast and names must have been checked.
    assert {"color-contrast", "button-name", "html-has-lang"} <= set(results["passed"]), results["passed"]
    return results["violations"]


def serious(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def start_from_keyboard(page) -> None:
    """Tab to "Start camera" and press Enter, as a keyboard user does."""
    page.locator("body").focus()
    tab_to(page, "() => document.activeElement.id === 'start-camera'")
    page.keyboard.press("Enter")


def tab_to(page, condition_js: str, presses: int = 12) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(condition_js):
            return
    raise AssertionError(f"Tab never reached the element ({condition_js}); focus is on {focused(page)}")


def focused(page) -> str:
    return page.evaluate("() => document.activeElement.outerHTML.slice(0, 120)")


LABELLED_CARDS_JS = """(count) => [...document.querySelectorAll('#cards .card:not(.gone) .summary')]
  .filter((s) => /: (?!uncertain)[a-z_]+, \\d+ %$/.test(s.textContent)).length >= count"""


def wait_for_labelled_cards(page, count: int = 1, timeout_ms: int = 45_000) -> None:
    page.wait_for_function(LABELLED_CARDS_JS, arg=count, timeout=timeout_ms)


@pytest.fixture
def server() -> Iterator[WebServer]:
    with demo_server(WebConfig(port=0), PipelineConfig()) as running:
        yield running


@pytest.fixture
def page(fake_camera: Path, tmp_path: Path) -> Iterator[object]:  # noqa: F811 - fake_camera is the imported fixture
    with chromium(fake_camera, tmp_path / "profile") as context:
        yield new_page(context)


def test_axe_finds_no_serious_or_critical_problem_on_the_idle_live_and_source_pages(
    server: WebServer, page, axe_script: Path
) -> None:
    page.goto(server.page_url)
    page.wait_for_selector("#steadiness input", state="visible")
    idle = axe_violations(page, axe_script)
    page.click("#start-camera")
    wait_for_labelled_cards(page)
    # axe samples colours at one instant; without motion a label's 150 ms fade-in cannot be caught half-way.
    page.emulate_media(reduced_motion="reduce")
    live = axe_violations(page, axe_script)
    source = WebRtcSource(SinglePeerServer(WebConfig(port=0)))
    source.listen()
    try:
        page.goto(source.url)
        page.wait_for_function("() => window.confcamPage !== undefined")
        source_page = axe_violations(page, axe_script)
    finally:
        source.close()
    found = {"idle": idle, "live": live, "source": source_page}
    print(found)
    assert not any(serious(v) for v in found.values()), f"axe-core found: {found}"


def test_the_panel_is_a_polite_live_region_whose_text_names_each_person_with_place_and_label(
    server: WebServer, page
) -> None:
    page.goto(server.page_url)
    page.click("#start-camera")
    wait_for_labelled_cards(page)
    region = page.locator("#people")
    # Record what the live region would announce while predictions keep arriving for 3 s.
    page.evaluate("""() => {
      window.announced = [];
      new MutationObserver((records) => records.forEach((r) => {
        const node = r.target.nodeType === Node.TEXT_NODE ? r.target.parentElement : r.target;
        if (!node.closest('[aria-hidden="true"]')) window.announced.push(node.textContent);  // what a reader hears
      })).observe(document.getElementById('people'), { subtree: true, childList: true, characterData: true });
      window.messagesBefore = window.confcamStats.messages;
    }""")
    page.wait_for_timeout(3000)
    announced, messages = page.evaluate("() => [window.announced, window.confcamStats.messages - window.messagesBefore]")
    summaries = page.locator("#cards .summary").all_inner_texts()
    accessible = region.aria_snapshot()
    labels = set(page.evaluate("async () => (await (await fetch('/config')).json()).labels")) | {"uncertain"}
    x, y, w, h = page.evaluate("() => [...window.confcamPage.people.people.values()][0].track.box")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-panel.png"), full_page=True)
    print(summaries, accessible, announced, messages)
    assert region.get_attribute("aria-live") == "polite"
    assert summaries, "no card in the panel"
    for summary in summaries:
        match = SUMMARY.match(summary)
        assert match, f"a card's sentence does not name the person, place and label: {summary!r}"
        assert match[3] in labels
        assert summary in accessible, f"a screen reader does not get {summary!r}: {accessible}"
    where = SUMMARY.match(summaries[0])[2]
    assert where in nearby_position_words(np.array([x, y, x + w, y + h], np.float32)), (summaries, [x, y, w, h])
    assert messages >= 20, f"only {messages} predictions in 3 s"
    assert len(announced) <= 6, f"the live region changed {len(announced)} times in 3 s for {messages} predictions: {announced}"


SMALLEST_TEXT_JS = """() => {
  const sizes = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || !element.getClientRects().length || element.closest('.summary')) continue;
    sizes.push([parseFloat(getComputedStyle(element).fontSize), node.textContent.trim().slice(0, 30)]);
  }
  return sizes.sort((a, b) => a[0] - b[0])[0];
}"""
MOTION_JS = """() => ({
  labelFade: getComputedStyle(document.querySelector('#cards .reading')).transitionDuration,
  cardFade: getComputedStyle(document.querySelector('#cards .card')).transitionDuration,
})"""


def test_text_is_at_least_14_px_and_label_fades_follow_the_reduced_motion_setting(server: WebServer, page) -> None:
    page.goto(server.page_url)
    page.click("#start-camera")
    wait_for_labelled_cards(page)
    smallest = page.evaluate(SMALLEST_TEXT_JS)
    moving = page.evaluate(MOTION_JS)
    page.emulate_media(reduced_motion="reduce")
    still = page.evaluate(MOTION_JS)
    assert smallest[0] >= 14, f"text smaller than 14 px: {smallest}"
    assert moving["labelFade"] == "0.15s" and moving["cardFade"] == "1s", moving
    assert still["labelFade"] == "0s" and still["cardFade"] == "0s", still


def smoother_config(server: WebServer) -> SmootherConfig | None:
    sessions = list(server.webapp.sessions)
    return sessions[0].analyser.pipeline.smoother.config if len(sessions) == 1 else None


def test_the_steadiness_control_works_from_the_keyboard_and_changes_the_session_s_smoother(
    server: WebServer, page
) -> None:
    page.goto(server.page_url)
    page.wait_for_selector("#steadiness input", state="visible")
    start_from_keyboard(page)
    wait_for_labelled_cards(page)
    assert smoother_config(server) == SmootherConfig.preset("balanced")
    tab_to(page, "() => document.activeElement.name === 'steadiness'")
    focus = page.evaluate("""() => { const e = document.activeElement, s = getComputedStyle(e);
      return { value: e.value, visible: e.matches(':focus-visible'), outline: s.outlineStyle, width: parseFloat(s.outlineWidth) }; }""")
    page.keyboard.press("ArrowUp")
    calm = wait_until(lambda: smoother_config(server) == SmootherConfig.preset("calm"), 10)
    # The page confirms when the server's reply arrives on the data channel, which may trail the change.
    page.wait_for_function("() => document.querySelector('#steadiness-hint').textContent.startsWith('In use: calm')",
                           timeout=10_000)
    calm_hint = page.inner_text("#steadiness-hint")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    quick = wait_until(lambda: smoother_config(server) == SmootherConfig.preset("quick"), 10)
    checked = page.evaluate("() => document.querySelector('#steadiness input:checked').value")
    print(focus, calm_hint, smoother_config(server))
    assert focus["value"] == "balanced", "Tab did not land on the chosen steadiness"
    assert focus["visible"] and focus["outline"] != "none" and focus["width"] >= 2, f"no visible focus: {focus}"
    assert calm, f"the server's smoother did not become calm: {smoother_config(server)}"
    assert calm_hint.startswith("In use: calm"), calm_hint
    assert quick and checked == "quick", f"the server's smoother did not become quick: {smoother_config(server)}"
    assert next(iter(server.webapp.sessions)).analyser.steadiness == "quick"


@pytest.fixture(scope="module")
def gallery_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four clips as a 2x2 call gallery, 640x480, 3 s, for Chromium's fake camera."""
    cell = (SIZE[0] // 2, SIZE[1] // 2)
    streams = [clip_images(video(name), 3 * FPS) for name in GALLERY_CLIPS]
    frames = (
        np.vstack([np.hstack([fill(t, *cell) for t in tiles[:2]]), np.hstack([fill(t, *cell) for t in tiles[2:]])])
        for tiles in zip(*streams)
    )
    return write_y4m(frames, tmp_path_factory.mktemp("gallery") / "gallery.y4m")


def gallery_frame(y4m: Path) -> np.ndarray:
    """The fake camera's first frame, BGR."""
    with av.open(str(y4m)) as container:
        return next(container.decode(video=0)).to_ndarray(format="bgr24")


CARDS_JS = """() => [...document.querySelectorAll('#cards .card')].map((card) => {
  const person = window.confcamPage.people.people.get(Number(card.dataset.trackId));
  const small = document.createElement('canvas');  // the thumbnail at 16x16, to compare with the face
  small.width = small.height = 16;
  const ctx = small.getContext('2d');
  ctx.drawImage(card.querySelector('.thumb'), 0, 0, 16, 16);
  return { id: person.id, box: person.track.box, where: card.querySelector('.where').textContent,
           gone: card.classList.contains('gone'), thumb: [...ctx.getImageData(0, 0, 16, 16).data] };
})"""


def face_crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The region a card's thumbnail shows (the face, square, 1.2 times its box) at 16x16, RGB."""
    x1, y1, x2, y2 = box
    side = 1.2 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    crop = frame[top : int(min(cy + side / 2, frame.shape[0])), left : int(min(cx + side / 2, frame.shape[1]))]
    return cv2.cvtColor(cv2.resize(crop, (16, 16), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB).astype(np.float32)


def nearby_position_words(box: np.ndarray, slack: float = 0.04) -> set[str]:
    """The words for a face's place, and for where it was a moment ago if it sits on a line between thirds:
    the page shows a new place only once it has held for a second."""
    shifts = [np.array([dx * SIZE[0], dy * SIZE[1]] * 2, np.float32) for dx in (-slack, 0, slack) for dy in (-slack, 0, slack)]
    return {position_words(box + shift, *SIZE) for shift in shifts}


def test_cards_follow_the_faces_reading_order_and_show_live_thumbnails(
    server: WebServer, gallery_camera: Path, tmp_path: Path
) -> None:
    with chromium(gallery_camera, tmp_path / "profile") as context:
        page = new_page(context)
        page.goto(server.page_url)
        page.click("#start-camera")
        wait_for_labelled_cards(page, 4, timeout_ms=60_000)
        page.wait_for_timeout(1500)  # a new order is shown once it has held for a second
        cards = page.evaluate(CARDS_JS)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-panel-gallery.png"), full_page=True)
    print([{k: v for k, v in c.items() if k != "thumb"} for c in cards])
    live = [c for c in cards if not c["gone"]]
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (c["box"] for c in live)], np.float32)
    assert len(live) == 4, f"expected the gallery's four faces: {cards}"
    assert reading_order(boxes) == [0, 1, 2, 3], f"cards are not in reading order: {cards}"
    for card, box in zip(live, boxes):
        assert card["where"] in nearby_position_words(box), f"Person {card['id']} is not {card['where']!r}: {box}"
    thumbs = [np.array(c["thumb"], np.float32).reshape(16, 16, 4)[..., :3] for c in live]
    first = gallery_frame(gallery_camera)
    crops = [face_crop(first, box) for box in boxes]
    distances = np.array([[float(np.abs(t - c).mean()) for c in crops] for t in thumbs])
    print(distances.round(1))
    assert all(float(t.std()) > 10 for t in thumbs), "a thumbnail is blank"
    assert list(distances.argmin(axis=1)) == [0, 1, 2, 3], f"a thumbnail does not show its own face: {distances.round(1)}"
