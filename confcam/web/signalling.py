"""The signalling contract: POST /offer carries {"sdp", "type": "offer"}; anything else is refused with a reason.

Once connected, the page may also send small requests on the `predictions` data channel (parse_control).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiortc import RTCSessionDescription
from aiortc.sdp import SessionDescription


MAX_JSON_DEPTH = 8
"""An offer is one flat object; deeper nesting is refused before the recursive parser sees it."""
MAX_NUMBER_CHARS = 32
"""Python refuses to parse integers over 4300 digits with a ValueError; no offer needs more than a few."""
MAX_CONTROL_BYTES = 1024
"""A control request is a few dozen bytes; longer messages are refused unread."""


class BadOffer(ValueError):
    """An offer the server cannot use; its message is the one-line reason sent back with status 400."""


class BadControl(ValueError):
    """A data-channel request the session ignores; its message is the one-line reason sent back."""


def load_json(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> object:
    """json.loads with a nesting and number-size guard, so hostile bodies give BadOffer instead of
    RecursionError or ValueError (a 500)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadOffer("the body is not UTF-8 text") from None
    if _nesting(text) > max_depth:
        raise BadOffer(f"the body nests deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float), parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise BadOffer(f"the body is not JSON ({error.msg} at character {error.pos})") from None


@dataclass(frozen=True)
class Control:
    """One page request: steadiness NAME, practice on/off, an answer LABEL, or next (leave the reveal)."""

    name: str
    value: str | bool


CONTROL_FORMS = '{"steadiness": NAME}, {"practice": true|false}, {"answer": LABEL} or {"next": true}'


def parse_control(message: str | bytes, steadiness_choices: Iterable[str], answer_choices: Iterable[str] = ()) -> Control:
    """A page's request on the data channel: exactly one of the CONTROL_FORMS, each value checked.

    The channel only exists inside a peer connection whose offer carried the token, so it needs no
    token of its own; it is still parsed with the same guards as an offer body."""
    raw = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    if len(raw) > MAX_CONTROL_BYTES:
        raise BadControl(f"a request is at most {MAX_CONTROL_BYTES} bytes")
    try:
        data = load_json(raw)
    except BadOffer as error:
        raise BadControl(str(error).replace("the body", "the request")) from None
    if not isinstance(data, dict) or len(data) != 1 or next(iter(data)) not in ("steadiness", "practice", "answer", "next"):
        raise BadControl(f"a request must be {CONTROL_FORMS}")
    name, value = next(iter(data.items()))
    if name == "steadiness":
        choices = tuple(steadiness_choices)
        if value not in choices:
            raise BadControl(f"steadiness must be one of {', '.join(choices)} (got {str(value)[:40]!r})")
    elif name == "answer":
        choices = tuple(answer_choices)
        if value not in choices:
            raise BadControl(f"an answer must be one of {', '.join(choices)} (got {str(value)[:40]!r})")
    elif name == "practice" and not isinstance(value, bool):
        raise BadControl('practice must be true or false')
    elif name == "next" and value is not True:
        raise BadControl('next must be true')
    return Control(name, value)


def _nesting(text: str) -> int:
    """Deepest [ / { nesting outside strings; a linear scan, no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _number(kind: type) -> Callable[[str], object]:
    def parse(text: str) -> object:
        if len(text) > MAX_NUMBER_CHARS:
            raise BadOffer(f"the body has a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
        return kind(text)

    return parse


def _no_constant(name: str) -> object:
    raise BadOffer(f"the body is not JSON ({name} is not a JSON value)")


def parse_offer(body: bytes) -> RTCSessionDescription:
    """Validate the body before aiortc sees it, so a malformed offer never reaches the peer connection."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise BadOffer('the body must be a JSON object {"sdp": "...", "type": "offer"}')
    sdp, kind = data.get("sdp"), data.get("type")
    if kind != "offer":
        raise BadOffer(f'"type" must be "offer" (got {kind!r})')
    if not isinstance(sdp, str) or not sdp.strip():
        raise BadOffer('"sdp" must be a non-empty string')
    if not sdp.lstrip().startswith("v=0"):
        raise BadOffer('"sdp" is not a session description (it must start with "v=0")')
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as error:  # noqa: BLE001 - aiortc's parser raises assorted types (even AssertionError) on bad input
        raise BadOffer(f'"sdp" could not be parsed ({type(error).__name__}{": " + str(error) if str(error) else ""})') from None
    if not any(media.kind == "video" for media in parsed.media):
        raise BadOffer("the offer carries no video track (send a camera or a screen share)")
    for media in parsed.media:
        if media.dtls is None or not media.dtls.fingerprints:
            raise BadOffer(f"the offer's {media.kind} section has no DTLS fingerprint (a=fingerprint)")
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadOffer(f"the offer's {media.kind} section has no ICE credentials (a=ice-ufrag / a=ice-pwd)")
        for codec in media.rtp.codecs:
            if not codec.clockRate or codec.clockRate <= 0:
                raise BadOffer(f"the offer's codec {codec.mimeType} has clock rate {codec.clockRate} (a=rtpmap:{codec.payloadType})")
    return RTCSessionDescription(sdp=sdp, type="offer")
