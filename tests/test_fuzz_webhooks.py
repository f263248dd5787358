"""Property-based fuzzing of the webhooks: whatever arrives, never a 5xx, never a crash."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import create_app
from bot.whatsapp import WhatsAppPlugin
from handlers.whatsapp import sign
from tests.fakes.whatsapp_api import PHONE_NUMBER_ID, FakeGraphAPI
from tests.test_whatsapp_e2e import APP_SECRET, FAST, settings_for

pytestmark = [pytest.mark.e2e]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
MESSAGE_TYPES = ["text", "interactive", "button", "location", "image", "contacts", "audio",
                 "video", "document", "sticker", "reaction", "unsupported", "system", "order"]


@st.composite
def whatsapp_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """An envelope Meta would send, with anything inside the message."""
    kind = draw(st.sampled_from(MESSAGE_TYPES))
    message: dict[str, Any] = {
        "from": draw(st.text(max_size=20)),
        "id": draw(st.text(min_size=1, max_size=40)),
        "timestamp": draw(st.one_of(st.text(max_size=12), st.integers())),
        "type": kind,
        kind: draw(JSON),
    }
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"phone_number_id": PHONE_NUMBER_ID},
        "contacts": draw(st.one_of(JSON, st.just([{"wa_id": "6281", "profile": {}}]))),
        "messages": draw(st.one_of(st.just([message]), JSON)),
        "statuses": draw(st.one_of(st.just([]), JSON)),
    }
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}]}


@pytest.fixture
async def client(database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    async with FakeGraphAPI() as fake:
        app_settings = settings_for(database_url, tmp_path, fake.url)
        app = create_app(app_settings, plugins=[WhatsAppPlugin(app_settings, pacing=FAST)])
        async with TestClient(TestServer(app)) as test_client:
            yield test_client


async def post_signed(client: TestClient[Any, Any], body: bytes) -> int:
    response = await client.post("/webhooks/whatsapp", data=body, headers={
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(APP_SECRET, body),
    })
    return response.status


FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(payload=st.one_of(JSON, whatsapp_shaped()))
async def test_whatsapp_json_never_gets_a_5xx(client: TestClient[Any, Any],
                                              payload: Any) -> None:
    status = await post_signed(client, json.dumps(payload).encode())
    assert status in (200, 400), status


@FUZZ
@given(body=st.binary(max_size=300))
async def test_whatsapp_raw_bytes_never_get_a_5xx(client: TestClient[Any, Any],
                                                  body: bytes) -> None:
    assert await post_signed(client, body) in (200, 400)
    health = await client.get("/healthz")
    assert health.status == 200


# -- Telegram ------------------------------------------------------------------------------

UPDATE_KEYS = ["message", "edited_message", "callback_query", "my_chat_member", "channel_post",
               "poll", "inline_query"]


@st.composite
def telegram_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """An update Telegram could send, with anything inside it."""
    kind = draw(st.sampled_from(UPDATE_KEYS))
    inner = {
        "message_id": draw(st.integers()),
        "date": draw(st.integers(min_value=0, max_value=2**31)),
        "chat": {"id": draw(st.integers()), "type": draw(st.sampled_from(
            ["private", "group", "supergroup", "channel", "x"]))},
        "from": {"id": draw(st.integers()), "is_bot": draw(st.booleans()),
                 "first_name": draw(st.text(max_size=10))},
        draw(st.sampled_from(["text", "photo", "location", "contact", "voice", "data"])):
            draw(JSON),
    }
    return {"update_id": draw(st.integers(min_value=-(2**40), max_value=2**40)),
            kind: draw(st.one_of(st.just(inner), JSON))}


@pytest.fixture
async def telegram(database_url: str, tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    from tests.fakes.telegram_api import FakeBotAPI
    from tests.fakes.telegram_settings import telegram_settings
    from tests.test_telegram_e2e import Service

    async with FakeBotAPI() as fake, Service(telegram_settings(database_url, tmp_path,
                                                                fake)) as service:
        yield service.client


async def post_update(client: TestClient[Any, Any], body: bytes) -> int:
    from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
    from tests.fakes.telegram_settings import SECRET

    response = await client.post(WEBHOOK_PATH, data=body, headers={
        SECRET_HEADER: SECRET, "Content-Type": "application/json"})
    return response.status


@FUZZ
@given(payload=st.one_of(JSON, telegram_shaped()))
async def test_telegram_json_never_gets_a_5xx(telegram: TestClient[Any, Any],
                                              payload: Any) -> None:
    assert await post_update(telegram, json.dumps(payload).encode()) in (200, 400)


@FUZZ
@given(body=st.binary(max_size=300))
async def test_telegram_raw_bytes_never_get_a_5xx(telegram: TestClient[Any, Any],
                                                  body: bytes) -> None:
    assert await post_update(telegram, body) in (200, 400)
