"""One conformance suite for every blob store: the local directory and S3
(against a real moto server). Media upload, download with HTTP Range, and the
expiry jobs rely on exactly these behaviours, whichever store is configured."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import obstore
import pytest
from obstore.store import S3Store

from tidings.media.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable, open_blob_store

from .conftest import _unavailable
from .s3_server import create_bucket

MiB = 1024 * 1024


@dataclass
class Case:
    store: BlobStore
    staging: Path
    stored: Callable[[], Awaitable[list[str]]]  # every object the backend holds


def _open_s3(url: str, bucket: str) -> BlobStore:
    return open_blob_store(
        "s3",
        root=Path("unused"),
        s3_endpoint=url,
        s3_bucket=bucket,
        s3_access_key="test",
        s3_secret_key="test",
        s3_region="us-east-1",
    )


@pytest.fixture(params=["local", "s3"])
async def case(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Case]:
    staging = tmp_path / "staging"
    staging.mkdir()
    if request.param == "local":
        root = tmp_path / "blobs"
        store = open_blob_store(
            "local",
            root=root,
            s3_endpoint=None,
            s3_bucket=None,
            s3_access_key=None,
            s3_secret_key=None,
            s3_region=None,
        )

        async def stored() -> list[str]:
            return sorted(p.name for p in root.rglob("*") if p.is_file())
    else:
        url: str = request.getfixturevalue("s3_url")
        try:
            bucket = create_bucket(url)
        except OSError as exc:
            _unavailable(f"S3 at {url}", exc)
        store = _open_s3(url, bucket)
        raw = S3Store(
            bucket,
            endpoint=url,
            access_key_id="test",
            secret_access_key="test",
            region="us-east-1",
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )

        async def stored() -> list[str]:
            return sorted([meta["path"] async for batch in obstore.list(raw) for meta in batch])

    yield Case(store, staging, stored)
    await store.close()


def stage(case: Case, data: bytes, name: str = "upload") -> tuple[str, Path]:
    path = case.staging / name
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), path


async def read_all(store: BlobStore, key: str, *args: int) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, *args)])


async def test_ingest_then_read_back(case: Case) -> None:
    data = os.urandom(10_000)
    key, path = stage(case, data)
    await case.store.ingest(key, path)
    assert not path.exists()
    assert await case.store.exists(key)
    assert await case.store.size(key) == len(data)
    assert await read_all(case.store, key) == data
    assert await case.stored() == [key]


async def test_identical_upload_shares_one_blob(case: Case) -> None:
    data = os.urandom(4096)
    key, first = stage(case, data, "first")
    _, second = stage(case, data, "second")
    await case.store.ingest(key, first)
    await case.store.ingest(key, second)
    assert not first.exists() and not second.exists()
    assert await case.stored() == [key]
    assert await read_all(case.store, key) == data


async def test_thumbnail_put_bytes(case: Case) -> None:
    data = os.urandom(3000)
    key = hashlib.sha256(b"original").hexdigest() + ".thumb"
    await case.store.put_bytes(key, data)
    await case.store.put_bytes(key, data)
    assert await case.store.size(key) == len(data)
    assert await read_all(case.store, key) == data
    assert await case.stored() == [key]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 100, slice(0, 100)),  # start
        (400, 600, slice(400, 600)),  # middle
        (900, None, slice(900, 1000)),  # end
        (990, 2000, slice(990, 1000)),  # end past the blob: clamped
        (500, 500, slice(0, 0)),  # empty range
        (1000, None, slice(0, 0)),  # start at the end: empty
        (1500, 1600, slice(0, 0)),  # start past the end: empty, not an error
    ],
)
async def test_ranges(case: Case, start: int, end: int | None, expected: slice) -> None:
    data = os.urandom(1000)
    key, path = stage(case, data)
    await case.store.ingest(key, path)
    assert await read_all(case.store, key, start, *([] if end is None else [end])) == data[expected]


async def test_multi_chunk_blob_streams_in_chunks(case: Case) -> None:
    # larger than one S3 part, so the upload is multipart
    data = os.urandom(6 * MiB + 123)
    key, path = stage(case, data)
    await case.store.ingest(key, path)
    chunk_size = 256 * 1024
    chunks = [c async for c in case.store.read(key, chunk_size=chunk_size)]
    assert b"".join(chunks) == data
    assert len(chunks) > 6 * MiB // (2 * chunk_size)  # streamed, not one buffer
    middle = [c async for c in case.store.read(key, MiB + 7, 4 * MiB - 3, chunk_size=chunk_size)]
    assert b"".join(middle) == data[MiB + 7 : 4 * MiB - 3]


async def test_missing_blob(case: Case) -> None:
    key = hashlib.sha256(b"never stored").hexdigest()
    assert not await case.store.exists(key)
    with pytest.raises(BlobNotFound):
        await case.store.size(key)
    with pytest.raises(BlobNotFound):
        await read_all(case.store, key)
    with pytest.raises(BlobNotFound):
        await read_all(case.store, key, 5, 5)


async def test_delete_is_idempotent(case: Case) -> None:
    key, path = stage(case, b"short-lived")
    await case.store.ingest(key, path)
    await case.store.delete(key)
    assert not await case.store.exists(key)
    with pytest.raises(BlobNotFound):
        await read_all(case.store, key)
    await case.store.delete(key)
    await case.store.delete(hashlib.sha256(b"never stored").hexdigest())
    assert await case.stored() == []


BAD_KEYS = [
    "../../etc/passwd",
    "a" * 63,
    "A" * 64,
    "a" * 64 + "\n",
    "a" * 64 + ".thumb/../x",
    "a" * 64 + ".jpg",
    "",
]


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_key_is_rejected(case: Case, key: str) -> None:
    _, path = stage(case, b"evil")
    with pytest.raises(ValueError):
        await case.store.ingest(key, path)
    assert not path.exists()  # consumed even on failure: no staged leftovers
    with pytest.raises(ValueError):
        await case.store.put_bytes(key, b"evil")
    with pytest.raises(ValueError):
        await case.store.size(key)
    with pytest.raises(ValueError):
        await case.store.exists(key)
    with pytest.raises(ValueError):
        case.store.read(key)
    with pytest.raises(ValueError):
        await case.store.delete(key)
    assert await case.stored() == []


@pytest.mark.parametrize(("start", "end", "chunk_size"), [(-1, None, 10), (5, 4, 10), (0, 1, 0)])
async def test_bad_range_is_rejected(
    case: Case, start: int, end: int | None, chunk_size: int
) -> None:
    key, path = stage(case, b"0123456789")
    await case.store.ingest(key, path)
    with pytest.raises(ValueError):
        case.store.read(key, start, end, chunk_size)


async def test_s3_missing_bucket_fails_at_open(s3_url: str) -> None:
    with pytest.raises(BlobStoreUnavailable, match="no-such-bucket"):
        _open_s3(s3_url, "no-such-bucket")


def test_unknown_store_kind() -> None:
    with pytest.raises(ValueError, match="blob_store"):
        open_blob_store(
            "ftp",
            root=Path("x"),
            s3_endpoint=None,
            s3_bucket=None,
            s3_access_key=None,
            s3_secret_key=None,
            s3_region=None,
        )
