"""The media lifecycle rules as pure functions (media/lifecycle.py), table by
table: every branch of lifetimes, upload limits, quotas, a viewer's actions
and ``expiring_soon``. No database, no clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.media import lifecycle
from tidings.media.lifecycle import ChatPolicy, Lifetime, MediaRules, Viewer
from tidings.testing import test_settings

DAY = 86400
NOW = 1_800_000_000
TTL = {"image": 180 * DAY, "video": 60 * DAY, "audio": 30 * DAY, "file": 30 * DAY}
RULES = MediaRules(kind_ttl=TTL, ttl_factors=(1.0, 2.0, 0.0),
                   quota_factors=(1.0, 10.0, 100.0), quota_default_bytes=1000,
                   max_upload_bytes=500)


def test_rules_come_from_the_settings(tmp_path: Path) -> None:
    s = test_settings(tmp_path, None, media_ttl_image_seconds=11, media_ttl_video_seconds=12,
                      media_ttl_audio_seconds=13, media_ttl_file_seconds=14,
                      entitlement_ttl_factors=[1.0, 3.0], entitlement_quota_factors=[1.0, 5.0],
                      quota_default_bytes=77, max_upload_bytes=88, retention_enabled=False,
                      quota_enabled=False)
    rules = MediaRules.from_settings(s)
    assert rules == MediaRules({"image": 11, "video": 12, "audio": 13, "file": 14},
                               (1.0, 3.0), (1.0, 5.0), 77, 88, False, False)


def test_the_defaults_are_seed_000s() -> None:
    rules = MediaRules.from_settings(test_settings(Path("/nonexistent"), None))
    assert dict(rules.kind_ttl) == TTL
    assert rules.quota_bytes(0) == 1024 ** 3


@pytest.mark.parametrize(("level", "used"), [(-3, 0), (0, 0), (1, 1), (2, 2), (9, 2)])
def test_levels_outside_the_table_take_the_nearest_row(level: int, used: int) -> None:
    assert RULES.level(level) == used


@pytest.mark.parametrize(("level", "quota", "enabled"), [
    (0, 1000, True), (1, 10_000, True), (2, 100_000, True), (7, 100_000, True),
    (0, None, False), (2, None, False),
])
def test_quota_bytes_scale_with_the_entitlement(level: int, quota: int | None,
                                                enabled: bool) -> None:
    rules = MediaRules(TTL, (1.0, 2.0, 0.0), (1.0, 10.0, 100.0), 1000, 500,
                       quota_enabled=enabled)
    assert rules.quota_bytes(level) == quota


CASES: list[tuple[str, ChatPolicy | None, str, int, bool, Lifetime]] = [
    # (case, policy, kind, level, uploader whitelisted, lifetime)
    ("kind default, no chat", None, "image", 0, False, Lifetime(NOW + 180 * DAY, None)),
    ("video default", ChatPolicy(), "video", 0, False, Lifetime(NOW + 60 * DAY, None)),
    ("audio default", None, "audio", 0, False, Lifetime(NOW + 30 * DAY, None)),
    ("file default", None, "file", 0, False, Lifetime(NOW + 30 * DAY, None)),
    ("plus doubles", None, "video", 1, False, Lifetime(NOW + 120 * DAY, None)),
    ("above the table: top row", None, "file", 5, False, Lifetime(None, "subscription")),
    ("pro: none of its own", None, "image", 2, False, Lifetime(None, "subscription")),
    ("chat shorter wins", ChatPolicy(DAY), "image", 0, False, Lifetime(NOW + DAY, None)),
    ("chat longer: kind wins", ChatPolicy(90 * DAY), "file", 0, False,
     Lifetime(NOW + 30 * DAY, None)),
    ("chat shortens plus", ChatPolicy(7 * DAY), "video", 1, False,
     Lifetime(NOW + 7 * DAY, None)),
    ("chat applies to pro", ChatPolicy(30 * DAY), "image", 2, False,
     Lifetime(NOW + 30 * DAY, None)),
    ("keep media freezes", ChatPolicy(DAY, cleanup=False), "image", 0, False,
     Lifetime(None, None)),
    ("chat whitelisted", ChatPolicy(DAY, whitelisted=True), "video", 0, False,
     Lifetime(None, None)),
    ("uploader whitelisted", ChatPolicy(DAY), "audio", 0, True, Lifetime(None, None)),
]


@pytest.mark.parametrize(("case", "policy", "kind", "level", "whitelisted", "want"), CASES,
                         ids=[c[0] for c in CASES])
def test_compute_expire_at(case: str, policy: ChatPolicy | None, kind: str, level: int,
                           whitelisted: bool, want: Lifetime) -> None:
    got = lifecycle.compute_expire_at(RULES, policy, kind, level, NOW,
                                      uploader_whitelisted=whitelisted)
    assert got == want, case


def test_retention_switched_off_freezes_everything() -> None:
    rules = MediaRules(TTL, (1.0,), (1.0,), 1000, 500, retention_enabled=False)
    assert lifecycle.compute_expire_at(rules, ChatPolicy(DAY), "image", 0, NOW) == Lifetime(
        None, None)


def test_a_tiny_factor_still_gives_a_lifetime_of_a_second() -> None:
    rules = MediaRules({"image": 10, "video": 10, "audio": 10, "file": 10}, (0.001,), (1.0,),
                       1000, 500)
    assert lifecycle.compute_expire_at(rules, None, "image", 0, NOW) == Lifetime(NOW + 1, None)


def test_an_unknown_kind_has_no_lifetime() -> None:
    with pytest.raises(ValueError, match="sticker"):
        lifecycle.compute_expire_at(RULES, None, "sticker", 0, NOW)


@pytest.mark.parametrize(("kind", "size", "allowed", "limit"), [
    ("image", 1, True, None), ("file", 500, True, None), ("video", 0, True, None),
    ("audio", 501, False, 500), ("sticker", 1, False, None), ("", 1, False, None),
])
def test_can_upload_media(kind: str, size: int, allowed: bool, limit: int | None) -> None:
    decision = lifecycle.can_upload_media(RULES, kind, size)
    assert (decision.allowed, decision.limit) == (allowed, limit)
    assert (decision.reason is None) == allowed


@pytest.mark.parametrize(("quota", "used", "files", "free", "fits_10", "wire_used"), [
    (None, 5, 1, None, True, 5),        # unlimited
    (100, 0, 0, 100, True, 0),
    (100, 90, 3, 10, True, 90),         # exactly fits
    (100, 91, 3, 9, False, 91),
    (100, 150, 2, 0, False, 150),       # over (a quota lowered later): free is 0
    (100, -4, -1, 100, True, 0),        # never negative
])
def test_quota_status(quota: int | None, used: int, files: int, free: int | None,
                      fits_10: bool, wire_used: int) -> None:
    status = lifecycle.quota_status(quota, used, files)
    assert status.free == free
    assert status.fits(10) is fits_10
    assert status.to_wire() == {"quota": quota, "used": wire_used, "free": free,
                                "count": max(0, files)}


UPLOADER = 1
ACTIONS: list[tuple[str, Viewer, str, int | None, str | None, list[str]]] = [
    # (case, viewer, status, expires_at, preserved_by, actions)
    ("admin, pool on", Viewer(2, True, True), "active", NOW, None, ["renew_from_pool"]),
    ("admin, pool off", Viewer(2, True, False), "active", NOW, None, []),
    ("admin sender, pool on", Viewer(UPLOADER, True, True), "active", NOW, None,
     ["renew_from_pool", "preserve"]),
    ("sender, member", Viewer(UPLOADER, False, True), "active", NOW, None, ["preserve"]),
    ("sender, in custody", Viewer(UPLOADER, False, False), "active", None, "sender",
     ["release"]),
    ("admin sender, in custody", Viewer(UPLOADER, True, True), "active", None, "sender",
     ["release"]),
    ("member", Viewer(3, False, True), "active", NOW, None, ["request_renewal"]),
    ("member, pool off", Viewer(3, False, False), "active", NOW, None, ["request_renewal"]),
    ("member, kept for good", Viewer(3, False, True), "active", None, "chat_pool", []),
    ("admin, kept for good", Viewer(2, True, True), "active", None, "subscription", []),
    ("expired, admin", Viewer(2, True, True), "expired", None, None, ["renew_from_pool"]),
    ("expired, member", Viewer(3, False, True), "expired", NOW, None, ["request_renewal"]),
    ("expired, sender", Viewer(UPLOADER, False, True), "expired", NOW, None, ["preserve"]),
    ("deleted", Viewer(UPLOADER, True, True), "deleted", NOW, None, []),
    ("archived", Viewer(3, False, True), "archived", NOW, None, []),
]


@pytest.mark.parametrize(("case", "viewer", "status", "expires_at", "preserved_by", "want"),
                         ACTIONS, ids=[c[0] for c in ACTIONS])
def test_file_actions(case: str, viewer: Viewer, status: str, expires_at: int | None,
                      preserved_by: str | None, want: list[str]) -> None:
    assert lifecycle.file_actions(viewer, uploader_id=UPLOADER, status=status,
                                  expires_at=expires_at, preserved_by=preserved_by) == want, case


@pytest.mark.parametrize(("status", "expires_at", "soon"), [
    ("active", NOW + 7 * DAY, True),        # exactly at the window's edge
    ("active", NOW + 7 * DAY + 1, False),
    ("active", NOW + 1, True),
    ("active", NOW - 5, True),              # due, the job has not run yet
    ("active", None, False),
    ("expired", NOW + 1, False),
    ("deleted", NOW + 1, False),
])
def test_expiring_soon(status: str, expires_at: int | None, soon: bool) -> None:
    assert lifecycle.expiring_soon(status, expires_at, NOW, 7 * DAY) is soon
