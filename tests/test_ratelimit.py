"""Token buckets per connection and per client address."""

from __future__ import annotations

from tidings.clock import FakeClock
from tidings.transport.ratelimit import AddressLimits, TokenBucket


def test_bucket_allows_burst_then_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, monotonic=clock.monotonic)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.advance(0.5)
    assert bucket.take() and not bucket.take()
    clock.advance(100)
    assert sum(bucket.take() for _ in range(10)) == 3  # refills up to the burst only


def test_addresses_share_one_bucket_and_idle_ones_are_forgotten() -> None:
    clock = FakeClock()
    limits = AddressLimits(rate=1, burst=2, monotonic=clock.monotonic, max_addresses=2)
    assert limits.take("10.0.0.1") and limits.take("10.0.0.1")
    assert not limits.take("10.0.0.1")  # the address is out, whatever the connection
    assert limits.take("10.0.0.2")
    clock.advance(10)
    assert limits.take("10.0.0.3")  # table full: idle addresses were dropped
    assert len(limits._buckets) == 1
