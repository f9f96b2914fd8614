"""Who may talk to the local server: Host and Origin checks, the per-run token, offer rate and session caps.

A server on 127.0.0.1 is reachable from every web page the user has open: a page cannot read our answers
(no CORS headers are ever sent), but it can send a "simple" POST, and with DNS rebinding its own origin
can point at 127.0.0.1. So every request must name this server in Host (421 otherwise), may carry only
this server's own Origin (403), and the routes that do something (POST /offer, GET /stats) need the
per-run token (401). See docs/security.md.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from confcam.config import WebConfig

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
_WILDCARDS = ("0.0.0.0", "::", "")


def refuse(status: int, reason: str) -> web.Response:
    """Every refusal is JSON with a one-line reason, so scripts and the page can show why."""
    return web.json_response({"error": reason}, status=status)


def host_name(host: str) -> str:
    """How a host appears in a Host header or URL: lower case, IPv6 in brackets."""
    host = host.strip().lower()
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def split_host_header(value: str) -> tuple[str, int] | None:
    """'name:port' or '[v6]:port' (port 80 when absent) -> (name, port); None when it is not well formed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        name += "]"
        port_text = rest[1:] if rest.startswith(":") else ("" if not rest else None)
    else:
        name, _, port_text = value.partition(":")
    if not name or port_text is None or (port_text and not port_text.isdigit()):
        return None
    port = int(port_text) if port_text else 80
    return (name, port) if port <= 65535 else None


class RequestGuard:
    """aiohttp middleware: Host (421) and Origin (403) on every request, the bearer token (401) on `protected`.

    The allowed port is the one the connection arrived on, so a server started with --port 0 needs no
    reconfiguring once the real port is known.
    """

    def __init__(self, config: WebConfig, protected: Iterable[str]) -> None:
        self._token = config.token.encode()
        configured = host_name(config.host)
        self._names = set(LOOPBACK_NAMES) | ({configured} if configured not in map(host_name, _WILDCARDS) else set())
        self._protected = frozenset(protected)
        self.refused: Counter[int] = Counter()
        """Refusals by status since start: shown in /stats, so the user can see that something tried."""

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        problem = self.check(request)
        if problem is not None:
            status, reason = problem
            self.refused[status] += 1
            level = logging.WARNING if self.refused[status] == 1 else logging.DEBUG  # a flood must not flood the terminal
            log.log(
                level, "refused %s %s from %s: %s (further %d refusals are counted in /stats, not logged)",
                request.method, request.path, request.remote, reason, status,
            )
            return refuse(status, reason)
        return await handler(request)

    def check(self, request: web.Request) -> tuple[int, str] | None:
        """(status, reason) when the request must be refused, else None."""
        port = self._local_port(request)
        host = request.headers.get("Host")
        parsed = split_host_header(host) if host is not None else None
        if parsed is None or parsed[0] not in self._names or parsed[1] != port:
            return 421, f"this server answers only to {' / '.join(sorted(self._names))} on port {port} (Host: {host!r})"
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() not in self._origins(port):
            return 403, f"requests from other web pages are refused (Origin: {origin!r})"
        if request.path in self._protected and not self.authorised(request):
            return 401, "missing or wrong token: open the page URL confcam printed (it ends in #token=...) or send Authorization: Bearer TOKEN"
        return None

    def authorised(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)

    def _origins(self, port: int) -> set[str]:
        origins = {f"http://{name}:{port}" for name in self._names}
        return origins | {f"http://{name}" for name in self._names} if port == 80 else origins

    @staticmethod
    def _local_port(request: web.Request) -> int | None:
        sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
        return int(sockname[1]) if sockname else None


class OfferRateLimiter:
    """A token bucket per client address: `burst` offers at once, refilled evenly over `window_s`.

    Counted only after the token check, so a local user without the token cannot use up the owner's budget.
    """

    _MAX_CLIENTS = 1024

    def __init__(self, burst: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.window_s = window_s
        self._rate = burst / window_s
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str) -> bool:
        """Takes one offer from the client's bucket; False when it is empty."""
        now = self._clock()
        level, at = self._buckets.get(client, (float(self.burst), now))
        level = min(float(self.burst), level + (now - at) * self._rate)
        if level < 1.0:
            self._buckets[client] = (level, now)
            return False
        self._buckets[client] = (level - 1.0, now)
        if len(self._buckets) > self._MAX_CLIENTS:
            self._forget_full(now)
        return True

    def _forget_full(self, now: float) -> None:
        """Clients whose bucket has refilled are indistinguishable from new ones; dropping them bounds memory."""
        for client, (level, at) in list(self._buckets.items()):
            if level + (now - at) * self._rate >= self.burst:
                del self._buckets[client]


class SessionLimiter:
    """At most `limit` sessions, counting those still being set up: a slot is taken before any work starts."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    def acquire(self) -> bool:
        if self.in_use >= self.limit:
            return False
        self.in_use += 1
        return True

    def release(self) -> None:
        self.in_use = max(0, self.in_use - 1)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413) and anything unexpected become JSON, never an HTML page or a traceback."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return refuse(error.status, error.text or error.reason)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return refuse(500, "internal error in confcam; see its log")
