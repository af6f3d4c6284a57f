"""Versioned, append-only migrations: ``schema/NNNN_name.sql``.

Each file runs in one transaction and is recorded in ``schema_migrations``.
DDL tokens (``{{id_pk}}``, ``{{without_rowid}}``, ``{{blob}}``) are rendered by
the engine, so one file serves both engines. A file, once released, is never
edited: changes come as a new file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

from tidings.db.database import Database
from tidings.db.engine import Txn

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    found = []
    for entry in resources.files("tidings.db").joinpath("schema").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must be 1..N without gaps, found {versions}")
    return found


def split_statements(sql: str) -> list[str]:
    """Statements end with ';' at the end of a line; comments are dropped."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M) if s.strip()]


async def applied_versions(db: Database) -> set[int]:
    async def txn_fn(txn: Txn) -> set[int]:
        await txn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        rows = await txn.fetch("SELECT version FROM schema_migrations")
        return {int(r[0]) for r in rows}

    return await db.write("migrations_table", txn_fn)


async def migrate(db: Database, now: int) -> list[Migration]:
    """Apply every pending migration in order; return those applied."""
    done = await applied_versions(db)
    applied = []
    for migration in available():
        if migration.version in done:
            continue
        statements = split_statements(db.engine.render_ddl(migration.sql))

        async def apply_txn(txn: Txn, m: Migration = migration, stmts: list[str] = statements
                            ) -> None:
            for statement in stmts:
                await txn.execute(statement)
            await txn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                m.version, m.name, now,
            )

        await db.write(f"migrate_{migration.version:04d}", apply_txn)
        log.info("applied migration %04d_%s", migration.version, migration.name)
        applied.append(migration)
    return applied
