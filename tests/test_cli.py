"""The command line, run as an operator would: separate processes on one database."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.outbox import OutboxSender
from conversations.messages import Outbound
from conversations.tickets import TICKET_RE
from handlers.console import CHANNEL
from storage.db import Database
from storage.models import OutboxMessage
from tests.harness import Clock, RecordingChannel

pytestmark = [pytest.mark.e2e]

SCRIPT = "\n".join([
    "halo", "1", "1", "keruh", "Air keruh kecoklatan", "2 hari lalu", "15",
    "Kalibaru RT 05 / RW 03 dekat pos ronda", "0812 3456 7890", "kirim", "status",
]) + "\n"


def warga(
    args: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
        env=env, timeout=120, cwd=Path(__file__).resolve().parents[1],
    )


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WARGA_", "TELEGRAM_",
                                                                     "WHATSAPP_"))}
    return {**base, "WARGA_DATABASE_URL": database_url, "WARGA_DATA_DIR": str(tmp_path)}


def test_piped_chat_ends_with_a_ticket_that_the_export_shows(env: dict[str, str],
                                                              tmp_path: Path) -> None:
    chat = warga(["chat", "--user", "bu-siti", "--name", "Siti"], env, SCRIPT)
    assert chat.returncode == 0, chat.stderr
    tickets = re.findall(r"Nomor laporan: \*([A-Z]{3}-[0-9A-Z]{5})\*", chat.stdout)
    assert len(tickets) == 1 and TICKET_RE.match(tickets[0])
    ticket = tickets[0]
    assert f"• {ticket} — Masalah air bersih — Diterima" in chat.stdout
    assert "Traceback" not in chat.stderr

    out = tmp_path / "complaints.csv"
    export = warga(["export", "complaints", "--format", "csv", "--out", str(out)], env)
    assert export.returncode == 0, export.stderr
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    [row] = rows
    assert row["No. tiket"] == ticket
    assert (row["Kategori (kode)"], row["Kategori"]) == ("keruh", "Air keruh / kotor / berwarna")
    assert row["Isi laporan"] == "Air keruh kecoklatan"
    assert (row["Kode kelurahan"], row["RW"], row["RT"]) == ("31.72.04.1004", "003", "005")
    assert re.match(r"\d{4}-\d{2}-\d{2}$", row["Sejak"])
    assert row["Rumah yang kena"] == "15"
    assert row["Patokan"] == "pos ronda"
    assert row["No. HP pelapor (jika setuju dihubungi)"] == "+6281234567890"
    assert row["Tempat"] == "pos ronda"  # the place, typed in one line


def test_the_conversation_survives_a_new_process(env: dict[str, str]) -> None:
    first = warga(["chat", "--user", "pak-budi"], env, "lapor\nair\nmati\n")
    assert first.returncode == 0, first.stderr
    assert first.stdout.rstrip().endswith("Ceritakan sedikit masalahnya, ya.")
    second = warga(["chat", "--user", "pak-budi"], env, "Air mati total\n")
    assert "Sejak kapan masalahnya, Bapak/Ibu?" in second.stdout


def test_coordinator_add_and_db_upgrade(env: dict[str, str]) -> None:
    upgraded = warga(["db", "upgrade"], env)
    assert upgraded.returncode == 0, upgraded.stderr
    added = warga(["coordinator", "add", "telegram:4242"], env)
    assert added.returncode == 0 and "telegram:4242 is a coordinator" in added.stdout
    wrong = warga(["coordinator", "add", "fax-4242"], env)
    assert wrong.returncode == 2 and "CHANNEL:ID" in wrong.stderr


def test_bad_configuration_is_refused_with_the_reason(env: dict[str, str]) -> None:
    result = warga(["db", "upgrade"], {**env, "WARGA_LOCALE": "fr", "WARGA_PORT": "x"})
    assert result.returncode == 2
    assert "WARGA_LOCALE" in result.stderr and "WARGA_PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.storage
async def test_a_terminal_sends_only_its_own_persons_console_messages(db: Database) -> None:
    clock = Clock()

    async def queue(recipient: str, text: str, priority: int = 0) -> None:
        async with db.transaction() as tx:
            await tx.outbox.enqueue(
                channel=CHANNEL, recipient=recipient, now=clock(), priority=priority,
                payload=Outbound(channel=CHANNEL, user_id=recipient, text=text).as_dict())

    await queue("siti", "balasan untuk Siti")
    await queue("koor", "Setujui/Tolak untuk koordinator")
    await queue("siti", "siaran untuk Siti", priority=10)
    await queue("koor", "siaran untuk koordinator", priority=10)

    async def terminal(user: str) -> list[str]:
        channel = RecordingChannel(CHANNEL)
        sender = OutboxSender(db, {CHANNEL: channel}, clock=clock,
                              recipients=frozenset({user}))
        try:
            await sender.drain()
        finally:
            await sender.stop()
        return [m.text for m in channel.sent]

    assert sorted(await terminal("siti")) == ["balasan untuk Siti", "siaran untuk Siti"]
    async with db.session() as session:
        left = {(r.recipient, r.status, r.attempts) for r in (await session.execute(
            select(OutboxMessage).where(OutboxMessage.recipient == "koor"))).scalars()}
    assert left == {("koor", "pending", 0)}
    assert sorted(await terminal("koor")) == ["Setujui/Tolak untuk koordinator",
                                              "siaran untuk koordinator"]
    assert await terminal("siti") == []


def test_two_terminals_on_one_database_each_see_their_own_messages(
        env: dict[str, str]) -> None:
    report = warga(["chat", "--user", "bu-siti", "--name", "Siti"], env, SCRIPT)
    assert report.returncode == 0, report.stderr
    assert "console:bu-siti" in report.stderr
    assert "warga chat --as coordinator --user 2" in report.stderr
    [ticket] = re.findall(r"Nomor laporan: \*([A-Z]{3}-[0-9A-Z]{5})\*", report.stdout)

    # The coordinator verifies it in a terminal of their own.
    koor = warga(["chat", "--as", "coordinator", "--user", "koor"], env,
                 f"/tiket {ticket}\n1\n")
    assert koor.returncode == 0, koor.stderr
    assert "*koordinator* (console:koor)" in koor.stderr
    assert f"Status {ticket} sekarang *Diverifikasi*" in koor.stdout
    assert "Kabar laporan" not in koor.stdout
    notice = f"Kabar laporan *{ticket}*: statusnya sekarang *Diverifikasi*."

    # The resident's notice waited for the resident's terminal: it comes first there.
    again = warga(["chat", "--user", "bu-siti"], env, "menu\n")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(notice), again.stdout
    assert "Ubah status" not in again.stdout
