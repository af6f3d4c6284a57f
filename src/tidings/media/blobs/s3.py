"""Blobs as objects in an S3-compatible bucket (AWS, MinIO, Ceph, moto), via obstore.

obstore (Rust object_store) was measured against aiobotocore on a local moto
server: as fast or faster both ways (1 MiB objects: ~85-105 vs ~70 MB/s up,
~115-145 vs ~80-115 MB/s down; moto itself is the ceiling), half the idle
memory (27 vs 60 MiB RSS), type stubs shipped, and it does the multipart upload
from a file path itself. Keys are used as object names unchanged.

The bucket is never created here: that needs permissions and region choices an
operator should make. ``open`` checks it exists, so a typo fails at startup.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

from tidings.media.blobs.base import (
    DEFAULT_CHUNK_SIZE,
    BlobNotFound,
    BlobStoreUnavailable,
    check_key,
    check_range,
)

if TYPE_CHECKING:
    from obstore import GetOptions
    from obstore.store import ClientConfig, S3Config

# Upload memory is about part size x concurrency per ingest (5 MiB x 4: ~+35 MiB
# peak RSS measured for a 256 MiB file); 5 MiB is S3's minimum part size.
_PART_SIZE = 5 * 1024 * 1024
_PART_CONCURRENCY = 4
_NOT_FOUND = (FileNotFoundError, NotFoundError)


class S3BlobStore:
    def __init__(self, store: S3Store) -> None:
        self._store = store

    @classmethod
    def open(
        cls,
        bucket: str,
        *,
        endpoint: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str | None = None,
    ) -> S3BlobStore:
        """Connect and check the bucket exists (``BlobStoreUnavailable`` if not).

        Unset credentials and region fall back to the usual ``AWS_*`` environment.
        The check is one blocking LIST at startup, with short timeouts and no retries.
        """
        config: S3Config = {}
        if endpoint is not None:
            # path-style: what MinIO, Ceph and moto serve without wildcard DNS
            config["endpoint"] = endpoint
            config["virtual_hosted_style_request"] = False
        if access_key is not None:
            config["access_key_id"] = access_key
        if secret_key is not None:
            config["secret_access_key"] = secret_key
        if region is not None:
            config["region"] = region
        client: ClientConfig = {"allow_http": bool(endpoint and endpoint.startswith("http://"))}
        _check_bucket(
            S3Store(
                bucket,
                config=config,
                client_options={**client, "connect_timeout": timedelta(seconds=5)},
                retry_config={"max_retries": 0},
            ),
            bucket,
            endpoint,
        )
        return cls(S3Store(bucket, config=config, client_options=client))

    async def ingest(self, key: str, path: Path) -> None:
        try:
            check_key(key)
            if not await self.exists(key):
                # Streams the file in parts (multipart above one part): never whole in memory.
                await obstore.put_async(
                    self._store,
                    key,
                    path,
                    chunk_size=_PART_SIZE,
                    max_concurrency=_PART_CONCURRENCY,
                )
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def put_bytes(self, key: str, data: bytes) -> None:
        await obstore.put_async(self._store, check_key(key), data)

    async def size(self, key: str) -> int:
        try:
            meta = await obstore.head_async(self._store, check_key(key))
        except _NOT_FOUND:
            raise BlobNotFound(key) from None
        return meta["size"]

    async def exists(self, key: str) -> bool:
        try:
            await self.size(key)
        except BlobNotFound:
            return False
        return True

    def read(
        self,
        key: str,
        start: int = 0,
        end: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> AsyncIterator[bytes]:
        check_key(key)
        check_range(start, end, chunk_size)
        return self._read(key, start, end, chunk_size)

    async def _read(
        self, key: str, start: int, end: int | None, chunk_size: int
    ) -> AsyncIterator[bytes]:
        if end == start:
            await self.size(key)  # still BlobNotFound for a missing key
            return
        options: GetOptions = {}
        if end is not None:
            options["range"] = (start, end)
        elif start:
            options["range"] = {"offset": start}
        try:
            result = await obstore.get_async(self._store, key, options=options)
        except _NOT_FOUND:
            raise BlobNotFound(key) from None
        except BaseError:
            # S3 answers 416 for a start at or past the end; the interface says empty.
            if await self.size(key) <= start:
                return
            raise
        async for chunk in result.stream(min_chunk_size=chunk_size):
            yield chunk

    async def delete(self, key: str) -> None:
        await obstore.delete_async(self._store, check_key(key))

    async def close(self) -> None:
        """obstore pools connections per store and frees them with it."""


def _check_bucket(store: S3Store, bucket: str, endpoint: str | None) -> None:
    where = endpoint or "AWS"
    try:
        obstore.list_with_delimiter(store, "tidings-bucket-check/")
    except BaseError as exc:
        raise BlobStoreUnavailable(
            f"S3 bucket {bucket!r} at {where} cannot be listed (missing, or no access?): {exc}"
        ) from exc
