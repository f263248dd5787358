"""Outbound → Graph API request bodies, label fitting, and Graph API errors → typed
SendErrors, as tables; the channel itself against the fake Graph API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from conversations.messages import (
    ChannelMisconfigured,
    ChannelUnavailable,
    Choice,
    Media,
    Outbound,
    OutsideServiceWindow,
    PermanentFailure,
    RecipientBlocked,
    SendError,
    Template,
    Throttled,
)
from handlers.whatsapp import (
    BODY_MAX,
    TEMPLATE_PARAM_MAX,
    MediaRejected,
    WhatsAppChannel,
    render,
    send_error,
    shorten,
    split_text,
    unique_titles,
    units,
)
from tests.fakes.whatsapp_api import PHONE_NUMBER_ID, TOKEN, FakeGraphAPI, check_message

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
USER = "6281234567890"
TEMPLATE = Template("warga_notifikasi", "id")
HEAD = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER}


def out(text: str = "Apa jenis laporan Anda?", choices: tuple[tuple[str, str], ...] = (),
        *, since: timedelta | None = timedelta(hours=1), user: str = USER,
        **fields: Any) -> Outbound:
    """An Outbound as the outbox hands it over: window information in ``extra``."""
    extra: dict[str, Any] = {
        "lang": "id",
        "last_inbound_at": (NOW - since).isoformat() if since is not None else None,
        "window_closed": False,
        "bulk": False,
    }
    extra.update(fields.pop("extra", {}))
    return Outbound(channel="whatsapp", user_id=user, text=text,
                    choices=tuple(Choice(cid, label) for cid, label in choices),
                    extra=extra, **fields)


def text_body(body: str) -> dict[str, Any]:
    return {**HEAD, "type": "text", "text": {"body": body, "preview_url": False}}


def buttons(body: str, *items: tuple[str, str]) -> dict[str, Any]:
    return {**HEAD, "type": "interactive", "interactive": {
        "type": "button", "body": {"text": body},
        "action": {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}}
                               for i, t in items]}}}


def listing(body: str, button: str, *rows: dict[str, str]) -> dict[str, Any]:
    return {**HEAD, "type": "interactive", "interactive": {
        "type": "list", "body": {"text": body},
        "action": {"button": button, "sections": [{"rows": list(rows)}]}}}


def template(param: str, name: str = "warga_notifikasi", lang: str = "id") -> dict[str, Any]:
    return {**HEAD, "type": "template", "template": {
        "name": name, "language": {"code": lang},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": param}]}]}}


JENIS = (("jenis:air", "Masalah air bersih"), ("jenis:keluhan", "Keluhan lain"),
         ("jenis:aspirasi", "Aspirasi / usulan"), ("jenis:informasi", "Minta informasi"))
CONFIRM = (("confirm:yes", "✅ Kirim"), ("confirm:no", "✏️ Ubah"), ("confirm:cancel", "❌ Batal"))
CATEGORIES = (("kategori:mati", "Air tidak mengalir / mati"), ("kategori:debit", "Debit kecil"),
              ("kategori:pompa", "Pompa / sumur bor rusak"))
KELURAHAN = tuple((f"k:{n}", f"Kelurahan nomor {n}") for n in range(1, 12))
LONG_PARAGRAPH = "Ringkasan " + "panjang " * 120  # ~970 characters


@dataclass
class Case:
    label: str
    message: Outbound
    expected: list[dict[str, Any]] = field(default_factory=list)


CASES = [
    Case("text inside the window", out("Halo *Siti*!\n\nApa kabar?"),
         [text_body("Halo *Siti*!\n\nApa kabar?")]),
    Case("two to three short options are reply buttons",
         out("Benar?", CONFIRM),
         [buttons("Benar?", *CONFIRM)]),
    Case("a label too long for a button: a list shows it whole",
         out("Apa masalahnya?", CATEGORIES),
         [listing("Apa masalahnya?", "Pilih",
                  {"id": "kategori:mati", "title": "Air tidak mengalir…",
                   "description": "Air tidak mengalir / mati"},
                  {"id": "kategori:debit", "title": "Debit kecil"},
                  {"id": "kategori:pompa", "title": "Pompa / sumur bor rusak"})]),
    Case("four to ten options are a list",
         out("Apa jenis laporan Anda?", JENIS),
         [listing("Apa jenis laporan Anda?", "Pilih",
                  *({"id": i, "title": t} for i, t in JENIS))]),
    Case("list button in English",
         out("Which?", JENIS[:4], extra={"lang": "en"}),
         [listing("Which?", "Choose", *({"id": i, "title": t} for i, t in JENIS))]),
    Case("list button label given by the flow, shortened",
         out("Pilih", JENIS, button_label="Pilih kelurahan tempat tinggal"),
         [listing("Pilih", "Pilih kelurahan…", *({"id": i, "title": t} for i, t in JENIS))]),
    Case("more than ten options are numbered text",
         out("Di kelurahan mana?", KELURAHAN),
         [text_body("Di kelurahan mana?\n\n" + "\n".join(
             f"{n}. Kelurahan nomor {n}" for n in range(1, 12)))]),
    Case("a list numbered by its codes shows the codes (a typed 4 is code 4)",
         out("Bahan bakar memasak?",
             tuple((f"bahan_bakar:{n}", f"Bahan {n}") for n in range(12)),
             extra={"coded": True}),
         [text_body("Bahan bakar memasak?\n\n" + "\n".join(
             f"{n}. Bahan {n}" for n in range(12)))]),
    Case("location request",
         out("Bagikan lokasi masalahnya.", request_location=True),
         [{**HEAD, "type": "interactive", "interactive": {
             "type": "location_request_message", "body": {"text": "Bagikan lokasi masalahnya."},
             "action": {"name": "send_location"}}}]),
    Case("location request with a lone skip option: the prompt says how to skip",
         out("Bagikan lokasi. Ketik *lewati* kalau tidak ada.", (("lokasi:__skip", "Lewati"),),
             request_location=True),
         [{**HEAD, "type": "interactive", "interactive": {
             "type": "location_request_message",
             "body": {"text": "Bagikan lokasi. Ketik *lewati* kalau tidak ada."},
             "action": {"name": "send_location"}}}]),
    Case("a body over 1024 characters: the question keeps its buttons",
         out(LONG_PARAGRAPH.strip() + "\n\n" + LONG_PARAGRAPH.strip() + "\n\nBenar?", CONFIRM),
         [text_body(LONG_PARAGRAPH.strip()),
          buttons(LONG_PARAGRAPH.strip() + "\n\nBenar?", *CONFIRM)]),
    Case("photo by media id with caption",
         out("Foto laporan", media=Media(kind="photo", ref="m-77")),
         [{**HEAD, "type": "image", "image": {"id": "m-77", "caption": "Foto laporan"}}]),
    Case("photo with options: the photo, then the question with its buttons",
         out("Benar?", CONFIRM, media=Media(kind="photo", ref="m-77")),
         [{**HEAD, "type": "image", "image": {"id": "m-77"}}, buttons("Benar?", *CONFIRM)]),
    Case("bulk goes as the template even inside the window",
         out("Gotong royong *Sabtu* pukul 07.00\n\nDatang ya!", extra={"bulk": True}),
         [template("Gotong royong Sabtu pukul 07.00 Datang ya!")]),
    Case("bulk with options: numbers inline, typed answers still work",
         out("Hadir?", (("rsvp:yes", "Hadir"), ("rsvp:no", "Tidak hadir")),
             extra={"bulk": True}),
         [template("Hadir? — 1. Hadir · 2. Tidak hadir")]),
    Case("window closed by 131047: template",
         out("Status laporan berubah.", extra={"window_closed": True}),
         [template("Status laporan berubah.")]),
    Case("last message 25 hours ago: template",
         out("Status laporan berubah.", since=timedelta(hours=25)),
         [template("Status laporan berubah.")]),
    Case("last message 23 h 50 min ago: too close to the edge, template",
         out("Status laporan berubah.", since=timedelta(hours=23, minutes=50)),
         [template("Status laporan berubah.")]),
    Case("last message 23 hours ago: free-form",
         out("Status laporan berubah.", since=timedelta(hours=23)),
         [text_body("Status laporan berubah.")]),
    Case("never wrote to us: template",
         out("Anda terdaftar sebagai koordinator.", since=None),
         [template("Anda terdaftar sebagai koordinator.")]),
    Case("a template chosen by the caller",
         out("x", since=None, template=Template("rsvp_reminder", "en", ("Sat\n7am", "RW 05"))),
         [{**HEAD, "type": "template", "template": {
             "name": "rsvp_reminder", "language": {"code": "en"},
             "components": [{"type": "body", "parameters": [
                 {"type": "text", "text": "Sat 7am"}, {"type": "text", "text": "RW 05"}]}]}}]),
    Case("username user without phone number: sent to the BSUID",
         out("Halo", user="ID.998877"),
         [{**{k: v for k, v in HEAD.items() if k != "to"}, "recipient": "ID.998877",
           "type": "text", "text": {"body": "Halo", "preview_url": False}}]),
    Case("phone number known beside the BSUID: sent to the number",
         out("Halo", user="ID.998877", extra={"alt_user_id": USER}),
         [text_body("Halo")]),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label)
def test_render(case: Case) -> None:
    bodies = render(case.message, now=NOW, template=TEMPLATE)
    assert bodies == case.expected
    for body in bodies:
        assert check_message(body) is None


def test_long_text_is_split_at_paragraphs() -> None:
    paragraphs = [f"Paragraf {n}: " + "kata " * 200 for n in range(10)]  # ~1 kB each
    bodies = render(out("\n\n".join(paragraphs)), now=NOW, template=TEMPLATE)
    texts = [b["text"]["body"] for b in bodies]
    assert len(texts) == 3 and all(units(t) <= 4096 for t in texts)
    assert "\n\n".join(texts).split() == "\n\n".join(paragraphs).split()
    assert all(t.startswith("Paragraf") for t in texts)


def test_long_template_parameter_is_one_shortened_line() -> None:
    text = "Pengumuman:\n\n" + "\n".join(f"• baris {n}\tdengan    spasi" for n in range(200))
    [body] = render(out(text, extra={"bulk": True}), now=NOW, template=TEMPLATE)
    param = body["template"]["components"][0]["parameters"][0]["text"]
    assert units(param) <= TEMPLATE_PARAM_MAX and param.endswith("…")
    assert "\n" not in param and "\t" not in param and "  " not in param
    assert check_message(body) is None


@pytest.mark.parametrize(("label", "limit", "expected"), [
    ("Air tidak mengalir / mati", 24, "Air tidak mengalir…"),
    ("Pompa / sumur bor rusak", 20, "Pompa / sumur bor…"),
    ("Antrean / jadwal air", 20, "Antrean / jadwal air"),
    ("Supercalifragilisticexpialidocious", 20, "Supercalifragilisti…"),
    ("*Tebal*   dan\nbaris", 24, "Tebal dan baris"),
    ("🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂", 20, "🙂🙂🙂🙂🙂🙂🙂🙂🙂…"),
    ("👩‍👩‍👧 keluarga besar sekali", 20, "👩‍👩‍👧 keluarga…"),
])
def test_shorten(label: str, limit: int, expected: str) -> None:
    assert shorten(label, limit) == expected
    assert units(expected) <= limit


def test_titles_stay_unique_after_shortening() -> None:
    labels = ["Ya, kirim laporan sekarang juga", "Ya, kirim laporan sekarang nanti", "", "Tidak"]
    titles = unique_titles(labels, 20)
    assert len({t.casefold() for t in titles}) == 4
    assert all(0 < units(t) <= 20 for t in titles)
    assert titles[2] == "3" and titles[3] == "Tidak"


def test_emoji_count_double_toward_a_button_title() -> None:
    # 20 characters, 21 UTF-16 units: a list, not a button that the API might refuse.
    [body] = render(out("Pilih", (("a:1", "🚰 Air tidak mengalir"), ("a:2", "Lain"))),
                    now=NOW, template=TEMPLATE)
    assert body["interactive"]["type"] == "list"


def test_split_text_never_exceeds_the_limit() -> None:
    text = "x" * 5000 + " " + "y" * 10
    parts = split_text(text, 4096)
    assert [units(p) for p in parts] == [4096, 915]
    assert all(units(p) <= BODY_MAX for p in split_text("kata " * 1000, BODY_MAX))


# -- error mapping ------------------------------------------------------------------------------


def graph_error(code: int) -> dict[str, Any]:
    return {"error": {"message": "m", "type": "OAuthException", "code": code}}


ERRORS: list[tuple[str, int, Any, bool, type[SendError], float | None]] = [
    # label, HTTP status, body, template?, error type, retry_after
    ("throughput 130429: back off", 400, graph_error(130429), False, Throttled, None),
    ("pair rate 131056: wait for the user", 400, graph_error(131056), False, Throttled, 6.0),
    ("app rate limit", 400, graph_error(4), False, Throttled, None),
    ("131000 something went wrong", 500, graph_error(131000), False, ChannelUnavailable, None),
    ("131016 service unavailable", 503, graph_error(131016), False, ChannelUnavailable, None),
    ("bare 502 from a proxy", 502, None, False, ChannelUnavailable, None),
    ("131026 undeliverable", 400, graph_error(131026), False, RecipientBlocked, None),
    ("131047 outside the window", 400, graph_error(131047), False, OutsideServiceWindow, None),
    ("131047 on a template does not loop", 400, graph_error(131047), True, PermanentFailure,
     None),
    ("131050 stopped marketing", 400, graph_error(131050), False, PermanentFailure, None),
    ("190 token", 401, graph_error(190), False, ChannelMisconfigured, None),
    ("132001 template missing", 404, graph_error(132001), True, ChannelMisconfigured, None),
    ("100 invalid parameter", 400, graph_error(100), False, PermanentFailure, None),
    ("bare 401", 401, "<html>", False, ChannelMisconfigured, None),
    ("bare 429", 429, None, False, Throttled, None),
]


@pytest.mark.parametrize(("label", "status", "body", "is_template", "kind", "retry_after"),
                         ERRORS, ids=[e[0] for e in ERRORS])
def test_error_mapping(label: str, status: int, body: Any, is_template: bool,
                       kind: type[SendError], retry_after: float | None) -> None:
    error = send_error(status, body, template=is_template)
    assert type(error) is kind
    assert error.retry_after == retry_after


def test_never_retried_codes() -> None:
    for code in (131026, 131047, 131050):
        assert send_error(400, graph_error(code)).retry is False
    for code in (130429, 131056, 131000, 131016):
        assert send_error(400, graph_error(code)).retry is True


def test_retry_after_header_is_honoured() -> None:
    assert send_error(400, graph_error(130429), retry_after=3.0).retry_after == 3.0


# -- the channel against the fake Graph API ----------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeGraphAPI]:
    async with FakeGraphAPI() as api:
        yield api
        assert api.problems == []


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def channel(session: aiohttp.ClientSession, url: str, token: str = TOKEN,
            **kwargs: Any) -> WhatsAppChannel:
    return WhatsAppChannel(session, api_url=url, phone_number_id=PHONE_NUMBER_ID,
                           access_token=token, template=TEMPLATE, clock=lambda: NOW, **kwargs)


async def test_send_returns_the_wamid(fake: FakeGraphAPI,
                                      session: aiohttp.ClientSession) -> None:
    result = await channel(session, fake.url).send(out("Benar?", CONFIRM))
    assert result.provider_message_id == "wamid.fake1"
    assert fake.messages == [buttons("Benar?", *CONFIRM)]


async def test_split_message_reports_the_last_wamid(fake: FakeGraphAPI,
                                                    session: aiohttp.ClientSession) -> None:
    result = await channel(session, fake.url).send(out("a " * 3000))
    assert len(fake.messages) == 2 and result.provider_message_id == "wamid.fake2"


@pytest.mark.parametrize(("code", "kind"), [(130429, Throttled), (131047, OutsideServiceWindow),
                                            (131026, RecipientBlocked),
                                            (131000, ChannelUnavailable)])
async def test_send_errors_from_the_api(fake: FakeGraphAPI, session: aiohttp.ClientSession,
                                        code: int, kind: type[SendError]) -> None:
    fake.fail_next(code)
    with pytest.raises(kind):
        await channel(session, fake.url).send(out("Halo"))
    assert fake.messages == []


async def test_bad_token_is_loud(fake: FakeGraphAPI, session: aiohttp.ClientSession,
                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="handlers.whatsapp"), \
            pytest.raises(ChannelMisconfigured):
        await channel(session, fake.url, token="wrong").send(out("Halo"))
    assert "misconfigured" in caplog.text and "wrong" not in caplog.text


async def test_unreachable_api_is_retryable(session: aiohttp.ClientSession) -> None:
    async with FakeGraphAPI() as gone:
        url = gone.url
    with pytest.raises(ChannelUnavailable):
        await channel(session, url).send(out("Halo"))


async def test_mark_read_failures_are_swallowed(session: aiohttp.ClientSession) -> None:
    async with FakeGraphAPI() as gone:
        url = gone.url
    await channel(session, url).mark_read("wamid.x")  # no exception


async def test_fetch_media(fake: FakeGraphAPI, session: aiohttp.ClientSession) -> None:
    data = b"\xff\xd8jpeg" * 1000
    sha = fake.add_media("m1", data)
    got = await channel(session, fake.url).fetch_media(Media(kind="photo", ref="m1", sha256=sha))
    assert got == data


async def test_fetch_media_checks_the_hash(fake: FakeGraphAPI,
                                           session: aiohttp.ClientSession) -> None:
    fake.add_media("m1", b"real bytes")
    other = FakeGraphAPI().add_media("x", b"other bytes")
    with pytest.raises(MediaRejected):
        await channel(session, fake.url).fetch_media(Media(kind="photo", ref="m1", sha256=other))


async def test_fetch_media_is_size_limited(fake: FakeGraphAPI,
                                           session: aiohttp.ClientSession) -> None:
    sha = fake.add_media("big", b"x" * 5000)
    with pytest.raises(MediaRejected):
        await channel(session, fake.url, max_media_bytes=4096).fetch_media(
            Media(kind="photo", ref="big", sha256=sha))
    # Refused on the announced size: the bytes were never downloaded.
    assert [r.path for r in fake.requests] == ["/big"]


async def test_photo_by_path_is_uploaded_once(fake: FakeGraphAPI, session: aiohttp.ClientSession,
                                             tmp_path: Path) -> None:
    photo = tmp_path / "kegiatan.jpg"
    photo.write_bytes(b"\xff\xd8 gotong royong")
    wa = channel(session, fake.url)
    for user in ("6281111111111", "6282222222222"):
        await wa.send(out("Kerja bakti Sabtu", user=user, media_path=str(photo)))
    uploads = [r for r in fake.requests if r.path.endswith("/media")]
    assert len(uploads) == 1 and uploads[0].body["type"] == "image/jpeg"
    media_id = fake.messages[0]["image"]["id"]
    assert fake.media[media_id][0] == photo.read_bytes()
    assert [m["image"] for m in fake.messages] == [
        {"id": media_id, "caption": "Kerja bakti Sabtu"}] * 2


async def test_missing_photo_file_is_permanent(fake: FakeGraphAPI,
                                               session: aiohttp.ClientSession,
                                               tmp_path: Path) -> None:
    with pytest.raises(PermanentFailure):
        await channel(session, fake.url).send(out("x", media_path=str(tmp_path / "gone.jpg")))
    assert fake.requests == []
