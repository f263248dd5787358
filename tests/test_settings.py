"""Settings: the environment contract, validated at start-up, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Secret, Settings, SettingsError


def load(env: dict[str, str], dotenv: Path | None = None) -> Settings:
    return Settings.from_env(env, dotenv=dotenv)


def test_defaults_follow_the_contract() -> None:
    s = load({})
    assert s.database_url == "sqlite+aiosqlite:///data/warga.db"
    assert (s.host, s.port) == ("127.0.0.1", 8080)
    assert (s.timezone, s.locale) == ("Asia/Jakarta", "id")
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.telegram_mode == "polling"
    assert s.whatsapp_api_url == "https://graph.facebook.com/v23.0"
    assert not s.telegram_enabled and not s.whatsapp_enabled
    assert s.data_dir == Path("data")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        load({
            "WARGA_DATABASE_URL": "mysql://x",
            "WARGA_PORT": "eighty",
            "WARGA_TIMEZONE": "Mars/Olympus",
            "WARGA_LOCALE": "fr",
            "WARGA_COORDINATORS": "telegram:1,fax:2",
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "TELEGRAM_MODE": "webhook",
            "WHATSAPP_ACCESS_TOKEN": "t",
        })
    text = str(err.value)
    for fragment in ("WARGA_DATABASE_URL", "WARGA_PORT", "WARGA_TIMEZONE", "WARGA_LOCALE",
                     "'fax:2'", "TELEGRAM_WEBHOOK_SECRET is required",
                     "WhatsApp is partly configured"):
        assert fragment in text


def test_webhook_secret_must_match_telegrams_alphabet() -> None:
    with pytest.raises(SettingsError, match="32-256 characters"):
        load({"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_MODE": "webhook",
              "TELEGRAM_WEBHOOK_SECRET": "short!"})
    ok = load({"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_MODE": "webhook",
               "TELEGRAM_WEBHOOK_SECRET": "a" * 40})
    assert ok.telegram_enabled and ok.telegram_mode == "webhook"


def test_secrets_are_redacted_everywhere() -> None:
    s = load({"TELEGRAM_BOT_TOKEN": "123456:SECRET-TOKEN", "WARGA_SECRET_KEY": "k" * 40,
              "WARGA_DATABASE_URL": "postgresql+asyncpg://warga:pa55word@db/warga"})
    shown = repr(s) + str(s.redacted())
    assert "SECRET-TOKEN" not in shown and "pa55word" not in shown and "k" * 40 not in shown
    assert s.redacted()["telegram_bot_token"] == "***"
    assert isinstance(s.telegram_bot_token, Secret)
    assert s.telegram_bot_token.reveal() == "123456:SECRET-TOKEN"


def test_dotenv_fills_what_the_environment_leaves_unset(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("WARGA_PORT=9090\nWARGA_LOCALE=en\n")
    s = load({"WARGA_LOCALE": "id"}, dotenv=env_file)
    assert s.port == 9090 and s.locale == "id"


def test_sqlite_data_folder_follows_the_database(tmp_path: Path) -> None:
    s = load({"WARGA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/db/warga.db"})
    assert s.data_dir == tmp_path / "db"
    key = s.ensure_secret_key()
    assert len(key.reveal()) >= 32
    assert (tmp_path / "db" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert s.ensure_secret_key() == key  # generated once, then reused
