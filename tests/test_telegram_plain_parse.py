"""The Telegram channel reads common updates straight from their JSON (a fast path for the
webhook); every update must come out exactly as PTB's decoding would make it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, Update

from handlers.telegram import TelegramChannel, _parse_plain
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TOKEN

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "telegram").glob("*.json"))
# The shapes the fast path must take (the others go through PTB).
PLAIN = {"text", "command_start_payload", "command_batal_mention", "callback_query",
         "location", "live_location", "photo"}


@pytest.fixture
def channel() -> TelegramChannel:
    return TelegramChannel(Bot(TOKEN), username=BOT_USERNAME, bot_id=BOT_ID)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_the_json_parses_as_ptb_decodes_it(channel: TelegramChannel, path: Path) -> None:
    data = json.loads(path.read_text())
    via_ptb = channel.parse(Update.de_json(copy.deepcopy(data), channel.bot))
    assert channel.parse(copy.deepcopy(data)) == via_ptb
    assert (_parse_plain(data) is not None) == (path.stem in PLAIN)


def _text_update() -> dict[str, Any]:
    return json.loads((FIXTURES[0].parent / "text.json").read_text())


@pytest.mark.parametrize("spoil", [
    lambda u: u["message"].pop("date"),
    lambda u: u["message"]["chat"].update(id="681234567"),
    lambda u: u["message"]["from"].update(is_bot="no"),
    lambda u: u["message"].update(entities=[{"type": "bold"}]),
    lambda u: u["message"].update(text=7),
    lambda u: u["message"].update(reply_to_message={"message_id": 1}),
    lambda u: u.update(edited_message={}),
], ids=["no date", "chat id as text", "is_bot not a bool", "entity without offset",
        "text not a string", "an unexpected field", "a second update kind"])
def test_anything_unexpected_goes_to_ptb(spoil: Any) -> None:
    update = _text_update()
    spoil(update)
    assert _parse_plain(update) is None
