"""Rows written before keyed references: the privacy migration leaves no digit mask and no
typed number behind, without needing the key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import JSON, bindparam, select, text

from storage.crypto import IdentityCipher
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Complaint, Contact, UTCDateTime
from storage.models_volunteers import Assessment, AssessmentDraft, DataRequest

pytestmark = [pytest.mark.storage]

KEY = "migration-test-key-0123456789abcdef"
NIK, KK = "3172011203810001", "3172012005150007"


@pytest.fixture
async def old_database(database_url: str) -> AsyncIterator[str]:
    """The schema as it was before the privacy revision, with rows in the old forms."""
    for revision in ("0002_volunteers", "0003_activities", "0004_tickets"):
        await upgrade(database_url, revision)
    cipher = IdentityCipher(KEY)
    head, kk = cipher.seal("nik", NIK), cipher.seal("kk", KK)
    old_head = {"masked": "3172********0001", "sealed": head["sealed"], "hash": head["hash"],
                "sex": "1", "birth_date": "1981-03-12"}
    old_kk = {"masked": "3172********0007", "sealed": kk["sealed"], "hash": kk["hash"],
              "issued": "2015-05-20"}
    now = datetime(2026, 11, 28, 3, tzinfo=UTC)
    db = Database(database_url)
    try:
        async with db.transaction() as tx:
            async def run(sql: Any, params: dict[str, Any]) -> None:
                binds = [bindparam("now", type_=UTCDateTime())] + [
                    bindparam(k, type_=JSON()) for k, v in params.items() if isinstance(v, dict)]
                await tx.session.execute(sql.bindparams(*binds), params)
            await run(text(
                "INSERT INTO contacts (id, channel, external_id, name, language, role, "
                "opted_out, stopped, window_closed, created_at, updated_at) VALUES "
                "(1, 'console', 'relawan', 'Relawan', 'id', 'volunteer', false, false, "
                "false, :now, :now)"), {"now": now})
            await run(text(
                "INSERT INTO assessments (id, ref, contact_id, kelurahan_code, nik_sealed, "
                "nik_hash, nik_masked, kk_sealed, kk_hash, kk_masked, household_size, "
                "member_count, flags, answers, flow_id, flow_version, consent_version, "
                "specific_consent, created_at, updated_at) VALUES (1, 'ASM-AAAAA', 1, "
                "'31.72.04.1004', :ns, :nh, '3172********0001', :ks, :kh, "
                "'3172********0007', 1, 1, '[]', :answers, 'assessment', 1, 'v1', true, "
                ":now, :now)"),
                {"ns": head["sealed"], "nh": head["hash"], "ks": kk["sealed"],
                 "kh": kk["hash"], "now": now, "answers": {"kepala_nik": old_head, "no_kk": old_kk,
                                            "anggota": [{"nama": "Budi", "nik": old_head}],
                                            "patokan": f"KK lama {KK}"}})
            await run(text(
                "INSERT INTO assessment_drafts (id, contact_id, flow_id, flow_version, "
                "state, created_at, updated_at) VALUES (1, 1, 'assessment', 1, :state, "
                ":now, :now)"),
                {"now": now, "state": {"answers": {"kepala_nik": old_head}}})
            await run(text(
                "INSERT INTO complaints (id, ticket, contact_id, report_type, description, "
                "status, flow_id, flow_version, answers, created_at, updated_at) VALUES "
                "(1, 'AIR-AAAAA', 1, 'air', :d, 'diterima', 'complaint', 1, :a, :now, :now)"),
                {"d": f"Air keruh, NIK saya {NIK}", "now": now,
                 "a": {"uraian": f"Air keruh, NIK saya {NIK}"}})
            await run(text(
                "INSERT INTO data_requests (id, ref, contact_id, kind, details, status, "
                "created_at, due_at) VALUES (1, 'DSR-AAAAA', 1, 'ubah', :d, 'baru', :now, "
                ":now)"), {"d": f"NIK {NIK[:4]} {NIK[4:8]} {NIK[8:12]} {NIK[12:]} salah",
                           "now": now})
    finally:
        await db.close()
    yield database_url


async def test_old_masks_become_references_and_typed_numbers_are_hidden(
        old_database: str) -> None:
    await upgrade(old_database)
    cipher = IdentityCipher(KEY)
    db = Database(old_database)
    try:
        async with db.session() as s:
            a = (await s.execute(select(Assessment))).scalar_one()
            draft = (await s.execute(select(AssessmentDraft))).scalar_one()
            complaint = (await s.execute(select(Complaint))).scalar_one()
            request = (await s.execute(select(DataRequest))).scalar_one()
            contact = (await s.execute(select(Contact))).scalar_one()
    finally:
        await db.close()
    assert (a.nik_masked, a.kk_masked) == (cipher.reference("nik", NIK),
                                           cipher.reference("kk", KK))
    head = a.answers["kepala_nik"]
    assert head["ref"] == head["masked"] == cipher.reference("nik", NIK)
    assert "birth_date" not in head and "issued" not in a.answers["no_kk"]
    assert a.answers["anggota"][0]["nik"]["ref"] == cipher.reference("nik", NIK)
    assert a.answers["patokan"] == "KK lama [nomor disembunyikan]"
    assert cipher.decrypt("nik", head["sealed"]) == NIK  # the number itself is kept
    assert draft.state["answers"]["kepala_nik"]["masked"] == cipher.reference("nik", NIK)
    assert complaint.description == "Air keruh, NIK saya [nomor disembunyikan]"
    assert complaint.answers["uraian"] == "Air keruh, NIK saya [nomor disembunyikan]"
    assert request.details == "NIK [nomor disembunyikan] salah"
    assert contact.erased_at is None and contact.role_source is None
    everything = json.dumps([a.answers, draft.state, complaint.answers]) + str(
        [a.nik_masked, a.kk_masked, complaint.description, request.details])
    assert "********" not in everything and NIK[8:] not in everything
