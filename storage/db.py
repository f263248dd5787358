"""Engine set-up and the unit of work.

SQLite is the embedded default: WAL, busy_timeout, foreign keys, and ``BEGIN IMMEDIATE``
for every transaction — with pysqlite's deferred transactions two tasks doing
read-modify-write both read, then one silently overwrites the other. SQLite calls run
on the event loop's thread (``storage.sqlite_inloop``); waiting for another process's
write lock is asynchronous.
PostgreSQL (asyncpg) is the scale-out store; rows that are read to be changed are
locked with ``SELECT … FOR UPDATE``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_inloop
from storage.repos import Repos
from storage.schema import METADATA

T = TypeVar("T")
# Units of work sharing one SQLite commit at most.
MAX_BATCH = 64



def _prepare_sqlite_path(url: str) -> None:
    """The database file's folder, and the file itself, readable by their owner alone
    (SQLite gives its -wal and -shm files the database file's permissions)."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine with the connection settings this project relies on."""
    # Statement parameters (names, phones, texts) never go into error messages or logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _prepare_sqlite_path(url)
        database = make_url(url).database or ":memory:"
        engine = create_async_engine(url, async_creator=sqlite_inloop.creator(database), **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={sqlite_inloop.INLINE_BUSY_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """Owns the engine; hands out one session per unit of work."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer. Queueing writers here, in order, is far cheaper than
        # letting them collide in SQLite's busy handler, which sleeps and retries.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        self._pending: list[tuple[Callable[[Repos], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repos]:
        """One transaction: commit on success, roll back on any exception."""
        if self._write_lock is None:
            async with self._sessions() as session, session.begin():
                yield Repos(session)
            return
        async with self._write_lock, self._sessions() as session, session.begin():
            yield Repos(session)

    async def run(self, work: Callable[[Repos], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction and return its result once it is committed.

        On SQLite, units that arrive while a commit is under way share the next one
        (group commit): one writer, so fewer, larger transactions are what scales. A
        unit that raises makes its batch roll back; each unit of that batch then runs
        alone, so only the faulty one fails. Units must therefore be safe to run again
        after a rollback (they are: all their effects are in the database).
        """
        if self._write_lock is None:
            async with self.transaction() as tx:
                return await work(tx)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_batches())
        return await future

    async def _commit_batches(self) -> None:
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            results: list[Any] = []
            try:
                async with self.transaction() as tx:
                    for work, _future in batch:
                        results.append(await work(tx))
            except Exception:
                await self._run_alone(batch)
                continue
            for (_work, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _run_alone(
        self, batch: list[tuple[Callable[[Repos], Awaitable[Any]], asyncio.Future[Any]]]
    ) -> None:
        for work, future in batch:
            if future.done():
                continue
            try:
                async with self.transaction() as tx:
                    result = await work(tx)
            except Exception as error:
                future.set_exception(error)
            else:
                future.set_result(result)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            yield session

    async def create_all(self) -> None:
        """Create tables straight from the models (tests); operators use migrations."""
        async with self.engine.begin() as conn:
            await conn.run_sync(METADATA.create_all)

    async def drop_all(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(METADATA.drop_all)

    async def ping(self) -> bool:
        from sqlalchemy import text

        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def close(self) -> None:
        await self.engine.dispose()
