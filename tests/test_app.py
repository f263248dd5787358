"""The service: health, metrics, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.settings import Settings

pytestmark = [pytest.mark.e2e]


async def test_health_and_metrics(database_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=database_url, data_dir=tmp_path)
    app = create_app(settings, plugins=[], features=[])
    async with TestClient(TestServer(app)) as client:
        health = await client.get("/healthz")
        assert health.status == 200
        assert (await health.json())["database"] == "ok"
        metrics = await client.get("/metrics")
        assert metrics.status == 200
        body = await metrics.text()
        assert "warga_inbound_messages_total" in body and "warga_outbox_pending" in body
        missing = await client.get("/no-such-page")
        assert missing.status == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_starts_answers_and_stops_cleanly_on_sigterm(database_url: str,
                                                            tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("WARGA_", "TELEGRAM_", "WHATSAPP_"))}
    env.update(WARGA_DATABASE_URL=database_url, WARGA_DATA_DIR=str(tmp_path),
               WARGA_PORT=str(port), WARGA_SECRET_KEY="s" * 40)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    status = r.status
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        assert status == 200, proc.stdout.read() if proc.poll() is not None else "no answer"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "Traceback" not in output
    assert "s" * 40 not in output  # the secret key never reaches the log
