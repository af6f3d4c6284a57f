"""Visibility arithmetic over membership spans (pure functions)."""

from __future__ import annotations

from tidings.services.access import can_see, ranges_after


def test_ranges_after_within_limit() -> None:
    spans = [(3, 6), (10, 12)]
    assert ranges_after(spans, 0, 100) == ([(2, 6), (9, 12)], False)
    assert ranges_after(spans, 4, 100) == ([(4, 6), (9, 12)], False)
    assert ranges_after(spans, 6, 100) == ([(9, 12)], False)
    assert ranges_after(spans, 12, 100) == ([], False)


def test_ranges_after_keeps_the_newest_when_too_long() -> None:
    spans = [(3, 6), (10, 12)]
    assert ranges_after(spans, 0, 3) == ([(9, 12)], True)
    assert ranges_after(spans, 0, 5) == ([(4, 6), (9, 12)], True)


def test_can_see() -> None:
    spans = [(3, 6), (10, 12)]
    assert [p for p in range(14) if can_see(spans, p)] == [3, 4, 5, 6, 10, 11, 12]
