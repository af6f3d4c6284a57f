"""Generated input against a live server: whatever a client sends, every
registered method answers with a stable code, never ``INTERNAL`` or
``UNAVAILABLE``, nothing is logged as an error, and the connection keeps
answering. Methods are read from the registry and their parameters from their
msgspec schemas, so a new method joins this test without being listed here.

Each example is one frame: a method's parameters drawn from its schema, where
any value may be replaced by boundary or hostile input (integers beyond 64
bits, NUL, lone surrogates, wrong types, huge lists, unknown fields, deep
nesting). Public methods (``auth.*``) go on a connection that is not yet
authenticated; the rest on an authenticated one with real chats and messages,
so small ids hit real objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import msgspec.inspect as mi
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tidings import wire
from tidings.api.dispatcher import Method
from tidings.api.methods import all_methods
from tidings.client import Client
from tidings.testing import postgres_schema, running_server, test_settings

from .conftest import IN_CI, PG_URL

METHODS = sorted(all_methods(), key=lambda m: m.name)
PASSWORD = "correct horse"
FORBIDDEN_CODES = {"INTERNAL", "UNAVAILABLE"}

INT_EDGES = [0, 1, 2, 3, 5, -1, 2**31, 2**53 + 1, wire.INT64_MAX, wire.INT64_MAX + 1,
             2**64, wire.INT64_MIN, wire.INT64_MIN - 1, 10**40]
# Lone surrogates are drawn too: the frame is written with json.dumps, which
# escapes them as \\udxxx, as a hostile client would.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
hostile_text = st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "😀",
                                "é" * 5000, "<script>", "alice", "group"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(INT_EDGES),
                    st.floats(allow_nan=False, allow_infinity=False), any_text, hostile_text)
junk = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(any_text, inner, max_size=4)), max_leaves=8)


def ints_for(t: mi.IntType | mi.FloatType) -> st.SearchStrategy[Any]:
    edges = [v + d for v in (t.ge, t.le) if v is not None for d in (-1, 0, 1)]
    if isinstance(t, mi.FloatType):
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                         st.sampled_from(edges or [0.0]))
    return st.one_of(st.integers(0, 12), st.sampled_from(INT_EDGES + edges), st.integers())


def valid_ish(t: mi.Type) -> st.SearchStrategy[Any]:
    """Values of the field's declared shape, including its boundaries."""
    if isinstance(t, mi.IntType | mi.FloatType):
        return ints_for(t)
    if isinstance(t, mi.StrType):
        return st.one_of(any_text, hostile_text)
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(list(t.values))
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.UnionType):
        return st.one_of(*(valid_ish(u) for u in t.types))
    if isinstance(t, mi.ListType):
        item = value_for(t.item_type)
        return st.one_of(st.lists(item, max_size=5), st.lists(item, min_size=100, max_size=300)
                         .map(lambda xs: xs), st.just([1] * 5000))
    if isinstance(t, mi.DictType):
        keys = st.one_of(st.integers(0, 12).map(str), any_text, st.sampled_from(
            [str(wire.INT64_MAX + 1), "-1", "1e3"]))
        return st.dictionaries(keys, value_for(t.value_type), max_size=5)
    if isinstance(t, mi.StructType):
        return params_for(t)
    return junk


def value_for(t: mi.Type) -> st.SearchStrategy[Any]:
    return st.one_of(valid_ish(t), valid_ish(t), junk)


def params_for(t: mi.StructType) -> st.SearchStrategy[dict[str, Any]]:
    fields = {f.encode_name: value_for(f.type) for f in t.fields}

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in t.fields:
            if draw(st.integers(0, 9)) or (f.required and draw(st.booleans())):
                out[f.encode_name] = draw(fields[f.encode_name])
        if draw(st.integers(0, 9)) == 0:
            out[draw(any_text)] = draw(junk)  # an unknown field
        return out

    return build()


@st.composite
def frames(draw: st.DrawFn) -> tuple[Method, str]:
    method = draw(st.sampled_from(METHODS))
    request_id = draw(st.one_of(st.integers(1, 10**6), st.just("req-ü")))
    shape = draw(st.integers(0, 19))
    if shape == 0:  # params that are not an object
        body = json.dumps({"id": request_id, "method": method.name, "params": draw(junk)})
    elif shape == 1:  # nesting far beyond any schema
        depth = draw(st.sampled_from([50, 1000, 30000]))
        body = (f'{{"id": {json.dumps(request_id)}, "method": "{method.name}", '
                f'"params": {{"x": {"[" * depth}{"]" * depth}}}}}')
    else:
        params = draw(params_for(mi.type_info(method.params)))  # type: ignore[arg-type]
        body = json.dumps({"id": request_id, "method": method.name, "params": params})
    # Frames beyond 4 x max_frame_bytes close the socket with 1009, as documented;
    # everything up to that must be answered on an open connection.
    assume(len(body.encode()) <= 4 * 65536)
    return method, body


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, or carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


class Target:
    """A live server with two users, a group and a direct chat with messages,
    and the raw connections the examples go through."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http
        self.ids = itertools.count(10**7)
        self.authed: aiohttp.ClientWebSocketResponse | None = None
        self.public: aiohttp.ClientWebSocketResponse | None = None

    async def setup(self) -> None:
        alice, bob = Client(self.url, reconnect=False), Client(self.url, reconnect=False)
        try:
            await alice.register("alice", PASSWORD)
            bob_id = (await bob.register("bob", PASSWORD))["user_id"]
            group = await alice.create_group("team", [bob_id])
            direct = await alice.direct(bob_id)
            for chat in (group, direct):
                for i in range(3):
                    await alice.send_text(chat["chat_id"], f"hello {i}")
                    await bob.send_text(chat["chat_id"], f"hi {i}")
        finally:
            await alice.close()
            await bob.close()
        self.authed = await self.login()

    async def login(self) -> aiohttp.ClientWebSocketResponse:
        ws = await self.http.ws_connect(self.url)
        answer = await self.call(ws, json.dumps({"id": 1, "method": "auth.login", "params": {
            "username": "alice", "password": PASSWORD}}))
        assert "result" in answer, answer
        return ws

    async def call(self, ws: aiohttp.ClientWebSocketResponse, frame: str) -> dict[str, Any]:
        """Send one frame and wait for its answer, skipping pushes."""
        await ws.send_str(frame)
        while True:
            msg = await asyncio.wait_for(ws.receive(), 10)
            assert msg.type is aiohttp.WSMsgType.TEXT, f"connection lost: {msg}"
            value: dict[str, Any] = json.loads(msg.data)
            if "push" not in value:
                return value

    async def example(self, method: Method, frame: str) -> dict[str, Any]:
        if method.public:
            if self.public is None or self.public.closed:
                self.public = await self.http.ws_connect(self.url)
            ws = self.public
        else:
            assert self.authed is not None
            ws = self.authed
        answer = await self.call(ws, frame)
        if "result" in answer and method.public:
            await ws.close()  # it authenticated: the next public example needs a fresh one
            self.public = None
        elif "result" in answer and method.name.startswith("device.revoke"):
            # It may have revoked this very device: sign in again, as a user would.
            await ws.close()
            self.authed = await self.login()
        else:
            probe = {"id": next(self.ids), "method": "auth.login" if method.public else
                     "sync.get_state", "params": {} if not method.public else {
                         "username": "", "password": ""}}
            follow = await self.call(ws, json.dumps(probe))
            assert follow["id"] == probe["id"], "the connection stopped answering"
        return answer


def run_fuzz(url: str | None, tmp: Path) -> None:
    loop = asyncio.new_event_loop()
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    stack = contextlib.AsyncExitStack()
    try:
        async def start() -> Target:
            config = test_settings(tmp / "data", url)
            server = await stack.enter_async_context(running_server(config))
            http = await stack.enter_async_context(aiohttp.ClientSession())
            target = Target(server.url, http)
            await target.setup()
            return target

        target = loop.run_until_complete(start())

        @hypothesis_settings(max_examples=300, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        @given(frames())
        def one_frame(drawn: tuple[Method, str]) -> None:
            method, frame = drawn
            answer = loop.run_until_complete(target.example(method, frame))
            error = answer.get("error") or {}
            assert error.get("code") not in FORBIDDEN_CODES, (method.name, frame[:300], answer)
            assert "result" in answer or "error" in answer, answer
            assert errors.records == [], [r.getMessage() for r in errors.records]

        one_frame()
    finally:
        logging.getLogger().removeHandler(errors)
        loop.run_until_complete(stack.aclose())
        loop.close()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_no_input_breaks_a_method_or_the_connection(engine: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tidings-fuzz-"))
    try:
        if engine == "sqlite":
            run_fuzz(None, tmp)
            return
        loop = asyncio.new_event_loop()
        try:
            schema = postgres_schema(PG_URL)
            try:
                url = loop.run_until_complete(schema.__aenter__())
            except OSError as exc:
                if IN_CI:
                    pytest.fail(f"PostgreSQL is not reachable: {exc}")
                pytest.skip(f"PostgreSQL is not reachable: {exc}")
            try:
                run_fuzz(url, tmp)
            finally:
                loop.run_until_complete(schema.__aexit__(None, None, None))
        finally:
            loop.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _leaves(t: mi.Type, path: str) -> list[tuple[str, mi.Type]]:
    """Every scalar type inside a schema, with where it sits."""
    if isinstance(t, mi.UnionType):
        return [leaf for u in t.types for leaf in _leaves(u, path)]
    if isinstance(t, mi.ListType):
        return _leaves(t.item_type, path + "[]")
    if isinstance(t, mi.DictType):
        return _leaves(t.key_type, path + "{key}") + _leaves(t.value_type, path + "{}")
    if isinstance(t, mi.StructType):
        return [leaf for f in t.fields for leaf in _leaves(f.type, f"{path}.{f.name}")]
    return [(path, t)]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m.name)
def test_every_parameter_is_bounded_where_it_is_declared(method: Method) -> None:
    """Every string refuses NUL and lone surrogates, every integer fits 64 bits:
    a schema added without the constrained types fails here, on both engines."""
    for path, leaf in _leaves(mi.type_info(method.params), method.name):
        if isinstance(leaf, mi.StrType):
            assert leaf.pattern == wire.SAFE_TEXT_PATTERN, f"{path} is a plain str; use wire.Text"
        elif isinstance(leaf, mi.IntType):
            assert leaf.ge is not None and leaf.ge >= wire.INT64_MIN, f"{path}: no lower bound"
            assert leaf.le is not None and leaf.le <= wire.INT64_MAX, f"{path}: no upper bound"
