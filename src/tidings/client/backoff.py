"""Reconnect delays: exponential backoff with jitter.

Jitter matters because a server restart drops every client at the same moment;
without it they would all come back in lock-step and hammer the fresh process.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(
    initial: float, maximum: float, *, rng: random.Random | None = None
) -> Iterator[float]:
    """Yield delays ``initial, 2*initial, 4*initial, ...`` capped at ``maximum``, each
    scaled by a random factor in [0.5, 1.0] ("equal jitter": never zero, never above
    the cap)."""
    pick = rng.uniform if rng is not None else random.uniform
    ceiling = min(max(initial, 0.0), maximum)
    while True:
        yield pick(ceiling / 2, ceiling)
        ceiling = min(ceiling * 2, maximum)
