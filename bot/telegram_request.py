"""PTB's HTTP transport on aiohttp (``telegram.request.BaseRequest``, PTB's public
extension point for other HTTP libraries).

Why not PTB's default (httpx): under load its connection pool re-checks every pooled
connection on every request — in ``bench/telegram_webhook.py`` that bookkeeping took
about a third of the process's CPU and tripled webhook latency. aiohttp is what the rest
of the service already uses. Behaviour follows ``HTTPXRequest``: the same timeouts, and
transport failures raised as PTB's ``TimedOut`` / ``NetworkError``.
"""

from __future__ import annotations

import re

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_TOKEN_IN_PATH = re.compile(r"/(file/)?bot[^/\s]+")
# PTB marks "not given by the caller" with instances of this class.
_DefaultValue = type(BaseRequest.DEFAULT_NONE)


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a bounded connection pool, for one PTB ``Bot``."""

    def __init__(
        self,
        *,
        connections: int = 64,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        self._open()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # trust_env stays off: no proxy from the environment, only the configured URL.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections))
        return self._session

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | object | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        # Like PTB's own transport, usable before initialize() (it is called in the loop).
        session = self._open()
        files = request_data.multipart_data if request_data else None
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        pool = _given(pool_timeout, self._pool_timeout)
        write = _given(write_timeout,
                       self._media_write_timeout if files else self._write_timeout)
        # aiohttp has no write timeout: the total bounds the whole exchange instead.
        parts = (read, connect, pool, write)
        total = None if any(t is None for t in parts) else sum(t or 0.0 for t in parts)
        timeout = aiohttp.ClientTimeout(
            total=total,
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            fields = request_data.json_parameters
            if files:
                form = aiohttp.FormData()
                for name, value in fields.items():
                    form.add_field(name, value)
                for name, (filename, content, mime_type) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mime_type)
                data = form
            else:
                data = fields
        try:
            async with session.request(
                method, url, data=data, timeout=timeout,
                headers={"User-Agent": self.USER_AGENT},
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # Some aiohttp errors quote the URL, and the URL holds the bot token.
            detail = _TOKEN_IN_PATH.sub(r"/\1bot***", str(err))
            raise NetworkError(f"aiohttp.{type(err).__name__}: {detail}") from err


def _given(value: float | object | None, default: float | None) -> float | None:
    if isinstance(value, _DefaultValue):
        return default
    assert value is None or isinstance(value, int | float)
    return value
