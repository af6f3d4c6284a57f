"""The edge (issue 11, item 7): X-Forwarded-For believed only from trusted
proxies (so rate limits see the real client behind a local reverse proxy),
blocked networks refused with 403, CORS for configured origins only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tidings.testing import running_server, test_settings
from tidings.transport.edge import client_address, networks

TRUSTED = networks(["127.0.0.1/32", "10.0.0.0/8"])


@pytest.mark.parametrize(("peer", "header", "expected"), [
    ("127.0.0.1", None, "127.0.0.1"),                         # no header
    ("198.51.100.4", "203.0.113.7", "198.51.100.4"),          # untrusted peer: ignored
    ("127.0.0.1", "203.0.113.7", "203.0.113.7"),              # one trusted hop
    ("127.0.0.1", "203.0.113.7, 10.1.2.3", "203.0.113.7"),    # two trusted hops
    ("127.0.0.1", "1.1.1.1, 203.0.113.7", "203.0.113.7"),     # a spoofed left part
    ("127.0.0.1", "10.0.0.1, 10.0.0.2", "10.0.0.1"),          # all trusted: left-most
    ("127.0.0.1", "not-an-ip", "127.0.0.1"),                  # malformed: the socket's
])
def test_client_address(peer: str, header: str | None, expected: str) -> None:
    assert client_address(peer, header, TRUSTED) == expected


async def login_codes(url: str, headers: dict[str, str], attempts: int) -> list[str]:
    codes = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url, headers=headers) as ws:
        for i in range(attempts):
            await ws.send_json({"id": i, "method": "auth.login", "params": {
                "username": "nobody", "password": "wrong-password", "device_name": "x"}})
            reply: dict[str, Any] = await ws.receive_json()
            codes.append(reply["error"]["code"])
    return codes


async def test_rate_limits_see_the_client_behind_a_trusted_proxy(tmp_path: Path) -> None:
    limits = {"rate_limit_login_per_second": 0.01, "rate_limit_login_burst": 1}
    behind = {"X-Forwarded-For": "203.0.113.7"}
    settings = test_settings(tmp_path / "a", trusted_proxies=["127.0.0.1/32"], **limits)
    async with running_server(settings) as srv:
        # Through the proxy: a real client address, limited like any other.
        assert await login_codes(srv.url, behind, 2) == ["INVALID_CREDENTIALS",
                                                         "RATE_LIMITED"]
        # The proxy's own loopback requests stay exempt.
        assert "RATE_LIMITED" not in await login_codes(srv.url, {}, 3)
    untrusted = test_settings(tmp_path / "b", **limits)
    async with running_server(untrusted) as srv:
        # No trusted proxy configured: the header is ignored (loopback, exempt).
        assert "RATE_LIMITED" not in await login_codes(srv.url, behind, 3)


async def test_blocked_networks_are_refused(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, trusted_proxies=["127.0.0.1/32"],
                             blocked_networks=["203.0.113.0/24"])
    async with running_server(settings) as srv, aiohttp.ClientSession() as s:
        base = f"http://{srv.settings.host}:{srv.port}"
        async with s.get(f"{base}/healthz", headers={"X-Forwarded-For": "203.0.113.9"}) as r:
            assert r.status == 403
            assert (await r.json())["error"]["code"] == "FORBIDDEN"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await s.ws_connect(srv.url, headers={"X-Forwarded-For": "203.0.113.9"})
        assert refused.value.status == 403
        async with s.get(f"{base}/healthz", headers={"X-Forwarded-For": "198.51.100.1"}) as r:
            assert r.status == 200


async def test_cors_only_for_configured_origins(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, cors_origins=["https://app.example"])
    async with running_server(settings) as srv, aiohttp.ClientSession() as s:
        base = f"http://{srv.settings.host}:{srv.port}"
        preflight = {"Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "Authorization, Content-Type"}
        async with s.options(f"{base}/files", headers={
                "Origin": "https://app.example", **preflight}) as r:
            assert r.status == 200
            assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
            assert "AUTHORIZATION" in r.headers["Access-Control-Allow-Headers"].upper()
        async with s.options(f"{base}/files", headers={
                "Origin": "https://evil.example", **preflight}) as r:
            assert r.status == 403
            assert "Access-Control-Allow-Origin" not in r.headers
        async with s.get(f"{base}/healthz", headers={"Origin": "https://app.example"}) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "https://app.example"
        async with s.get(f"{base}/healthz", headers={"Origin": "https://evil.example"}) as r:
            assert "Access-Control-Allow-Origin" not in r.headers
    async with running_server(test_settings(tmp_path / "none")) as srv, \
            aiohttp.ClientSession() as s:
        base = f"http://{srv.settings.host}:{srv.port}"
        async with s.get(f"{base}/healthz", headers={"Origin": "https://app.example"}) as r:
            assert "Access-Control-Allow-Origin" not in r.headers
