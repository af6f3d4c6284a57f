"""SQLite and PostgreSQL behind one small interface.

Store code writes one SQL text with ``$1``-style placeholders; this module is
the only place that knows what differs between the two engines: placeholder
style, DDL tokens in migrations, ``IN``-lists versus ``= ANY``, how a
transaction is opened, and the full-text index behind message search.
Nothing else in the tree checks which engine it runs on.

SQLite statements run on the event-loop thread: measured on this machine
class, a hop to a thread per query costs several times the query itself. A
write transaction's statements never yield, and writes are serialised by a
lock. Its COMMIT, a WAL append, runs there too, unless it syncs
(``sqlite_synchronous=full``: then on a commit thread); WAL checkpoints, which
copy pages into the database file and sync it, run on a thread of their own.
Reads use a second connection, so they never see a batch before it committed.
PostgreSQL uses an asyncpg pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tidings.db.known_pts import KnownPts

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
    # Whether a statement waits on I/O (a database server): the event loop runs
    # other work meanwhile. SQLite statements run on the loop thread, start to end.
    statements_suspend: bool
    # Chat pts kept in memory where this process makes every change (SQLite).
    known_pts: KnownPts | None

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
    def json_array(self) -> str:
        """The SQL function making a JSON array of its arguments (text arguments
        become JSON strings): packs a row's rarely set columns into one value."""
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
    # Imported here: each engine module builds on the definitions above.
    if database_url and database_url.startswith(("postgres://", "postgresql://")):
        from tidings.db.postgres import PostgresEngine

        return PostgresEngine(database_url, min_size=pool_min, max_size=pool_max,
                              write_lanes=pg_write_lanes)
    from tidings.db.sqlite import SqliteEngine

    return SqliteEngine(sqlite_path, synchronous=sqlite_synchronous,
                        wal_autocheckpoint=sqlite_wal_autocheckpoint)
