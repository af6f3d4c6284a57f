"""The web client (``tidings/web``, package data) served at ``/``.

``/`` answers ``index.html``; ``/web/{path}`` the client's modules, styles and
vendored libraries. Every answer carries a Content-Security-Policy that keeps
the page on this origin: scripts, styles, images, media and the WebSocket
(``connect-src 'self'`` covers ``ws:``/``wss:`` to the same host) come only
from here, images also from ``blob:`` URLs the client makes of downloads it
fetched with its token. Nothing is inlined, so no ``'unsafe-inline'``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from aiohttp import web

WEB_ROOT = Path(str(files("tidings").joinpath("web")))

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Modules are loaded without a build step or hashed names: revalidate each
    # time (a 304 with the ETag) so an upgraded server is picked up at once.
    "Cache-Control": "no-cache",
}
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html",
         ".svg": "image/svg+xml", ".md": "text/plain", ".json": "application/json"}


def _file(path: Path) -> web.FileResponse:
    response = web.FileResponse(path, headers=HEADERS)
    response.content_type = TYPES.get(path.suffix, "application/octet-stream")
    if path.suffix in TYPES:
        response.charset = "utf-8"
    return response


async def index(request: web.Request) -> web.FileResponse:
    return _file(WEB_ROOT / "index.html")


def _locate(relative: str) -> Path | None:
    """The file under the root, or None: resolved paths outside the root
    (``..``, symlinks) are not served. A few stat calls on package files."""
    root = WEB_ROOT.resolve()
    path = (root / relative).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


async def asset(request: web.Request) -> web.FileResponse:
    path = _locate(request.match_info["path"])
    if path is None:
        raise web.HTTPNotFound(text="no such file")
    return _file(path)


def routes() -> list[web.RouteDef]:
    return [web.get("/", index), web.get("/web/{path:.+}", asset)]
