"""WhatsApp webhook payloads → Inbound / status updates / ignored, as a table.

Every real payload in ``tests/fixtures/whatsapp`` (pywa's test data, MIT — see the
LICENSE file there) has a row; a test fails when a fixture is added without one.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conversations.messages import Inbound, InboundKind, Location, Media
from handlers.whatsapp import (
    Batch,
    NumberChange,
    PayloadError,
    PlatformError,
    StatusUpdate,
    parse,
    sign,
    verify_signature,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "whatsapp"

BSUID = "US.13491208655302741918"
WA_ID = "972987654321"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def fixture_payload(ref: str) -> dict[str, Any]:
    name, key = ref.split("/")
    payload: dict[str, Any] = load(name)[key]
    return payload


def ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def msg(message_id: str, when: int, kind: InboundKind = InboundKind.TEXT, **fields: Any) -> Inbound:
    """An inbound from the fixtures' user (BSUID first, wa_id kept beside it)."""
    base: dict[str, Any] = {"channel": "whatsapp", "user_id": BSUID, "alt_user_id": WA_ID,
                            "contact_name": "Test Name", "message_id": message_id,
                            "timestamp": ts(when), "kind": kind}
    base.update(fields)
    return Inbound(**base)


def unsupported(what: str, when: int, message_id: str = "wamid.xyzxyz") -> Inbound:
    return msg(message_id, when, InboundKind.UNSUPPORTED, unsupported=what)


def status(state: str, when: int, *errors: PlatformError, recipient: str = WA_ID,
           message_id: str = "wamid.xyzxyz") -> StatusUpdate:
    return StatusUpdate(message_id, state, recipient, tuple(errors), ts(when))


@dataclass
class Case:
    ref: str
    messages: list[Inbound] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    errors: list[int | None] = field(default_factory=list)
    number_changes: list[NumberChange] = field(default_factory=list)


PHOTO = Media(kind="photo", ref="65463453", mime_type="image/jpeg", sha256="4654+8g=")

FIXTURE_CASES = [
    Case("callback_button/button", [msg("wamid.xyzxyz", 1698266730, InboundKind.CHOICE,
                                        choice_id="callback_data", text="title")]),
    Case("callback_button/quick_reply", [msg("wamid.xsidjw", 1698269027, InboundKind.CHOICE,
                                             choice_id="callback_data", text="title")]),
    Case("callback_button/quick_reply_without_context",
         [msg("wamid.xsidjx", 1698269027, InboundKind.CHOICE, choice_id="callback_data",
              text="title")]),
    Case("callback_selection/callback", [msg("wamid.zyzxyz", 1698266905, InboundKind.CHOICE,
                                             choice_id="callback_data", text="title")]),
    Case("callback_selection/description", [msg("wamid.zyzxyz", 1698266905, InboundKind.CHOICE,
                                                choice_id="callback_data", text="title")]),
    Case("message/text", [msg("wamid.xyzxyz", 1697043223, text="Body Text")]),
    Case("message/image", [msg("wamid.xyzxyz", 1697043379, InboundKind.MEDIA, media=PHOTO)]),
    Case("message/media_with_url", [msg("wamid.xyzxyz", 1697043379, InboundKind.MEDIA,
                                        media=PHOTO)]),
    Case("message/video", [unsupported("video", 1697044362)]),
    Case("message/document", [unsupported("document", 1697043666)]),
    Case("message/audio", [unsupported("audio", 1697043509)]),
    Case("message/voice", [unsupported("voice", 1697043473)]),
    Case("message/static_sticker", [unsupported("sticker", 1697043760)]),
    Case("message/animated_sticker", [unsupported("sticker", 1697043785)]),
    Case("message/reaction", [unsupported("reaction", 1697044456)]),
    Case("message/unreaction_empty", ignored=["reaction removed"]),
    Case("message/unreaction_no_emoji", ignored=["reaction removed"]),
    Case("message/current_location", [msg("wamid.xyzxyz", 1697044557, InboundKind.LOCATION,
                                           location=Location(12.25089, 43.90539))]),
    Case("message/chosen_location", [msg(
        "wamid.xyzxyz", 1697044557, InboundKind.LOCATION,
        location=Location(37.4611978, -122.2164385, "Facebook HQ",
                          "1 Hacker Way, Menlo Park, CA 94025"))]),
    Case("message/contacts", [msg("wamid.xyzxyz", 1697044621, InboundKind.CONTACT,
                                  phone="+1 555-555-5555")]),
    Case("message/order", [unsupported("other", 1697044668)]),
    Case("message/unsupported", [unsupported("other", 1697044706)], errors=[131051]),
    Case("message/unsupported_with_type", [unsupported("other", 1697044706)], errors=[131051]),
    Case("message/reply", [msg("wamid.xyzxyz", 1697044746, text="replied text")]),
    Case("message/forwarded", [msg("wamid.xyzxyz", 1697044815, text="forwarded text")]),
    Case("message/forwarded_many_times", [msg("wamid.xyzxyz", 1697044968,
                                              text="text forwarded many times")]),
    Case("message/interactive_message_with_err",
         [unsupported("other", 1700505494, "wamid.wegrchytvwcggt=")], errors=[131000]),
    Case("message/referral", [msg("wamid.ID", 1697045000, text="BODY")]),
    Case("message_status/sent", statuses=[status("sent", 1698266945)]),
    Case("message_status/delivered", statuses=[status("delivered", 1698266945)]),
    Case("message_status/read", statuses=[status("read", 1689380458)]),
    Case("message_status/played", ignored=["status played"]),
    Case("message_status/failed", statuses=[status(
        "failed", 1689380458, PlatformError(130472, "User's number is part of an experiment"))]),
    Case("message_status/with_tracker", statuses=[status("sent", 1698266945)]),
    Case("message_status/group", statuses=[status("read", 1698266945, recipient="fowefinoewcnw",
                                                  message_id="<WHATSAPP_MESSAGE_ID>")]),
    Case("system/phone_number_change", number_changes=[
        NumberChange("wamid.xyzxyz==", "972987654321", "972912345678")]),
    Case("system/identity_change", ignored=["system notice"]),
]


def check(batch: Batch, case: Case) -> None:
    assert batch.messages == case.messages
    assert batch.statuses == case.statuses
    assert batch.ignored == case.ignored
    assert batch.number_changes == case.number_changes
    assert [e.code for e in batch.errors] == case.errors


@pytest.mark.parametrize("case", FIXTURE_CASES, ids=lambda c: c.ref)
def test_fixture_payloads(case: Case) -> None:
    check(parse(fixture_payload(case.ref)), case)


def test_every_fixture_has_a_case() -> None:
    refs = {f"{p.stem}/{key}" for p in FIXTURES.glob("*.json") for key in load(p.stem)}
    assert refs == {c.ref for c in FIXTURE_CASES}


# -- crafted payloads ---------------------------------------------------------------------------


def value_payload(value: dict[str, Any], *, phone: str = "1122334455667",
                  field_name: str = "messages") -> dict[str, Any]:
    value = {"messaging_product": "whatsapp",
             "metadata": {"display_phone_number": "6221000", "phone_number_id": phone},
             **value}
    return {"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": field_name, "value": value}]}]}


def one(message: dict[str, Any], contacts: Any = None) -> dict[str, Any]:
    base = {"id": "wamid.c1", "timestamp": "1764300000", **message}
    value: dict[str, Any] = {"messages": [base]}
    if contacts is not None:
        value["contacts"] = contacts
    return value_payload(value)


def crafted(message_id: str = "wamid.c1", user: str = "6281234567890",
            kind: InboundKind = InboundKind.TEXT, **fields: Any) -> Inbound:
    base: dict[str, Any] = {"channel": "whatsapp", "user_id": user, "message_id": message_id,
                            "timestamp": ts(1764300000), "kind": kind}
    base.update(fields)
    return Inbound(**base)


SITI = [{"profile": {"name": "Siti"}, "wa_id": "6281234567890"}]

CRAFTED = [
    ("phone number only, no contacts[]",
     one({"from": "6281234567890", "type": "text", "text": {"body": "halo"}}),
     Case("", [crafted(text="halo")])),
    ("profile name from contacts[]",
     one({"from": "6281234567890", "type": "text", "text": {"body": "halo"}}, SITI),
     Case("", [crafted(text="halo", contact_name="Siti")])),
    ("username user: BSUID only, no phone number",
     one({"from_user_id": "ID.998877", "type": "text", "text": {"body": "halo"}},
         [{"profile": {"name": "Siti"}, "user_id": "ID.998877"}]),
     Case("", [crafted(user="ID.998877", text="halo", contact_name="Siti")])),
    ("our choice id from a button reply",
     one({"from": "6281234567890", "type": "interactive", "interactive": {
         "type": "button_reply", "button_reply": {"id": "confirm:yes", "title": "✅ Kirim"}}}),
     Case("", [crafted(kind=InboundKind.CHOICE, choice_id="confirm:yes", text="✅ Kirim")])),
    ("list reply",
     one({"from": "6281234567890", "type": "interactive", "interactive": {
         "type": "list_reply", "list_reply": {"id": "kelurahan:1004", "title": "Kalibaru"}}}),
     Case("", [crafted(kind=InboundKind.CHOICE, choice_id="kelurahan:1004", text="Kalibaru")])),
    ("a WhatsApp Flow answer is not something we read",
     one({"from": "6281234567890", "type": "interactive", "interactive": {
         "type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}}),
     Case("", [crafted(kind=InboundKind.UNSUPPORTED, unsupported="other")])),
    ("template quick reply without payload is its text",
     one({"from": "6281234567890", "type": "button", "button": {"text": "Hadir"}}),
     Case("", [crafted(text="Hadir")])),
    ("image with caption",
     one({"from": "6281234567890", "type": "image", "image": {
         "id": "m1", "mime_type": "image/jpeg", "sha256": "abc=", "caption": "pipa bocor"}}),
     Case("", [crafted(kind=InboundKind.MEDIA, media=Media(
         kind="photo", ref="m1", mime_type="image/jpeg", sha256="abc=",
         caption="pipa bocor"))])),
    ("location out of range",
     one({"from": "6281234567890", "type": "location",
          "location": {"latitude": 123.0, "longitude": 5}}),
     Case("", [crafted(kind=InboundKind.UNSUPPORTED, unsupported="other")])),
    ("location that is not numbers",
     one({"from": "6281234567890", "type": "location",
          "location": {"latitude": "x", "longitude": True}}),
     Case("", [crafted(kind=InboundKind.UNSUPPORTED, unsupported="other")])),
    ("the sender's own contact card gives their number",
     one({"from": "6281234567890", "type": "contacts", "contacts": [
         {"name": {"formatted_name": "Ibu"}, "phones": [{"phone": "+62 811-1111-111"}]},
         {"name": {"formatted_name": "Siti"},
          "phones": [{"phone": "+62 812-3456-7890", "wa_id": "6281234567890"}]}]}),
     Case("", [crafted(kind=InboundKind.CONTACT, phone="+62 812-3456-7890")])),
    ("someone else's contact card is not kept",
     one({"from": "6281234567890", "type": "contacts", "contacts": [
         {"name": {"formatted_name": "Ibu"},
          "phones": [{"phone": "+62 811-1111-111", "wa_id": "628111111111"}]}]}),
     Case("", [crafted(kind=InboundKind.UNSUPPORTED, unsupported="contact")])),
    ("contact card without a phone",
     one({"from": "6281234567890", "type": "contacts",
          "contacts": [{"name": {"formatted_name": "Budi"}}]}),
     Case("", [crafted(kind=InboundKind.UNSUPPORTED, unsupported="contact")])),
    ("first chat opened",
     one({"from": "6281234567890", "type": "request_welcome"}),
     Case("", [crafted(text=None)])),
    ("a type invented tomorrow",
     one({"from": "6281234567890", "type": "hologram", "hologram": {}}),
     Case("", [crafted(kind=InboundKind.UNSUPPORTED, unsupported="other")])),
    ("group message",
     one({"from": "6281234567890", "group_id": "G1", "type": "text", "text": {"body": "hi"}}),
     Case("", ignored=["group message"])),
    ("message without id",
     value_payload({"messages": [{"from": "6281234567890", "type": "text",
                                  "text": {"body": "x"}}]}),
     Case("", ignored=["message without id or sender"])),
    ("bad timestamp",
     one({"from": "6281234567890", "timestamp": "soon", "type": "text", "text": {"body": "x"}}),
     Case("", [crafted(text="x", timestamp=None)])),
    ("another phone number of the business account",
     value_payload({"messages": [{"id": "w", "from": "1", "type": "text",
                                  "text": {"body": "x"}}]}, phone="999"),
     Case("", ignored=["another phone number"])),
    ("template status update field",
     value_payload({"event": "APPROVED"}, field_name="message_template_status_update"),
     Case("", ignored=["field message_template_status_update"])),
    ("not a WhatsApp object",
     {"object": "page", "entry": []},
     Case("", ignored=["object page"])),
    ("failed with 131047",
     value_payload({"statuses": [{"id": "wamid.out1", "status": "failed", "timestamp": "1",
                                  "recipient_id": "6281234567890",
                                  "errors": [{"code": 131047, "title": "Re-engagement message",
                                              "error_data": {"details": "secret"}}]}]}),
     Case("", statuses=[StatusUpdate("wamid.out1", "failed", "6281234567890",
                                     (PlatformError(131047, "Re-engagement message"),),
                                     ts(1))])),
    ("status to a BSUID recipient",
     value_payload({"statuses": [{"id": "wamid.out2", "status": "delivered",
                                  "recipient_id": "", "recipient_user_id": "ID.77"}]}),
     Case("", statuses=[StatusUpdate("wamid.out2", "delivered", "ID.77")])),
    ("wrong shapes everywhere do not crash",
     {"object": "whatsapp_business_account",
      "entry": [{"changes": "x"}, 7, {"changes": [{"field": "messages", "value": {
          "messages": "nope", "statuses": [1, None], "contacts": "x", "errors": {}}}]}]},
     Case("")),
]


@pytest.mark.parametrize(("label", "payload", "case"), CRAFTED, ids=[c[0] for c in CRAFTED])
def test_crafted_payloads(label: str, payload: dict[str, Any], case: Case) -> None:
    check(parse(payload, phone_number_id="1122334455667"), case)


def test_every_entry_and_change_in_order() -> None:
    first = one({"from": "6281234567890", "type": "text", "text": {"body": "satu"}})
    second = copy.deepcopy(first)
    second["entry"][0]["changes"][0]["value"]["messages"][0].update(
        id="wamid.c2", text={"body": "dua"})
    status_change = value_payload({"statuses": [{"id": "wamid.o", "status": "read"}]})
    payload = {"object": "whatsapp_business_account", "entry": [
        {"id": "1", "changes": [first["entry"][0]["changes"][0],
                                status_change["entry"][0]["changes"][0]]},
        {"id": "2", "changes": second["entry"][0]["changes"]},
    ]}
    batch = parse(payload)
    assert [m.text for m in batch.messages] == ["satu", "dua"]
    assert [s.message_id for s in batch.statuses] == ["wamid.o"]


def test_failures_that_change_the_contact() -> None:
    closed = StatusUpdate("w", "failed", None, (PlatformError(131047, "x"),))
    gone = StatusUpdate("w", "failed", None, (PlatformError(131026, "x"),))
    other = StatusUpdate("w", "failed", None, (PlatformError(130472, "x"),))
    assert closed.window_closed and not closed.unreachable
    assert gone.unreachable and not gone.window_closed
    assert not other.window_closed and not other.unreachable


@pytest.mark.parametrize("payload", [[], "x", 3, None, {"object": "whatsapp_business_account"},
                                     {"object": "whatsapp_business_account", "entry": {}}])
def test_not_a_webhook_payload(payload: Any) -> None:
    with pytest.raises(PayloadError):
        parse(payload)


# -- signatures -------------------------------------------------------------------------------


SECRET = "app-secret"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'


@pytest.mark.parametrize(("header", "ok"), [
    (sign(SECRET, BODY), True),
    (sign(SECRET, BODY).upper().replace("SHA256=", "sha256="), True),
    (sign("other-secret", BODY), False),
    (sign(SECRET, BODY + b" "), False),
    (sign(SECRET, BODY).removeprefix("sha256="), False),
    ("sha1=" + sign(SECRET, BODY).removeprefix("sha256="), False),
    ("sha256=", False),
    ("sha256=zz", False),
])
def test_signature(header: str, ok: bool) -> None:
    assert verify_signature(SECRET, BODY, header) is ok
