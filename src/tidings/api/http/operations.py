"""The one table of HTTP operations: each ``Operation`` both mounts its route
and describes it in ``/openapi.json`` (its request and response schemas come
from the msgspec structs that validate them), so a route cannot exist
undocumented and its document cannot drift from what the server accepts.

``json_operation`` builds the operations whose requests and answers are JSON:
it parses the integer path ids, the query string and the body with their
structs, calls the handler with a ``Call`` and answers its result, or the
error in the RPC's shape with the code's HTTP status (protocol §8).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
from aiohttp import web

from tidings import wire
from tidings.api.bad_input import params_error
from tidings.api.http.common import error_response, internal_error, json_response
from tidings.errors import ErrorCode, TidingsError, invalid

log = logging.getLogger(__name__)

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["admin", "device", "none"]
_PATH_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    # None: mounted by ``transport.server`` (the probes), described here all the same.
    handler: RouteHandler | None
    auth: Auth = "none"
    body: type | None = None  # a JSON body decoded into this struct
    query: type | None = None  # the query string converted into this struct
    result: type | None = None  # the JSON answer with ``status``
    status: int = 200
    errors: tuple[int, ...] = ()  # statuses answered with the error body
    # Raw OpenAPI objects, for what is not JSON (file bytes, metrics text).
    responses: Mapping[str, Any] = field(default_factory=dict)
    request_body: Mapping[str, Any] | None = None
    parameters: tuple[Mapping[str, Any], ...] = ()
    # An id this operation creates: (path parameter name, JSON pointer into the
    # result), linked in the document to every operation addressed by it alone.
    creates: tuple[str, str] | None = None
    # Body fields of other operations that this result fills: target
    # "METHOD /path" -> {field: JSON pointer into the result}.
    feeds: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)


@dataclass(frozen=True)
class Call:
    """One parsed request: the integer path ids, and the query and body structs
    (None when the operation takes none)."""

    ids: dict[str, int]
    query: Any
    body: Any


Guard = Callable[[web.Request], None]
Run = Callable[[Call], Awaitable[object]]


def path_ids(request: web.Request) -> dict[str, int]:
    """Every path parameter is an id: anything but 1..2^63-1 names nothing (404)."""
    ids = {}
    for name, raw in request.match_info.items():
        value = int(raw) if raw.isdecimal() and len(raw) <= 19 else 0
        if not 1 <= value <= wire.INT64_MAX:
            raise TidingsError(ErrorCode.NOT_FOUND, f"no {name.removesuffix('_id')} {raw}")
        ids[name] = value
    return ids


def parse_query(request: web.Request, struct: type | None, label: str) -> Any:
    """The query string as ``struct``. Each parameter at most once, and with a
    value: the lenient conversion (query values are strings) would read
    "null" as absent, which the document does not allow."""
    if struct is None:
        return None
    names = set(request.query.keys())
    for name in sorted(names):
        if len(request.query.getall(name)) > 1:
            raise invalid(f"{label}: {name}: give it once", field=name)
    try:
        value: Any = msgspec.convert(dict(request.query), struct, strict=False)
    except msgspec.ValidationError as exc:
        raise params_error(label, exc) from None
    for name in names:
        if getattr(value, name, "") is None:
            raise invalid(f"{label}: {name}: give a value, or leave the parameter out",
                          field=name)
    return value


async def parse_body(request: web.Request, struct: type | None, label: str) -> Any:
    if struct is None:
        return None
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise TidingsError(ErrorCode.TOO_LARGE, "the body is too large") from None
    try:
        return msgspec.json.decode(raw, type=struct)
    except msgspec.ValidationError as exc:
        raise params_error(label, exc) from None
    except msgspec.DecodeError:
        raise invalid("the body must be a JSON object") from None


def json_operation(method: str, path: str, summary: str, run: Run, *, tag: str,
                   guard: Guard, auth: Auth, result: type, body: type | None = None,
                   query: type | None = None, status: int = 200,
                   errors: tuple[int, ...] = (), creates: tuple[str, str] | None = None,
                   feeds: Mapping[str, Mapping[str, str]] | None = None) -> Operation:
    label = f"{method} {path}"
    statuses = {401, 404, *errors} | ({400} if body or query else set())

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            guard(request)
            call = Call(path_ids(request), parse_query(request, query, label),
                        await parse_body(request, body, label))
            return json_response(await run(call), status=status)
        except TidingsError as exc:
            return error_response(exc)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return internal_error()

    return Operation(method, path, summary, tag, handle, auth, body, query, result, status,
                     tuple(sorted(statuses)), creates=creates, feeds=feeds or {})


def mount(operations: list[Operation]) -> list[web.RouteDef]:
    """The routes of the operations this package serves (a GET answers HEAD too)."""
    return [web.get(op.path, op.handler) if op.method == "GET"
            else web.route(op.method, op.path, op.handler)
            for op in operations if op.handler is not None]
