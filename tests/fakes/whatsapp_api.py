"""A fake WhatsApp Cloud (Graph) API on an ephemeral loopback port.

It answers ``POST /{phone_number_id}/messages`` (messages and read receipts),
``POST /{phone_number_id}/media`` (uploads), ``GET /{media_id}`` and the media download
URL; checks the bearer token; validates message bodies against WhatsApp's limits the way
the real API would refuse them; and can be scripted to fail (``fail_next(130429)``), to be
slow (``delay``) or to hang until released (``gate``). Anything it did not expect is
recorded in ``problems``; the tests' fixtures fail the test when that is not empty.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "test-access-token"
PHONE_NUMBER_ID = "1122334455667"


@dataclass
class Failure:
    code: int
    status: int = 400
    title: str = "scripted failure"
    retry_after: float | None = None


@dataclass
class Recorded:
    method: str
    path: str
    body: Any


@dataclass
class FakeGraphAPI:
    token: str = TOKEN
    phone_number_id: str = PHONE_NUMBER_ID
    # Seconds every response waits (a slow Graph API).
    delay: float = 0.0
    # While set and not released, every response waits (a Graph API that hangs).
    gate: asyncio.Event | None = None
    requests: list[Recorded] = field(default_factory=list)
    # Accepted message bodies (not read receipts), in arrival order.
    messages: list[dict[str, Any]] = field(default_factory=list)
    # wamids of read receipts.
    reads: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    _failures: deque[Failure] = field(default_factory=deque)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None

    # -- scripting ------------------------------------------------------------------------

    def fail_next(self, code: int, *, status: int = 400, times: int = 1,
                  retry_after: float | None = None) -> None:
        """The next ``times`` message sends answer with this Graph API error."""
        for _ in range(times):
            self._failures.append(Failure(code, status, retry_after=retry_after))

    def add_media(self, media_id: str, data: bytes, mime_type: str = "image/jpeg") -> str:
        """Serve a file; returns its sha256 as the webhook gives it (base64)."""
        self.media[media_id] = (data, mime_type)
        return base64.b64encode(hashlib.sha256(data).digest()).decode()

    def to(self, user: str) -> list[dict[str, Any]]:
        """Messages sent to one user (by ``to`` or ``recipient``)."""
        return [m for m in self.messages if user in (m.get("to"), m.get("recipient"))]

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> FakeGraphAPI:
        app = web.Application()
        app.router.add_post("/{phone}/messages", self._messages)
        app.router.add_post("/{phone}/media", self._upload)
        app.router.add_get("/download/{media_id}", self._download)
        app.router.add_get("/{media_id}", self._media_info)
        app.router.add_route("*", "/{tail:.*}", self._unexpected)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    async def __aenter__(self) -> FakeGraphAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- handlers -------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(Recorded("POST", request.path, body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        if not self._authorized(request):
            return _error(401, 190, "Invalid OAuth access token")
        if request.match_info["phone"] != self.phone_number_id:
            self.problems.append(f"message to unknown phone number id {request.path}")
            return _error(400, 100, "Unsupported post request")
        if body.get("status") == "read":
            if body.get("messaging_product") != "whatsapp" or not body.get("message_id"):
                self.problems.append(f"malformed read receipt {body}")
                return _error(400, 100, "Invalid parameter")
            self.reads.append(body["message_id"])
            return web.json_response({"success": True})
        if self._failures:
            failure = self._failures.popleft()
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else None
            return _error(failure.status, failure.code, failure.title, headers)
        wrong = check_message(body)
        if wrong:
            self.problems.append(f"the real API would refuse this: {wrong}: {body}")
            return _error(400, 131009, f"Parameter value is not valid: {wrong}")
        wamid = f"wamid.fake{next(self._ids)}"
        self.messages.append(body)
        user = body.get("to") or body.get("recipient")
        return web.json_response({
            "messaging_product": "whatsapp",
            "contacts": [{"input": user, "wa_id": user}],
            "messages": [{"id": wamid}],
        })

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.requests.append(Recorded("POST", request.path, {
            k: v for k, v in form.items() if isinstance(v, str)}))
        if not self._authorized(request):
            return _error(401, 190, "Invalid OAuth access token")
        upload = form.get("file")
        if (form.get("messaging_product") != "whatsapp" or not isinstance(upload, web.FileField)
                or form.get("type") not in ("image/jpeg", "image/png")):
            self.problems.append(f"malformed media upload {dict(form)}")
            return _error(400, 131053, "Media upload error")
        media_id = f"upload-{next(self._ids)}"
        self.media[media_id] = (upload.file.read(), str(form["type"]))
        return web.json_response({"id": media_id})

    async def _media_info(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        self.requests.append(Recorded("GET", request.path, None))
        if not self._authorized(request):
            return _error(401, 190, "Invalid OAuth access token")
        if media_id not in self.media:
            self.problems.append(f"unknown media id {media_id}")
            return _error(404, 100, "Unsupported get request")
        data, mime = self.media[media_id]
        return web.json_response({
            "messaging_product": "whatsapp",
            "url": self.url + f"/download/{media_id}",
            "mime_type": mime,
            "sha256": hashlib.sha256(data).hexdigest(),
            "file_size": len(data),
            "id": media_id,
        })

    async def _download(self, request: web.Request) -> web.Response:
        media_id = request.match_info["media_id"]
        self.requests.append(Recorded("GET", request.path, None))
        if not self._authorized(request):
            return web.Response(status=401)
        if media_id not in self.media:
            self.problems.append(f"download of unknown media {media_id}")
            return web.Response(status=404)
        data, mime = self.media[media_id]
        return web.Response(body=data, content_type=mime)

    async def _unexpected(self, request: web.Request) -> web.Response:
        self.problems.append(f"unexpected request {request.method} {request.path}")
        return web.Response(status=404)


def _error(status: int, code: int, title: str,
           headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": title, "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": title},
                      "fbtrace_id": "Afake"}}
    return web.json_response(body, status=status, headers=headers)


# -- what the real API refuses (https://developers.facebook.com/docs/whatsapp/cloud-api) -------


def check_message(body: dict[str, Any]) -> str | None:
    """The reason the Cloud API would refuse this message body, or None."""
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product"
    if not (body.get("to") or body.get("recipient")):
        return "no recipient"
    kind = body.get("type")
    if kind == "text":
        return _length("text.body", body["text"].get("body"), 1, 4096)
    if kind == "template":
        return _template(body["template"])
    if kind == "image":
        image = body["image"]
        if not image.get("id") and not image.get("link"):
            return "image without id"
        return _length("image.caption", image.get("caption", "x"), 1, 1024)
    if kind == "interactive":
        return _interactive(body["interactive"])
    return f"type {kind}"


def _interactive(item: dict[str, Any]) -> str | None:
    wrong = _length("interactive.body.text", item.get("body", {}).get("text"), 1, 1024)
    if wrong:
        return wrong
    kind, action = item.get("type"), item.get("action", {})
    if kind == "location_request_message":
        return None if action == {"name": "send_location"} else "location request action"
    if kind == "button":
        buttons = action.get("buttons", [])
        if not 1 <= len(buttons) <= 3:
            return f"{len(buttons)} buttons"
        ids = [b["reply"]["id"] for b in buttons]
        titles = [b["reply"]["title"] for b in buttons]
        if len(set(ids)) != len(ids) or len(set(titles)) != len(titles):
            return "duplicate button id or title"
        for b in buttons:
            wrong = (_length("button id", b["reply"]["id"], 1, 256)
                     or _length("button title", b["reply"]["title"], 1, 20))
            if wrong:
                return wrong
        return None
    if kind == "list":
        wrong = _length("list button", action.get("button"), 1, 20)
        if wrong:
            return wrong
        rows = [r for s in action.get("sections", []) for r in s.get("rows", [])]
        if not 1 <= len(rows) <= 10:
            return f"{len(rows)} rows"
        if len({r["id"] for r in rows}) != len(rows):
            return "duplicate row id"
        for row in rows:
            wrong = (_length("row id", row["id"], 1, 200)
                     or _length("row title", row["title"], 1, 24)
                     or _length("row description", row.get("description", "x"), 1, 72))
            if wrong:
                return wrong
        return None
    return f"interactive type {kind}"


def _template(template: dict[str, Any]) -> str | None:
    if not template.get("name") or not template.get("language", {}).get("code"):
        return "template name or language"
    for component in template.get("components", []):
        for param in component.get("parameters", []):
            text = param.get("text", "")
            if re.search(r"[\n\t]| {5,}", text):
                return "template parameter with newline, tab or 5+ spaces"
            wrong = _length("template parameter", text, 1, 1024)
            if wrong:
                return wrong
    return None


def _length(what: str, value: Any, low: int, high: int) -> str | None:
    if not isinstance(value, str):
        return f"{what} missing"
    # The real API counts characters; our side is stricter (UTF-16 units).
    if not low <= len(value) <= high:
        return f"{what} length {len(value)} not in {low}..{high}"
    return None
