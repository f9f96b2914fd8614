"""The signalling contract: POST /offer carries {"sdp", "type": "offer"}; anything else is refused with a reason."""

from __future__ import annotations

import json

from aiortc import RTCSessionDescription
from aiortc.sdp import SessionDescription


class BadOffer(ValueError):
    """An offer the server cannot use; its message is the one-line reason sent back with status 400."""


def parse_offer(body: bytes) -> RTCSessionDescription:
    """Validate the body before aiortc sees it, so a malformed offer never reaches the peer connection."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise BadOffer("the body is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise BadOffer(f"the body is not JSON ({error.msg} at character {error.pos})") from None
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
    return RTCSessionDescription(sdp=sdp, type="offer")
