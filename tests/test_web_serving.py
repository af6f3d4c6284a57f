"""The web client's files are served from the package at / with a policy that
keeps the page on the server's origin, and nothing outside the folder leaks."""

from __future__ import annotations

import re

import aiohttp

from tidings.config import Settings
from tidings.testing import running_server
from tidings.transport.web import WEB_ROOT


async def test_index_and_modules_are_served_with_a_same_origin_policy(settings: Settings) -> None:
    async with running_server(settings) as server, aiohttp.ClientSession() as http:
        base = server.url.replace("ws://", "http://").removesuffix("/ws")
        async with http.get(base + "/") as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            policy = response.headers["Content-Security-Policy"]
            assert "default-src 'self'" in policy and "script-src 'self';" in policy
            assert "unsafe-inline" not in policy
            page = await response.text()
        # every module the page and the modules import is served, as JavaScript
        for path in re.findall(r'src="(/web/[^"]+)"', page):
            async with http.get(base + path) as response:
                assert response.status == 200, path
                assert response.content_type == "text/javascript"
                assert response.headers["Content-Security-Policy"] == policy
        for outside in ("/web/../config.py", "/web/%2e%2e/config.py", "/web/nothing.js"):
            async with http.get(base + outside) as response:
                assert response.status == 404, outside


def test_every_module_import_points_at_a_shipped_file() -> None:
    for module in WEB_ROOT.rglob("*.js"):
        for target in re.findall(r"""from\s*['"](\.[^'"]+)['"]""", module.read_text()):
            assert (module.parent / target).resolve().is_file(), f"{module}: {target}"
    assert (WEB_ROOT / "vendor" / "LICENSE.preact").is_file()


async def test_the_client_can_be_switched_off(settings: Settings) -> None:
    off = settings.model_copy(update={"web_client": False})
    async with running_server(off) as server, aiohttp.ClientSession() as http:
        base = server.url.replace("ws://", "http://").removesuffix("/ws")
        async with http.get(base + "/") as response:
            assert response.status == 404
