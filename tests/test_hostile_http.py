"""Hostile input at the HTTP edge, through the real aiohttp app (every channel and the
dashboard): malformed headers, cookies, paths and bodies get a 4xx, never a 5xx; a lone
surrogate is stripped; forms are refused before their body is read; redirects stay home.

Requests are written byte by byte on a socket where a client library would refuse to
send them (invalid UTF-8 in a header or a path).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import SERVICES, Services, create_app
from bot.dashboard.views import safe_next
from bot.settings import Secret
from bot.telegram import SECRET_HEADER, TelegramPlugin
from bot.whatsapp import WhatsAppPlugin
from handlers.whatsapp import sign
from storage.models import Contact
from tests.dashboard_helpers import DashClient, add_complaint, add_contact, dashboard_settings
from tests.fakes.telegram_api import TOKEN, FakeBotAPI
from tests.fakes.whatsapp_api import PHONE_NUMBER_ID, FakeGraphAPI
from tests.harness import Clock
from tests.test_whatsapp_e2e import APP_SECRET, VERIFY_TOKEN
from tests.test_whatsapp_e2e import FAST as WA_FAST
from tests.test_whatsapp_e2e import TOKEN as WA_TOKEN

pytestmark = [pytest.mark.e2e]

SECRET = "hostile-input-webhook-secret_0123456789"


@dataclass
class Edge:
    client: TestClient[Any, Any]
    services: Services
    clock: Clock
    ticket: str
    coordinator: int

    async def raw(self, head: bytes, body: bytes = b"") -> int:
        """Send one request as raw bytes; the status code of the answer."""
        host, port = self.client.host, self.client.port
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(head.replace(b"\n", b"\r\n") + b"\r\n" + body)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 20)
        finally:
            writer.close()
            await writer.wait_closed()
        return int(status_line.split()[1])

    async def browser(self) -> DashClient:
        browser = DashClient(self.client)
        await browser.login(self.services.db, self.services.settings, self.coordinator,
                            self.clock())
        return browser


@pytest.fixture
async def edge(database_url: str, tmp_path: Path) -> AsyncIterator[Edge]:
    bot_api = await FakeBotAPI().start()
    async with FakeGraphAPI() as graph:
        settings = dashboard_settings(
            database_url, tmp_path, telegram_bot_token=Secret(TOKEN),
            telegram_api_url=bot_api.url, telegram_mode="webhook",
            telegram_webhook_secret=Secret(SECRET), public_url=None,
            whatsapp_access_token=Secret(WA_TOKEN), whatsapp_phone_number_id=PHONE_NUMBER_ID,
            whatsapp_app_secret=Secret(APP_SECRET), whatsapp_verify_token=Secret(VERIFY_TOKEN),
            whatsapp_api_url=graph.url, max_body_bytes=1024 * 1024,
            max_media_bytes=256 * 1024)
        clock = Clock()
        app = create_app(settings, clock=clock, plugins=[
            TelegramPlugin(settings), WhatsAppPlugin(settings, pacing=WA_FAST)])
        client = TestClient(TestServer(app))
        await client.start_server()
        try:
            services = app[SERVICES]
            now = clock()
            coordinator = await add_contact(services.db, "koor", now, role="coordinator")
            resident = await add_contact(services.db, "warga", now)
            complaint = await add_complaint(services.db, resident, now)
            yield Edge(client, services, clock, complaint.ticket, coordinator)
        finally:
            await client.close()
            await bot_api.close()


def telegram_update(update_id: int, **message: Any) -> dict[str, Any]:
    user = {"id": 42, "is_bot": False, "first_name": message.pop("first_name", "Siti")}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "from": user, "chat": {"id": 42, "type": "private"},
        "date": 1795833600, **message}}


def whatsapp_body(message: dict[str, Any], name: str = "Siti") -> bytes:
    value = {"messaging_product": "whatsapp",
             "metadata": {"phone_number_id": PHONE_NUMBER_ID},
             "contacts": [{"wa_id": "6281200000042", "profile": {"name": name}}],
             "messages": [{"from": "6281200000042", "id": "wamid.hostile-" + message["type"],
                           "timestamp": "1795833600", **message}]}
    return json.dumps({"object": "whatsapp_business_account",
                       "entry": [{"id": "1", "changes": [{"field": "messages",
                                                          "value": value}]}]}).encode()


HUGE = "9" * 400

# (label, request, what is acceptable: a refusal, or any answer but a 5xx)
HEADERS: list[tuple[str, bytes]] = [
    ("telegram secret, non-ASCII", b"POST /webhooks/telegram HTTP/1.1\nHost: x\n"
     + SECRET_HEADER.encode() + b": r\xc3\xa9sum\xc3\xa9\nContent-Length: 2\n\n{}"),
    ("telegram secret, invalid UTF-8", b"POST /webhooks/telegram HTTP/1.1\nHost: x\n"
     + SECRET_HEADER.encode() + b": \xff\xfe\xfd\nContent-Length: 2\n\n{}"),
    ("whatsapp signature, non-ASCII", b"POST /webhooks/whatsapp HTTP/1.1\nHost: x\n"
     b"X-Hub-Signature-256: sha256=\xc3\xa9\xc3\xa9\nContent-Length: 2\n\n{}"),
    ("whatsapp signature, invalid UTF-8", b"POST /webhooks/whatsapp HTTP/1.1\nHost: x\n"
     b"X-Hub-Signature-256: sha256=\xff\xfe\nContent-Length: 2\n\n{}"),
    ("verify token, invalid UTF-8", b"GET /webhooks/whatsapp?hub.mode=subscribe&"
     b"hub.verify_token=\xff\xfe&hub.challenge=1 HTTP/1.1\nHost: x\n\n"),
    ("session cookie, non-ASCII", b"GET / HTTP/1.1\nHost: x\n"
     b"Cookie: warga_sesi=\xc3\xa9t\xc3\xa9\n\n"),
    ("session cookie, invalid UTF-8", b"GET /tiket HTTP/1.1\nHost: x\n"
     b"Cookie: warga_sesi=\xff\xfe\n\n"),
    ("language cookie, invalid UTF-8", b"GET /masuk HTTP/1.1\nHost: x\n"
     b"Cookie: warga_bahasa=\xff\n\n"),
    ("login path, non-ASCII", b"GET /masuk/t\xc3\xa9st.1.sig HTTP/1.1\nHost: x\n\n"),
    ("login path, invalid UTF-8", b"GET /masuk/\xff\xfe.1.sig HTTP/1.1\nHost: x\n\n"),
    ("login post, invalid UTF-8 cookie", b"POST /masuk/\xff.1.x HTTP/1.1\nHost: x\n"
     b"Cookie: warga_pra=\xff\xfe\nContent-Type: application/x-www-form-urlencoded\n"
     b"Content-Length: 6\n\ncsrf=x"),
    ("ticket path, invalid UTF-8", b"GET /tiket/\xff\xfe HTTP/1.1\nHost: x\n\n"),
    ("media path, huge number", b"GET /media/" + HUGE.encode() + b" HTTP/1.1\nHost: x\n\n"),
    ("download path, invalid UTF-8", b"GET /unduh/\xff.csv HTTP/1.1\nHost: x\n\n"),
]


@pytest.mark.parametrize(("label", "raw"), HEADERS, ids=[h[0] for h in HEADERS])
async def test_malformed_headers_cookies_and_paths_get_a_4xx(edge: Edge, label: str,
                                                             raw: bytes) -> None:
    status = await edge.raw(raw)
    assert status < 500, (label, status)
    if "cookie" not in label or "session" in label:
        assert status >= 300, (label, status)  # refused, or sent to sign in


async def test_every_route_with_hostile_segments_and_cookies(edge: Edge) -> None:
    """Each route of the app, its variable segments replaced by hostile values."""
    hostile = [b"\xff\xfe", "é".encode(), HUGE.encode(), b"%00", b"..%2F..%2Fetc"]
    routes = []
    for resource in edge.client.app.router.resources():
        canonical = resource.canonical
        if canonical.startswith("/static"):
            continue
        for route in resource:
            routes.append((route.method, canonical))
    assert ("GET", "/masuk/{token}") in routes and ("POST", "/webhooks/telegram") in routes
    for method, canonical in routes:
        for value in hostile:
            path = re.sub(rb"\{[^}]+\}", value, canonical.encode())
            for cookie in (b"", b"Cookie: warga_sesi=" + value + b"; warga_pra=" + value
                           + b"\n"):
                head = (method.encode() + b" " + path + b" HTTP/1.1\nHost: x\n" + cookie
                        + b"Content-Length: 0\n\n")
                status = await edge.raw(head)
                assert status < 500, (method, path, cookie, status)


async def test_bodies_that_are_too_large_get_413(edge: Edge) -> None:
    big = b'{"update_id": 1, "x": "' + b"a" * (5 * 1024 * 1024) + b'"}'
    head = (b"POST /webhooks/telegram HTTP/1.1\nHost: x\n" + SECRET_HEADER.encode() + b": "
            + SECRET.encode() + b"\nContent-Type: application/json\nContent-Length: "
            + str(len(big)).encode() + b"\n\n")
    assert await edge.raw(head, big) == 413
    # The same without a length (chunked): still 413, not 400.
    response = await edge.client.post(
        "/webhooks/telegram", data=_chunks(big), headers={SECRET_HEADER: SECRET,
                                                         "Content-Type": "application/json"})
    assert response.status == 413


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 256 * 1024):
        yield data[start:start + 256 * 1024]


async def test_a_400_digit_latitude_is_no_5xx(edge: Edge) -> None:
    raw = json.dumps(telegram_update(900001, location={"latitude": 1, "longitude": 1}))
    raw = raw.replace('"latitude": 1', f'"latitude": {HUGE}')
    response = await edge.client.post("/webhooks/telegram", data=raw, headers={
        SECRET_HEADER: SECRET, "Content-Type": "application/json"})
    assert response.status in (200, 400)
    body = whatsapp_body({"type": "location", "location": {"latitude": 1, "longitude": 2}})
    body = body.replace(b'"latitude": 1', b'"latitude": ' + HUGE.encode())
    response = await edge.client.post("/webhooks/whatsapp", data=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)})
    assert response.status in (200, 400)


async def test_a_lone_surrogate_in_a_profile_name_is_stripped(edge: Edge) -> None:
    raw = json.dumps(telegram_update(900002, text="halo", first_name="Si\ud800ti"))
    assert "\\ud800" in raw
    response = await edge.client.post("/webhooks/telegram", data=raw, headers={
        SECRET_HEADER: SECRET, "Content-Type": "application/json"})
    assert response.status == 200
    body = whatsapp_body({"type": "text", "text": {"body": "halo \udfff"}}, name="Bu \udc80Nur")
    response = await edge.client.post("/webhooks/whatsapp", data=body, headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)})
    assert response.status == 200
    async with edge.services.db.session() as session:
        names = dict((await session.execute(select(Contact.channel, Contact.name).where(
            Contact.channel.in_(("telegram", "whatsapp"))))).all())
    assert names == {"telegram": "Siti", "whatsapp": "Bu Nur"}


async def test_multipart_is_refused_before_its_body_is_read(edge: Edge) -> None:
    browser = await edge.browser()
    status, html, _ = await browser.get(f"/tiket/{edge.ticket}")
    token = browser.csrf(html)
    path = f"/tiket/{edge.ticket}/status"
    big = b"\xff\xd8\xff" + b"x" * (2 * 1024 * 1024)  # over the media limit

    def photo() -> io.BytesIO:
        return io.BytesIO(big)

    # The CSRF token after the photo: refused at once (403), not read up to the limit (413).
    form = FormData()
    form.add_field("foto", photo(), filename="a.jpg", content_type="image/jpeg")
    form.add_field("csrf", token)
    form.add_field("status", "selesai")
    status, _, _ = await browser.post(path, form)
    assert status == 403
    form = FormData()
    form.add_field("csrf", "wrong")
    form.add_field("foto", photo(), filename="a.jpg", content_type="image/jpeg")
    status, _, _ = await browser.post(path, form)
    assert status == 403
    # Right token first: read, and the oversized photo refused by size.
    form = FormData()
    form.add_field("csrf", token)
    form.add_field("foto", photo(), filename="a.jpg", content_type="image/jpeg")
    status, _, _ = await browser.post(path, form)
    assert status == 413
    # A form that takes no file takes no multipart at all.
    form = FormData()
    form.add_field("csrf", token)
    form.add_field("lang", "en")
    form.add_field("x", b"y", filename="y.bin")
    status, _, _ = await browser.post("/bahasa", form)
    assert status == 415
    # An urlencoded form is size-capped before it is parsed.
    status, _, _ = await browser.post("/bahasa", {"csrf": token, "next": "/" + "a" * 300_000})
    assert status == 413


OPEN_REDIRECTS = ["/\\evil.example", "//evil.example", "https://evil.example/",
                  "/\t/evil.example", "\\\\evil.example", "/%0A/evil.example",
                  "javascript:alert(1)", " //evil.example", "/\n/evil.example", "",
                  "evil.example", "/ok\\..\\evil"]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_redirect_targets_are_parsed_not_pattern_matched(target: str) -> None:
    assert safe_next(target) == "/"


def test_own_pages_are_still_redirect_targets() -> None:
    assert safe_next("/tiket?status=all&q=keruh") == "/tiket?status=all&q=keruh"
    assert safe_next("/tiket/AIR-4K7QX") == "/tiket/AIR-4K7QX"


async def test_the_language_switch_never_redirects_away(edge: Edge) -> None:
    browser = await edge.browser()
    _, html, _ = await browser.get("/")
    token = browser.csrf(html)
    for target in ("/\\evil.example", "//evil.example", "/tiket"):
        status, _, response = await browser.post("/bahasa", {"csrf": token, "lang": "en",
                                                            "next": target})
        assert status == 303
        assert response.headers["Location"] == ("/tiket" if target == "/tiket" else "/")
