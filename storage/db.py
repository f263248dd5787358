"""Engine set-up and the unit of work.

SQLite is the embedded default: WAL, busy_timeout, foreign keys, and ``BEGIN IMMEDIATE``
for every transaction — with pysqlite's deferred transactions two tasks doing
read-modify-write both read, then one silently overwrites the other. SQLite runs through
the stock aiosqlite driver, on aiosqlite's own thread: a long query, a checkpoint or a
wait for another process's write lock never holds up the event loop.
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

from storage.repos import Repos
from storage.schema import METADATA

T = TypeVar("T")
# Units of work sharing one SQLite commit at most.
MAX_BATCH = 64
# How long a SQLite statement waits for another process's lock (a backup, `warga chat`)
# before it fails: the wait happens on aiosqlite's thread, not on the event loop.
SQLITE_BUSY_TIMEOUT_S = 30.0


def _prepare_sqlite_path(url: str) -> None:
    """The database file's folder, and the file itself, readable by their owner alone
    (SQLite gives its -wal and -shm files the database file's permissions)."""
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def create_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """Create an async engine with the connection settings this project relies on.

    ``read_only``: for long reads beside the service (exports). On SQLite its
    transactions are deferred (``BEGIN``: a WAL snapshot that never takes the write lock,
    so no writer in any process waits for it) and ``PRAGMA query_only`` refuses writes;
    on PostgreSQL every transaction is ``READ ONLY``.
    """
    # Statement parameters (names, phones, texts) never go into error messages or logs.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _prepare_sqlite_path(url)
        busy_ms = int(SQLITE_BUSY_TIMEOUT_S * 1000)
        connect_args = dict(kwargs.pop("connect_args", {}))
        # isolation_level=None: sqlite3 sends no BEGIN of its own; ours is BEGIN IMMEDIATE.
        connect_args.setdefault("isolation_level", None)
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        # Every transaction here ends in its own COMMIT or ROLLBACK (sessions, engine
        # connections alike): the pool's extra rollback on check-in would only cost
        # another trip to aiosqlite's thread.
        kwargs.setdefault("pool_reset_on_return", None)
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
            cursor.close()

        # A reader's BEGIN IMMEDIATE would hold the write lock for as long as it reads:
        # every webhook would wait for a page of an export (across processes, too).
        begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # One statement, no cursor to open and close: one trip to aiosqlite's thread
            # instead of three (the adapter's ``execute``, as sqlite3's connection has).
            conn.connection.dbapi_connection.execute(begin)

        return engine
    if read_only:
        connect_args = dict(kwargs.pop("connect_args", {}))
        settings = dict(connect_args.get("server_settings", {}))
        settings.setdefault("default_transaction_read_only", "on")
        connect_args["server_settings"] = settings
        kwargs["connect_args"] = connect_args
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


@asynccontextmanager
async def _settled(session: AsyncSession) -> AsyncIterator[Repos]:
    """``session``'s transaction, then its ``after_commit`` or ``after_rollback``."""
    repos = Repos(session)
    try:
        async with session.begin():
            yield repos
    except BaseException:
        for callback in repos.after_rollback:
            callback()
        raise
    for callback in repos.after_commit:
        callback()


class Database:
    """Owns the engine; hands out one session per unit of work."""

    def __init__(self, url: str, *, read_only: bool = False, **engine_kwargs: Any) -> None:
        """``read_only``: only reads, and never in any writer's way (see ``create_engine``)."""
        self.url = url
        self.read_only = read_only
        self.engine = create_engine(url, read_only=read_only, **engine_kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer. Queueing writers here, in order, is far cheaper than
        # letting them collide in SQLite's busy handler, which sleeps and retries.
        self._write_lock: asyncio.Lock | None = (
            asyncio.Lock() if self.is_sqlite and not read_only else None)
        self._pending: list[tuple[Callable[[Repos], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._committer: asyncio.Task[None] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: it lives in this process's one connection."""
        database = make_url(self.url).database
        return self.is_sqlite and (not database or database == ":memory:")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repos]:
        """One transaction: commit on success, roll back on any exception."""
        if self._write_lock is None:
            async with self._sessions() as session:
                async with _settled(session) as repos:
                    yield repos
            return
        async with self._write_lock, self._sessions() as session:
            async with _settled(session) as repos:
                yield repos

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

    async def in_worker(self, work: Callable[[Database], Awaitable[T]]) -> T:
        """Run ``work`` in a worker thread, on an event loop and a database connection of
        its own, and return its result.

        For long reads and the CPU they bring (an export turning 100,000 rows into a
        file): nothing of it runs on this event loop, so every resident's reply keeps
        going meanwhile. The connection is read-only (``work`` only reads): its
        transactions never hold SQLite's write lock. An in-memory SQLite database exists
        in one connection only: there the work runs here.
        """
        if self.in_memory:
            return await work(self)
        url = self.url

        def worker() -> T:
            async def main() -> T:
                own = Database(url, read_only=True) if url.startswith("sqlite") else Database(
                    url, read_only=True, pool_size=1, max_overflow=0)
                try:
                    return await work(own)
                finally:
                    await own.close()

            return asyncio.run(main())

        return await asyncio.to_thread(worker)

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
