"""Token buckets, and which requests draw on which bucket.

Three layers of request limits exist, each a token bucket (``rate`` tokens a
second on average, ``burst`` at once):

- per connection and per client address, for every frame (the transport's
  flood guard: ``TokenBucket`` and ``KeyedBuckets`` below, used by
  ``transport.ws``);
- per **device**, by kind of request (``BUCKET_CLASSES``): sends, reactions,
  typing, contact requests and searches. A device's bucket is shared by all its
  connections on this node, so reconnecting or opening a second socket does not
  refill it;
- per **client address**, for ``auth.register`` and ``auth.login`` (any
  outcome; failed logins also back off per username and address in
  ``services.login_guard``).

A refusal is ``RATE_LIMITED`` with ``data.retry_after`` (whole seconds, at
least 1) and ``data.limit`` (the bucket's name); the request is not run.

Buckets live in memory, per node. With several nodes each node counts on its
own: a device that reconnects to another node starts with a full bucket there,
and a client spreading requests over k nodes gets k times the rate (put the
nodes behind a balancer that keeps a device on one node to avoid that). Each
table is bounded: it holds at most ``rate_limit_max_keys`` keys, and a bucket
idle long enough to have refilled is dropped first (a refilled bucket is the
same as a new one), then the least recently used; so memory does not grow with
every device or address ever seen.

Loopback clients skip the per-device and per-address buckets while
``rate_limit_exempt_loopback`` is on, as they skip the transport's limits.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.login_guard import is_loopback


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
        return self.take_or_wait() == 0.0

    def take_or_wait(self) -> float:
        """Take a token and answer 0, or answer the seconds until one is there."""
        now = self._monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate


class KeyedBuckets:
    """One bucket per key (a device, an address), at most ``max_keys`` of them:
    buckets idle long enough to be full again are forgotten first, then the
    least recently used."""

    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float],
                 max_keys: int = 100_000) -> None:
        self._rate = rate
        self._burst = burst
        self._monotonic = monotonic
        self._max = max_keys
        self._refill = burst / rate  # seconds in which an empty bucket fills up
        self._buckets: OrderedDict[object, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: object) -> bool:
        return self.take_or_wait(key) == 0.0

    def take_or_wait(self, key: object) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room()
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst,
                                                      self._monotonic)
        else:
            self._buckets.move_to_end(key)
        return bucket.take_or_wait()

    def _make_room(self) -> None:
        if len(self._buckets) < self._max:
            return
        horizon = self._monotonic() - self._refill
        # In least-recently-used order: the idle ones are at the front.
        while self._buckets:
            key, oldest = next(iter(self._buckets.items()))
            if oldest.last_used > horizon:
                break
            del self._buckets[key]
        while len(self._buckets) >= self._max:
            self._buckets.popitem(last=False)


@dataclass(frozen=True)
class BucketClass:
    """A kind of request limited together: settings ``rate_limit_<name>_per_second``
    and ``rate_limit_<name>_burst``."""

    name: str
    per: Literal["device", "address"]
    methods: tuple[str, ...]


# Methods are named here even before they exist (contact.request, user.search):
# the limit applies as soon as a method of that name is registered.
BUCKET_CLASSES: tuple[BucketClass, ...] = (
    BucketClass("send", "device", ("message.send", "message.forward")),
    BucketClass("reaction", "device", ("message.react", "message.unreact")),
    BucketClass("typing", "device", ("typing.send",)),
    BucketClass("contact_request", "device", ("contact.request",)),
    BucketClass("search", "device", ("message.search", "user.search")),
    BucketClass("register", "address", ("auth.register",)),
    BucketClass("login", "address", ("auth.login",)),
)


def _rate_and_burst(settings: Settings, name: str) -> tuple[float, int]:
    rate = float(getattr(settings, f"rate_limit_{name}_per_second"))
    burst = int(getattr(settings, f"rate_limit_{name}_burst"))
    return rate, burst


class RequestLimits:
    """The per-device and per-address buckets of this node, by method name."""

    def __init__(self, settings: Settings, monotonic: Callable[[], float]) -> None:
        self._exempt_loopback = settings.rate_limit_exempt_loopback
        self._tables: dict[str, tuple[BucketClass, KeyedBuckets]] = {}
        for cls in BUCKET_CLASSES:
            rate, burst = _rate_and_burst(settings, cls.name)
            table = KeyedBuckets(rate, burst, monotonic, settings.rate_limit_max_keys)
            for method in cls.methods:
                self._tables[method] = (cls, table)

    def limited(self, method: str) -> bool:
        return method in self._tables

    def table(self, name: str) -> KeyedBuckets:
        """The bucket table of one class (for tests and metrics)."""
        for cls, table in self._tables.values():
            if cls.name == name:
                return table
        raise KeyError(name)

    def check(self, method: str, device_id: int | None, address: str | None) -> None:
        """Take a token for this request or raise ``RATE_LIMITED`` (with
        ``retry_after`` and ``limit``). Methods of no class pass."""
        entry = self._tables.get(method)
        if entry is None or (self._exempt_loopback and is_loopback(address)):
            return
        cls, table = entry
        key = device_id if cls.per == "device" else address
        if not key:
            return  # no device yet, or an address the transport does not know
        wait = table.take_or_wait(key)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            who = "this device" if cls.per == "device" else "your address"
            raise TidingsError(ErrorCode.RATE_LIMITED,
                               f"too many {method} requests from {who}; try again in "
                               f"{retry_after} s", retry_after=retry_after, limit=cls.name)
