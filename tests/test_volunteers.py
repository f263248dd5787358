"""Golden transcripts of volunteer registration (invite code, deep link, WhatsApp words),
approval and rejection; roles; the data subject's requests and their deadlines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.scheduler import add_timers, create_scheduler
from storage.db import Database
from storage.models import AuditEntry, Contact
from storage.models_volunteers import (
    ConsentRecord,
    DataRequest,
    InviteCode,
    VolunteerApplication,
)
from storage.repos_volunteers import VolunteerRepo
from tests.harness import Button, Clock, Later, check_golden
from tests.volunteers_harness import Step, Sweep, Team

pytestmark = [pytest.mark.e2e]

K = "koordinator"
V = "relawan"


async def coordinator_team(db: Database, clock: Clock | None = None) -> Team:
    team = Team(db, clock)
    await team.add(K, "coordinator", name="Bu Rina")
    return team


async def contact(db: Database, who: str) -> Contact:
    async with db.session() as s:
        return (await s.execute(select(Contact).where(Contact.external_id == who))).scalar_one()


async def invite_code(db: Database) -> str:
    async with db.session() as s:
        return (await s.execute(select(InviteCode.code).order_by(InviteCode.id.desc())
                                .limit(1))).scalar_one()


async def test_registration_by_code_and_approval(db: Database) -> None:
    team = await coordinator_team(db)
    transcript = await team.run([(K, "/kode_relawan 3")])
    code = await invite_code(db)
    script: list[Step] = [
        (V, f"/relawan {code}"),
        (V, "ya"),
        (V, "pendamping pkh"),
        (V, "Dewi Lestari"),
        (V, "kalibaru"),
        (V, "kirim"),
        (K, "/pendaftar"),
        (K, Button("vol:ok:1")),
        (K, Button("vol:ok:1")),  # pressed twice: nothing happens twice
        (V, "/asesmen"),
    ]
    check_golden("volunteer_register_code", transcript + await team.run(script))
    relawan = await contact(db, V)
    assert (relawan.role, relawan.volunteer_type) == ("volunteer", "pkh")
    assert relawan.consent_version == "relawan-2026-11"
    async with db.session() as s:
        invite = (await s.execute(select(InviteCode).where(InviteCode.code == code))
                  ).scalar_one()
        assert (invite.uses, invite.max_uses) == (1, 3)
        [consent] = (await s.execute(select(ConsentRecord))).scalars()
        assert (consent.subject, consent.granted, consent.contact_id) == ("diri", True,
                                                                           relawan.id)
        actions = (await s.execute(select(AuditEntry.action).order_by(AuditEntry.id))
                   ).scalars().all()
        assert ["volunteer.applied", "volunteer.approved"] == [
            a for a in actions if a in ("volunteer.applied", "volunteer.approved")]


async def test_registration_by_telegram_deep_link(db: Database) -> None:
    team = await coordinator_team(db)
    transcript = await team.run([(K, "/kode_relawan")])
    code = await invite_code(db)
    script: list[Step] = [
        (V, f"/start relawan_{code}"),
        (V, Button("setuju:yes")),
        (V, Button("jenis:tagana")),
        (V, "Agus Salim"),
        (V, Button("wilayah:1003")),
        (V, Button("confirm:yes")),
        (K, Button("vol:ok:1")),
    ]
    check_golden("volunteer_register_deeplink", transcript + await team.run(script))
    assert (await contact(db, V)).role == "volunteer"


async def test_whatsapp_words_register_too(db: Database) -> None:
    team = await coordinator_team(db)
    await team.run([(K, "kode relawan")])
    code = await invite_code(db)
    out = await team.say(V, f"DAFTAR RELAWAN {code.lower()}")
    assert "Sebelum mendaftar" in out.text
    await team.run([(V, "ya"), (V, "lainnya"), (V, "Relawan masjid"), (V, "Rahmat"),
                    (V, "marunda"), (V, "ya")])
    async with db.session() as s:
        app = (await s.execute(select(VolunteerApplication))).scalar_one()
        assert (app.volunteer_type, app.type_other) == ("lainnya", "Relawan masjid")


async def test_rejection(db: Database) -> None:
    team = await coordinator_team(db)
    transcript = await team.run([(K, "/kode_relawan")])
    code = await invite_code(db)
    script: list[Step] = [
        (V, f"/relawan {code}"),
        (V, "ya"),
        (V, "karang taruna"),
        (V, "Joko"),
        (V, "cilincing"),
        (V, "ya"),
        (K, "/tolak 1"),
        (V, "/asesmen"),
        (V, f"/relawan {code}"),  # the code was used up by the first registration
    ]
    check_golden("volunteer_rejected", transcript + await team.run(script))
    relawan, koordinator = await contact(db, V), await contact(db, K)
    assert relawan.role == "resident"
    async with db.session() as s:
        app = (await s.execute(select(VolunteerApplication))).scalar_one()
        assert app.status == "ditolak" and app.decided_by == koordinator.id


async def test_a_volunteer_cannot_approve_volunteers(db: Database) -> None:
    team = await coordinator_team(db)
    await team.add("lama", "volunteer", "tagana")
    await team.run([(K, "/kode_relawan")])
    code = await invite_code(db)
    await team.run([(V, f"/relawan {code}"), (V, "ya"), (V, "tagana"), (V, "Nina"),
                    (V, "kalibaru"), (V, "ya")])
    for attempt in (Button("vol:ok:1"), "/setujui 1", "/pendaftar", "/kode_relawan"):
        out = await team.say("lama", attempt)
        assert "hanya untuk petugas yang berwenang" in out.text
    assert (await contact(db, V)).role == "resident"
    async with db.session() as s:
        assert (await s.execute(select(VolunteerApplication.status))).scalar_one() == "menunggu"


async def test_wrong_codes_are_limited(db: Database) -> None:
    team = await coordinator_team(db)
    for _ in range(5):
        out = await team.say(V, "/relawan XXXXXX")
        assert "tidak berlaku" in out.text
    out = await team.say(V, "/relawan XXXXXX")
    assert "Terlalu banyak kode yang salah" in out.text
    out = await team.say(V, "/relawan")
    assert "/relawan K7QX9M" in out.text


async def test_expired_code_and_refused_consent(db: Database) -> None:
    clock = Clock()
    team = await coordinator_team(db, clock)
    await team.run([(K, "/kode_relawan")])
    code = await invite_code(db)
    out = await team.say(V, f"/relawan {code}")
    out = await team.say(V, "tidak")
    assert "pendaftaran tidak dilanjutkan" in out.text
    async with db.session() as s:
        [consent] = (await s.execute(select(ConsentRecord))).scalars()
        assert consent.granted is False
        assert (await s.execute(select(VolunteerApplication))).first() is None
    clock.advance(days=8)
    out = await team.say(V, f"/relawan {code}")
    assert "tidak berlaku" in out.text


async def test_my_data_and_an_erasure_request_with_reminders(db: Database) -> None:
    clock = Clock()
    team = await coordinator_team(db, clock)
    await team.run([(K, "/kode_relawan")])
    code = await invite_code(db)
    await team.run([(V, f"/relawan {code}"), (V, "ya"), (V, "tagana"), (V, "Dewi"),
                    (V, "kalibaru"), (V, "ya")])
    script: list[Step] = [
        (V, "data saya"),
        (V, Button("dsr:start:hapus")),
        (V, "Saya pindah ke Bekasi"),
        (V, "ya"),
        (V, "hapus data"),  # one open request of a kind at a time
        Later(40),
        Sweep(),  # 32 hours left: nothing yet
        Later(10),
        Sweep(),  # 22 hours left: a reminder
        Sweep(),  # ...only once
        Later(23),
        Sweep(),  # overdue
        (K, "/permintaan_data"),
        (K, Button("dsr:done:1")),
    ]
    check_golden("volunteer_data_request", await team.run(script))
    relawan = await contact(db, V)
    # (The platform sends a display name with every message: the next one brings it back.)
    assert relawan.name is None and relawan.consent_version is None
    async with db.session() as s:
        request = (await s.execute(select(DataRequest))).scalar_one()
        assert request.status == "selesai"
        assert request.due_at - request.created_at == timedelta(hours=72)
        assert request.reminded_at is not None and request.overdue_at is not None
        app = (await s.execute(select(VolunteerApplication))).scalar_one()
        assert app.full_name is None


async def test_consent_withdrawal_takes_effect_at_once(db: Database) -> None:
    team = await coordinator_team(db)
    await team.run([(K, "/kode_relawan")])
    code = await invite_code(db)
    await team.run([(V, f"/relawan {code}"), (V, "ya"), (V, "tagana"), (V, "Dewi"),
                    (V, "kalibaru"), (V, "ya")])
    outs = await team.send(V, "tarik persetujuan")
    assert "Penarikan persetujuan" in outs[0].text
    outs = await team.send(V, "lewati")
    outs = await team.send(V, "ya")
    mine = [o.text for o in outs if o.user_id == V]
    told = [o.text for o in outs if o.user_id == K]
    assert "sudah kami catat sebagai ditarik" in mine[0]
    assert told and "penarikan persetujuan" in told[0] and "Tenggat" in told[0]
    relawan = await contact(db, V)
    assert relawan.consent_version is None
    async with db.transaction() as tx:
        [record] = await VolunteerRepo(tx.session).consents_of(relawan.id)
        assert record.withdrawn_at is not None


async def test_residents_see_their_data_without_identity_numbers(db: Database) -> None:
    team = await coordinator_team(db)
    await team.add("warga")
    async with db.transaction() as tx:
        person = await tx.contacts.upsert("console", "warga", team.now(), inbound=False)
        person.phone = "+6281234567890"
    out = await team.say("warga", Button("menu:datasaya"))
    assert "Nama: Warga" in out.text and "+6281******890" in out.text
    assert "+6281234567890" not in out.text
    assert [c.id for c in out.choices] == ["dsr:start:ubah", "dsr:start:hapus",
                                           "dsr:start:tarik"]
    out = await team.say("warga", "ubah data")
    assert "Data apa yang salah" in out.text
    outs = await team.send("warga", "NIK saya 3172011203810001 salah tanggal lahirnya")
    assert "NIK saya [nomor disembunyikan] salah" in outs[0].text
    async with db.session() as s:
        state = (await s.execute(select(AuditEntry.action))).scalars().all()
        assert "data.viewed" in state


async def test_coordinator_menu(db: Database) -> None:
    team = await coordinator_team(db)
    out = await team.say(K, Button("menu:relawan"))
    assert [c.id for c in out.choices] == ["vol:code", "vol:list", "dsr:list"]
    out = await team.say(K, Button("vol:code"))
    assert "Kode undangan relawan" in out.text
    out = await team.say(K, Button("vol:list"))
    assert "Tidak ada pendaftaran" in out.text
    out = await team.say(K, "/kode_relawan 500")
    assert "antara 1 dan 100" in out.text


async def test_the_sweep_is_scheduled_and_rebuilt_from_the_rows(db: Database) -> None:
    clock = Clock()
    team = await coordinator_team(db, clock)
    await team.add(V)
    await team.run([(V, "hapus data"), (V, "lewati"), (V, "ya")])
    scheduler = create_scheduler("Asia/Jakarta")
    add_timers(scheduler, team.feature.spec().timers, clock)
    [job] = scheduler.get_jobs()
    assert job.id == "volunteers:sweep"
    # A new process: nothing in memory; the row says a reminder is due, and it goes once.
    clock.advance(hours=50)
    before = len(team.channel.sent)
    await job.func()
    await job.func()
    await team.sender.drain()
    reminders = [o for o in team.channel.sent[before:] if "Pengingat" in o.text]
    assert [o.user_id for o in reminders] == [K]


async def test_a_coordinator_can_revoke_a_volunteer(db: Database) -> None:
    team = await coordinator_team(db)
    await team.run([(K, "/kode_relawan")])
    code = await invite_code(db)
    await team.run([(V, f"/relawan {code}"), (V, "ya"), (V, "tagana"), (V, "Nina"),
                    (V, "kalibaru"), (V, "ya"), (K, Button("vol:ok:1"))])
    assert (await contact(db, V)).role == "volunteer"
    outs = await team.send(K, "/cabut_relawan 1")
    assert {o.user_id for o in outs} == {K, V}
    relawan = await contact(db, V)
    assert (relawan.role, relawan.volunteer_type) == ("resident", None)
    out = await team.say(V, "/asesmen")
    assert "hanya untuk relawan" in out.text
    out = await team.say(K, "/cabut_relawan 1")
    assert "bukan relawan yang aktif" in out.text
