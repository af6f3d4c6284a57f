"""Media end to end over the wire (issue 8): upload over HTTP, send, let the
expiry job expire the file, see ``media.expired`` on a device that was
offline, get 410 with the placeholder, renew from the pool, download again."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.helpers import PASSWORD
from tests.media_helpers import download, png_bytes, upload
from tests.s3_server import create_bucket
from tidings import wire
from tidings.client import Client
from tidings.clock import FakeClock
from tidings.jobs import build_runner
from tidings.testing import running_server, test_settings

DAY = 86400


async def test_upload_send_expire_placeholder_renew(tmp_path: Path,
                                                    database_url: str | None) -> None:
    clock = FakeClock()
    settings = test_settings(tmp_path / "data", database_url, jobs_interval_seconds=3600,
                             media_ttl_image_seconds=10 * DAY, media_grace_seconds=3 * DAY)
    image = png_bytes(640, 480)
    async with running_server(settings, clock) as srv, aiohttp.ClientSession() as http:
        base = srv.url.replace("ws://", "http://").removesuffix("/ws")
        async with Client(srv.url) as alice, Client(srv.url) as bob:
            await alice.register("alice", PASSWORD)
            bob_id = (await bob.register("bob", PASSWORD))["user_id"]
            chat_id = (await alice.create_group("Photos", [bob_id]))["chat_id"]
            bob_token = bob.token
            assert bob_token is not None
            await bob.catch_up()

            assert alice.token is not None
            status, body = await upload(http, base, alice.token, image, kind="image",
                                        name="beach.png", mime="image/png")
            assert status == 201, body
            f = body["file"]
            assert (f["kind"], f["mime"], f["size"], f["status"]) == (
                "image", "image/png", len(image), "active")
            assert (f["width"], f["height"], f["thumbnail"]) == (640, 480, True)
            assert f["expires_at"] == clock.now() + 10 * DAY

            sent = await alice.send(chat_id, kind="image", file_id=f["file_id"],
                                    text="the beach")
            assert sent["file"]["file_id"] == f["file_id"]
            msg_id = sent["msg_id"]
            await bob.wait_for(lambda c: msg_id in c.chats[chat_id].messages)

            # Bob sees the message, so he may download it, whole and in ranges.
            url = f"{base}/files/{f['file_id']}"
            status, headers, data = await download(http, url, bob_token)
            assert (status, data) == (200, image)
            assert headers["Content-Type"] == "image/png"
            status, headers, data = await download(http, url, bob_token,
                                                   {"Range": "bytes=10-19"})
            assert (status, data, headers["Content-Range"]) == (
                206, image[10:20], f"bytes 10-19/{len(image)}")
            status, headers, thumb = await download(http, url + "/thumbnail", bob_token)
            assert status == 200 and headers["Content-Type"] == "image/webp"
            assert thumb[:4] == b"RIFF"
            # Bob goes offline; the file expires meanwhile.
            await bob.disconnect()
            clock.advance(10 * DAY + 1)
            await build_runner(srv.services).run_due()
            await bob.resume(bob_token)
            await bob.catch_up()
            shown = bob.chats[chat_id].messages[msg_id]
            assert shown["file"]["status"] == "expired"

            assert bob.token is not None and alice.token is not None
            status, _, raw = await download(http, url, bob.token)
            assert status == 410
            placeholder = wire.decode(raw)
            assert placeholder["status"] == "expired" and placeholder["kind"] == "image"
            assert placeholder["sender_id"] == sent["sender_id"]
            assert placeholder["sent_at"] == sent["date"]
            assert placeholder["error"]["code"] == "MEDIA_EXPIRED"
            assert placeholder["actions"] == ["request_renewal"]

            # The owner enables the pool and renews it for 30 days.
            await alice.call("pool.enable", {"chat_id": chat_id, "capacity_bytes": 10**7})
            renewed = (await alice.call("media.renew", {"chat_id": chat_id,
                                                        "msg_id": msg_id}))["file"]
            assert renewed["status"] == "active"
            assert renewed["expires_at"] == clock.now() + 30 * DAY
            await bob.wait_for(
                lambda c: c.chats[chat_id].messages[msg_id]["file"]["status"] == "active")
            status, _, data = await download(http, url, bob.token)
            assert (status, data) == (200, image)
            # The storage gauges are on the server's /metrics (refreshed in the
            # background, so only their presence is certain here).
            async with http.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
            assert 'tidings_media_bytes{kind="image",status="active"}' in metrics
            assert "# TYPE tidings_jobs_pending gauge" in metrics
            pool = await alice.call("pool.get", {"chat_id": chat_id})
            assert (pool["used"], pool["files"]) == (len(image), 1)
            assert pool["by_kind"] == {"image": {"count": 1, "bytes": len(image)}}


async def test_a_server_on_the_s3_blob_store(tmp_path: Path, s3_url: str) -> None:
    """The same path over the S3 store (what several nodes share): the bytes and
    the thumbnail go to the bucket, downloads and ranges come from it, and the
    blob leaves it once the file is deleted."""
    clock = FakeClock()
    bucket = create_bucket(s3_url)
    settings = test_settings(tmp_path / "data", None, jobs_interval_seconds=3600,
                             blob_store="s3", s3_endpoint=s3_url, s3_bucket=bucket,
                             s3_access_key="test", s3_secret_key="test", s3_region="us-east-1",
                             media_ttl_image_seconds=DAY, media_grace_seconds=DAY)
    image = png_bytes(300, 200)
    async with running_server(settings, clock) as srv, aiohttp.ClientSession() as http, \
            Client(srv.url) as alice:
        base = srv.url.replace("ws://", "http://").removesuffix("/ws")
        await alice.register("alice", PASSWORD)
        assert alice.token is not None
        status, body = await upload(http, base, alice.token, image, kind="image",
                                    name="s3.png", mime="image/png")
        assert status == 201, body
        f = body["file"]
        blobs = srv.services.files.blobs
        assert await blobs.exists(f["sha256"]) and await blobs.exists(f["sha256"] + ".thumb")
        url = f"{base}/files/{f['file_id']}"
        assert (await download(http, url, alice.token))[::2] == (200, image)
        status, _, part = await download(http, url, alice.token, {"Range": "bytes=-10"})
        assert (status, part) == (206, image[-10:])
        assert (await download(http, url + "/thumbnail", alice.token))[0] == 200

        clock.advance(DAY + 1)  # expired (bytes kept) ...
        await build_runner(srv.services).run_due()
        clock.advance(DAY + 1)  # ... then deleted, and the blob job removes the bytes
        for _ in range(3):
            await build_runner(srv.services).run_due()
        assert (await download(http, url, alice.token))[0] == 410
        assert not await blobs.exists(f["sha256"])
        assert not await blobs.exists(f["sha256"] + ".thumb")
