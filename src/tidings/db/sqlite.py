"""The SQLite engine: statements on the event-loop thread, COMMIT on a thread of
its own, reads on a second connection (see ``tidings.db.engine``)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

import msgspec

from tidings.db import known_pts
from tidings.db.engine import (
    _ENCODE_ERRORS,
    _SQLITE_SEARCH_INDEX,
    Row,
    T,
    TxnFn,
    _AfterCommit,
)
from tidings.db.known_pts import KnownPts

# -- SQLite -----------------------------------------------------------------

log = logging.getLogger(__name__)
_json_encoder = msgspec.json.Encoder()


def _json_list(values: list[Any]) -> str:
    return _json_encoder.encode(values).decode()


_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=1024)
def _sqlite_sql(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


class SqliteTxn(_AfterCommit):
    def __init__(self, engine: SqliteEngine, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.engine = engine
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        self._conn.execute(_sqlite_sql(sql), args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(_sqlite_sql(sql), rows)

    async def insert_rows(self, table: str, columns: Sequence[str],
                          rows: Sequence[Sequence[Any]]) -> None:
        marks = ", ".join("?" * len(columns))
        self._conn.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return self._conn.execute(_sqlite_sql(sql), args).fetchall()

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return self._conn.execute(_sqlite_sql(sql), args).fetchone()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = self._conn.execute(_sqlite_sql(sql), args).fetchone()
        return None if row is None else row[0]


class SqliteEngine:
    name = "sqlite"
    for_update = ""
    json_array = "json_array"
    write_concurrency = 1  # one writer; a second would only wait for the lock
    statements_suspend = False  # statements run on the event loop's thread, start to end

    def __init__(self, path: Path, *, synchronous: str = "normal",
                 wal_autocheckpoint: int = 10000) -> None:
        self.path = path
        self.synchronous = synchronous
        self.wal_autocheckpoint = wal_autocheckpoint
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        # synchronous=full: COMMIT syncs the WAL, so it runs on a thread of its own.
        self._commit_thread: ThreadPoolExecutor | None = None
        # Checkpoints: their own connection, on a thread of their own.
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_thread: ThreadPoolExecutor | None = None
        self._checkpointing: asyncio.Future[Any] | None = None
        self._wal = path.with_name(path.name + "-wal")
        self._page_size = 4096
        self.known_pts: KnownPts | None = None  # while open (see tidings.db.known_pts)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-65536")
        # No checkpoint inside a COMMIT (see _after_commit); the WAL shrinks back
        # when a writer starts it over, so its size tells what awaits a checkpoint.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("PRAGMA journal_size_limit=0")
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect()
        self._reader = self._connect()
        self._checkpointer = self._connect()
        self._page_size = int(self._writer.execute("PRAGMA page_size").fetchone()[0])
        self._checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        if self.synchronous == "full":
            self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
        self.known_pts = known_pts.acquire(self.path)

    async def close(self) -> None:
        if self._writer is not None:
            async with self._write_lock:
                assert self._reader is not None and self._checkpointer is not None
                assert self._checkpoint_thread is not None
                self._checkpoint_thread.shutdown()  # waits for a checkpoint running
                if self._commit_thread is not None:
                    self._commit_thread.shutdown()
                    self._commit_thread = None
                self._writer.close()
                self._reader.close()
                self._checkpointer.close()
                known_pts.release(self.path)
                self.known_pts = None
                self._writer = self._reader = self._checkpointer = None
                self._checkpoint_thread = None
                self._checkpointing = None

    async def run(self, fn: TxnFn[T], *, write: bool, snapshot: bool = True) -> T:
        if self._writer is None or self._reader is None:
            raise RuntimeError("database is closed")
        if write:
            async with self._write_lock:
                return await self._write(fn)
        if not snapshot:
            return await fn(SqliteTxn(self, self._reader))
        # Reads never suspend, so read transactions on this one connection do not
        # overlap; BEGIN makes the read's statements one snapshot.
        self._reader.execute("BEGIN")
        try:
            return await fn(SqliteTxn(self, self._reader))
        finally:
            self._reader.execute("COMMIT")

    async def _write(self, fn: TxnFn[T]) -> T:
        """The transaction's statements run here, on the loop's thread, and so
        does its COMMIT at ``synchronous=normal``: it appends the batch's pages
        to the WAL without a sync, and on another thread it cost more than the
        hop saved (the pages were in this core's cache; measured, 1-chat
        ingest +3-5%, W1 CPU per delivery -12%). At ``full`` COMMIT syncs the
        WAL and runs on the commit thread, so the loop serves sockets and reads
        meanwhile. Checkpoints, which copy pages into the database file and
        sync it, always run on a thread of their own (``_after_commit``).
        Readers use their own connection and see a batch once it committed."""
        conn = self._writer
        assert conn is not None
        txn = SqliteTxn(self, conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = await fn(txn)
            if self._commit_thread is None:
                conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if self._commit_thread is not None:
            await self._commit_off_loop(conn, self._commit_thread)
        for callback in txn.callbacks:
            callback()
        self._after_commit()
        # One turn of the loop per write transaction, as when COMMIT went to a
        # thread: code running many transactions in a row (a job batch, a
        # sweep) still lets sockets, timers and a stop request in between.
        await asyncio.sleep(0)
        return result

    @staticmethod
    async def _commit_off_loop(conn: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        commit = asyncio.get_running_loop().run_in_executor(thread, conn.execute, "COMMIT")
        try:
            await asyncio.shield(commit)
        except asyncio.CancelledError:
            # The connection is the commit thread's until COMMIT returns; the write
            # lock stays held until then.
            await asyncio.wait([commit])
            if commit.exception() is not None and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _after_commit(self) -> None:
        """Start a checkpoint on the checkpoint thread once the WAL holds
        ``wal_autocheckpoint`` pages (0: never), unless one is running. PASSIVE:
        it copies what no reader still needs and never blocks the writer."""
        if self.wal_autocheckpoint <= 0 or self._checkpointing is not None:
            return
        try:
            size = os.stat(self._wal).st_size
        except FileNotFoundError:
            return
        if size < self.wal_autocheckpoint * self._page_size:
            return
        assert self._checkpoint_thread is not None and self._checkpointer is not None
        running = asyncio.get_running_loop().run_in_executor(
            self._checkpoint_thread, self._checkpointer.execute, "PRAGMA wal_checkpoint(PASSIVE)")
        self._checkpointing = running
        running.add_done_callback(self._checkpointed)

    def _checkpointed(self, done: asyncio.Future[Any]) -> None:
        self._checkpointing = None
        if not done.cancelled() and done.exception() is not None:
            log.warning("WAL checkpoint failed: %s", done.exception())

    def render_ddl(self, sql: str) -> str:
        return (
            sql.replace("{{id_pk}}", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("{{without_rowid}}", "WITHOUT ROWID")
            .replace("{{blob}}", "BLOB")
            .replace("{{binary_text}}", "TEXT")
            .replace("{{search_index}}", _SQLITE_SEARCH_INDEX)
        )

    # Search: FTS5 over the terms (contentless, rowids only, split at spaces),
    # a rowid -> message map, and a view that joins them under the PostgreSQL
    # table's shape; inserting into the view fills both.
    search_index_ordered = True

    def search_terms(self, expr: str) -> str:
        return expr

    def search_match(self, column: str, param: int) -> str:
        return f"{column} MATCH ${param}"

    def search_query(self, every: Sequence[str], *any_of: Sequence[str]) -> str:
        def term(t: str) -> str:
            return '"' + t.replace('"', '""') + '"'

        return " AND ".join([*map(term, every),
                             *("(" + " OR ".join(map(term, a)) + ")" for a in any_of)])

    # Lists travel as one JSON parameter read by json_each: the SQL text stays the
    # same whatever the list's length, so the statement is prepared once. Measured
    # for 1,000 composite keys: 1.1 ms, against 14 ms for preparing a fresh VALUES
    # list of 3,000 placeholders every batch.
    def any_of(self, column: str, first: int, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return (f"{column} IN (SELECT value FROM json_each(${first}))",
                [_json_list(list(values))])

    def keys_table(self, alias: str, columns: Sequence[tuple[str, str]], first: int,
                   rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        names = ", ".join(f"json_extract(value, '$[{i}]') AS {name}"
                          for i, (name, _) in enumerate(columns))
        return (f"(SELECT {names} FROM json_each(${first})) AS {alias}",
                [_json_list([list(row) for row in rows])])

    def rows_for_each(self, alias: str, columns: Sequence[tuple[str, str]], first: int,
                      rows: Sequence[Sequence[Any]], select: Callable[[str], str]
                      ) -> tuple[str, list[Any]]:
        parts: list[str] = []
        args: list[Any] = []
        for row in rows:
            n = first + len(args)
            values = ", ".join(f"${n + i} AS {name}" for i, (name, _) in enumerate(columns))
            parts.append(f"SELECT * FROM ({select(f'(SELECT {values}) AS {alias}, ')})")
            args += row
        return " UNION ALL ".join(parts), args

    def is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def is_data_error(self, exc: BaseException) -> bool:
        return isinstance(exc, _ENCODE_ERRORS)
