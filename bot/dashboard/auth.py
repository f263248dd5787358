"""Dashboard sign-in: one-time login links, session cookies, CSRF tokens.

A login link is ``/masuk/<nonce>.<expiry>.<signature>``: HMAC-signed with a key derived
from ``WARGA_SECRET_KEY`` (so a forged or altered link is refused without a database
look-up), expiring after 10 minutes, and spent by one conditional UPDATE of its row (so it
works once, even with two tabs racing). Only SHA-256 digests of link nonces and session
cookies are stored: a copy of the database signs nobody in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

from bot.settings import Settings
from storage.repos import Repos
from storage.repos_tickets import TicketRepo

LOGIN_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)
SESSION_COOKIE = "warga_sesi"
PRELOGIN_COOKIE = "warga_pra"
LANGUAGE_COOKIE = "warga_bahasa"


def dashboard_key(settings: Settings) -> bytes:
    """A key for the dashboard alone, derived from the service's secret key."""
    secret = settings.ensure_secret_key().reveal().encode()
    return hmac.new(secret, b"warga-dashboard-v1", hashlib.sha256).digest()


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _sign(key: bytes, purpose: str, message: str) -> str:
    mac = hmac.new(key, f"{purpose}|{message}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def make_login_token(key: bytes, now: datetime) -> tuple[str, str, datetime]:
    """A new link secret: (token for the URL, digest to store, expiry)."""
    nonce = secrets.token_urlsafe(24)
    expires = now + LOGIN_TTL
    body = f"{nonce}.{int(expires.timestamp())}"
    return f"{body}.{_sign(key, 'login', body)}", digest(nonce), expires


def check_login_token(key: bytes, token: str, now: datetime) -> str | None:
    """The stored digest for a well-signed, unexpired token; None for anything else."""
    if not token.isascii():
        return None
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200:
        return None
    nonce, raw_expiry, signature = parts
    if not hmac.compare_digest(signature, _sign(key, "login", f"{nonce}.{raw_expiry}")):
        return None
    try:
        expires = datetime.fromtimestamp(int(raw_expiry), UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if expires <= now:
        return None
    return digest(nonce)


def base_url(settings: Settings) -> str:
    """WARGA_PUBLIC_URL, else the address the server listens on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.port}"


async def issue_login_link(tx: Repos, settings: Settings, contact_id: int,
                           now: datetime) -> str:
    token, token_hash, expires = make_login_token(dashboard_key(settings), now)
    await TicketRepo(tx.session).add_login_token(token_hash, contact_id, now, expires)
    return f"{base_url(settings)}/masuk/{token}"


def new_session_token() -> tuple[str, str]:
    """(cookie value, digest to store)."""
    token = secrets.token_urlsafe(32)
    return token, digest(token)


def csrf_token(key: bytes, binding: str) -> str:
    """The form token for a session (or a pre-login cookie): a MAC, nothing stored."""
    return _sign(key, "csrf", binding)


def check_csrf(key: bytes, binding: str | None, value: object) -> bool:
    if not binding or not isinstance(value, str) or not value:
        return False
    if not binding.isascii() or not value.isascii():
        return False
    return hmac.compare_digest(value, csrf_token(key, binding))
