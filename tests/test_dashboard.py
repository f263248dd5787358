"""The coordinators' dashboard over HTTP: sign-in by one-time link, sessions, CSRF, every
page, status changes reaching the reporter (as outbox rows), downloads, and no full NIK.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import DummyCookieJar, FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import SERVICES, Services, create_app
from bot.dashboard.auth import LOGIN_TTL, SESSION_TTL, issue_login_link
from bot.dashboard.feature import DashboardFeature
from bot.features.tickets import TicketsFeature
from bot.settings import Settings
from conversations import library
from storage.models import AuditEntry, OutboxMessage
from storage.repos_tickets import TicketRepo
from tests.dashboard_helpers import (
    NIK,
    DashClient,
    add_complaint,
    add_contact,
    dashboard_service,
    dashboard_settings,
)
from tests.harness import Clock

pytestmark = pytest.mark.storage

PAGES = ["/", "/tiket", "/peta", "/asesmen", "/kegiatan", "/siaran", "/unduh"]
JPEG = b"\xff\xd8\xff\xe0" + b"proof photo bytes" * 50 + b"\xff\xd9"


@dataclass
class Site:
    client: TestClient[Any, Any]
    services: Services
    settings: Settings
    clock: Clock
    coordinator: int
    resident: int
    volunteer: int
    ticket: str

    def browser(self) -> DashClient:
        return DashClient(self.client)

    async def signed_in(self) -> tuple[DashClient, str]:
        browser = self.browser()
        html = await browser.login(self.services.db, self.settings, self.coordinator,
                                   self.clock())
        return browser, html

    async def outbox_texts(self, contact_id: int) -> list[str]:
        async with self.services.db.session() as session:
            rows = (await session.execute(
                select(OutboxMessage).where(OutboxMessage.contact_id == contact_id)
                .order_by(OutboxMessage.id))).scalars().all()
        return [str(r.payload["text"]) for r in rows]

    async def outbox(self, contact_id: int) -> list[OutboxMessage]:
        async with self.services.db.session() as session:
            return list((await session.execute(
                select(OutboxMessage).where(OutboxMessage.contact_id == contact_id)
                .order_by(OutboxMessage.id))).scalars().all())


@pytest.fixture
async def site(database_url: str, tmp_path: Path) -> AsyncIterator[Site]:
    clock = Clock()
    async with dashboard_service(database_url, tmp_path, clock) as (client, services,
                                                                     settings):
        now = clock()
        coordinator = await add_contact(services.db, "koor", now, role="coordinator",
                                        name="Bu Koordinator")
        resident = await add_contact(services.db, "warga1", now, name="Siti")
        volunteer = await add_contact(services.db, "relawan1", now, role="volunteer",
                                      name="Pak Relawan")
        complaint = await add_complaint(services.db, resident, now,
                                        description=f"Air keruh. NIK saya {NIK} <script>")
        yield Site(client, services, settings, clock, coordinator, resident, volunteer,
                   complaint.ticket)


async def test_without_a_session_every_page_redirects_to_the_login_notice(site: Site) -> None:
    browser = site.browser()
    for path in [*PAGES, f"/tiket/{site.ticket}", "/media/1", "/unduh/pengaduan.csv",
                 "/siaran/kemajuan.json"]:
        status, _, response = await browser.get(path)
        assert (status, response.headers.get("Location")) == (303, "/masuk"), path
    status, _, response = await browser.post(f"/tiket/{site.ticket}/status",
                                             {"status": "diverifikasi"})
    assert (status, response.headers.get("Location")) == (303, "/masuk")
    status, html, response = await browser.get("/masuk")
    assert status == 200 and "/dasbor" in html
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    # A made-up cookie is no session either.
    browser.cookies["warga_sesi"] = "made-up"
    status, _, _ = await browser.get("/")
    assert status == 303


async def test_login_link_works_once_and_sets_a_safe_cookie(site: Site) -> None:
    async with site.services.db.transaction() as tx:
        link = await issue_login_link(tx, site.settings, site.coordinator, site.clock())
    assert link.startswith("http://127.0.0.1:1/masuk/")
    browser = site.browser()
    path = "/" + link.split("/", 3)[3]
    # Opening the link (as a link preview would) does not spend it.
    status, html, _ = await browser.get(path)
    status2, html2, _ = await browser.get(path)
    assert status == status2 == 200
    csrf = browser.csrf(html2)
    status, _, response = await browser.post(path, {"csrf": csrf})
    assert status == 303
    cookie = response.cookies["warga_sesi"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == int(SESSION_TTL.total_seconds())
    status, html, _ = await browser.get("/")
    assert status == 200 and "Bu Koordinator" in html
    # The same link again, in another browser: refused.
    other = site.browser()
    status, html, _ = await other.get(path)
    assert status == 403 and "sudah dipakai" in html
    async with site.services.db.session() as session:
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert "dashboard.login" in actions and "dashboard.link" not in actions


async def test_expired_forged_and_non_coordinator_links_are_refused(site: Site) -> None:
    async with site.services.db.transaction() as tx:
        link = await issue_login_link(tx, site.settings, site.coordinator, site.clock())
        resident_link = await issue_login_link(tx, site.settings, site.resident, site.clock())
    path = "/" + link.split("/", 3)[3]
    browser = site.browser()
    status, html, _ = await browser.get(path)
    csrf = browser.csrf(html)
    # Ten minutes later the link is dead, for GET and POST alike.
    site.clock.advance(seconds=LOGIN_TTL.total_seconds() + 1)
    assert (await browser.get(path))[0] == 403
    status, _, response = await browser.post(path, {"csrf": csrf})
    assert status == 403 and "warga_sesi" not in response.cookies
    # A forged signature, a truncated token, garbage.
    site.clock.advance(seconds=-LOGIN_TTL.total_seconds())
    nonce, expiry, _sig = path.removeprefix("/masuk/").split(".")
    for bad in (f"{nonce}.{expiry}.AAAA", f"{nonce}.{int(expiry) + 999}.{_sig}", "x", "a.b.c"):
        assert (await browser.get(f"/masuk/{bad}"))[0] == 403
    # A resident's link (if one were ever made) signs nobody in.
    resident_path = "/" + resident_link.split("/", 3)[3]
    status, html, _ = await browser.get(resident_path)
    status, _, response = await browser.post(resident_path, {"csrf": browser.csrf(html)})
    assert status == 403 and "warga_sesi" not in response.cookies


async def test_a_form_post_without_the_csrf_token_is_rejected(site: Site) -> None:
    browser, _ = await site.signed_in()
    for data in ({"status": "diverifikasi", "expected": "diterima"},
                 {"status": "diverifikasi", "expected": "diterima", "csrf": "wrong"}):
        status, _, _ = await browser.post(f"/tiket/{site.ticket}/status", data)
        assert status == 403
    status, _, _ = await browser.post("/keluar", {})
    assert status == 403
    # The login form itself needs the pre-login cookie's token.
    async with site.services.db.transaction() as tx:
        link = await issue_login_link(tx, site.settings, site.coordinator, site.clock())
    path = "/" + link.split("/", 3)[3]
    assert (await site.browser().post(path, {"csrf": "x"}))[0] == 403
    # Nothing changed.
    page = (await browser.get(f"/tiket/{site.ticket}"))[1]
    assert 'id="ticket-status">Diterima' in page
    assert await site.outbox_texts(site.resident) == []


async def test_every_page_renders_and_no_page_shows_a_full_nik(site: Site) -> None:
    browser, _ = await site.signed_in()
    for path in [*PAGES, f"/tiket/{site.ticket}", "/tiket?status=all&q=keruh",
                 "/tiket?late=1", "/peta?status=all", "/tiket?page=99&rw=5"]:
        status, html, response = await browser.get(path)
        assert status == 200, (path, html[:500])
        assert response.headers["X-Frame-Options"] == "DENY"
        digits = re.sub(r"\D", "", html)
        assert NIK not in html and NIK not in digits, path
        assert "<script>" not in html.split("</header>")[1].replace(
            '<script id="map-data" type="application/json">', "").replace(
            '<script src="', "")
    ticket_page = (await browser.get(f"/tiket/{site.ticket}"))[1]
    assert "NIK saya [nomor disembunyikan]" in ticket_page
    assert "&lt;script&gt;" in ticket_page


async def test_status_change_in_the_dashboard_reaches_the_reporter(site: Site) -> None:
    browser, _ = await site.signed_in()
    page = (await browser.get(f"/tiket/{site.ticket}"))[1]
    csrf = browser.csrf(page)
    status, _, response = await browser.post(
        f"/tiket/{site.ticket}/status",
        {"csrf": csrf, "status": "diverifikasi", "expected": "diterima", "note": "Dicek besok"})
    assert status == 303 and response.headers["Location"] == f"/tiket/{site.ticket}?ok=status"
    page = (await browser.get(f"/tiket/{site.ticket}?ok=status"))[1]
    assert 'id="ticket-status">Diverifikasi' in page and 'id="ticket-ok"' in page
    texts = await site.outbox_texts(site.resident)
    assert texts == [f"Kabar laporan *{site.ticket}*: statusnya sekarang *Diverifikasi*."
                     "\n\nCatatan petugas: Dicek besok"]
    # A second tab that still shows "diterima" is told the ticket moved.
    status, html, _ = await browser.post(
        f"/tiket/{site.ticket}/status",
        {"csrf": csrf, "status": "diproses", "expected": "diterima"})
    assert status == 409 and "sudah berubah" in html
    # Closing needs a note.
    status, html, _ = await browser.post(
        f"/tiket/{site.ticket}/status",
        {"csrf": csrf, "status": "selesai", "expected": "diverifikasi", "note": " "})
    assert status == 409 and "catatan" in html


async def test_closing_with_an_uploaded_photo_sends_it_with_the_question(site: Site) -> None:
    browser, page = await site.signed_in()
    csrf = browser.csrf(page)
    form = FormData()
    form.add_field("csrf", csrf)
    form.add_field("status", "selesai")
    form.add_field("expected", "diterima")
    form.add_field("note", "Pipa sudah diganti")
    form.add_field("foto", JPEG, filename="bukti.jpg", content_type="image/jpeg")
    status, html, _ = await browser.post(f"/tiket/{site.ticket}/status", form)
    assert status == 303, html
    rows = await site.outbox(site.resident)
    assert len(rows) == 1
    payload = rows[0].payload
    assert "Sudah teratasi?" in payload["text"] and "Pipa sudah diganti" in payload["text"]
    assert [c["label"] for c in payload["choices"]] == ["Sudah teratasi", "Belum"]
    kept = Path(payload["media_path"])
    assert kept.name == hashlib.sha256(JPEG).hexdigest()
    page = (await browser.get(f"/tiket/{site.ticket}"))[1]
    media = re.search(r'href="/media/(\d+)"', page)
    assert media is not None
    status, _, response = await browser.get(f"/media/{media.group(1)}")
    assert status == 200 and response.headers["Content-Type"] == "image/jpeg"
    assert await response.read() == JPEG
    # Not an image: refused, nothing changes.
    other = await add_complaint(site.services.db, site.resident, site.clock())
    form = FormData()
    for name, value in (("csrf", csrf), ("status", "selesai"), ("expected", "diterima"),
                        ("note", "ok")):
        form.add_field(name, value)
    form.add_field("foto", b"<svg onload=alert(1)>", filename="x.jpg", content_type="image/jpeg")
    status, html, _ = await browser.post(f"/tiket/{other.ticket}/status", form)
    assert status == 409 and "JPEG" in html


async def test_assigning_a_volunteer_tells_them_by_chat(site: Site) -> None:
    browser, page = await site.signed_in()
    page = (await browser.get(f"/tiket/{site.ticket}"))[1]
    assert "Pak Relawan" in page
    status, _, _ = await browser.post(f"/tiket/{site.ticket}/tugaskan",
                                      {"csrf": browser.csrf(page),
                                       "contact_id": str(site.volunteer)})
    assert status == 303
    texts = await site.outbox_texts(site.volunteer)
    assert len(texts) == 1 and f"/tiket {site.ticket}" in texts[0]
    async with site.services.db.session() as session:
        repo = TicketRepo(session)
        complaint = await repo.by_ticket(site.ticket)
        assert complaint is not None
        assert [c.id for c in await repo.assignees(complaint.id)] == [site.volunteer]
    # A resident cannot be assigned.
    status, _, _ = await browser.post(f"/tiket/{site.ticket}/tugaskan",
                                      {"csrf": browser.csrf(page),
                                       "contact_id": str(site.resident)})
    assert status == 400


async def test_sessions_expire_and_logout_ends_them(site: Site) -> None:
    browser, page = await site.signed_in()
    status, _, response = await browser.post("/keluar", {"csrf": browser.csrf(page)})
    assert status == 303 and response.headers["Location"] == "/masuk"
    assert (await browser.get("/"))[0] == 303
    browser, _ = await site.signed_in()
    site.clock.advance(seconds=SESSION_TTL.total_seconds() + 1)
    assert (await browser.get("/"))[0] == 303


async def test_english_is_available(site: Site) -> None:
    browser, page = await site.signed_in()
    status, _, response = await browser.post(
        "/bahasa", {"csrf": browser.csrf(page), "lang": "en", "next": "//evil.example/"})
    assert status == 303 and response.headers["Location"] == "/"
    html = (await browser.get("/"))[1]
    assert "Reports overview" in html and 'lang="en"' in html
    assert "Dashboard sign-in" in (await site.browser().get("/masuk?lang=en"))[1]


async def test_overview_counts_and_chart(site: Site) -> None:
    now = site.clock()
    for days in (1, 1, 3):
        await add_complaint(site.services.db, site.resident, now - timedelta(days=days),
                            category="mati", rw="007")
    _, html = await site.signed_in()
    assert 'id="open-total">4<' in html
    bars = re.findall(r'data-day="([\d-]+)" data-value="(\d+)"', html)
    assert len(bars) == 30 and sum(int(v) for _, v in bars) == 4
    assert dict(bars)[(now - timedelta(days=1)).date().isoformat()] == "2"
    assert 'href="/tiket?rw=007">RW 007' in html and 'href="/tiket?category=mati"' in html


async def test_downloads_give_the_export_and_are_audited(site: Site) -> None:
    browser, _ = await site.signed_in()
    status, body, response = await browser.get("/unduh/pengaduan.csv")
    assert status == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    assert site.ticket in body
    response = await browser.client.get("/unduh/pengaduan.xlsx", headers=browser._headers())
    assert response.status == 200 and (await response.read())[:2] == b"PK"
    assert (await browser.get("/unduh/../../etc/passwd"))[0] == 404
    async with site.services.db.session() as session:
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert actions.count("export.complaints") == 2


def test_every_dashboard_text_is_in_both_catalogs() -> None:
    """Templates and views ask for dash.* keys; a missing one would show the raw key."""
    root = Path(__file__).resolve().parents[1] / "bot" / "dashboard"
    used: set[str] = set()
    for path in [*root.glob("templates/*.html"), root / "views.py"]:
        pattern = r"""(?:\b_|\bT)\(\s*["']((?:dash|ticket)\.[a-z0-9_.]*[a-z0-9])["']"""
        used |= set(re.findall(pattern, path.read_text()))
    dynamic = {f"dash.ticket.ok_{k}" for k in ("status", "assigned", "unassigned")} | {
        f"dash.ticket.note_{k}" for k in ("required", "optional")}
    assert len(used) > 80  # the scan really found the dashboard's texts
    translator = library.translator()
    for lang in ("id", "en"):
        missing = sorted(k for k in used | dynamic if not translator.has(k, lang))
        assert not missing, (lang, missing)


async def test_activities_and_assessments_pages_show_their_tables(site: Site) -> None:
    from storage.models_activities import Activity, ActivityRsvp
    from storage.models_volunteers import Assessment

    now = site.clock()
    async with site.services.db.transaction() as tx:
        activity = Activity(title="Kerja bakti saluran", kind="kerja_bakti",
                            starts_at=now + timedelta(days=2), place="Balai RW 05",
                            audience={"type": "all"}, reminders=[], status="published",
                            created_at=now, updated_at=now)
        tx.session.add(activity)
        await tx.session.flush()
        for contact, answer in ((site.resident, "yes"), (site.volunteer, "yes"),
                                (site.coordinator, "maybe")):
            tx.session.add(ActivityRsvp(activity_id=activity.id, contact_id=contact,
                                        answer=answer, answered_at=now))
        tx.session.add(Assessment(
            ref="RTA-23456", contact_id=site.volunteer, kelurahan_code="31.72.04.1004",
            rw="005", rt="003", head_name="Bapak Rahmat", nik_sealed=NIK, nik_hash="h" * 64,
            nik_masked="JRCMKMZC", kk_sealed=NIK, kk_hash="k" * 64,
            kk_masked="3172********0001", household_size=4, member_count=4, flags=[],
            answers={"nik": NIK}, flow_id="assessment", flow_version=1,
            consent_version="v1", specific_consent=True, created_at=now, updated_at=now))
    browser, _ = await site.signed_in()
    html = (await browser.get("/kegiatan"))[1]
    row = re.search(r"Kerja bakti saluran.*?</tr>", html, re.S)
    assert row is not None
    assert re.findall(r'class="num">(\d+)<', row.group(0)) == ["2", "1", "0"]
    html = (await browser.get("/asesmen"))[1]
    # The keyed reference, never digits of the number.
    assert "Bapak Rahmat" in html and "NIK #JRCM-KMZC" in html and "Pak Relawan" in html
    assert "3172" not in html
    assert NIK not in html and 'id="not-available"' not in html


async def test_ticket_page_shows_every_answer_the_pin_and_who_changed_what(site: Site) -> None:
    db = site.services.db
    now = site.clock()
    shared = await add_contact(db, "warga2", now, name="Budi")
    hidden = await add_contact(db, "warga3", now, name="Wati")
    tickets = {}
    for contact, consent in ((shared, "yes"), (hidden, "no")):
        async with db.transaction() as tx:
            person = await tx.contacts.get(contact)
            assert person is not None
            person.phone = "+6281234567890"
        complaint = await add_complaint(db, contact, now, rw="007", rt="002")
        async with db.transaction() as tx:
            row = await TicketRepo(tx.session).get(complaint.id)
            assert row is not None
            row.answers = {**row.answers, "sejak": "2026-11-27", "jumlah_kk": 12,
                           "kelurahan": {"code": "1004", "name": "Kalibaru"},
                           "rt_rw": {"rt": "002", "rw": "007"}, "patokan": "dekat masjid",
                           "foto": {"ref": "photo-9"}, "boleh_dihubungi": consent,
                           "telepon": "+6281234567890"}
        tickets[consent] = complaint.ticket
    browser, _ = await site.signed_in()
    _, html, _ = await browser.get(f"/tiket/{tickets['yes']}")
    answers = html[html.index('id="ticket-answers"'):]
    answers = answers[:answers.index("</dl>")]
    for title, value in (("Sejak", "Jumat, 27 November 2026"), ("Rumah yang kena", "12"),
                         ("Kelurahan", "Kalibaru"), ("RT/RW", "RT 002 / RW 007"),
                         ("Patokan", "dekat masjid")):
        assert f"<dt>{title}</dt><dd>{value}</dd>" in answers, (title, answers)
    assert '<dd id="ticket-phone">+6281234567890</dd>' in html
    assert 'href="https://www.openstreetmap.org/?mlat=-6.10110&amp;mlon=106.92640"' in html
    assert 'id="ticket-photo-pending"' in html and 'id="ticket-photo"' not in html
    assert "oleh pelapor" in html
    for target in ("diverifikasi", "diproses", "selesai", "ditolak"):
        assert f'id="form-{target}"' in html

    # Without consent the number stays hidden; a change names who made it.
    _, html, _ = await browser.get(f"/tiket/{tickets['no']}")
    assert "+6281234567890" not in html and "tidak dibagikan" in html
    csrf = browser.csrf(html)
    status, _, _ = await browser.post(f"/tiket/{tickets['no']}/status",
                                      {"csrf": csrf, "status": "diverifikasi",
                                       "expected": "diterima"})
    assert status == 303
    _, html, _ = await browser.get(f"/tiket/{tickets['no']}")
    assert "oleh Bu Koordinator" in html


async def test_map_page_lists_every_pin_with_its_coordinates_and_sends_the_legend(
        site: Site) -> None:
    browser, _ = await site.signed_in()
    async with site.services.db.transaction() as tx:
        row = await TicketRepo(tx.session).by_ticket(site.ticket)
        assert row is not None
        # A GPS fix as phones send it: a long tail that must not reach the page.
        row.latitude, row.longitude = -6.101100000000001, 106.92640000000002
    status, html, _ = await browser.get("/peta")
    assert status == 200
    listing = html[html.index('id="map-list"'):html.index("</details>")]
    assert f'<tr data-ticket="{site.ticket}">' in listing
    assert "<td>-6.10110, 106.92640</td>" in listing
    opening = '<script id="map-data" type="application/json">'
    raw = html[html.index(opening) + len(opening):]
    data = json.loads(raw[:raw.index("</script>")])
    [point] = data["points"]
    assert (point["lat"], point["lon"], point["category"]) == (-6.1011, 106.9264, "keruh")
    assert data["colours"]["category"]["keruh"] and data["colours"]["status"]["diterima"]
    assert [label for label, _ in data["legend"]["status"]] == [
        "Diterima", "Diverifikasi", "Diproses", "Selesai", "Ditolak"]

# -- the broadcast composer: audiences and one-time send tokens ---------------------------

ONCE = re.compile(r'name="once" value="([^"]+)"')
NOTICE = "Besok pagi air PAM mati pukul 08.00–12.00. Mohon tampung air."


@dataclass
class Composer:
    client: TestClient[Any, Any]
    services: Services
    settings: Settings
    clock: Clock
    coordinator: int
    reporter: int  # reported murky water in Kalibaru RW 005 RT 003
    elsewhere: int  # reported no water in RW 007 RT 001
    volunteer: int  # a Tagana volunteer
    coming: int  # said yes to the activity
    activity: int

    async def signed_in(self) -> tuple[DashClient, str]:
        browser = DashClient(self.client)
        html = await browser.login(self.services.db, self.settings, self.coordinator,
                                   self.clock())
        return browser, browser.csrf(html)

    async def broadcasts(self) -> list[Any]:
        from storage.models_activities import Broadcast
        async with self.services.db.session() as session:
            return list((await session.execute(
                select(Broadcast).order_by(Broadcast.id))).scalars().all())


@pytest.fixture
async def composer_site(database_url: str, tmp_path: Path) -> AsyncIterator[Composer]:
    from bot.features.activities import ActivitiesFeature
    from storage.models_activities import Activity, ActivityRsvp

    clock = Clock()
    settings = dashboard_settings(database_url, tmp_path)
    tickets = TicketsFeature(settings)
    app = create_app(settings, clock=clock, plugins=[],
                     features=[tickets, ActivitiesFeature(settings), DashboardFeature(tickets)])
    client = TestClient(TestServer(app), cookie_jar=DummyCookieJar())
    await client.start_server()
    try:
        services = app[SERVICES]
        now = clock()
        db = services.db
        coordinator = await add_contact(db, "koor", now, role="coordinator", name="Bu Koor")
        reporter = await add_contact(db, "warga1", now, name="Siti")
        await add_complaint(db, reporter, now, category="keruh", rw="005", rt="003")
        elsewhere = await add_contact(db, "warga2", now, name="Budi")
        await add_complaint(db, elsewhere, now, category="mati", rw="007", rt="001")
        volunteer = await add_contact(db, "relawan1", now, role="volunteer", name="Pak Relawan")
        coming = await add_contact(db, "warga3", now, name="Ani")
        async with db.transaction() as tx:
            await tx.contacts.set_fields(volunteer, now, volunteer_type="tagana")
            activity = Activity(title="Kerja bakti got RW 05", kind="kerja_bakti",
                                starts_at=now + timedelta(days=2), place="Balai RW 05",
                                audience={"type": "all"}, reminders=[], status="published",
                                created_at=now, updated_at=now)
            tx.session.add(activity)
            await tx.session.flush()
            tx.session.add_all([
                ActivityRsvp(activity_id=activity.id, contact_id=coming, answer="yes",
                             answered_at=now),
                ActivityRsvp(activity_id=activity.id, contact_id=elsewhere, answer="no",
                             answered_at=now)])
            activity_id = activity.id
        yield Composer(client, services, settings, clock, coordinator, reporter, elsewhere,
                       volunteer, coming, activity_id)
    finally:
        await client.close()


async def _preview(browser: DashClient, csrf: str, **fields: str) -> tuple[int, str]:
    status, html, _ = await browser.post("/siaran/pratinjau",
                                         {"csrf": csrf, "body": NOTICE, **fields})
    return status, html


@pytest.mark.parametrize(("fields", "count", "audience"), [
    ({"audience": "rw", "kelurahan": "31.72.04.1004", "rw": "5"}, 1,
     {"type": "rw", "kelurahan_code": "31.72.04.1004", "kelurahan_name": "Kalibaru",
      "rw": "005"}),
    ({"audience": "rt", "kelurahan": "31.72.04.1004", "rw": "007", "rt": "01"}, 1,
     {"type": "rt", "kelurahan_code": "31.72.04.1004", "kelurahan_name": "Kalibaru",
      "rw": "007", "rt": "001"}),
    ({"audience": "kelurahan", "kelurahan": "31.72.04.1004"}, 2,
     {"type": "kelurahan", "kelurahan_code": "31.72.04.1004", "kelurahan_name": "Kalibaru"}),
    ({"audience": "volunteer_type", "volunteer_type": "tagana"}, 1,
     {"type": "volunteer_type", "volunteer_type": "tagana"}),
    ({"audience": "reporters", "category": "keruh"}, 1,
     {"type": "reporters", "category": "keruh"}),
])
async def test_composer_offers_every_audience_of_the_chat(
        composer_site: Composer, fields: dict[str, str], count: int,
        audience: dict[str, str]) -> None:
    browser, csrf = await composer_site.signed_in()
    status, html = await _preview(browser, csrf, **fields)
    assert status == 200, html
    assert f'id="broadcast-count">Akan dikirim ke {count} orang.' in html
    once = ONCE.search(html)
    assert once is not None
    status, html, _ = await browser.post("/siaran/kirim", {"csrf": csrf, "body": NOTICE,
                                                           "once": once.group(1), **fields})
    assert status == 303, re.findall(r'id="broadcast-error">([^<]*)', html)
    [broadcast] = await composer_site.broadcasts()
    assert broadcast.audience == audience


async def test_composer_sends_to_those_coming_to_an_activity(composer_site: Composer) -> None:
    browser, csrf = await composer_site.signed_in()
    html = (await browser.get("/siaran"))[1]
    assert f'<option value="{composer_site.activity}">Kerja bakti got RW 05</option>' in html
    status, html = await _preview(browser, csrf, audience="rsvp",
                                  activity=str(composer_site.activity))
    assert status == 200, html
    assert "yang akan hadir di Kerja bakti got RW 05" in html
    assert 'id="broadcast-count">Akan dikirim ke 1 orang.' in html  # "no" is left out


@pytest.mark.parametrize("fields", [
    {"audience": "rw", "kelurahan": "31.72.04.1004"},
    {"audience": "rt", "kelurahan": "31.72.04.1004", "rw": "5", "rt": "0"},
    {"audience": "kelurahan", "kelurahan": "31.72.04.9999"},
    {"audience": "volunteer_type", "volunteer_type": "astronot"},
    {"audience": "rsvp", "activity": "424242"},
    {"audience": "reporters", "category": ""},
    {"audience": "everyone_ever"},
])
async def test_composer_refuses_an_audience_it_cannot_name(
        composer_site: Composer, fields: dict[str, str]) -> None:
    browser, csrf = await composer_site.signed_in()
    status, html = await _preview(browser, csrf, **fields)
    assert status == 400 and 'id="broadcast-error"' in html
    assert ONCE.search(html) is None


async def test_the_same_send_form_posted_twice_sends_one_broadcast(
        composer_site: Composer) -> None:
    browser, csrf = await composer_site.signed_in()
    _, html = await _preview(browser, csrf, audience="all")
    once = ONCE.search(html)
    assert once is not None
    form = {"csrf": csrf, "body": NOTICE, "audience": "all", "once": once.group(1)}
    first = await browser.post("/siaran/kirim", form)
    second = await browser.post("/siaran/kirim", form)
    [broadcast] = await composer_site.broadcasts()
    assert first[2].headers["Location"] == f"/siaran?ok={broadcast.id}"
    assert (second[0], second[2].headers["Location"]) == (303, "/siaran?again=1")
    html = (await browser.get("/siaran?again=1"))[1]
    assert 'id="broadcast-again"' in html
    # A double click: two posts at once still make one broadcast.
    _, html = await _preview(browser, csrf, audience="volunteers")
    once = ONCE.search(html)
    assert once is not None
    form = {"csrf": csrf, "body": NOTICE, "audience": "volunteers", "once": once.group(1)}
    results = await asyncio.gather(browser.post("/siaran/kirim", form),
                                   browser.post("/siaran/kirim", form))
    assert sorted(r[0] for r in results) == [303, 303]
    assert len(await composer_site.broadcasts()) == 2
    sent = [a for a in await _audit(composer_site) if a.action == "broadcast.sent"]
    assert len(sent) == 2


async def test_a_send_token_is_for_its_session_and_expires(composer_site: Composer) -> None:
    browser, csrf = await composer_site.signed_in()
    _, html = await _preview(browser, csrf, audience="all")
    once = ONCE.search(html)
    assert once is not None
    other, other_csrf = await composer_site.signed_in()
    status, html, _ = await other.post("/siaran/kirim", {
        "csrf": other_csrf, "body": NOTICE, "audience": "all", "once": once.group(1)})
    assert status == 400 and "kedaluwarsa" in html
    forged = once.group(1)[:-1] + ("b" if once.group(1)[-1] != "b" else "c")
    status, _, _ = await browser.post("/siaran/kirim", {
        "csrf": csrf, "body": NOTICE, "audience": "all", "once": forged})
    assert status == 400
    assert await composer_site.broadcasts() == []


def test_send_tokens_expire_after_a_day() -> None:
    from bot.dashboard.composer import TOKEN_SECONDS, issue_token, token_nonce
    key, session = b"k" * 32, "session-hash"
    token = issue_token(key, session, now=1_000_000.0)
    assert token_nonce(key, session, token, now=1_000_000.0 + TOKEN_SECONDS) is not None
    assert token_nonce(key, session, token, now=1_000_001.0 + TOKEN_SECONDS) is None
    assert token_nonce(key, "another-session", token, now=1_000_000.0) is None


async def _audit(site: Composer) -> list[AuditEntry]:
    async with site.services.db.session() as session:
        return list((await session.execute(select(AuditEntry))).scalars().all())
