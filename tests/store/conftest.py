"""The store's tests run against a SQLite file and the real Postgres (127.0.0.1:5432).

Each Postgres test gets a database of its own, made from the server's ``test`` database and
dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from voxgate.store import Database

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432"


async def create_postgres_database() -> str | None:
    """The URL of a new empty Postgres database, or None when Postgres is not running."""
    name = f"voxgate_test_{uuid.uuid4().hex[:12]}"
    engine = create_async_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError:
        return None
    finally:
        await engine.dispose()
    return f"{POSTGRES}/{name}"


async def drop_postgres_database(url: str) -> None:
    """Drop a database ``create_postgres_database`` made (its connections closed first)."""
    name = url.rsplit("/", 1)[1]
    engine = create_async_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """A URL of an empty database: a SQLite file, or a new Postgres database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'voxgate.db'}"
        return
    url = await create_postgres_database()
    if url is None:
        if os.environ.get("VOXGATE_CI"):
            pytest.fail("CI runs the store's tests against Postgres on 127.0.0.1:5432")
        pytest.skip("Postgres is not running on 127.0.0.1:5432")
    try:
        yield url
    finally:
        await drop_postgres_database(url)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database of either kind."""
    db = await Database.open(database_url)
    try:
        yield db
    finally:
        await db.close()
