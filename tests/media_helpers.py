"""Builders for the media tests: real image bytes, and uploads over HTTP."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
from PIL import Image


def png_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)
              ) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def pdf_bytes(pages: int = 1) -> bytes:
    body = b"".join(b"%% page %d\n" % i for i in range(pages))
    return b"%PDF-1.4\n" + body + b"%%EOF\n"


async def upload(http: aiohttp.ClientSession, base: str, token: str, data: bytes, *,
                 kind: str, name: str, mime: str = "application/octet-stream"
                 ) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{base}/files", params={"kind": kind, "name": name}, data=data,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": mime}) as resp:
        return resp.status, await resp.json()


async def download(http: aiohttp.ClientSession, url: str, token: str,
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    async with http.get(url, headers={"Authorization": f"Bearer {token}",
                                      **(headers or {})}) as resp:
        return resp.status, dict(resp.headers), await resp.read()
