"""SQLite and PostgreSQL behind one small interface.

Store code writes one SQL text with ``$1``-style placeholders; this module is
the only place that knows what differs between the two engines: placeholder
style, DDL tokens in migrations, ``IN``-lists versus ``= ANY``, how a
transaction is opened, and the full-text index behind message search.
Nothing else in the tree checks which engine it runs on.

SQLite statements run on the event-loop thread: measured on this machine
class, a hop to a thread per query costs several times the query itself. A
write transaction's statements never yield, and writes are serialised by a
lock; only its COMMIT (page writes, checkpoints: C code without the GIL) is
handed to a commit thread, one hop per transaction. Reads use a second
connection, so they never see a batch before it committed. PostgreSQL uses an
asyncpg pool.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

import msgspec

T = TypeVar("T")

Row = Any  # sqlite3.Row or asyncpg.Record: both index by name and position


class Txn(Protocol):
    """What a ``*_txn`` function may do inside a transaction."""

    @property
    def engine(self) -> Engine: ...

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def insert_rows(self, table: str, columns: Sequence[str],
                          rows: Sequence[Sequence[Any]]) -> None:
        """Bulk insert: COPY on PostgreSQL (about twice executemany's rate)."""
        ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...

    def call_after(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed (never on rollback)."""
        ...


TxnFn = Callable[[Txn], Awaitable[T]]


class Engine(Protocol):
    name: str
    write_concurrency: int  # independent write transactions worth running at once

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, fn: TxnFn[T], *, write: bool, snapshot: bool = True) -> T:
        """Run ``fn`` in a transaction. A read with ``snapshot=False`` may see each
        statement at its own point in time, which saves the transaction's round
        trips where that cannot matter."""
        ...

    def render_ddl(self, sql: str) -> str: ...

    def any_of(self, column: str, first: int, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """SQL testing ``column`` against a list, with placeholders from ``$first``."""
        ...

    def keys_table(self, alias: str, columns: Sequence[tuple[str, str]], first: int,
                   rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        """A FROM item named ``alias`` holding ``rows`` (``columns`` are (name, SQL
        type)), with placeholders from ``$first``. Joining against it looks up many
        composite keys through an index in one statement."""
        ...

    def rows_for_each(self, alias: str, columns: Sequence[tuple[str, str]], first: int,
                      rows: Sequence[Sequence[Any]], select: Callable[[str], str]
                      ) -> tuple[str, list[Any]]:
        """A query yielding, for each of ``rows``, what ``select(source)`` yields for
        it alone (so its ORDER BY and LIMIT apply per row): ``select`` writes a
        SELECT whose FROM list starts with ``source``, which provides the row as
        ``alias`` with ``columns`` ((name, SQL type)); placeholders from ``$first``.
        PostgreSQL: one LATERAL join; SQLite: one part per row, UNION ALL."""
        ...

    def is_unique_violation(self, exc: BaseException) -> bool: ...

    def is_data_error(self, exc: BaseException) -> bool:
        """True when the database (or its driver) refused a value a request
        supplied, as opposed to failing on its own."""
        ...

    @property
    def for_update(self) -> str:
        """Appended to a SELECT that must lock its rows until commit (PostgreSQL);
        empty where the single writer already excludes other writers (SQLite)."""
        ...

    # -- message search: ``message_search (doc_id, chat_id, msg_id, terms)`` from
    # ``{{search_index}}`` (0005_search.sql), doc_id growing in write order; the
    # terms and the queries over them are built by ``tidings.store.search``.
    search_index_ordered: bool
    """True when the index yields matches newest first by itself (FTS5 walks
    rowids), so ``ORDER BY doc_id DESC LIMIT n`` stops early; False when it yields
    a set to fetch and sort (GIN), so a search narrows it to windows of days."""

    def search_terms(self, expr: str) -> str:
        """SQL for the ``terms`` value from ``expr``: the terms, space-separated."""
        ...

    def search_match(self, column: str, param: int) -> str:
        """SQL that holds when ``column`` (``message_search.terms``) matches the query
        in ``$param`` (made by ``search_query``)."""
        ...

    def search_query(self, every: Sequence[str], *any_of: Sequence[str]) -> str:
        """A query for rows holding every term of ``every`` and, of each of
        ``any_of``, at least one term."""
        ...


# Raised by both drivers while encoding a parameter: an int beyond 64 bits, a
# string with a lone surrogate.
_ENCODE_ERRORS = (OverflowError, UnicodeEncodeError)

# ``{{search_index}}``: what each engine builds for ``message_search (doc_id,
# chat_id, msg_id, terms)``. A trigger body stays on one line: migrations split
# statements at a ';' that ends a line. On PostgreSQL doc_id needs no index (a
# search sorts the rows GIN found; an index would cost every send ~2 µs), and
# GIN's list of pending insertions, which every search reads through, is kept
# to 1 MB (the default 4 MB cost 3-7 ms per lookup; measured, 1 MB ~1 ms).
_SQLITE_SEARCH_INDEX = """\
CREATE TABLE message_search_docs (
    doc_id INTEGER PRIMARY KEY,
    chat_id BIGINT NOT NULL,
    msg_id BIGINT NOT NULL
);
CREATE VIRTUAL TABLE message_search_terms USING fts5 (
    terms, content='', detail=none, columnsize=0, tokenize='ascii'
);
CREATE VIEW message_search AS SELECT f.rowid AS doc_id, d.chat_id AS chat_id,
    d.msg_id AS msg_id, f.message_search_terms AS terms
    FROM message_search_terms f JOIN message_search_docs d ON d.doc_id = f.rowid;
CREATE TRIGGER message_search_insert INSTEAD OF INSERT ON message_search BEGIN \
INSERT INTO message_search_docs (chat_id, msg_id) VALUES (NEW.chat_id, NEW.msg_id); \
INSERT INTO message_search_terms (rowid, terms) VALUES (last_insert_rowid(), NEW.terms); \
END;"""

_POSTGRES_SEARCH_INDEX = """\
CREATE TABLE message_search (
    doc_id BIGINT GENERATED ALWAYS AS IDENTITY,
    chat_id BIGINT NOT NULL,
    msg_id BIGINT NOT NULL,
    terms tsvector NOT NULL
);
CREATE INDEX message_search_terms ON message_search USING gin (terms)
    WITH (gin_pending_list_limit = 1024);"""


class _AfterCommit:
    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []

    def call_after(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)


# -- SQLite -----------------------------------------------------------------

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
    write_concurrency = 1  # one writer; a second would only wait for the lock

    def __init__(self, path: Path, *, synchronous: str = "normal",
                 wal_autocheckpoint: int = 10000) -> None:
        self.path = path
        self.synchronous = synchronous
        self.wal_autocheckpoint = wal_autocheckpoint
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._commit_thread: ThreadPoolExecutor | None = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute(f"PRAGMA wal_autocheckpoint={int(self.wal_autocheckpoint)}")
        return conn

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = self._connect()
        self._reader = self._connect()
        self._commit_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")

    async def close(self) -> None:
        if self._writer is not None:
            async with self._write_lock:
                assert self._reader is not None and self._commit_thread is not None
                self._commit_thread.shutdown()
                self._writer.close()
                self._reader.close()
                self._writer = self._reader = self._commit_thread = None

    async def run(self, fn: TxnFn[T], *, write: bool, snapshot: bool = True) -> T:
        if self._writer is None or self._reader is None:
            raise RuntimeError("database is closed")
        if write:
            async with self._write_lock:
                return await self._write(fn)
        if not snapshot:
            return await fn(SqliteTxn(self, self._reader))
        # Reads never suspend, so read transactions on this one connection do not
        # overlap; BEGIN keeps a commit finishing on the commit thread meanwhile
        # from landing between the read's statements.
        self._reader.execute("BEGIN")
        try:
            return await fn(SqliteTxn(self, self._reader))
        finally:
            self._reader.execute("COMMIT")

    async def _write(self, fn: TxnFn[T]) -> T:
        """The transaction's statements run here; COMMIT (page writes and the
        occasional WAL checkpoint, in C without the GIL) runs on the commit thread,
        so the event loop serves sockets and reads meanwhile. Readers use their own
        connection and see the batch only once it committed."""
        conn = self._writer
        assert conn is not None
        txn = SqliteTxn(self, conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = await fn(txn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        commit = asyncio.get_running_loop().run_in_executor(
            self._commit_thread, conn.execute, "COMMIT")
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
        for callback in txn.callbacks:
            callback()
        return result

    def render_ddl(self, sql: str) -> str:
        return (
            sql.replace("{{id_pk}}", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("{{without_rowid}}", "WITHOUT ROWID")
            .replace("{{blob}}", "BLOB")
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


# -- PostgreSQL ---------------------------------------------------------------


class PostgresTxn(_AfterCommit):
    def __init__(self, engine: PostgresEngine, conn: Any) -> None:
        super().__init__()
        self.engine = engine
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    async def insert_rows(self, table: str, columns: Sequence[str],
                          rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self._conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._conn.fetchval(sql, *args)


async def _no_reset(conn: Any) -> None:
    """asyncpg resets every connection it takes back (advisory locks, LISTEN, SET);
    tidings uses none of those, and the reset was a round trip per request
    (11.5% of the server's samples in the history workload)."""


class PostgresEngine:
    name = "postgres"
    for_update = " FOR UPDATE"

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 8,
                 write_lanes: int = 4) -> None:
        self.dsn = dsn
        self.write_concurrency = write_lanes
        self.min_size = min_size
        self.max_size = max_size
        self._pool: Any = None

    async def open(self) -> None:
        import asyncpg

        self._pool = await asyncpg.create_pool(
            self.dsn, min_size=self.min_size, max_size=self.max_size, reset=_no_reset
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def run(self, fn: TxnFn[T], *, write: bool, snapshot: bool = True) -> T:
        if self._pool is None:
            raise RuntimeError("database is closed")
        async with self._pool.acquire() as conn:
            txn = PostgresTxn(self, conn)
            if not write and not snapshot:
                return await fn(txn)
            # Reads use a read-only transaction so a multi-query read sees one snapshot.
            async with conn.transaction(readonly=not write, isolation="repeatable_read"
                                        if not write else "read_committed"):
                result = await fn(txn)
        for callback in txn.callbacks:
            callback()
        return result

    def render_ddl(self, sql: str) -> str:
        return (
            sql.replace("{{id_pk}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
            .replace("{{without_rowid}}", "")
            .replace("{{blob}}", "BYTEA")
            .replace("{{search_index}}", _POSTGRES_SEARCH_INDEX)
        )

    # Search: a table with the terms as a tsvector (lexemes as given, no parser,
    # no positions) under a GIN index.
    search_index_ordered = False

    def search_terms(self, expr: str) -> str:
        return f"{expr}::tsvector"

    def search_match(self, column: str, param: int) -> str:
        return f"{column} @@ ${param}::tsquery"

    def search_query(self, every: Sequence[str], *any_of: Sequence[str]) -> str:
        def term(t: str) -> str:
            return "'" + t.replace("\\", "\\\\").replace("'", "''") + "'"

        return " & ".join([*map(term, every),
                           *("(" + " | ".join(map(term, a)) + ")" for a in any_of)])

    def any_of(self, column: str, first: int, values: Sequence[Any]) -> tuple[str, list[Any]]:
        return f"{column} = ANY(${first})", [list(values)]

    def keys_table(self, alias: str, columns: Sequence[tuple[str, str]], first: int,
                   rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
        arrays = ", ".join(f"${first + i}::{sql_type}[]" for i, (_, sql_type) in
                           enumerate(columns))
        names = ", ".join(name for name, _ in columns)
        args = [[row[i] for row in rows] for i in range(len(columns))]
        return f"unnest({arrays}) AS {alias}({names})", args

    def rows_for_each(self, alias: str, columns: Sequence[tuple[str, str]], first: int,
                      rows: Sequence[Sequence[Any]], select: Callable[[str], str]
                      ) -> tuple[str, list[Any]]:
        keys, args = self.keys_table(alias, columns, first, rows)
        return f"SELECT r.* FROM {keys} CROSS JOIN LATERAL ({select('')}) AS r", args

    def is_unique_violation(self, exc: BaseException) -> bool:
        import asyncpg

        return isinstance(exc, asyncpg.UniqueViolationError)

    def is_data_error(self, exc: BaseException) -> bool:
        import asyncpg

        # DataError is SQLSTATE class 22: NUL in text, out-of-range numbers, ...
        return isinstance(exc, (*_ENCODE_ERRORS, asyncpg.DataError))


def create_engine(
    database_url: str | None,
    sqlite_path: Path,
    *,
    sqlite_synchronous: str = "normal",
    sqlite_wal_autocheckpoint: int = 10000,
    pool_min: int = 2,
    pool_max: int = 8,
    pg_write_lanes: int = 4,
) -> Engine:
    if database_url and database_url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(database_url, min_size=pool_min, max_size=pool_max,
                              write_lanes=pg_write_lanes)
    return SqliteEngine(sqlite_path, synchronous=sqlite_synchronous,
                        wal_autocheckpoint=sqlite_wal_autocheckpoint)
