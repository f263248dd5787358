"""The benchmarks' conventional bot: it answers like a PTB bot and carries nothing of ours.

Its memory and CPU are what ours is measured against; once it imported our service for
three constants and its memory figure was 37 MB too high.
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp

from bench.baseline_ptb import SECRET, serve_argv
from bench.intake import free_port, start_child
from bench.telegram_webhook import update_for
from bot.telegram import SECRET_HEADER, WEBHOOK_PATH
from tests.fakes.telegram_api import FakeBotAPI

OURS = ("bot", "storage", "conversations", "handlers", "sqlalchemy", "babel", "bench",
        "tests")


async def test_it_answers_start_with_the_menu_and_imports_nothing_of_ours(
        tmp_path: Path) -> None:
    async with FakeBotAPI() as fake:
        port = free_port()
        argv = serve_argv("ptb", port, fake.url, tmp_path)
        # -X importtime lists every module the process imports, on stderr (to the log).
        argv.insert(1, "-X")
        argv.insert(2, "importtime")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WARGA_", "TELEGRAM_", "WHATSAPP_", "PYTHONPATH"))}
        child = await start_child(argv, env, port, tmp_path / "ptb.log")
        try:
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{child.url}{WEBHOOK_PATH}",
                                     json=update_for(4_100_001, ("text", "/start"), None),
                                     headers={SECRET_HEADER: SECRET}) as response:
                    assert response.status == 200
                async with http.post(f"{child.url}{WEBHOOK_PATH}", json={},
                                     headers={SECRET_HEADER: "wrong"}) as response:
                    assert response.status == 403
            await fake.wait_for(lambda: bool(fake.sent(4_100_001)))
        finally:
            await child.stop()
    reply = fake.sent(4_100_001)[0]
    assert "reply_markup" in reply
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in (tmp_path / "ptb.log").read_text().splitlines()
                if line.startswith("import time:")}
    assert "telegram" in imported and "aiohttp" in imported
    assert not imported & set(OURS), sorted(imported & set(OURS))
