"""Back-off for failed logins, per username and per client address.

Each key (a username, or a client address) may fail ``allowed`` times; every
further failure locks it out for a time that doubles from ``lockout`` up to
``lockout_max`` (the scheme of Keycloak's brute-force detection and of
Synapse's ``rc_login.failed_attempts``). While a key is locked out, a login
answers ``RATE_LIMITED`` with ``retry_after`` before the password is looked at,
so guessing costs the server no hashing. Failures are forgotten
``reset_after`` seconds after the last one; a successful login forgets the
username's at once (not the address's: one right password does not vouch for
everybody behind that address).

Attempts in flight count as failures until they end, and past the allowance
only one runs at a time: otherwise a burst of concurrent guesses would all pass
the check before the first of them failed.

State is in memory and per node: in a multi-node deployment each node counts
on its own (an attacker who spreads guesses over k nodes gets k times the
allowance). Each table holds at most ``max_keys`` keys, forgetting the least
recently used beyond that, so guessing with many names or addresses cannot
grow memory.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError


# Asked for every request (the per-address limits exempt loopback clients), and
# parsing an address costs more than the rest of a send's dispatch: a client
# keeps its address, so the answer is cached (bounded, so many addresses cannot
# grow it without limit).
@functools.lru_cache(maxsize=4096)
def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class Outcome(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Ended without a verdict (storage failed, request cancelled): not a wrong password.
    ABANDONED = "abandoned"


@dataclass
class _Record:
    failures: int
    pending: int
    locked_until: float
    last_change: float


class FailureCounter:
    """Failures and lockouts for one kind of key."""

    def __init__(self, allowed: int, lockout: float, lockout_max: float, reset_after: float,
                 monotonic: Callable[[], float], max_keys: int = 100_000) -> None:
        self._allowed = allowed
        self._lockout_base = lockout
        self._lockout_max = lockout_max
        self._reset_after = reset_after
        self._monotonic = monotonic
        self._max_keys = max_keys
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def wait(self, key: str) -> float:
        """Seconds before an attempt for ``key`` may run; 0 when it may now."""
        now = self._monotonic()
        rec = self._current(key, now)
        if rec is None or rec.failures + rec.pending < self._allowed:
            return 0.0
        if rec.pending:
            # Past the allowance one guess runs at a time; should those in flight
            # fail, this lockout follows.
            return max(rec.locked_until - now, self._lockout(rec.failures + rec.pending))
        return max(rec.locked_until - now, 0.0)

    def begin(self, key: str) -> None:
        now = self._monotonic()
        rec = self._current(key, now) or self._new(key, now)
        rec.pending += 1
        self._touch(key, rec, now)

    def end(self, key: str, outcome: Outcome, *, forget_on_success: bool) -> None:
        now = self._monotonic()
        rec = self._records.get(key)
        if rec is None:  # evicted, or forgotten by a success meanwhile
            if outcome is not Outcome.FAILED:
                return
            rec = self._new(key, now)
        rec.pending = max(rec.pending - 1, 0)
        if outcome is Outcome.SUCCEEDED and forget_on_success:
            del self._records[key]
            return
        if outcome is Outcome.FAILED:
            rec.failures += 1
            if rec.failures >= self._allowed:
                rec.locked_until = now + self._lockout(rec.failures)
        self._touch(key, rec, now)

    def _lockout(self, failures: int) -> float:
        """The lockout after the ``failures``-th failure (the allowed-th is the first)."""
        doublings = min(max(failures - self._allowed, 0), 64)  # 2**64 s: past any maximum
        return float(min(self._lockout_max, self._lockout_base * 2.0 ** doublings))

    def _new(self, key: str, now: float) -> _Record:
        while len(self._records) >= self._max_keys:
            self._records.popitem(last=False)  # the least recently used
        rec = self._records[key] = _Record(0, 0, 0.0, now)
        return rec

    def _current(self, key: str, now: float) -> _Record | None:
        rec = self._records.get(key)
        if (rec is not None and not rec.pending and now >= rec.locked_until
                and now - rec.last_change >= self._reset_after):
            del self._records[key]
            return None
        return rec

    def _touch(self, key: str, rec: _Record, now: float) -> None:
        rec.last_change = now
        self._records.move_to_end(key)


@dataclass(frozen=True)
class LoginAttempt:
    account: str
    address: str | None


class LoginGuard:
    """Per-username and per-address failure counters in front of password checks.
    Loopback addresses skip the per-address counter when
    ``rate_limit_exempt_loopback`` is on, as they skip the request rate limits;
    the per-username counter applies to every address."""

    def __init__(self, settings: Settings, monotonic: Callable[[], float]) -> None:
        def counter(allowed: int) -> FailureCounter:
            return FailureCounter(allowed, settings.login_lockout_seconds,
                                  settings.login_lockout_max_seconds,
                                  settings.login_failure_reset_seconds, monotonic)

        self.accounts = counter(settings.login_failures_per_account)
        self.addresses = counter(settings.login_failures_per_address)
        self._exempt_loopback = settings.rate_limit_exempt_loopback

    def begin(self, account: str, address: str | None) -> LoginAttempt:
        """Admit a login attempt, or raise ``RATE_LIMITED`` with ``retry_after``.
        Every admitted attempt must be ended with ``end``."""
        if not address or (self._exempt_loopback and is_loopback(address)):
            address = None
        wait = self.accounts.wait(account)
        if address is not None:
            wait = max(wait, self.addresses.wait(address))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise TidingsError(ErrorCode.RATE_LIMITED,
                               f"too many failed logins; try again in {retry_after} s",
                               retry_after=retry_after)
        self.accounts.begin(account)
        if address is not None:
            self.addresses.begin(address)
        return LoginAttempt(account, address)

    def end(self, attempt: LoginAttempt, outcome: Outcome) -> None:
        self.accounts.end(attempt.account, outcome, forget_on_success=True)
        if attempt.address is not None:
            self.addresses.end(attempt.address, outcome, forget_on_success=False)
