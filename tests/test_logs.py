"""No secret and no personal data in the logs, at DEBUG, through real requests."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import SERVICES, create_app
from bot.logs import QUIET, RedactingFilter, configure_logging, server_options
from bot.settings import Secret, Settings
from bot.whatsapp import WhatsAppPlugin
from tests.fakes.telegram_api import TOKEN, FakeBotAPI
from tests.fakes.telegram_settings import SECRET, telegram_settings
from tests.fakes.whatsapp_api import FakeGraphAPI
from tests.test_telegram_e2e import Resident, Service
from tests.test_whatsapp_e2e import FAST as WA_FAST
from tests.test_whatsapp_e2e import VERIFY_TOKEN, settings_for

pytestmark = pytest.mark.e2e

NIK = "3172014501900001"
PHONE = "+6281234567890"
KEY = "the-service-secret-key-0123456789abcdef"
COORDINATOR = 555000111


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The service's own logging set-up, at DEBUG, written to a string."""
    root = logging.getLogger()
    before = root.level, {name: logging.getLogger(name).level for name in QUIET}
    stream = io.StringIO()
    handler = configure_logging("DEBUG", None, stream=stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(before[0])
        for name, level in before[1].items():
            logging.getLogger(name).setLevel(level)


class LoggedService(Service):
    """The Telegram service as ``warga serve`` runs it: same access log, same filter."""

    def __init__(self, settings: Settings, stream: io.StringIO) -> None:
        super().__init__(settings)
        configure_logging("DEBUG", settings, stream=stream)

    async def __aenter__(self) -> LoggedService:
        await self.client.server.start_server(**server_options())
        await self.client.start_server()
        return self


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as api:
        yield api


def found(text: str, value: str) -> bool:
    """A value in the log, also with its digits grouped or glued."""
    digits = re.sub(r"\D", "", text)
    return value in text or (value.isdigit() and value in digits and len(value) >= 10)


async def test_debug_logs_of_a_real_telegram_service_hold_no_secret_nor_personal_data(
        database_url: str, tmp_path: Path, fake: FakeBotAPI,
        captured: io.StringIO) -> None:
    settings = telegram_settings(
        database_url, tmp_path, fake, secret_key=Secret(KEY),
        coordinators=(f"telegram:{COORDINATOR}",), log_level="DEBUG")
    async with LoggedService(settings, captured) as service:
        resident = Resident(fake, service)
        await resident.text("/start")
        await resident.text(f"NIK saya {NIK[:4]} {NIK[4:8]} {NIK[8:12]} {NIK[12:]}")
        await resident.share_contact(PHONE)
        coordinator = Resident(fake, service, user_id=COORDINATOR, first_name="Koor")
        await coordinator.text("/dasbor")
        link = re.search(r"https://warga\.example\.id(/masuk/\S+)", coordinator.last()["text"])
        assert link is not None
        path = link.group(1).rstrip(".")
        response = await service.client.get(path)
        assert response.status == 200
        assert await service.post({"update_id": 1}, secret="wrong") == 403
        assert service.services.settings is settings
    log = captured.getvalue()
    assert " DEBUG " in log and " INFO " in log, "the test must see DEBUG lines"
    assert "GET /masuk/{token} 200" in log
    token = path.split("/masuk/", 1)[1]
    for value in (SECRET, TOKEN, TOKEN.split(":")[1], KEY, token, NIK, NIK[:8],
                  PHONE, PHONE[1:], "0" + PHONE[3:], "81234567890"):
        assert not found(log, value), f"{value!r} in the log"


async def test_the_whatsapp_verify_token_is_not_logged(database_url: str, tmp_path: Path,
                                                       captured: io.StringIO) -> None:
    async with FakeGraphAPI() as graph:
        settings = settings_for(database_url, tmp_path, graph.url)
        configure_logging("INFO", settings, stream=captured)
        app = create_app(settings, plugins=[WhatsAppPlugin(settings, pacing=WA_FAST)])
        server = TestServer(app)
        await server.start_server(**server_options())
        async with TestClient(server) as client:
            query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                     "hub.challenge": "8142"}
            response = await client.get("/webhooks/whatsapp", params=query)
            assert response.status == 200 and await response.text() == "8142"
            wrong = await client.get("/webhooks/whatsapp",
                                     params={**query, "hub.verify_token": "guess-" * 3})
            assert wrong.status == 403
            assert client.app[SERVICES].settings is settings
    log = captured.getvalue()
    assert "GET /webhooks/whatsapp 200" in log and "GET /webhooks/whatsapp 403" in log
    assert VERIFY_TOKEN not in log and "guess-" not in log and "8142" not in log


REDACTED: list[tuple[str, str, str]] = [
    ("login link", "link http://h/masuk/abc.123.sig dikirim", "abc.123.sig"),
    ("bot token", "GET /bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe",
     "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
    ("verify token", "GET /webhooks/whatsapp?hub.verify_token=s3cr3t&hub.mode=subscribe",
     "s3cr3t"),
    ("parameters", "parameters {'secret_token': 'kalibaru-secret', 'url': 'x'}",
     "kalibaru-secret"),
    ("bearer", "Authorization: Bearer EAAGm0PX4ZCpsBA", "EAAGm0PX4ZCpsBA"),
    ("nik", f"answer {NIK}", NIK),
    ("grouped nik", "answer 3172.0145.0190.0001", "0190"),
    ("e164 phone", f"phone {PHONE}", "81234567890"),
    ("local phone", "telp 0812-3456-7890", "3456"),
    ("configured secret", f"key={KEY}", KEY),
]


@pytest.mark.parametrize(("label", "text", "secret"), REDACTED, ids=[r[0] for r in REDACTED])
def test_the_filter_redacts_as_a_last_line_of_defence(label: str, text: str,
                                                       secret: str) -> None:
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "%s", (text,), None)
    assert RedactingFilter([KEY]).filter(record)
    assert secret not in record.getMessage()


def test_the_filter_redacts_tracebacks_too() -> None:
    try:
        raise ValueError(f"could not store phone {PHONE}")
    except ValueError:
        import sys

        info: Any = sys.exc_info()
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, info)
    RedactingFilter().filter(record)
    assert record.exc_text and PHONE not in record.exc_text and "ValueError" in record.exc_text
    formatted = logging.Formatter().format(record)
    assert PHONE not in formatted
