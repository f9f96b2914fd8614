"""Render the emoji overlays once from Noto Color Emoji into overlays/<label>.png.

The runtime only ever loads the PNGs, so the font is a build-time tool, not a dependency.
Run on Debian/Ubuntu after `sudo apt-get install fonts-noto-color-emoji`:

    python scripts/render_overlays.py
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
FONT_COPYRIGHT = Path("/usr/share/doc/fonts-noto-color-emoji/copyright")
FONT_PACKAGE_STATUS = Path("/var/lib/dpkg/status")
# CBDT bitmap fonts only come in their native strike size.
NATIVE_SIZE = 109
SIDE = 128

# Chosen for people who find faces hard to read: each overlay should differ from the others by
# colour or a large shape cue, not only by a subtle mouth line, because it is seen small.
EMOJI: dict[str, tuple[str, str]] = {
    "angry": ("\U0001F621", "pouting face: the red face separates anger from sad/neutral at a glance"),
    "disgust": ("\U0001F922", "nauseated face: green face"),
    "fear": ("\U0001F628", "fearful face: blue forehead, open mouth"),
    "happy": ("\U0001F604", "grinning face with smiling eyes"),
    "sad": ("\U0001F622", "crying face: the tear is a shape cue"),
    "surprise": ("\U0001F62E", "face with open mouth"),
    "neutral": ("\U0001F610", "neutral face"),
    "contempt": ("\U0001F60F", "smirking face: the one-sided raised mouth corner is contempt's own cue (FACS AU14)"),
    "uncertain": (
        "\u2754",
        "white question mark ornament: not a face, so it cannot be misread as the person's expression "
        "(a thinking face would claim the person is pondering)",
    ),
}


def render_glyph(font: ImageFont.FreeTypeFont, char: str) -> Image.Image:
    """One emoji, trimmed to its visible pixels and centred on a transparent SIDE x SIDE square."""
    canvas = Image.new("RGBA", (NATIVE_SIZE * 2, NATIVE_SIZE * 2), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((NATIVE_SIZE // 2, NATIVE_SIZE // 4), char, font=font, embedded_color=True)
    bbox = canvas.getchannel("A").getbbox()
    if bbox is None:
        raise SystemExit(f"the font has no colour glyph for U+{ord(char[0]):04X}")
    glyph = canvas.crop(bbox)
    scale = SIDE / max(glyph.size)
    glyph = glyph.resize(
        (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))), Image.Resampling.LANCZOS
    )
    square = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    square.alpha_composite(glyph, ((SIDE - glyph.width) // 2, (SIDE - glyph.height) // 2))
    return square


def font_version() -> str:
    if not FONT_PACKAGE_STATUS.is_file():
        return "unknown"
    text = FONT_PACKAGE_STATUS.read_text(encoding="utf-8", errors="replace")
    match = re.search(r"Package: fonts-noto-color-emoji\n(?:[^\n]+\n)*?Version: (\S+)", text)
    return match.group(1) if match else "unknown"


def ofl_text() -> str:
    """The SIL OFL 1.1 text exactly as Debian's copyright file carries it, unindented."""
    text = FONT_COPYRIGHT.read_text(encoding="utf-8")
    start = text.rindex("License:   SIL-1.1")
    lines = text[start:].splitlines()[1:]
    body = []
    for line in lines:
        if line and not line.startswith(" "):
            break
        body.append("" if line.strip() == "." else line[1:])
    return "\n".join(body).strip() + "\n"


def write_license(out: Path, version: str) -> None:
    header = (
        "The PNG images in this folder are rendered from the Noto Color Emoji font\n"
        f"(Debian package fonts-noto-color-emoji {version}, https://github.com/googlefonts/noto-emoji).\n"
        "Copyright 2013-2017 Google Inc., Arjen Nienhuis <a.g.nienhuis@gmail.com>.\n"
        "They are a derivative of that Font Software and are distributed under the\n"
        "SIL Open Font License, Version 1.1, reproduced below.\n\n"
    )
    (out / "LICENSE").write_text(header + ofl_text(), encoding="utf-8")


def write_readme(out: Path, version: str) -> None:
    rows = "\n".join(
        f"| {label} | U+{'+'.join(f'{ord(c):04X}' for c in char)} | {why} |" for label, (char, why) in EMOJI.items()
    )
    text = f"""# overlays

One {SIDE}x{SIDE} RGBA PNG per label shown over a head: the eight FER+ expression classes and `uncertain`.
confcam loads these files at run time (`confcam.paths.overlays_dir()`); it never needs the font.

Made by `python scripts/render_overlays.py` from Noto Color Emoji (Debian `fonts-noto-color-emoji`
{version}): each glyph drawn at the font's native bitmap size ({NATIVE_SIZE} px, `embedded_color=True`),
trimmed to its visible pixels, scaled (Lanczos) so its longer side is {SIDE} px and centred on a
transparent square. Licence: SIL Open Font License 1.1, see `LICENSE`.

| label | code point | why this one |
|---|---|---|
{rows}

The choices aim at people who find facial expressions hard to read: every overlay differs from the
others by colour or a large shape (red anger, green disgust, blue fear, a tear for sadness), and
`uncertain` is a question mark rather than a face so it is never mistaken for what the person feels.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "overlays")
    args = parser.parse_args()
    if not FONT_PATH.is_file():
        raise SystemExit(f"{FONT_PATH} not found: sudo apt-get install fonts-noto-color-emoji")
    font = ImageFont.truetype(str(FONT_PATH), NATIVE_SIZE)
    args.out.mkdir(parents=True, exist_ok=True)
    for label, (char, _) in EMOJI.items():
        render_glyph(font, char).save(args.out / f"{label}.png", optimize=True)
    version = font_version()
    write_license(args.out, version)
    write_readme(args.out, version)
    print(f"wrote {len(EMOJI)} overlays to {args.out}")


if __name__ == "__main__":
    main()
