"""Token buckets: ``rate`` requests per second on average, ``burst`` at once;
one per connection, and one per client address shared by its connections."""

from __future__ import annotations

from collections.abc import Callable


class TokenBucket:
    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float]) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._monotonic = monotonic
        self._last = monotonic()

    @property
    def last_used(self) -> float:
        return self._last

    def take(self) -> bool:
        now = self._monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class AddressLimits:
    """One bucket per client address. Idle addresses are forgotten once the table
    grows past ``max_addresses``, so a scan of many addresses cannot grow memory."""

    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float],
                 max_addresses: int = 100_000) -> None:
        self._rate = rate
        self._burst = burst
        self._monotonic = monotonic
        self._max = max_addresses
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, address: str) -> bool:
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._forget_idle()
            bucket = self._buckets[address] = TokenBucket(self._rate, self._burst,
                                                          self._monotonic)
        return bucket.take()

    def _forget_idle(self) -> None:
        horizon = self._monotonic() - self._burst / self._rate
        self._buckets = {a: b for a, b in self._buckets.items() if b.last_used > horizon}
