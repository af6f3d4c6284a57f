"""Named transactions. Every read and write goes through ``Database.read`` or
``Database.write`` with a name, which shows in logs and metrics (after
Synapse's ``runInteraction``). Functions run inside are named ``*_txn``."""

from __future__ import annotations

import logging
import time
from typing import TypeVar

from prometheus_client import Counter, Histogram

from tidings.db.engine import Engine, Txn, TxnFn
from tidings.errors import StorageRejected

T = TypeVar("T")
log = logging.getLogger(__name__)

TXN_SECONDS = Histogram(
    "tidings_db_txn_seconds",
    "Time spent in database transactions, by name",
    ["name"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
TXN_ERRORS = Counter("tidings_db_txn_errors_total", "Failed transactions, by name", ["name"])
# Each transaction name's histogram child, looked up once: ``labels()`` builds
# and checks its key under a lock on every call, 5% of a cached history page's
# server CPU. Names are literals in the code, so the table is bounded.
_txn_timers: dict[str, Histogram] = {}


def _timer(name: str) -> Histogram:
    timer = _txn_timers.get(name)
    if timer is None:
        timer = _txn_timers[name] = TXN_SECONDS.labels(name)
    return timer


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def write(self, name: str, fn: TxnFn[T]) -> T:
        return await self._run(name, fn, write=True)

    async def read(self, name: str, fn: TxnFn[T], *, snapshot: bool = True) -> T:
        return await self._run(name, fn, write=False, snapshot=snapshot)

    async def check(self) -> None:
        """Raise if the database cannot answer a query now (``/readyz``)."""
        async def ping_txn(txn: Txn) -> None:
            await txn.fetchval("SELECT 1")

        await self.engine.run(ping_txn, write=False, snapshot=False)

    async def _run(self, name: str, fn: TxnFn[T], *, write: bool, snapshot: bool = True
                   ) -> T:
        start = time.perf_counter()
        try:
            return await self.engine.run(fn, write=write, snapshot=snapshot)
        except Exception as exc:
            TXN_ERRORS.labels(name).inc()
            if self.engine.is_data_error(exc):
                log.warning("transaction %s refused a value: %s", name, exc)
                raise StorageRejected() from exc
            raise
        finally:
            _timer(name).observe(time.perf_counter() - start)
