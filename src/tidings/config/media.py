"""The media settings (seed 000: structure forever, media with lifetimes,
preservation), a group of fields that ``tidings.config.Settings`` inherits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class MediaSettings(BaseModel):
    # -- media (seed 000: structure forever, media with lifetimes, preservation)
    blob_store: Literal["local", "s3"] = Field(
        "local", description="where media bytes live: files under media_dir, or an "
        "S3-compatible bucket (several nodes cannot share a local disk)")
    media_dir: Path | None = Field(
        None, description="the local blob store and upload staging; default data_dir/media")
    s3_endpoint: str | None = Field(None, description="e.g. http://127.0.0.1:9000; unset: AWS")
    s3_bucket: str | None = Field(None, description="must exist; required with blob_store s3")
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str | None = None
    max_upload_bytes: int = Field(
        100 * 1024 * 1024, ge=1, description="largest upload; a larger body is refused with "
        "413 TOO_LARGE, before it is read when its length is declared")
    max_file_name_length: int = Field(255, ge=1, le=1024)
    media_ttl_image_seconds: int = Field(180 * 86400, ge=1, description="images live this "
                                         "long by default (seed 000: 180 days)")
    media_ttl_video_seconds: int = Field(60 * 86400, ge=1, description="videos: 60 days")
    media_ttl_audio_seconds: int = Field(30 * 86400, ge=1, description="audio: 30 days")
    media_ttl_file_seconds: int = Field(30 * 86400, ge=1, description="other files: 30 days")
    media_grace_seconds: int = Field(
        7 * 86400, ge=0, description="an expired file's bytes are kept this long, still "
        "renewable, before they are deleted")
    media_expiring_soon_seconds: int = Field(
        7 * 86400, ge=0, description="a file expiring within this long is marked "
        "expiring_soon")
    media_renew_max_days: int = Field(365, ge=1, le=36500,
                                      description="longest single media.renew")
    quota_default_bytes: int = Field(
        1024 ** 3, ge=0, description="personal custody space of entitlement level 0 (1 GiB); "
        "higher levels multiply it (entitlement_quota_factors)")
    entitlement_ttl_factors: list[float] = Field(
        [1.0, 2.0, 0.0], min_length=1, max_length=16, description="media lifetime multiplier "
        "of entitlement levels 0, 1, 2, ...; 0 = no expiry of its own (preserved_by "
        "subscription; a chat's retention still applies). Payment only changes parameters")
    entitlement_quota_factors: list[float] = Field(
        [1.0, 10.0, 100.0], min_length=1, max_length=16,
        description="personal quota multiplier of entitlement levels 0, 1, 2, ...")
    media_expiry_batch_size: int = Field(
        1000, ge=1, le=1000, description="files one expiry step moves (one transaction)")
    thumbnail_max_side: int = Field(320, ge=16, le=2048)
    thumbnail_max_pixels: int = Field(
        50_000_000, ge=1, description="larger images are refused as decompression bombs")
    thumbnail_workers: int = Field(1, ge=1, le=64,
                                   description="processes that decode images for thumbnails")
    retention_enabled: bool = Field(
        True, description="kill switch: off, new uploads get no expiry (existing deadlines "
        "stay until re-enabled)")
    quota_enabled: bool = Field(True, description="kill switch: off, custody ignores quotas")
    cleanup_job_enabled: bool = Field(
        True, description="kill switch: off, the expiry job moves nothing")
