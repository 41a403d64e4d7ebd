from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from voxgate.store import Database, database_url
from voxgate.store.schema import Base


def test_database_url_defaults_to_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    assert database_url(None, tmp_path) == f"sqlite+aiosqlite:///{tmp_path.resolve()}/voxgate.db"
    assert database_url("postgresql://u@h/db", tmp_path) == "postgresql+asyncpg://u@h/db"
    assert database_url("postgres://u@h/db", tmp_path) == "postgresql+asyncpg://u@h/db"
    assert database_url("sqlite:///x.db", tmp_path) == "sqlite+aiosqlite:///x.db"


async def test_migrations_build_the_schema_the_tables_describe(database: Database) -> None:
    def diff(sync_conn):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(sync_conn)
        return compare_metadata(context, Base.metadata)

    async with database.engine.connect() as conn:
        assert await conn.run_sync(diff) == []
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"users", "api_keys", "conversations", "items", "turn_metrics", "usage"} <= tables


async def test_opening_again_is_a_no_op(database_url: str) -> None:
    for _ in range(2):
        db = await Database.open(database_url)
        await db.close()


async def test_a_new_data_dir_is_created(tmp_path: Path) -> None:
    db = await Database.open(database_url(None, tmp_path / "new" / "dir"))
    await db.close()
    assert (tmp_path / "new" / "dir" / "voxgate.db").exists()
