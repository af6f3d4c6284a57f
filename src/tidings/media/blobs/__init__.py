"""Blob storage behind one interface: a local directory (default) or an S3 bucket.

``open_blob_store`` is what the composition root calls with the settings
``blob_store`` and ``s3_*``; everything else sees only ``BlobStore``.
"""

from __future__ import annotations

from pathlib import Path

from tidings.media.blobs.base import BlobNotFound, BlobStore, BlobStoreUnavailable
from tidings.media.blobs.local import LocalBlobStore
from tidings.media.blobs.s3 import S3BlobStore

__all__ = ["BlobNotFound", "BlobStore", "BlobStoreUnavailable", "open_blob_store"]


def open_blob_store(
    kind: str,
    *,
    root: Path,
    s3_endpoint: str | None,
    s3_bucket: str | None,
    s3_access_key: str | None,
    s3_secret_key: str | None,
    s3_region: str | None,
) -> BlobStore:
    """``kind`` is "local" (files under ``root``) or "s3" (``s3_bucket`` required,
    checked to exist: ``BlobStoreUnavailable``)."""
    if kind == "local":
        return LocalBlobStore(root)
    if kind == "s3":
        if not s3_bucket:
            raise ValueError("blob_store 's3' needs s3_bucket")
        return S3BlobStore.open(
            s3_bucket,
            endpoint=s3_endpoint,
            access_key=s3_access_key,
            secret_key=s3_secret_key,
            region=s3_region,
        )
    raise ValueError(f"unknown blob_store {kind!r}: want 'local' or 's3'")
