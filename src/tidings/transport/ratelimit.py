"""The transport's flood guard: one token bucket per connection, and one per
client address shared by its connections. The bucket classes live in
``services.rate_limits`` with the per-device and per-address request limits."""

from __future__ import annotations

from collections.abc import Callable

from tidings.services.rate_limits import KeyedBuckets, TokenBucket


class AddressLimits(KeyedBuckets):
    """One bucket per client address; idle addresses are forgotten once the table
    grows past ``max_addresses``, so a scan of many addresses cannot grow memory."""

    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float],
                 max_addresses: int = 100_000) -> None:
        super().__init__(rate, burst, monotonic, max_addresses)


__all__ = ["AddressLimits", "TokenBucket"]
