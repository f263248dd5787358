"""One typed settings object from the environment, validated at start-up."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url

from conversations.workdays import parse_holidays
from storage.crypto import MIN_KEY_LENGTH, IdentityCipher


class Secret(str):
    """A string that never shows itself in logs, reprs or tracebacks."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"

    def reveal(self) -> str:
        return str.__str__(self)


class SettingsError(ValueError):
    """Configuration is wrong; the message lists every problem found."""


_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{32,256}$")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///data/warga.db"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    timezone: str = "Asia/Jakarta"
    locale: str = "id"
    coordinators: tuple[str, ...] = ()
    secret_key: Secret | None = None
    # Where the key was read from (WARGA_SECRET_KEY_FILE), to check it is kept apart.
    secret_key_file: Path | None = None
    # Keys of a rotation under way: they still open what they sealed.
    previous_secret_keys: tuple[Secret, ...] = ()
    # WARGA_LOCAL_TRIAL=1: a trial on one machine may keep a generated key in the data
    # folder; production may not.
    local_trial: bool = False
    data_dir: Path = Path("data")
    session_hours: float = 24.0
    max_media_bytes: int = 10 * 1024 * 1024
    # Meta batches many events into one webhook; a 413 would make it retry for days.
    max_body_bytes: int = 4 * 1024 * 1024
    telegram_bot_token: Secret | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: str = "polling"
    telegram_webhook_secret: Secret | None = None
    whatsapp_access_token: Secret | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_app_secret: Secret | None = None
    whatsapp_verify_token: Secret | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v23.0"
    whatsapp_template_name: str = "warga_notifikasi"
    whatsapp_template_language: str = "id"
    log_level: str = "INFO"
    # How long a replica holds claimed work (outbox rows, bulk fan-outs) before another
    # may take it over; after a crash, that work resumes this much later.
    lease_seconds: float = 60.0
    # No bulk message goes out in these hours (Jakarta time): reminders go before,
    # broadcasts after. "off" sends at any hour.
    quiet_hours: str = "21:00-05:30"
    # The outbox's lease, renewed while a sender works: a crashed sender's messages are
    # taken over this soon (never longer than lease_seconds).
    outbox_lease_seconds: float = 10.0
    # Where replicas sharing a bot token keep the platforms' send limits: "database"
    # (PostgreSQL), "local" (in memory: one process per token), "auto" (database on
    # PostgreSQL, local on SQLite).
    send_limiter: str = "auto"
    # A contact may send inbound_burst messages at once, then inbound_per_minute a minute;
    # more are stored and handled in turn (0 a minute: no limit). Nobody reads and
    # answers faster than a message a second for long; an album of photos is a burst.
    inbound_burst: int = 30
    inbound_per_minute: float = 60.0
    # Bodies of sent (or failed) outbox messages are blanked after this many days.
    outbox_body_days: float = 7.0
    # Dashboard map tiles ({z}/{x}/{y}); empty: no base map (offline use, tests).
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    # Public holidays skipped by the working-day service levels, with weekends.
    holidays: tuple[date, ...] = ()
    sla_verify_days: int = 3
    sla_act_days: int = 5
    # WARGA_FORMS_DIR: every XLSForm workbook there runs as a feature of its own.
    forms_dir: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def whatsapp_enabled(self) -> bool:
        return all(
            (
                self.whatsapp_access_token,
                self.whatsapp_phone_number_id,
                self.whatsapp_app_secret,
                self.whatsapp_verify_token,
            )
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def __repr__(self) -> str:
        return f"Settings({self.redacted()})"

    def redacted(self) -> dict[str, str]:
        """Settings safe to log: secrets shown as *** (or unset)."""
        out: dict[str, str] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                out[f.name] = "***"
            elif f.name == "previous_secret_keys":
                out[f.name] = f"{len(value)} key(s)" if value else "-"
            elif f.name == "database_url":
                out[f.name] = make_url(value).render_as_string(hide_password=True)
            else:
                out[f.name] = str(value) if value is not None else "-"
        return out

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Read and validate; a ``.env`` file fills what the environment leaves unset."""
        env = dict(os.environ if environ is None else environ)
        if dotenv is not None and dotenv.exists():
            from dotenv import dotenv_values

            for key, value in dotenv_values(dotenv).items():
                if value is not None:
                    env.setdefault(key, value)
        errors: list[str] = []

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        def secret(name: str) -> Secret | None:
            value = get(name)
            return Secret(value) if value else None

        def number(name: str, default: float, kind: type = int) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = kind(raw)
            except ValueError:
                errors.append(f"{name} must be a number, got {raw!r}")
                return default
            if value <= 0:
                errors.append(f"{name} must be positive")
            return float(value) if kind is float else value

        database_url = get("WARGA_DATABASE_URL") or cls.database_url
        try:
            url = make_url(database_url)
            if url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
                errors.append(
                    "WARGA_DATABASE_URL must use sqlite+aiosqlite:/// or postgresql+asyncpg://"
                )
        except Exception:
            errors.append("WARGA_DATABASE_URL is not a database URL")
            url = None
        data_dir = Path(get("WARGA_DATA_DIR") or "")
        if not get("WARGA_DATA_DIR"):
            data_dir = Path("data")
            if url is not None and url.drivername.startswith("sqlite") and url.database:
                data_dir = Path(url.database).parent
        timezone = get("WARGA_TIMEZONE") or cls.timezone
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f"WARGA_TIMEZONE {timezone!r} is not a known time zone")
        quiet_hours = get("WARGA_QUIET_HOURS") or cls.quiet_hours
        if not _quiet_hours_ok(quiet_hours):
            errors.append(f"WARGA_QUIET_HOURS {quiet_hours!r} is not HH:MM-HH:MM or 'off'")
        locale = get("WARGA_LOCALE") or cls.locale
        if locale not in ("id", "en"):
            errors.append("WARGA_LOCALE must be 'id' or 'en'")
        port = int(number("WARGA_PORT", cls.port))
        if not 0 <= port <= 65535:
            errors.append("WARGA_PORT must be between 0 and 65535")
        secret_key, key_file = _read_key(env, "WARGA_SECRET_KEY", errors)
        previous, _ = _read_key(env, "WARGA_PREVIOUS_SECRET_KEY", errors)
        trial = (get("WARGA_LOCAL_TRIAL") or "").lower() in ("1", "true", "yes", "ya")
        coordinators: list[str] = []
        for item in (get("WARGA_COORDINATORS") or "").split(","):
            item = item.strip()
            if not item:
                continue
            channel, _, ext = item.partition(":")
            if channel not in ("telegram", "whatsapp", "console") or not ext:
                errors.append(f"WARGA_COORDINATORS entry {item!r} must look like telegram:123")
            coordinators.append(item)
        mode = (get("TELEGRAM_MODE") or "polling").lower()
        if mode not in ("polling", "webhook"):
            errors.append("TELEGRAM_MODE must be 'polling' or 'webhook'")
        tg_secret = secret("TELEGRAM_WEBHOOK_SECRET")
        token = secret("TELEGRAM_BOT_TOKEN")
        if token and mode == "webhook":
            if tg_secret is None:
                errors.append("TELEGRAM_WEBHOOK_SECRET is required when TELEGRAM_MODE=webhook")
            elif not _WEBHOOK_SECRET.match(tg_secret.reveal()):
                errors.append(
                    "TELEGRAM_WEBHOOK_SECRET must be 32-256 characters of A-Z a-z 0-9 _ -"
                )
        wa = {n: get(n) for n in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID",
                                  "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")}
        if any(wa.values()) and not all(wa.values()):
            missing = ", ".join(n for n, v in wa.items() if not v)
            errors.append(f"WhatsApp is partly configured; also set {missing}")
        public_url = get("WARGA_PUBLIC_URL")
        if public_url and not public_url.startswith(("https://", "http://")):
            errors.append("WARGA_PUBLIC_URL must start with https://")
        for name in ("TELEGRAM_API_URL", "WHATSAPP_API_URL"):
            value = get(name)
            if value and not value.startswith(("https://", "http://")):
                errors.append(f"{name} must be an http(s) URL")
        tile_url = env.get("WARGA_MAP_TILE_URL")
        tile_url = cls.map_tile_url if tile_url is None else tile_url.strip()
        if tile_url and not tile_url.startswith(("https://", "http://")):
            errors.append("WARGA_MAP_TILE_URL must be an http(s) URL, or empty for no map tiles")
        holidays: frozenset[date] = frozenset()
        try:
            holidays = parse_holidays(get("WARGA_HOLIDAYS") or "")
        except ValueError as err:
            errors.append(f"WARGA_HOLIDAYS: {err}")
        limiter = (get("WARGA_SEND_LIMITER") or cls.send_limiter).lower()
        if limiter not in ("auto", "local", "database"):
            errors.append("WARGA_SEND_LIMITER must be 'auto', 'local' or 'database'")
        elif limiter == "database" and url is not None and url.drivername.startswith("sqlite"):
            errors.append("WARGA_SEND_LIMITER=database needs PostgreSQL (WARGA_DATABASE_URL)")
        per_minute = cls.inbound_per_minute
        raw_per_minute = get("WARGA_INBOUND_PER_MINUTE")
        if raw_per_minute is not None:
            try:
                per_minute = float(raw_per_minute)
            except ValueError:
                errors.append(f"WARGA_INBOUND_PER_MINUTE must be a number, got "
                              f"{raw_per_minute!r}")
            else:
                if per_minute < 0:
                    errors.append("WARGA_INBOUND_PER_MINUTE must be 0 (no limit) or more")
        sla_verify_days = int(number("WARGA_SLA_VERIFY_DAYS", cls.sla_verify_days))
        sla_act_days = int(number("WARGA_SLA_ACT_DAYS", cls.sla_act_days))
        forms_dir = Path(get("WARGA_FORMS_DIR")) if get("WARGA_FORMS_DIR") else None
        if forms_dir is not None and not forms_dir.is_dir():
            errors.append(f"WARGA_FORMS_DIR {str(forms_dir)!r} is not a folder")
        if errors:
            raise SettingsError("invalid configuration:\n  - " + "\n  - ".join(errors))
        return cls(
            database_url=database_url,
            host=get("WARGA_HOST") or cls.host,
            port=port,
            public_url=public_url.rstrip("/") if public_url else None,
            timezone=timezone,
            locale=locale,
            coordinators=tuple(coordinators),
            secret_key=secret_key,
            secret_key_file=key_file,
            previous_secret_keys=(previous,) if previous else (),
            local_trial=trial,
            data_dir=data_dir,
            forms_dir=forms_dir,
            session_hours=float(number("WARGA_SESSION_HOURS", cls.session_hours, float)),
            max_media_bytes=int(number("WARGA_MAX_MEDIA_BYTES", cls.max_media_bytes)),
            telegram_bot_token=token,
            telegram_api_url=(get("TELEGRAM_API_URL") or cls.telegram_api_url).rstrip("/"),
            telegram_mode=mode,
            telegram_webhook_secret=tg_secret,
            whatsapp_access_token=secret("WHATSAPP_ACCESS_TOKEN"),
            whatsapp_phone_number_id=wa["WHATSAPP_PHONE_NUMBER_ID"],
            whatsapp_app_secret=secret("WHATSAPP_APP_SECRET"),
            whatsapp_verify_token=secret("WHATSAPP_VERIFY_TOKEN"),
            whatsapp_api_url=(get("WHATSAPP_API_URL") or cls.whatsapp_api_url).rstrip("/"),
            whatsapp_template_name=get("WHATSAPP_TEMPLATE_NAME") or cls.whatsapp_template_name,
            whatsapp_template_language=get("WHATSAPP_TEMPLATE_LANGUAGE") or "id",
            log_level=(get("WARGA_LOG_LEVEL") or "INFO").upper(),
            lease_seconds=float(number("WARGA_LEASE_SECONDS", cls.lease_seconds, float)),
            quiet_hours=quiet_hours,
            outbox_lease_seconds=float(number("WARGA_OUTBOX_LEASE_SECONDS",
                                              cls.outbox_lease_seconds, float)),
            send_limiter=limiter,
            inbound_burst=int(number("WARGA_INBOUND_BURST", cls.inbound_burst)),
            inbound_per_minute=per_minute,
            outbox_body_days=float(number("WARGA_OUTBOX_BODY_DAYS", cls.outbox_body_days,
                                          float)),
            map_tile_url=tile_url,
            holidays=tuple(sorted(holidays)),
            sla_verify_days=sla_verify_days,
            sla_act_days=sla_act_days,
            extra={k: v for k, v in env.items() if k.startswith("WARGA_TEST_")},
        )

    @property
    def generated_key_path(self) -> Path:
        return self.data_dir / "secret.key"

    def ensure_secret_key(self) -> Secret:
        """The configured key, or one generated once into the data folder (trials)."""
        if self.secret_key:
            return self.secret_key
        path = self.generated_key_path
        if not path.exists():
            write_key_file(path, new_secret_key())
        return Secret(path.read_text().strip())

    def identity_cipher(self) -> IdentityCipher:
        """The cipher of NIK / No. KK: the current key, and a previous one while rotating."""
        return IdentityCipher(self.ensure_secret_key().reveal(),
                              previous=[k.reveal() for k in self.previous_secret_keys])

    def data_folders(self) -> list[Path]:
        """Folders that hold personal data: the data folder (media) and the SQLite file's."""
        folders = [self.data_dir, self.media_dir]
        if self.database_url.startswith("sqlite"):
            database = make_url(self.database_url).database
            if database and database != ":memory:" and not database.startswith("file:"):
                folders.append(Path(database).parent)
        return folders

    def key_problem(self) -> str | None:
        """Why the key would be kept beside the data it protects (None: it is not).

        A copy of the data folder (a backup, the Docker volume) must not carry the key
        that decrypts every NIK and No. KK in it."""
        if self.secret_key is not None and self.secret_key_file is None:
            return None  # from the environment: not on the data volume
        path = self.secret_key_file or self.generated_key_path
        where = "WARGA_SECRET_KEY_FILE" if self.secret_key_file else "the generated key"
        resolved = path.expanduser().resolve()
        for folder in self.data_folders():
            if resolved.is_relative_to(folder.expanduser().resolve()):
                return (f"{where} ({path}) is inside the data folder {folder}, next to the "
                        "database: a copy of that folder would decrypt every NIK and No. KK")
        return None


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)


def write_key_file(path: Path, key: str) -> None:
    """A new key file readable by its owner alone (in a folder only they can open)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")


def _read_key(env: Mapping[str, str], name: str,
              errors: list[str]) -> tuple[Secret | None, Path | None]:
    """``NAME`` or ``NAME_FILE`` (a secrets file, e.g. a Docker secret): the key and the
    file it came from."""
    value = (env.get(name) or "").strip()
    file_name = (env.get(f"{name}_FILE") or "").strip()
    if value and file_name:
        errors.append(f"set {name} or {name}_FILE, not both")
        return None, None
    path: Path | None = None
    if file_name:
        path = Path(file_name)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            errors.append(f"{name}_FILE {file_name!r} cannot be read ({type(err).__name__})")
            return None, None
        if not value:
            errors.append(f"{name}_FILE {file_name!r} is empty")
            return None, None
    if value and len(value) < MIN_KEY_LENGTH:
        errors.append(f"{name} is too short (at least {MIN_KEY_LENGTH} characters)")
        return None, None
    return (Secret(value) if value else None), path


def _quiet_hours_ok(text: str) -> bool:
    """``HH:MM-HH:MM`` with two different valid times, or ``off``."""
    if text.strip().lower() in ("off", "none", "-"):
        return True
    match = re.fullmatch(r"\s*([0-2]\d:[0-5]\d)\s*-\s*([0-2]\d:[0-5]\d)\s*", text)
    if match is None:
        return False
    try:
        start, end = (datetime.strptime(t, "%H:%M").time() for t in match.groups())
    except ValueError:
        return False
    return start != end
