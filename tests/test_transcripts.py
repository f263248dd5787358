"""Golden transcripts of the resident's report, through dispatcher, engine and database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Complaint, ComplaintStatus, ConversationSession
from tests.harness import (
    Action,
    Bot,
    Button,
    Clock,
    Later,
    Photo,
    Pin,
    Restart,
    Unsupported,
    check_golden,
)

pytestmark = [pytest.mark.e2e]


async def complaints(db: Database) -> list[Complaint]:
    async with db.session() as s:
        return list((await s.execute(select(Complaint).order_by(Complaint.id))).scalars())


BUTTONS: list[Action] = [
    "/start",
    Button("menu:lapor"),
    Button("jenis:air"),
    Button("kategori:keruh"),
    "Air keruh kecoklatan sejak pipa diperbaiki",
    "kemarin",
    "12",
    Pin(-6.1011, 106.9264),  # the place: a pin (no RT/RW asked then)
    Button("kelurahan:1004"),
    Button("patokan:__skip"),
    Photo(),  # sent while the number is asked: kept as the report's photo
    "0812-3456-7890",
    Button("confirm:yes"),
]


async def test_buttons(db: Database) -> None:
    bot = Bot(db)
    check_golden("complaint_buttons", await bot.run(BUTTONS))
    [c] = await complaints(db)
    assert c.report_type == "air" and c.category == "keruh"
    assert (c.kelurahan_code, c.rt, c.rw) == ("31.72.04.1004", None, None)
    assert c.latitude == pytest.approx(-6.1011)
    assert c.answers["sejak"] == "2026-11-27"
    assert c.answers["jumlah_kk"] == 12
    assert c.answers["foto"]["ref"] == "photo-1"
    assert c.answers["telepon"] == "+6281234567890"
    assert c.answers["boleh_dihubungi"] == "yes"  # giving the number is agreeing
    assert c.status == "diterima"
    async with db.session() as s:
        history = (await s.execute(select(ComplaintStatus.status))).scalars().all()
        assert history == ["diterima"]
        # The flow is over: nothing left in the session but the menu context.
        session = (await s.execute(select(ConversationSession))).scalar_one()
        assert session.flow_id is None


async def test_typed_numbers_and_loose_labels(db: Database) -> None:
    bot = Bot(db)
    script: list[Action] = [
        "halo",
        "1",  # menu: report
        "1",  # water
        "keruh",  # loose label for "Air keruh / kotor / berwarna"
        "airnya kotor banget, bau juga",
        "3 hari lalu",
        "sekitar 20 rumah",
        "kali baru 005/003 dekat musholla Al-Ikhlas",  # the whole place in one line
        "tidak",  # no number: not to be contacted
        "ya",
    ]
    check_golden("complaint_typed", await bot.run(script))
    [c] = await complaints(db)
    assert c.category == "keruh"
    assert c.answers["jumlah_kk"] == 20
    assert c.answers["sejak"] == "2026-11-25"
    assert (c.kelurahan_code, c.rt, c.rw) == ("31.72.04.1004", "005", "003")
    assert c.answers["patokan"] == "musholla Al-Ikhlas"
    assert c.answers["boleh_dihubungi"] == "no"
    assert "telepon" not in c.answers


async def test_back_skip_edit_cancel(db: Database) -> None:
    bot = Bot(db)
    script: list[Action] = [
        "lapor",
        "kembali",  # at the first question
        "air",
        "ngocor dikit",
        "kembali",  # back to the category
        "bau",
        "lewati",  # description is required
        "Air bau kaporit menyengat",
        "hari ini",
        "5",
        "Semper Timur rt 1 rw 2",
        "lewati",  # no landmark
        "lewati",  # no number
        "ubah",  # at the summary
        "Masalah air",  # pick by its title
        "asin",
        "ubah",
        Button("edit:tempat"),
        "kembali",  # leave the edit: the old answer stays
        "batal",
    ]
    check_golden("complaint_back_skip_edit_cancel", await bot.run(script))
    assert await complaints(db) == []


async def test_language_switch_mid_flow(db: Database) -> None:
    bot = Bot(db)
    script: list[Action] = [
        "lapor",
        "1",
        "bahasa",
        Button("lang:en"),
        "2",  # still the category question, now in English: "Low flow"
        "Very little water comes out in the mornings",
        "bahasa",
        "1",  # Bahasa Indonesia
        "kemarin",
    ]
    check_golden("complaint_language_switch", await bot.run(script))


async def test_restart_mid_flow_continues_at_the_same_step(db: Database) -> None:
    clock = Clock()
    bot = Bot(db, clock)
    await bot.run(["lapor", "air", "mati"])
    await bot.send(Restart())
    out = await bot.say("Air tidak keluar sama sekali")
    assert "Sejak kapan" in out.text
    # A brand-new process on the same database knows nothing but what was stored.
    fresh = Bot(db, clock)
    out = await fresh.say("2 hari lalu")
    assert "berapa rumah" in out.text


async def test_what_a_description_says_is_not_asked_again(db: Database) -> None:
    bot = Bot(db)
    await bot.run(["lapor", "air", "mati"])
    out = await bot.say("Sudah dua hari air tidak keluar sama sekali, se-RT 5 RW 3")
    assert "Sejak kapan" not in out.text and "berapa rumah" in out.text
    assert "Kamis, 26 November 2026" in out.text  # read back, to be corrected if wrong


async def test_expiry_offers_to_continue_with_a_recap(db: Database) -> None:
    clock = Clock()
    bot = Bot(db, clock)
    script: list[Action] = [
        "lapor",
        "air",
        "pompa",
        "Pompa sumur bor RW 07 mati",
        Later(25),
        "halo",
        "ya",
        "kemarin",
        Later(30),
        "pagi",
        "tidak",
    ]
    check_golden("complaint_expiry", await bot.run(script))


BAD_INPUTS = [
    "x" * 10_000,
    "😀😀😀",
    "",
    "<script>alert(1)</script>",
    "'; DROP TABLE complaints; --",
    Pin(-6.1, 106.9),
    Unsupported("voice"),
    Unsupported("sticker"),
]


PATH = ["lapor", "air", "mati", "Air mati total sejak subuh", "kemarin", "3", "kalibaru",
        "rt 1 rw 1", "lewati", "lewati"]


@pytest.mark.parametrize("depth", range(1, len(PATH) + 1), ids=lambda n: PATH[n - 1][:12])
async def test_bad_input_reprompts_and_loses_nothing(db: Database, depth: int) -> None:
    """At every question, hostile input is answered and keeps every answer given; at a
    required question it changes nothing at all (an optional one may be passed over)."""
    for n, bad in enumerate(BAD_INPUTS):
        bot = Bot(db, user=f"u{depth}-{n}")
        for action in PATH[:depth]:
            await bot.send(action)
        async with db.session() as s:
            before = (await s.execute(select(ConversationSession.state).where(
                ConversationSession.contact_id == await contact_id(db, bot)))).scalar_one()
        step = before["flow"]["step"]
        if isinstance(bad, Pin) and step == "tempat":
            continue  # a pin answers the place question
        free_text = step in ("uraian", "patokan", "tempat")
        if isinstance(bad, str) and free_text and len(bad) < 1000 and any(
            ch.isalnum() for ch in bad
        ):
            continue  # free text: markup and quotes are a valid description, stored verbatim
        out = await bot.say(bad)
        assert out.text, "a re-prompt is never empty"
        assert "Traceback" not in out.text and "Error" not in out.text
        async with db.session() as s:
            after = (await s.execute(select(ConversationSession.state).where(
                ConversationSession.contact_id == await contact_id(db, bot)))).scalar_one()
        assert after["flow"]["answers"] == before["flow"]["answers"], f"{bad!r} at {step}"
        if step in REQUIRED:
            assert after["flow"] == before["flow"], f"{bad!r} changed the session at {step}"
    assert await complaints(db) == []


REQUIRED = {"jenis", "kategori", "uraian", "tempat", "kelurahan"}


async def contact_id(db: Database, bot: Bot) -> int:
    async with db.transaction() as tx:
        contact = await tx.contacts.get_by_external(bot.channel.name, bot.user)
        assert contact is not None
        return contact.id


async def test_markup_and_injection_are_stored_verbatim(db: Database) -> None:
    bot = Bot(db)
    evil = "'; DROP TABLE complaints; -- <b>air</b> {ticket} %s"
    await bot.run(["lapor", "keluhan", evil, "marunda rt 2 rw 1", "lewati", "tidak", "ya"])
    [c] = await complaints(db)
    assert c.description == evil
    assert c.ticket.startswith("ADU-")


async def test_duplicate_delivery_is_answered_once(db: Database) -> None:
    bot = Bot(db)
    inbound = bot.inbound("lapor")
    assert await bot.dispatcher.handle(inbound) is True
    assert await bot.dispatcher.handle(inbound) is False
    await bot.sender.drain()
    assert len(bot.channel.sent) == 1


async def test_status_lists_own_tickets_only(db: Database) -> None:
    clock = Clock()
    siti = Bot(db, clock, user="siti")
    await siti.run(BUTTONS)
    [c] = await complaints(db)
    out = await siti.say(f"cek {c.ticket.lower()}")
    assert c.ticket in out.text and "Diterima" in out.text
    budi = Bot(db, clock, user="budi", name="Budi")
    out = await budi.say(f"cek {c.ticket}")
    assert "tidak ditemukan" in out.text
    out = await budi.say("status")
    assert "belum punya laporan" in out.text
    async with db.session() as s:
        assert (await s.execute(select(func.count(Complaint.id)))).scalar_one() == 1


# -- residents who write as they write ---------------------------------------------------


async def test_one_message_report(db: Database) -> None:
    """The whole report in one message: description, then the contact, then send."""
    bot = Bot(db)
    script: list[Action] = [
        "air pam mati dr kmrn di rt 3 rw 4 kalibaru deket masjid, 20an kk",
        "0812 3456 7890",
        "ya",
    ]
    check_golden("complaint_one_message", await bot.run(script))
    [c] = await complaints(db)
    assert (c.report_type, c.category) == ("air", "mati")
    assert (c.kelurahan_code, c.rt, c.rw) == ("31.72.04.1004", "003", "004")
    assert c.answers["sejak"] == "2026-11-27" and c.answers["jumlah_kk"] == 20
    assert c.answers["patokan"] == "masjid"
    assert c.description.startswith("air pam mati dr kmrn")


async def test_two_categories_get_a_short_question(db: Database) -> None:
    bot = Bot(db)
    script: list[Action] = ["air keruh dan bau dari kemarin", "1", "kalibaru rt 1 rw 2",
                            "lewati", "tidak", "ya"]
    transcript = await bot.run(script)
    check_golden("complaint_two_categories", transcript)
    first_reply = transcript.split("\n> ")[0]
    assert "yang mana" in first_reply and "pilihan itu tidak ada" not in transcript
    offered = [line.split("]")[0] for line in first_reply.splitlines() if "[kategori:" in line]
    assert offered == ["<   [kategori:keruh", "<   [kategori:bau"]
    [c] = await complaints(db)
    assert c.category == "keruh"  # "1": the first of the two offered


async def test_a_resident_who_does_not_know(db: Database) -> None:
    bot = Bot(db)
    script: list[Action] = [
        "sumur bor mati",
        "ga tau",  # since when
        "gak tau berapa",  # how many households
        "marunda",  # the place: a kelurahan only
        "ga tau",  # RT/RW
        "deket dermaga",
        "ga usah",  # no number
        "iya",
    ]
    check_golden("complaint_dont_know", await bot.run(script))
    [c] = await complaints(db)
    assert c.category == "pompa" and c.kelurahan_code == "31.72.04.1003"
    assert "sejak" not in c.answers and "jumlah_kk" not in c.answers
    assert c.rt is None and c.answers["patokan"] == "deket dermaga"


async def test_a_resident_who_switches_to_english(db: Database) -> None:
    bot = Bot(db)
    script: list[Action] = [
        "lapor air",
        "english",
        "the water is salty since 3 days ago",
        "about twenty families",
        "Kalibaru RT 2 RW 7 near the fish market",
        "no",
        "send",
    ]
    check_golden("complaint_english", await bot.run(script))
    [c] = await complaints(db)
    assert c.category == "asin" and c.answers["jumlah_kk"] == 20
    assert c.answers["sejak"] == "2026-11-25"
    assert (c.kelurahan_code, c.rt, c.rw) == ("31.72.04.1004", "002", "007")
