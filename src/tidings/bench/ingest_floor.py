"""The ingest floor: the rows a service-layer ingest run wrote, written again
by a bare driver loop, in the same database, right after it.

Every row a send writes is copied: the message into ``floor_messages``, a
table with the layout and indexes of ``messages`` (PostgreSQL: ``LIKE ...
INCLUDING ALL``; SQLite: the same DDL), and its search index row into tables
shaped as the index's (``floor_search``: the GIN-indexed ``tsvector`` table on
PostgreSQL, the FTS5 table and its doc map on SQLite), in batches of
``BATCH`` messages, one transaction per batch that also bumps each batch
chat's row in ``chats`` (tidings allocates pts there). The index terms are
computed before the clock starts. SQLite goes through the stdlib ``sqlite3``
with the server's pragmas, PostgreSQL through one ``asyncpg`` connection,
``COPY`` for the messages (what the engine uses for many rows) and one
``unnest`` insert for the index rows (``tsvector`` has no binary ``COPY``
format in asyncpg). No validation, no idempotency check, no pts logic, no
event loop hops: what is left is the engine's own cost of storing those rows,
so tidings' rate as a fraction of it holds across machines.

(Until round 2's last session the floor copied the message rows alone; the
index rows cost the engines about as much again, see docs/benchmarks.md.)
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

from tidings.bench.procstat import PostgresCpu
from tidings.bench.results import IngestResult
from tidings.config import Settings
from tidings.store import search_terms
from tidings.store.messages import INSERT_COLUMNS

BATCH = 1000
TABLE = "floor_messages"
# The run's senders spread their messages evenly over the chats: msg_id-major
# order interleaves the chats as the run did (chat-major order would let each
# batch touch far fewer B-tree pages than tidings' batches touched).
ORDER = "ORDER BY msg_id, chat_id"


def sqlite_floor(path: Path, synchronous: str) -> tuple[int, float, float]:
    """(rows, seconds, cpu seconds) of the bare copy into an SQLite file."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        conn.execute("PRAGMA cache_size=-65536")
        ddl = [r[0] for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'messages' AND sql IS NOT NULL"
            " ORDER BY type DESC")]  # the table before its indexes
        for table in (TABLE, "floor_search_docs", "floor_search_terms"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in ddl:
            conn.execute(statement.replace("messages", TABLE))
        for table in ("message_search_docs", "message_search_terms"):
            (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?",
                                  (table,)).fetchone()
            conn.execute(sql.replace(table, table.replace("message_", "floor_"), 1))
        columns = ", ".join(INSERT_COLUMNS)
        rows = conn.execute(f"SELECT {columns} FROM messages {ORDER}").fetchall()
        docs = {(r[0], r[1]): r[2] for r in conn.execute(
            "SELECT chat_id, msg_id, doc_id FROM message_search_docs")}
        # The index rows as tidings wrote them, next to their messages.
        text_at = INSERT_COLUMNS.index("text")
        entries = [(docs.get((r[0], r[1])), search_terms.index_entry(r[0], r[text_at] or ""))
                   for r in rows]
        insert = f"INSERT INTO {TABLE} ({columns}) VALUES ({', '.join('?' * len(INSERT_COLUMNS))})"
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            indexed = [(doc, r[0], r[1], terms) for r, (doc, terms)
                       in zip(batch, entries[start:start + BATCH], strict=True)
                       if doc is not None]
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(insert, batch)
            conn.executemany("INSERT INTO floor_search_docs (doc_id, chat_id, msg_id)"
                             " VALUES (?, ?, ?)", [i[:3] for i in indexed])
            conn.executemany("INSERT INTO floor_search_terms (rowid, terms) VALUES (?, ?)",
                             [(i[0], i[3]) for i in indexed])
            conn.executemany("UPDATE chats SET last_activity = ? WHERE chat_id = ?",
                             [(int(time.time()), c) for c in sorted({r[0] for r in batch})])
            conn.execute("COMMIT")
        return len(rows), time.perf_counter() - wall, time.process_time() - cpu
    finally:
        conn.close()


async def postgres_floor(url: str) -> tuple[int, float, float, float | None]:
    """(rows, seconds, cpu seconds, PostgreSQL cpu seconds) of the bare copy; the
    server's CPU is read before the connection closes (an exited backend's
    CPU is lost to /proc)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for table in (TABLE, "floor_search"):
            await conn.execute(f"DROP TABLE IF EXISTS {table}")
        await conn.execute(f"CREATE TABLE {TABLE} (LIKE messages INCLUDING ALL)")
        await conn.execute("CREATE TABLE floor_search (LIKE message_search INCLUDING ALL)")
        columns = list(INSERT_COLUMNS)
        rows: list[Any] = [tuple(r) for r in await conn.fetch(
            f"SELECT {', '.join(columns)} FROM messages {ORDER}")]
        indexed = {(r[0], r[1]) for r in await conn.fetch(
            "SELECT chat_id, msg_id FROM message_search")}
        # The index rows as tidings wrote them, next to their messages.
        text_at, date_at = columns.index("text"), columns.index("date")
        entries = [search_terms.index_entry(r[0], r[text_at] or "", r[date_at])
                   if (r[0], r[1]) in indexed else None for r in rows]
        insert_search = (
            "INSERT INTO floor_search (chat_id, msg_id, terms) SELECT k.c, k.m,"
            " array_to_tsvector(string_to_array(k.t, ' '))"
            " FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS k(c, m, t)")
        db_cpu = PostgresCpu(enabled=True, precise=True)
        db_cpu.start()
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(rows), BATCH):
            batch = rows[start:start + BATCH]
            search = [(r[0], r[1], t) for r, t in zip(batch, entries[start:start + BATCH],
                                                      strict=True) if t is not None]
            async with conn.transaction():
                await conn.copy_records_to_table(TABLE, records=batch, columns=columns)
                await conn.execute(insert_search, [c for c, _, _ in search],
                                   [m for _, m, _ in search], [t for _, _, t in search])
                await conn.execute(
                    "UPDATE chats SET last_activity = $1 WHERE chat_id = ANY($2::bigint[])",
                    int(time.time()), sorted({r[0] for r in batch}))
        seconds, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return len(rows), seconds, cpu, db_cpu.stop()
    finally:
        await conn.close()


async def ingest_floor(settings: Settings, chats: int, service: IngestResult) -> IngestResult:
    """The floor row of a service run on the database ``settings`` point to."""
    db_seconds: float | None = None
    if settings.is_postgres:
        assert settings.database_url is not None
        rows, seconds, cpu, db_seconds = await postgres_floor(settings.database_url)
    else:
        rows, seconds, cpu = await asyncio.to_thread(
            sqlite_floor, settings.sqlite_path, settings.sqlite_synchronous)
    return IngestResult(
        engine=service.engine, mode="floor", chats=chats, messages=rows, acknowledged=rows,
        persisted=rows, seconds=seconds, errors=0, server_cpu_seconds=cpu, senders=0,
        db_cpu_seconds=db_seconds, avg_batch=float(BATCH))
