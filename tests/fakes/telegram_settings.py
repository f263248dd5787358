"""Settings for a Warga service whose Telegram is the fake Bot API on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.settings import Secret, Settings
from tests.fakes.telegram_api import FakeBotAPI

SECRET = "kalibaru-webhook-secret_0123456789abcdef"
PUBLIC = "https://warga.example.id"


def telegram_settings(database_url: str, data_dir: Path, api: FakeBotAPI, *,
                      mode: str = "webhook", **changes: Any) -> Settings:
    """Telegram on, talking to ``api`` (webhook mode at ``PUBLIC`` unless told otherwise);
    ``changes`` override any other field."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "public_url": PUBLIC,
        "telegram_bot_token": Secret(api.token),
        "telegram_api_url": api.url,
        "telegram_mode": mode,
        "telegram_webhook_secret": Secret(SECRET),
    }
    values.update(changes)
    return Settings(**values)
