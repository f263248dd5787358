"""The realistic-resident simulation itself: that it counts messages, refusals, giving up
and wrong slots as a reader of its table would expect, and that its corpus and its table
of steps cover what the bot asks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench import residents as sim
from bench.residents_corpus import CONCEPTS, RESIDENTS, Meaning, Resident
from conversations import qtypes
from conversations.complaint import COMPLAINT
from storage.db import Database
from storage.models import Complaint, ProcessedInbound

pytestmark = pytest.mark.storage

# Answers in the words of the bot's own examples, one per question, in order.
SCRIPTED = Resident(
    key="scripted",
    name="Uji",
    who="answers every question the way the bot's examples show",
    opening=("lapor",),
    answers={
        "intent": ("lapor",),
        "kind": ("air",),
        "category": ("mati",),
        "description": ("Air tidak mengalir sejak kemarin",),
        "since": ("kemarin",),
        "households": ("5",),
        "pin": ("lewati",),
        "kelurahan": ("Kalibaru",),
        "rt_rw": ("RT 5 RW 3",),
        "landmark": ("dekat masjid",),
        "photo": ("lewati",),
        "contact_ok": ("ya",),
        "phone": ("0812 3456 7890",),
        "confirm": ("ya",),
    },
    means=Meaning("mati", 5, ("005", "003"), "1004", True, "+6281234567890"),
)

NONSENSE = "qqq zzz"


async def _inbound_count(db: Database) -> int:
    async with db.transaction() as tx:
        return int((await tx.session.execute(
            select(func.count()).select_from(ProcessedInbound))).scalar_one())


async def _tickets(db: Database) -> list[str]:
    async with db.transaction() as tx:
        return list((await tx.session.execute(select(Complaint.ticket))).scalars())


async def test_a_resident_who_answers_everything_gets_a_ticket_counted_right(
        db: Database, tmp_path: Path) -> None:
    result = await sim.simulate(SCRIPTED, db, tmp_path)

    assert result.outcome == "ticket"
    assert result.ticket in await _tickets(db)
    assert result.refusals == 0
    assert result.refused_at == {}
    assert result.wrong_slots == []
    # Every message the resident sent reached the bot once, and each is one line.
    assert result.messages == await _inbound_count(db)
    assert result.messages == sum(line.startswith("> ") for line in result.transcript)
    assert "← refused" not in "\n".join(result.transcript)


async def test_refusals_are_counted_where_they_happen(db: Database, tmp_path: Path) -> None:
    resident = replace(SCRIPTED, opening=(NONSENSE,),
                       answers={**SCRIPTED.answers, "category": (NONSENSE, "mati")})
    result = await sim.simulate(resident, db, tmp_path)

    assert result.outcome == "ticket"
    assert result.refusals == 2
    assert result.refused_at == {"opening": 1, "category": 1}
    assert result.messages == await _inbound_count(db)
    refused = [line for line in result.transcript if line.endswith("← refused")]
    assert refused == [f"> [opening] {NONSENSE}   ← refused",
                       f"> [category] {NONSENSE}   ← refused"]


async def test_a_resident_gives_up_after_their_patience(db: Database, tmp_path: Path) -> None:
    resident = replace(SCRIPTED, patience=2,
                       answers={**SCRIPTED.answers, "category": (NONSENSE,)})
    result = await sim.simulate(resident, db, tmp_path)

    assert result.outcome == "gave up at category"
    assert result.ticket is None
    assert await _tickets(db) == []
    assert result.refused_at == {"category": 2}
    assert result.messages == await _inbound_count(db)


@pytest.mark.parametrize("then_buttons", [False, True])
async def test_out_of_patience_a_resident_may_tap_the_button_instead(
        db: Database, tmp_path: Path, then_buttons: bool) -> None:
    resident = replace(SCRIPTED, patience=1,
                       answers={**SCRIPTED.answers, "category": (NONSENSE,)})
    result = await sim.simulate(resident, db, tmp_path, then_buttons=then_buttons)

    assert result.refused_at == {"category": 1}
    if then_buttons:
        assert result.outcome == "ticket"
        assert result.tapped_after_giving_up == 1
        assert result.wrong_slots == []
    else:
        assert result.outcome == "gave up at category"
        assert result.tapped_after_giving_up == 0
    assert result.messages == await _inbound_count(db)


async def test_the_message_limit_stops_a_conversation(db: Database, tmp_path: Path) -> None:
    result = await sim.simulate(SCRIPTED, db, tmp_path, max_messages=3)

    assert result.outcome == "3 messages"
    assert result.ticket is None
    assert result.messages == 3 == await _inbound_count(db)


async def test_a_stored_answer_unlike_what_was_meant_is_a_wrong_slot(
        db: Database, tmp_path: Path) -> None:
    resident = replace(SCRIPTED, means=replace(SCRIPTED.means, households=7,
                                               rt_rw=("005", "004")))
    result = await sim.simulate(resident, db, tmp_path)

    assert result.outcome == "ticket"
    assert result.wrong_slots == ["households 7→5", "rt_rw 005/004→005/003"]


async def test_a_button_presser_presses_the_button_that_fits(db: Database,
                                                             tmp_path: Path) -> None:
    # Typed, "Kalibaru" and "ya" would be understood too: the buttons must be the ones
    # meaning the same.
    resident = replace(SCRIPTED, buttons=True, answers={**SCRIPTED.answers,
                                                        "category": ("(ketik)",)})
    result = await sim.simulate(resident, db, tmp_path)

    assert result.outcome == "ticket"
    assert result.refusals == 0
    assert result.wrong_slots == []
    assert any(line.startswith("> [category] [button ") for line in result.transcript)


def test_the_corpus_has_distinct_residents_who_answer_every_concept() -> None:
    assert len(RESIDENTS) >= 24
    assert len({r.key for r in RESIDENTS}) == len(RESIDENTS)
    assert len({r.opening for r in RESIDENTS}) == len(RESIDENTS)
    categories = {"mati", "debit", "keruh", "bau", "asin", "bocor", "pompa", "kering",
                  "tangki", "harga", "tagihan", "rob"}
    assert {r.means.category for r in RESIDENTS} == categories
    for resident in RESIDENTS:
        missing = [c for c in CONCEPTS if not resident.answers.get(c)]
        assert missing == [], resident.key


def test_every_step_the_bot_asks_maps_to_a_concept_residents_answer() -> None:
    unknown_steps = [s.name for s in COMPLAINT.steps
                     if s.name not in sim.STEP_CONCEPTS and qtypes.get(s.type).asked]
    assert unknown_steps == []
    for where, concept in sim.STEP_CONCEPTS.items():
        for c in (concept,) if isinstance(concept, str) else concept:
            assert c in CONCEPTS, where


@pytest.mark.parametrize(
    ("before", "after", "choices_before", "choices_after", "first", "opening", "refused"),
    [
        ("rt_rw", "rt_rw", (), (), "Mohon tulis RT dan RW.", False, True),
        ("rt_rw", "patokan", (), ("patokan:__skip",), "Ada patokan?", False, False),
        # A re-ask without any apology is still the same question again.
        ("sejak", "sejak", (), (), "Sejak kapan?", False, True),
        # Two categories offered as buttons: a narrowing question, not a refusal.
        ("kategori", "kategori", ("a", "b", "c"), ("a", "b"), "Maksudnya yang mana?", False,
         False),
        ("kategori", "kategori", ("a", "b", "c"), ("a", "b"), "Maaf, pilihan itu tidak ada.",
         False, True),
        # Bounced from the menu to "not found" outside any menu: still not understood.
        ("@menu", "@idle", ("menu:lapor",), (), "Tiket AIR-KECIL tidak ditemukan.", False,
         True),
        ("@menu", "jenis", ("menu:lapor",), ("jenis:air",), "Kita buat laporan baru.", False,
         False),
        # Dropped back to the menu from a question, told it was not understood.
        ("kategori", "@menu", ("a",), ("menu:lapor",), "Maaf, saya belum mengerti.", False,
         True),
        # The first message: a welcome menu is no refusal, "not understood" is.
        ("@idle", "@menu", (), ("menu:lapor",), "Halo Siti!", True, False),
        ("@idle", "@menu", (), ("menu:lapor",), "Maaf, saya belum mengerti pesan itu.", True,
         True),
        ("@idle", "@idle", (), (), "Tiket AIR-SUMUR tidak ditemukan.", True, True),
        # A report opened straight away, with a request for what is missing.
        ("@idle", "rt_rw", (), (), "Mohon tulis RT dan RW.", True, False),
    ],
)
def test_what_counts_as_a_refusal(before: str, after: str, choices_before: tuple[str, ...],
                                  choices_after: tuple[str, ...], first: str, opening: bool,
                                  refused: bool) -> None:
    assert sim.is_refusal(before, after, choices_before, choices_after, first,
                          opening=opening) is refused


async def test_json_report_has_a_row_per_resident_and_the_totals(
        capsys: pytest.CaptureFixture[str]) -> None:
    keys = [RESIDENTS[0].key, RESIDENTS[1].key]
    await sim.main(["--json", "--only", ",".join(keys)])
    data = json.loads(capsys.readouterr().out)

    assert [row["key"] for row in data["residents"]] == keys
    summary = data["summary"]
    assert summary["residents"] == 2
    assert summary["refusals_total"] == sum(row["refusals"] for row in data["residents"])
    assert summary["tickets"] == sum(row["ticket"] for row in data["residents"])
