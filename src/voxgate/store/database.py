"""The store's connection: a SQLite file under the data directory, or Postgres by URL.

``Database.open`` brings the schema up to date with Alembic (the migrations ship in the
package), so a new data directory or an older database is ready before the first request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).parent / "migrations"


def database_url(url: str | None, data_dir: Path) -> str:
    """The async SQLAlchemy URL for a configured URL (None: ``voxgate.db`` in ``data_dir``).

    ``postgres://`` and ``postgresql://`` mean asyncpg, ``sqlite://`` aiosqlite.
    """
    if not url:
        return f"sqlite+aiosqlite:///{(data_dir / 'voxgate.db').resolve()}"
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


class Database:
    """An async engine and its sessions; ``open`` migrates, ``close`` disposes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"pool_pre_ping": True}
        if self.is_sqlite:
            options = {"connect_args": {"timeout": 30}}
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    @classmethod
    async def open(cls, url: str) -> Database:
        """Connect and migrate to the newest schema (a SQLite file's directory is created)."""
        if url.startswith("sqlite") and ":///" in url:
            path = url.split(":///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = cls(url)
        try:
            async with db.engine.begin() as conn:
                await migrate(conn)
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


async def migrate(conn: AsyncConnection, revision: str = "head") -> None:
    """Upgrade the schema on this connection to ``revision`` with the packaged migrations."""
    await conn.run_sync(_upgrade, revision)


def _upgrade(sync_conn: Any, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = sync_conn
    command.upgrade(config, revision)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
