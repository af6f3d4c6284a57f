"""The edge of the node: who the client really is behind a reverse proxy,
refusing blocked networks, and CORS for the HTTP API.

``X-Forwarded-For`` is believed only when the connection comes from one of
``trusted_proxies``: then the client is the right-most address in the header
that is not itself a trusted proxy (each proxy appends the address it saw),
or the left-most if all are. A client connecting directly cannot spoof its
address with the header. (aiohttp-remotes' ``XForwardedFiltered`` believes
the header from any peer, and ``XForwardedStrict`` needs a fixed number of
hops, so this is written here.) Everything after this middleware (rate
limits, logs, ``blocked_networks``) sees the real client in
``request.remote``.

``blocked_networks`` (seed 001's IP blacklist) are answered 403 before any
route, the WebSocket upgrade included.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

import aiohttp_cors
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from tidings.errors import ErrorCode
from tidings.request_id import REQUEST_ID, new_request_id

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(cidrs: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _within(text: str | None, nets: tuple[Network, ...]) -> bool:
    address = _address(text) if text else None
    return address is not None and any(address in net for net in nets)


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: tuple[Network, ...]) -> str | None:
    """The client's address: the peer, unless the peer is a trusted proxy and
    says whom it forwards for."""
    if not forwarded_for or not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if not hops or any(_address(h) is None for h in hops):
        return peer  # a malformed header: keep what the socket says
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0]


def edge_middleware(trusted_proxies: Sequence[str], blocked_networks: Sequence[str]
                    ) -> Middleware:
    trusted = networks(trusted_proxies)
    blocked = networks(blocked_networks)

    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = REQUEST_ID.set(new_request_id())
        try:
            return await _edge(request, handler)
        finally:
            REQUEST_ID.reset(token)

    async def _edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        if trusted:
            remote = client_address(request.remote, request.headers.get("X-Forwarded-For"),
                                    trusted)
            if remote is not None and remote != request.remote:
                request = request.clone(remote=remote)
        if blocked and _within(request.remote, blocked):
            return web.json_response(
                {"error": {"code": ErrorCode.FORBIDDEN.value,
                           "message": "requests from your network are not accepted"}},
                status=403)
        return await handler(request)

    return edge


# What a browser client of the HTTP API sends and reads (uploads, ranged
# downloads, conditional requests, the admin API's bearer token).
_CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Range", "If-None-Match")
_CORS_RESPONSE_HEADERS = ("Content-Range", "Content-Length", "ETag", "Retry-After")


def allow_cors(app: web.Application, origins: Sequence[str]) -> None:
    """CORS on every HTTP route for the configured origins only (aiohttp-cors
    answers preflights and adds the headers); no other origin gets any. The
    WebSocket is left out: browsers do not apply CORS to it."""
    options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
        allow_credentials=False, allow_headers=_CORS_REQUEST_HEADERS,
        expose_headers=_CORS_RESPONSE_HEADERS, max_age=3600)
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for route in list(app.router.routes()):
        if route.resource is not None and route.resource.canonical != "/ws":
            cors.add(route)


def is_blocked(remote: str | None, blocked: tuple[Network, ...]) -> bool:
    """Whether a client address lies in ``blocked_networks`` (TCP connections
    have no middleware: the transport asks)."""
    return _within(remote, blocked)
