"""``/openapi.json`` and ``/docs`` (issue 11 item 2): the document covers every
HTTP route the server mounts, is valid OpenAPI 3.1, the docs page loads
nothing from elsewhere, and schemathesis, run against a live server for every
operation, finds no 5xx and no response outside the document."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from openapi_spec_validator import validate

from tidings.client import Client
from tidings.config import Settings
from tidings.testing import running_server, test_settings

from .admin_helpers import TOKEN, base
from .helpers import PASSWORD

# Not HTTP API operations: the WebSocket itself, and the web client's static
# files (protocol §12 describes them; they take no parameters and no token).
_NOT_OPERATIONS = {("GET", "/ws"), ("GET", "/"), ("GET", "/web/{path}")}
# What schemathesis checks: no 5xx; statuses, content types, headers and bodies
# as documented; and input outside the document refused with a 4xx.
_CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
           "response_headers_conformance,response_schema_conformance,"
           "negative_data_rejection")


@pytest.fixture
def admin_settings(tmp_path: Path) -> Settings:
    return test_settings(tmp_path / "data", None, admin_token=TOKEN, recall_audit=True)


async def test_every_route_is_documented_and_the_document_is_valid(
        admin_settings: Settings) -> None:
    async with running_server(admin_settings) as srv, aiohttp.ClientSession() as s:
        async with s.get(f"{base(srv)}/openapi.json") as resp:
            doc = await resp.json()
        validate(doc)
        documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
        mounted = {(r.method, r.resource.canonical) for r in srv.node.app.router.routes()
                   if r.method != "HEAD" and r.resource is not None}
        assert mounted - _NOT_OPERATIONS == documented
        for path, item in doc["paths"].items():
            for method, op in item.items():
                assert op["responses"], (method, path)
                if path.startswith("/admin/"):
                    assert {"401", "404"} <= set(op["responses"]), (method, path)
                    assert op["security"] == [{"adminToken": []}]


async def test_docs_are_served_locally(admin_settings: Settings) -> None:
    async with running_server(admin_settings) as srv, aiohttp.ClientSession() as s:
        async with s.get(f"{base(srv)}/docs") as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            page = await resp.text()
            csp = resp.headers["Content-Security-Policy"]
        assert "/openapi.json" in page
        assert "http://" not in page and "https://" not in page  # no CDN, nothing remote
        assert "connect-src 'self'" in csp and "default-src 'none'" in csp


async def _schemathesis(url: str, token: str, *filters: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "schemathesis"), "run", f"{url}/openapi.json",
        "-H", f"Authorization: Bearer {token}", *filters, "--checks", _CHECKS,
        "--max-examples", "6", "--seed", "20261201", "--generation-deterministic",
        "--workers", "1", "--no-color",
        "--request-timeout", "20", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    out, _ = await proc.communicate()
    return await proc.wait(), out.decode(errors="replace")


@pytest.mark.timeout(240)
async def test_schemathesis_finds_every_operation_conforming(admin_settings: Settings) -> None:
    async with running_server(admin_settings) as srv, Client(srv.url) as device:
        await device.register("fuzzer", PASSWORD)
        assert device.token is not None
        # The admin operations with the admin token, the others with a device's;
        # both runs at once, against the one server.
        runs = await asyncio.gather(
            _schemathesis(base(srv), TOKEN, "--include-path-regex", "^/admin/"),
            _schemathesis(base(srv), device.token, "--exclude-path-regex", "^/admin/"))
        for code, out in runs:
            assert code == 0, out[-6000:]
            assert " passed" in out and "Tested: " in out
