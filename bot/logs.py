"""Logging that keeps secrets and personal data out, at every level.

- Library loggers that print whole requests (PTB's Bot API calls with their parameters,
  aiosqlite's statements with their values, httpx's URLs with the bot token) are held
  at a level where they do not, even when the service logs at DEBUG.
- The HTTP access log names the route, never the path or query it was reached by:
  ``GET /masuk/{token} 200``, not the login link; ``GET /webhooks/whatsapp``, not the
  verify token in its query.
- ``RedactingFilter`` on the handler is the last line of defence: configured secrets,
  login-link tokens, bot tokens, verify tokens, NIK / No. KK and phone numbers are
  replaced in every record (message, arguments, traceback) before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from conversations.privacy import mask_ids

if TYPE_CHECKING:
    from bot.settings import Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Loggers that would print request bodies, statement parameters or URLs with tokens.
QUIET: dict[str, int] = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,
    "telegram.ext.Updater": logging.WARNING,
    "aiosqlite": logging.INFO,
    "apscheduler.executors": logging.WARNING,
}

PHONE_PLACEHOLDER = "[telepon]"
SECRET_PLACEHOLDER = "***"

_LOGIN_LINK = re.compile(r"(/masuk/)(?!\{token\})[^\s/?#\"'<>]+")
_BOT_TOKEN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
_QUERY_SECRET = re.compile(
    r"((?:hub\.verify_token|verify_token|secret_token|access_token|token|secret)"
    r"[\"']?\s*[=:]\s*[\"']?)[^\s&\"',}]+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
# Indonesian mobile numbers as people and platforms write them: +62 8…, 62 8…, 08…
_PHONE = re.compile(r"(?<![\w+])(?:\+?62[\s.-]?|0)8\d(?:[\s.-]?\d){6,11}(?!\d)")


class RedactingFilter(logging.Filter):
    """Replaces secrets and personal data in a record; never drops one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for value in self.secrets:
            if value in text:
                text = text.replace(value, SECRET_PLACEHOLDER)
        text = _LOGIN_LINK.sub(r"\1" + SECRET_PLACEHOLDER, text)
        text = _BOT_TOKEN.sub(SECRET_PLACEHOLDER, text)
        text = _BEARER.sub(r"\1" + SECRET_PLACEHOLDER, text)
        text = _QUERY_SECRET.sub(r"\1" + SECRET_PLACEHOLDER, text)
        text = mask_ids(text)
        return _PHONE.sub(PHONE_PLACEHOLDER, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what can be kept
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def settings_secrets(settings: Settings | None) -> list[str]:
    """Every secret value of the configuration (they are never logged as they are)."""
    if settings is None:
        return []
    from bot.settings import Secret

    found: list[str] = []
    for value in vars(settings).values():
        if isinstance(value, Secret):
            found.append(value.reveal())
        elif isinstance(value, tuple):
            found.extend(v.reveal() for v in value if isinstance(v, Secret))
    return found


_INSTALLED = "_warga_handler"


def configure_logging(level: str, settings: Settings | None = None, *,
                      stream: IO[str] | None = None) -> logging.Handler:
    """One handler on the root logger, with the redacting filter; quiet libraries."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _INSTALLED, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _INSTALLED, True)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter(settings_secrets(settings)))
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name, floor in QUIET.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    return handler


def route_of(request: web.BaseRequest) -> str:
    """The route a request matched (``/masuk/{token}``), never its path or query."""
    match_info = getattr(request, "match_info", None)
    route = getattr(match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is not None:
        return str(resource.canonical)
    return "(no route)"


class AccessLogger(AbstractAccessLogger):
    """``GET /masuk/{token} 200 512B 0.004s``: method, route, status, size, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse,
            time: float) -> None:
        self.logger.info("%s %s %s %sB %.3fs", request.method, route_of(request),
                         response.status, response.body_length, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def server_options() -> dict[str, Any]:
    """What ``warga serve`` gives aiohttp's runner (tests pass the same)."""
    return {"access_log_class": AccessLogger,
            "access_log": logging.getLogger("aiohttp.access")}
