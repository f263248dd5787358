"""Telegram inbound: real-shaped Bot API updates (tests/fixtures/telegram) → Inbound.

One table, one harness: fixture name → the inbound messages expected (only the fields
named are checked; the channel, the dedupe id and the user are checked for every row).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, Update

from conversations.messages import Inbound, InboundKind, Location
from handlers.telegram import TelegramChannel
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TOKEN

FIXTURES = Path(__file__).parent / "fixtures" / "telegram"
SITI = "681234567"
GROUP = "-1001987654321"

# (fixture, expected inbound fields; None = the update yields nothing)
CASES: list[tuple[str, dict[str, Any] | None]] = [
    ("text", {"kind": InboundKind.TEXT, "text": "Air di gang kami keruh sejak kemarin 😟",
              "contact_name": "Siti Aminah", "language": "id"}),
    ("command_start_payload", {"kind": InboundKind.TEXT, "text": "/start relawan_K4LB4RU"}),
    # In a private chat a command addressed @WargaBot is the plain command.
    ("command_batal_mention", {"kind": InboundKind.TEXT, "text": "/batal"}),
    ("callback_query", {"kind": InboundKind.CHOICE, "choice_id": "jenis:air",
                        "ack_ref": "2925084760316738101", "text": None}),
    ("callback_game", None),
    ("location", {"kind": InboundKind.LOCATION,
                  "location": Location(-6.101123, 106.926417)}),
    ("venue", {"kind": InboundKind.LOCATION,
               "location": Location(-6.098765, 106.930211, name="Masjid Al-Ikhlas",
                                    address="Jl. Kalibaru Timur V, Cilincing")}),
    # The first message of a live location is an answer; its later moves are edits.
    ("live_location", {"kind": InboundKind.LOCATION,
                       "location": Location(-6.101001, 106.926002)}),
    ("edited_live_location", None),
    ("edited_message", None),
    ("photo", {"kind": InboundKind.MEDIA, "media.kind": "photo",
               "media.ref": "AgACAgUAAxkBAAIBW2X-large", "media.unique_id": "AQADlarge",
               "media.size": 112003, "media.caption": "Air dari keran"}),
    ("document", {"kind": InboundKind.UNSUPPORTED, "unsupported": "document"}),
    ("voice", {"kind": InboundKind.UNSUPPORTED, "unsupported": "voice"}),
    ("audio", {"kind": InboundKind.UNSUPPORTED, "unsupported": "audio"}),
    ("video", {"kind": InboundKind.UNSUPPORTED, "unsupported": "video"}),
    ("video_note", {"kind": InboundKind.UNSUPPORTED, "unsupported": "video"}),
    ("sticker", {"kind": InboundKind.UNSUPPORTED, "unsupported": "sticker"}),
    # An animation also carries `document`: it is not a document to the user.
    ("animation", {"kind": InboundKind.UNSUPPORTED, "unsupported": "other"}),
    ("dice", {"kind": InboundKind.UNSUPPORTED, "unsupported": "other"}),
    ("contact_own", {"kind": InboundKind.CONTACT, "phone": "6281234567890"}),
    ("contact_other", {"kind": InboundKind.UNSUPPORTED, "unsupported": "contact",
                       "phone": None}),
    ("my_chat_member_blocked", {"kind": InboundKind.STOPPED}),
    ("my_chat_member_unblocked", {"kind": InboundKind.RESUMED}),
    ("my_chat_member_group_added", None),
    # Groups: answered only when addressed to the bot, and then in the group.
    ("group_chatter", None),
    ("group_other_bot_command", None),
    ("group_command", {"user_id": GROUP, "kind": InboundKind.UNSUPPORTED,
                       "unsupported": "group", "contact_name": "Warga RT 05 Kalibaru"}),
    ("group_mention", {"user_id": GROUP, "kind": InboundKind.UNSUPPORTED,
                       "unsupported": "group"}),
    ("group_reply_to_bot", {"user_id": GROUP, "kind": InboundKind.UNSUPPORTED,
                            "unsupported": "group"}),
    ("service_pinned", None),
    ("channel_post", None),
]


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return data


@pytest.fixture
def channel() -> TelegramChannel:
    # Never initialized: parsing makes no Bot API call.
    return TelegramChannel(Bot(TOKEN), username=BOT_USERNAME, bot_id=BOT_ID)


def field(inbound: Inbound, path: str) -> Any:
    value: Any = inbound
    for part in path.split("."):
        value = getattr(value, part)
    return value


def test_every_fixture_has_a_case() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.json")) == sorted(name for name, _ in CASES)


@pytest.mark.parametrize(("name", "expected"), CASES, ids=[name for name, _ in CASES])
def test_parse(channel: TelegramChannel, name: str, expected: dict[str, Any] | None) -> None:
    update = load(name)
    inbound = channel.parse(update)
    if expected is None:
        assert inbound == []
        return
    assert len(inbound) == 1
    got = inbound[0]
    assert got.channel == "telegram"
    assert got.message_id == str(update["update_id"])  # the dedupe key is the update id
    expected = {"user_id": SITI, **expected}
    assert {path: field(got, path) for path in expected} == expected


def test_a_ptb_update_parses_like_its_json(channel: TelegramChannel) -> None:
    data = load("callback_query")
    assert channel.parse(Update.de_json(data, channel.bot)) == channel.parse(data)


def test_timestamps_are_aware(channel: TelegramChannel) -> None:
    (inbound,) = channel.parse(load("text"))
    assert inbound.timestamp is not None and inbound.timestamp.utcoffset() is not None


@pytest.mark.parametrize("bad", [
    [], {"message": {}}, {"update_id": "7"}, {"update_id": 7, "message": {"text": "no chat"}},
    {"update_id": 7, "callback_query": {"id": "1"}},
])
def test_malformed_updates_are_refused(channel: TelegramChannel, bad: Any) -> None:
    with pytest.raises(ValueError):
        channel.decode(bad)


def test_an_update_with_nothing_new_is_ignored(channel: TelegramChannel) -> None:
    assert channel.parse({"update_id": 9, "poll": {
        "id": "5", "question": "?", "options": [], "total_voter_count": 0, "is_closed": True,
        "is_anonymous": True, "type": "regular", "allows_multiple_answers": False}}) == []
