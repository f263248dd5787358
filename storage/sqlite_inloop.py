"""An aiosqlite-compatible connection that runs SQLite on the event loop's own thread.

Why: aiosqlite hands every call to a worker thread. SQLAlchemy's adapter makes four such
hops per statement (cursor, execute, fetchall, close), ~100 µs each, while the statement
itself takes a few µs in WAL mode. Running the calls inline is an order of magnitude
faster. It is safe because the only call that can wait on another process is taking the
write lock (``BEGIN IMMEDIATE``): that call is retried *asynchronously* here, with the
busy timeout kept short so the loop is never held for long.

It plugs in through SQLAlchemy's public ``async_creator`` hook of the aiosqlite dialect.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# How long one in-loop statement may wait on a lock held by another process.
INLINE_BUSY_MS = 20
# How long taking the write lock may wait in total (asynchronously).
WRITE_LOCK_WAIT_S = 30.0


def _locked(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


class _ImmediateQueue:
    """Stands in for aiosqlite's job queue: runs the job at once and settles its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:
            future.set_exception(error)


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        if sql.lstrip()[:5].upper() == "BEGIN":
            await self._begin(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def _begin(self, sql: str) -> None:
        deadline = time.monotonic() + WRITE_LOCK_WAIT_S
        delay = 0.001
        while True:
            try:
                self._cursor.execute(sql)
                return
            except sqlite3.OperationalError as error:
                if not _locked(error) or time.monotonic() > deadline:
                    raise
            # Another process writes: wait without blocking the loop.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> Sequence[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class Connection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._tx = _ImmediateQueue()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection itself (``storage.repos`` runs hot statements on it)."""
        return self._conn

    async def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        cursor = await self.cursor()
        return await cursor.execute(sql, parameters)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()


def creator(path: str) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine('sqlite+aiosqlite://…')``."""

    async def connect() -> Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves (see storage.db).
        conn = sqlite3.connect(
            path,
            isolation_level=None,
            check_same_thread=False,
            timeout=INLINE_BUSY_MS / 1000,
        )
        return Connection(conn)

    return connect
