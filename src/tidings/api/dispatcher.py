"""One RPC dispatcher for every transport: frame in, frame out.

A frame is decoded into the envelope, the method is looked up, its params are
decoded into the method's typed struct, and the handler's result (or a
``TidingsError``) is encoded back. Nothing a client sends can raise out of
``dispatch``: unexpected exceptions become ``INTERNAL`` and are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Protocol

import msgspec

from tidings.api.bad_input import frame_error, guess_request_id, params_error, request_id_of
from tidings.api.rpc_metrics import RPC_STATS
from tidings.api.schemas import Params
from tidings.codecs import JSON, MSGPACK, Codec
from tidings.errors import ErrorCode, TidingsError
from tidings.request_id import REQUEST_ID, new_request_id
from tidings.services.auth import Identity
from tidings.services.container import Services

log = logging.getLogger(__name__)



class Caller(Protocol):
    """The connection a request came on (implemented by each transport)."""

    user_id: int | None
    device_id: int | None
    remote: str | None  # the client's address, for per-address limits

    async def authenticate(self, identity: Identity) -> None: ...


Handler = Callable[[Services, Caller, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    name: str
    params: type[Params]
    handler: Handler
    public: bool = False  # callable before authentication
    # Answers from database reads alone. On an engine whose reads never suspend
    # (SQLite) the connection runs it in its read loop instead of a task of its
    # own: it would run to completion in its first step either way, so only the
    # task's creation and scheduling (~10% of a cached history page) go.
    reads_only: bool = False


class Envelope(msgspec.Struct, frozen=True):
    method: str
    id: int | str | None = None
    params: msgspec.Raw = msgspec.Raw(b"{}")


class MsgpackEnvelope(msgspec.Struct, frozen=True):
    """A MessagePack request: decoded to builtins first, then converted with the
    JSON rules (string keys name ids), so both codecs accept the same frames."""

    method: str
    id: int | str | None = None
    params: Any = {}


_envelope = msgspec.json.Decoder(Envelope)


def error_frame(request_id: Any, error: TidingsError, codec: Codec = JSON) -> bytes:
    return codec.encode({"id": request_id, "error": error.to_wire()})


class _BadFrame(Exception):
    def __init__(self, request_id: Any, error: TidingsError) -> None:
        self.request_id = request_id
        self.error = error


# A decoded request frame, or why the frame is not one.
Request = Envelope | MsgpackEnvelope | _BadFrame


class Dispatcher:
    def __init__(self, services: Services, methods: Iterable[Method]) -> None:
        self.services = services
        self.methods = {m.name: m for m in methods}
        self._decoders = {m.name: msgspec.json.Decoder(m.params) for m in self.methods.values()}
        self._inline = frozenset() if services.db.engine.statements_suspend else frozenset(
            m.name for m in self.methods.values() if m.reads_only)

    async def dispatch(self, caller: Caller, frame: bytes | str, codec: Codec = JSON
                       ) -> bytes:
        """Answer one request frame, in the codec the connection negotiated."""
        return await self.answer(caller, self.decode(frame, codec), codec)

    def decode(self, frame: bytes | str, codec: Codec = JSON) -> Request:
        """The frame's envelope (its params still encoded), or why it is none."""
        try:
            return self._decode_envelope(frame, codec)
        except _BadFrame as bad:
            return bad

    def runs_inline(self, request: Request) -> bool:
        """Whether ``answer`` finishes without suspending, so the connection may
        await it in its read loop (see ``Method.reads_only``)."""
        return not isinstance(request, _BadFrame) and request.method in self._inline

    async def answer(self, caller: Caller, envelope: Request, codec: Codec = JSON) -> bytes:
        """Answer a decoded request."""
        # One coroutine, not a wrapper around another: every resumption of a
        # request's awaits passes through each coroutine frame of the chain.
        start = perf_counter()
        if isinstance(envelope, _BadFrame):
            RPC_STATS.observe("unknown", ErrorCode.BAD_FRAME.value, perf_counter() - start)
            return error_frame(envelope.request_id, envelope.error, codec)
        request_id = new_request_id()
        token = REQUEST_ID.set(request_id)
        method = self.methods.get(envelope.method)
        outcome = "ok"
        try:
            # Before authentication everything but auth.* is UNAUTHORIZED, unknown
            # methods included (DESIGN §11): an anonymous client learns nothing.
            if (method is None or not method.public) and caller.user_id is None:
                raise TidingsError(ErrorCode.UNAUTHORIZED,
                                   "authenticate first: auth.register, auth.login or auth.token")
            if method is None:
                raise TidingsError(ErrorCode.METHOD_NOT_FOUND,
                                   f"no method {envelope.method[:64]!r}")
            if method.public and caller.user_id is not None:
                raise TidingsError(ErrorCode.FORBIDDEN, "this connection is already "
                                   "authenticated; open another one for another account")
            # Per-device and per-address buckets (services.rate_limits), before
            # anything is decoded or read.
            self.services.limits.check(method.name, caller.device_id, caller.remote)
            params = self._decode_params(method, envelope.params)
            result = await method.handler(self.services, caller, params)
            return codec.encode({"id": envelope.id, "result": result})
        except TidingsError as exc:
            outcome = exc.code.value
            return error_frame(envelope.id, exc, codec)
        except Exception:
            outcome = ErrorCode.INTERNAL.value
            log.exception("method %s failed", envelope.method)
            # The id finds the logged traceback: a client shows it to support.
            return error_frame(envelope.id, TidingsError(
                ErrorCode.INTERNAL, "internal error; it has been logged",
                request_id=request_id), codec)
        finally:
            # Unknown method names are not labels: a client could grow the table.
            RPC_STATS.observe(envelope.method if method else "unknown", outcome,
                              perf_counter() - start)
            REQUEST_ID.reset(token)

    @staticmethod
    def _decode_envelope(frame: bytes | str, codec: Codec) -> Envelope | MsgpackEnvelope:
        if codec is MSGPACK:
            return _msgpack_envelope(frame)
        try:
            return _envelope.decode(frame)
        except (msgspec.DecodeError, RecursionError) as exc:
            # RecursionError: msgspec bounds nesting by the interpreter's recursion
            # limit (about 1,000 levels) and raises it for deeper input.
            raise _BadFrame(*frame_error(frame, exc)) from exc

    def _decode_params(self, method: Method, raw: Any) -> Params:
        try:
            if isinstance(raw, msgspec.Raw):
                return self._decoders[method.name].decode(raw)
            return msgspec.convert(raw, method.params, str_keys=True)
        except msgspec.ValidationError as exc:
            raise params_error(method.name, exc) from exc
        except msgspec.DecodeError as exc:
            raise TidingsError(ErrorCode.BAD_FRAME, f"params are not valid JSON: {exc}") from exc


def _msgpack_envelope(frame: bytes | str) -> MsgpackEnvelope:
    try:
        value = MSGPACK.decode(frame)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _BadFrame(None, TidingsError(ErrorCode.BAD_FRAME,
                                           f"not a MessagePack request frame: {exc}")) from exc
    request_id = request_id_of(value)
    if not isinstance(value, dict):
        raise _BadFrame(None, TidingsError(ErrorCode.BAD_FRAME, "a request frame is a map"))
    try:
        return msgspec.convert(value, MsgpackEnvelope, str_keys=True)
    except msgspec.ValidationError as exc:
        raise _BadFrame(request_id, TidingsError(
            ErrorCode.BAD_FRAME, f"not a request frame: {exc}")) from exc


__all__ = ["Dispatcher", "Method", "Request", "error_frame", "guess_request_id"]
