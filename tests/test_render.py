"""The renderer on real frames: emoji over the head, text, rings, and the side-panel picture."""

from __future__ import annotations


import cv2
import av
import numpy as np
import pytest

from confcam.errors import ConfcamError
from confcam.paths import overlays_dir
from confcam.render import build_annotators, compose, style_registry
from confcam.render.colors import LABEL_COLORS
from confcam.render.emoji import EmojiAnnotator
from confcam.render.layout import EmojiLayout, feature_zone, overlap, square_rect
from confcam.render.panel import BACKGROUND, PanelRenderer, position_words, reading_order
from confcam.render.ring import RingAnnotator
from confcam.render.sprites import EmojiSprites
from confcam.render.text import LabelAnnotator, label_text
from confcam.types import UNCERTAIN, Detections
from tests.conftest import REPO, video

ARTIFACTS = REPO / "test-artifacts"

CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
ALL_LABELS = CLASS_NAMES + (UNCERTAIN,)
STYLES = style_registry().names()
# Measured by eye on frame 0 of WolfgangLanger_Pexels.mp4 (640x360): brows to chin, cheek to cheek.
FACE_BOX = (335.0, 110.0, 540.0, 345.0)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Every 40th frame of the first 160 of a real clip (BGR)."""
    picked = []
    with av.open(str(video("WolfgangLanger_Pexels.mp4"))) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 40 == 0:
                picked.append(frame.to_ndarray(format="bgr24"))
            if index >= 160:
                break
    return picked


@pytest.fixture(scope="module")
def sprites() -> EmojiSprites:
    return EmojiSprites()


def faces_at(
    boxes: list[tuple[float, float, float, float]],
    labels: list[str] | None,
    confidences: list[float] | None = None,
    track_ids: list[int] | None = None,
) -> Detections:
    n = len(boxes)
    return Detections(
        boxes=np.asarray(boxes, dtype=np.float32).reshape(n, 4),
        scores=np.ones(n, dtype=np.float32),
        landmarks=np.zeros((n, 6, 2), dtype=np.float32),
        track_ids=None if track_ids is None else np.asarray(track_ids, dtype=np.int64),
        labels=labels,
        confidences=None if confidences is None else np.asarray(confidences, dtype=np.float32),
    )


def changed_mask(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return np.any(before != after, axis=2)


def draw(style: str, image: np.ndarray, faces: Detections) -> np.ndarray:
    out = image.copy()
    for annotator in build_annotators(style):
        out = annotator.annotate(out, faces, CLASS_NAMES)
    return out


@pytest.mark.parametrize("label", ALL_LABELS)
def test_every_label_has_a_square_rgba_overlay_with_a_transparent_border(label: str) -> None:
    picture = cv2.imread(str(overlays_dir() / f"{label}.png"), cv2.IMREAD_UNCHANGED)
    assert picture is not None and picture.ndim == 3 and picture.shape[2] == 4
    assert picture.shape[0] == picture.shape[1]
    alpha = picture[:, :, 3]
    assert (alpha == 255).mean() > 0.1, "the emoji itself is opaque"
    assert alpha[0, 0] == alpha[0, -1] == alpha[-1, 0] == alpha[-1, -1] == 0


def test_overlays_ship_with_their_font_licence() -> None:
    text = (overlays_dir() / "LICENSE").read_text(encoding="utf-8")
    assert "SIL OPEN FONT LICENSE Version 1.1" in text and "Noto Color Emoji" in text


@pytest.mark.parametrize("frame_index", [0, 1, 2, 3])
def test_emoji_lands_above_the_face_and_only_there(
    frames: list[np.ndarray], sprites: EmojiSprites, frame_index: int
) -> None:
    image = frames[frame_index]
    out = EmojiAnnotator(sprites).annotate(image.copy(), faces_at([FACE_BOX], ["happy"]), CLASS_NAMES)
    rows, cols = np.nonzero(changed_mask(image, out))
    x1, y1, x2, _ = FACE_BOX
    assert rows.size > 0.3 * (0.35 * (x2 - x1)) ** 2, "a visible emoji was blended"
    assert rows.max() < y1, "the emoji sits above the face box, not on the face"
    assert cols.min() >= x1 and cols.max() <= x2, "the emoji is centred over the head"


@pytest.mark.parametrize("label", ALL_LABELS)
def test_each_label_draws_its_own_emoji(frames: list[np.ndarray], sprites: EmojiSprites, label: str) -> None:
    image = frames[0]
    annotator = EmojiAnnotator(sprites)
    out = annotator.annotate(image.copy(), faces_at([FACE_BOX], [label]), CLASS_NAMES)
    other = "neutral" if label != "neutral" else "happy"
    out_other = annotator.annotate(image.copy(), faces_at([FACE_BOX], [other]), CLASS_NAMES)
    assert changed_mask(image, out).any()
    assert changed_mask(out, out_other).any(), "different labels give different pictures"


@pytest.mark.parametrize("face_width", [60.0, 120.0, 200.0])
def test_emoji_scales_with_the_face_width(face_width: float) -> None:
    placement = EmojiLayout()
    box = np.array([100.0, 300.0, 100.0 + face_width, 300.0 + face_width * 1.2])
    _, _, size = placement.place(box, 1280, 720)
    assert size == pytest.approx(placement.scale * face_width, abs=1.0)


@pytest.mark.parametrize("style", STYLES)
def test_nothing_is_drawn_when_there_are_no_faces(frames: list[np.ndarray], style: str) -> None:
    image = frames[1]
    assert np.array_equal(draw(style, image, Detections.empty()), image)
    assert np.array_equal(compose(style).annotate(image.copy(), Detections.empty(), CLASS_NAMES), image)


@pytest.mark.parametrize(
    ("style", "draws_unlabelled"),
    [("emoji", False), ("text", False), ("ring", True), ("all", True)],
)
def test_faces_not_yet_classified_only_get_a_ring(frames: list[np.ndarray], style: str, draws_unlabelled: bool) -> None:
    image = frames[0]
    out = draw(style, image, faces_at([FACE_BOX], labels=None))
    assert changed_mask(image, out).any() == draws_unlabelled


@pytest.mark.parametrize("style", STYLES)
def test_each_style_marks_a_labelled_face(frames: list[np.ndarray], style: str) -> None:
    image = frames[2]
    out = draw(style, image, faces_at([FACE_BOX], ["sad"], [0.8]))
    assert changed_mask(image, out).sum() > 200


CORNER_BOXES = {
    "top-left": (-30.0, -40.0, 90.0, 100.0),
    "top-right": (580.0, -20.0, 700.0, 110.0),
    "bottom-left": (-50.0, 290.0, 60.0, 420.0),
    "bottom-right": (600.0, 320.0, 720.0, 450.0),
    "whole-frame": (-10.0, -10.0, 650.0, 370.0),
    "outside": (700.0, 400.0, 800.0, 500.0),
    "tiny": (320.0, 1.0, 322.0, 3.0),
}


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("corner", list(CORNER_BOXES))
def test_boxes_at_the_frame_edges_never_raise_and_stay_in_frame(
    frames: list[np.ndarray], style: str, corner: str
) -> None:
    image = frames[3]
    out = draw(style, image, faces_at([CORNER_BOXES[corner]], ["surprise"], [0.9]))
    assert out.shape == image.shape and out.dtype == np.uint8
    x, y, size = EmojiLayout().place(np.array(CORNER_BOXES[corner]), image.shape[1], image.shape[0])
    assert 0 <= x and x + size <= image.shape[1]
    assert 0 <= y and y + size <= image.shape[0]


@pytest.mark.parametrize("corner", ["top-left", "top-right"])
def test_emoji_goes_beside_a_face_touching_the_top_edge(
    frames: list[np.ndarray], sprites: EmojiSprites, corner: str
) -> None:
    box = (250.0, 0.0, 370.0, 140.0) if corner == "top-left" else (520.0, 0.0, 640.0, 140.0)
    image = frames[0]
    out = EmojiAnnotator(sprites).annotate(image.copy(), faces_at([box], ["fear"]), CLASS_NAMES)
    rows, cols = np.nonzero(changed_mask(image, out))
    assert rows.size > 0
    beside = (cols >= box[2]) | (cols < box[0])
    assert beside.all(), "the emoji does not cover the face"


def test_label_text_shows_the_label_and_a_whole_percentage() -> None:
    assert label_text("happy", 0.873) == "happy 87%"
    assert label_text(UNCERTAIN, 0.41) == UNCERTAIN
    assert label_text("sad", None) == "sad"


@pytest.mark.parametrize("position", ["top", "bottom"])
def test_label_box_is_filled_with_the_label_colour(frames: list[np.ndarray], position: str) -> None:
    image = frames[0]
    out = LabelAnnotator(position).annotate(image.copy(), faces_at([FACE_BOX], ["disgust"], [0.66]), CLASS_NAMES)
    colour = np.array(LABEL_COLORS["disgust"], dtype=np.uint8)
    filled = np.all(out == colour, axis=2) & changed_mask(image, out)
    assert filled.sum() > 300
    rows = np.nonzero(filled)[0]
    if position == "top":
        assert rows.max() < FACE_BOX[1]
    else:
        assert rows.min() > FACE_BOX[1]


def test_ring_is_drawn_in_the_label_colour(frames: list[np.ndarray]) -> None:
    image = frames[0]
    out = RingAnnotator().annotate(image.copy(), faces_at([FACE_BOX], ["angry"], [0.7]), CLASS_NAMES)
    assert np.all(out == np.array(LABEL_COLORS["angry"], dtype=np.uint8), axis=2).sum() > 500


def test_unknown_style_is_a_user_error() -> None:
    with pytest.raises(ConfcamError, match="unknown style 'sparkles'"):
        build_annotators("sparkles")


def count_cards(panel: np.ndarray, renderer: PanelRenderer) -> int:
    """Cards found in the picture: runs of non-background rows down the panel's left margin column."""
    column = np.any(panel[:, renderer.margin + 2] != np.array(BACKGROUND, dtype=np.uint8), axis=1)
    starts = np.flatnonzero(column[1:] & ~column[:-1]) + 1
    return int(starts.size + column[0])


@pytest.mark.parametrize("people", [1, 2, 5, 9])
def test_panel_has_one_card_per_tracked_person(sprites: EmojiSprites, people: int) -> None:
    renderer = PanelRenderer(sprites=sprites)
    labels = [ALL_LABELS[i % len(ALL_LABELS)] for i in range(people)]
    faces = faces_at([FACE_BOX] * people, labels, [0.5 + 0.05 * i for i in range(people)], list(range(10, 10 + people)))
    panel = renderer.render(faces, CLASS_NAMES)
    assert panel.shape[1] == renderer.width
    assert count_cards(panel, renderer) == people


def test_panel_grows_with_people_at_a_fixed_width(sprites: EmojiSprites) -> None:
    renderer = PanelRenderer(sprites=sprites)
    heights = [
        renderer.render(faces_at([FACE_BOX] * n, ["happy"] * n, [0.9] * n, list(range(n)))).shape for n in (1, 3, 6)
    ]
    assert len({w for _, w, _ in heights}) == 1
    assert heights[0][0] < heights[1][0] < heights[2][0]


def test_panel_says_nobody_is_in_view(sprites: EmojiSprites) -> None:
    renderer = PanelRenderer(sprites=sprites)
    panel = renderer.render(Detections.empty(), CLASS_NAMES)
    assert count_cards(panel, renderer) == 0
    assert np.any(panel != np.array(BACKGROUND, dtype=np.uint8)), "the message is written"


def test_panel_cards_follow_the_faces_reading_order(tight_gallery: tuple[np.ndarray, Detections],
                                                    sprites: EmojiSprites) -> None:
    gallery, faces = tight_gallery
    shuffled = faces[np.random.default_rng(0).permutation(len(faces))]
    order = reading_order(shuffled.boxes)
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in shuffled.boxes[order]]
    tiles = [(int(y // 360), int(x // 640)) for x, y in centres]
    assert tiles == sorted(tiles), "row by row from the top, left to right"
    assert position_words(shuffled.boxes[order[0]], 1920, 1080) == "top left"
    assert position_words(shuffled.boxes[order[4]], 1920, 1080) == "centre"
    assert position_words(shuffled.boxes[order[-1]], 1920, 1080) == "bottom right"
    renderer = PanelRenderer(sprites=sprites)
    panel = renderer.render(shuffled, CLASS_NAMES, gallery, now=0.0)
    assert count_cards(panel, renderer) == 9


def test_panel_cards_show_a_live_thumbnail_of_their_face(frames: list[np.ndarray], sprites: EmojiSprites) -> None:
    renderer = PanelRenderer(sprites=sprites)
    faces = faces_at([FACE_BOX], ["happy"], [0.9], [3])
    with_face = renderer.render(faces, CLASS_NAMES, frames[0], now=0.0)
    later = renderer.render(faces, CLASS_NAMES, frames[3], now=0.1)
    side, top, left = renderer.thumbnail_side, renderer.card_top(0), renderer.margin + 5 + renderer.margin
    thumb = with_face[top + renderer.margin : top + renderer.margin + side, left : left + side]
    x1, y1, x2, y2 = FACE_BOX
    assert thumb.std() > 20, "a picture, not a flat card"
    assert not np.array_equal(thumb, later[top + renderer.margin : top + renderer.margin + side, left : left + side]), \
        "the thumbnail follows the face"


def test_a_card_of_a_face_that_left_fades_out_in_place_then_goes(frames: list[np.ndarray], sprites: EmojiSprites) -> None:
    renderer = PanelRenderer(sprites=sprites, fade_seconds=1.0)
    left_box, right_box = (40.0, 100.0, 200.0, 260.0), (400.0, 100.0, 560.0, 260.0)
    both = faces_at([left_box, right_box], ["happy", "sad"], [0.9, 0.9], [1, 2])
    full = renderer.render(both, CLASS_NAMES, frames[0], now=0.0)
    top, bottom = renderer.card_top(0), renderer.card_top(0) + renderer.card_height
    only_right = faces_at([right_box], ["sad"], [0.9], [2])
    fading = renderer.render(only_right, CLASS_NAMES, frames[0], now=0.5)
    assert count_cards(fading, renderer) == 2, "the departed card stays in its place while it fades"
    difference = np.abs(fading[top:bottom].astype(int) - np.array(BACKGROUND)).mean()
    assert 0 < difference < np.abs(full[top:bottom].astype(int) - np.array(BACKGROUND)).mean(), "dimmer, not gone"
    gone = renderer.render(only_right, CLASS_NAMES, frames[0], now=1.2)
    assert count_cards(gone, renderer) == 1 and 1 not in renderer._people, "faded out, and its thumbnail dropped"


def test_sprite_cache_stays_bounded_over_many_sizes() -> None:
    sprites = EmojiSprites(max_cached=16)
    for size in range(8, 400):
        sprites.sprite("happy", size)
    assert sprites.cached <= 16


@pytest.fixture(scope="module")
def tight_gallery() -> tuple[np.ndarray, Detections]:
    """A 1920x1080 3x3 call gallery whose nine real faces fill their tiles, and the faces the real
    detector finds in it (with eye and mouth keypoints)."""
    from confcam.build import build_pipeline
    from confcam.config import PipelineConfig

    clips = ("WolfgangLanger_Pexels.mp4", "lp_d0.mp4", "lp_d3.mp4", "lp_d6.mp4", "single_face.mp4", "lp_d9.mp4",
             "lp_d10.mp4", "lp_s18.mp4", "lp_d11.mp4")
    tiles = []
    for name in clips:
        with av.open(str(video(name))) as container:
            tiles.append(cv2.resize(next(container.decode(video=0)).to_ndarray(format="bgr24"), (640, 360)))
    gallery = np.vstack([np.hstack(tiles[row * 3 : row * 3 + 3]) for row in range(3)])
    detector = build_pipeline(PipelineConfig()).detector
    for _ in range(12):  # the detector sweeps the frame's tiles for small faces over a few frames
        found = detector.detect(gallery)
    assert len(found) == 9
    labels = [ALL_LABELS[i % len(ALL_LABELS)] for i in range(9)]
    return gallery, found.with_fields(labels=labels, confidences=np.full(9, 0.9, np.float32))


def test_no_emoji_in_a_tight_gallery_covers_any_eyes_brows_mouth_or_other_face(
    tight_gallery: tuple[np.ndarray, Detections], sprites: EmojiSprites
) -> None:
    gallery, faces = tight_gallery
    out = EmojiAnnotator(sprites).annotate(gallery.copy(), faces, CLASS_NAMES)
    ARTIFACTS.mkdir(exist_ok=True)
    cv2.imwrite(str(ARTIFACTS / "gallery-overlays.png"), out)
    changed = changed_mask(gallery, out)
    assert changed.sum() > 9 * 30 * 30, "every face got a visible emoji"
    for i, (box, marks) in enumerate(zip(faces.boxes, faces.landmarks)):
        zx1, zy1, zx2, zy2 = (int(round(v)) for v in feature_zone(box, marks))
        assert not changed[max(zy1, 0) : zy2, max(zx1, 0) : zx2].any(), f"face {i}: its eyes, brows or mouth covered"
    spots = EmojiLayout().place_all(faces.boxes, faces.landmarks, gallery.shape[1], gallery.shape[0])
    for i, spot in enumerate(spots):
        others = [tuple(b) for k, b in enumerate(faces.boxes) if k != i]
        assert all(overlap(square_rect(spot), other) == 0 for other in others), f"face {i}'s emoji lies on another face"


@pytest.mark.parametrize("box, where", [
    ((0.0, 0.0, 640.0, 360.0), "badge"),  # the face fills the whole tile: no room above or beside
    ((100.0, 0.0, 400.0, 300.0), "beside"),  # touching the top edge, room to the right
    ((200.0, 200.0, 400.0, 400.0), "above"),
])
def test_emoji_moves_above_beside_or_to_a_badge_but_never_onto_the_features(box, where: str) -> None:
    box = np.array(box, np.float32)
    x, y, size = EmojiLayout().place(box, 640, 480)
    spot = square_rect((x, y, size))
    assert overlap(spot, feature_zone(box, None)) == 0, "the eyes, brows and mouth stay visible"
    if where == "above":
        assert y + size <= box[1]
    elif where == "beside":
        assert x >= box[2] or x + size <= box[0]
    else:
        assert size <= EmojiLayout().badge_scale * (box[2] - box[0]) + 1, "a small badge at the box's corner"


@pytest.mark.parametrize("frame_height, face_width", [(720, 30.0), (720, 120.0), (1080, 40.0), (720, 600.0)])
def test_label_text_is_at_least_14_px_tall_at_720p_and_grows_with_the_face(frame_height: int, face_width: float) -> None:
    from confcam.render.text import FONT, TextStyle

    scale, thickness = TextStyle().for_face(frame_height, face_width)
    (_, height), _ = cv2.getTextSize("happy 87%", FONT, scale, thickness)
    assert height * 720 / frame_height >= 14
    bigger, _ = TextStyle().for_face(frame_height, face_width * 2)
    assert bigger >= scale


@pytest.mark.parametrize("age, visible", [(0.0, 0.0), (0.075, 0.5), (0.15, 1.0), (2.0, 1.0)])
def test_a_new_label_fades_in_over_150_ms(frames: list[np.ndarray], sprites: EmojiSprites, age: float,
                                           visible: float) -> None:
    image = frames[0]
    faces = faces_at([FACE_BOX], ["happy"]).with_data(label_age=np.array([age], np.float32))
    full = EmojiAnnotator(sprites).annotate(image.copy(), faces_at([FACE_BOX], ["happy"]), CLASS_NAMES)
    out = EmojiAnnotator(sprites).annotate(image.copy(), faces, CLASS_NAMES)
    drawn = np.abs(full.astype(float) - image).sum()
    assert np.abs(out.astype(float) - image).sum() == pytest.approx(visible * drawn, rel=0.05, abs=1.0)
