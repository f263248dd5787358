"""Realistic residents against the real bot: messages to a ticket, and refusals.

    python bench/residents.py [--only KEY,KEY] [--show KEY,KEY] [--max-messages 40]
                              [--open-with TEXT] [--then-buttons] [--json]

Every resident of ``bench/residents_corpus.py`` talks to the real dispatcher (every
feature the service runs with) on a throw-away SQLite database of their own, through the
test harness's recording channel. After each reply the runner reads the resident's session
from the database — the open flow and its step, the summary, the menu — and turns it into
the *concept* being asked through ``STEP_CONCEPTS``; the resident answers that concept in
their own words. A resident stops at a ticket number in a reply, when they give up (the
same question refused ``patience`` times), or after ``--max-messages``.

A refusal is a reply after which the same concept is asked again (the same step with the
same buttons, or the menu again), or one whose first paragraph says the bot did not
understand and that leaves the resident at the menu (see ``is_refusal``). Wrong slots
compare the stored ticket with what the resident meant (category, households, RT/RW,
kelurahan, consent to contact, phone).

``--open-with lapor`` measures the form alone (the resident opens with the command);
``--then-buttons`` lets a resident who ran out of patience tap the fitting button once
instead of giving up, so the questions after a dead end are measured too.

Prints one row per resident, then median/mean/max and totals; ``--json`` prints one JSON
object instead; ``--show`` adds those residents' transcripts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.residents_corpus import RESIDENTS, Resident, Say
from bot.app import default_features
from conversations.messages import Outbound
from conversations.qtypes.yes_no import is_yes
from storage.db import Database
from tests.dashboard_helpers import dashboard_settings
from tests.harness import START, TICKET_IN_TEXT, Bot, Button, Clock, Photo, Pin, describe, render

MAX_MESSAGES = 40
CHANNEL = "whatsapp"

# -- what the bot is asking ----------------------------------------------------------------
# Where the resident is (a flow step id, or "@state" outside a step) → the concept they
# answer. A new step id goes here, never into the corpus. A tuple asks several concepts in
# one question: the resident writes their answers to each in one message.
STEP_CONCEPTS: dict[str, str | tuple[str, ...]] = {
    # complaint flow steps
    "jenis": "kind",
    "kategori": "category",
    "uraian": "description",
    "sejak": "since",
    "jumlah_kk": "households",
    "lokasi": "pin",
    # one question for the place: a pin, or kelurahan + RT/RW + landmark in one line
    "tempat": ("pin", "kelurahan", "rt_rw", "landmark"),
    "kelurahan": "kelurahan",
    "rt_rw": "rt_rw",
    "patokan": "landmark",
    "foto": "photo",
    "boleh_dihubungi": "contact_ok",
    "telepon": "phone",
    # states outside a step
    "@confirm": "confirm",  # the summary: "send it?"
    "@menu": "intent",  # the main menu: say again what they want
    "@idle": "intent",  # no session at all
    "@resume": "confirm",  # "continue the report you started?"
}

# How a button-presser picks among the buttons shown: the last ":"-part of the choice id
# they look for, the first that is there (a category they do not find: "other"). When no
# button fits, they type.
SKIP = "__skip"
BUTTON_PICKS: dict[str, Callable[[Resident], tuple[str, ...]]] = {
    "intent": lambda r: ("lapor",),
    "kind": lambda r: ("air",),
    "category": lambda r: (r.means.category, "lainnya"),
    "kelurahan": lambda r: (r.means.kelurahan,),
    "contact_ok": lambda r: ("yes" if r.means.contact_ok else "no",),
    "confirm": lambda r: ("yes",),
    "pin": lambda r: () if _gives(r, "pin", Pin) else (SKIP,),
    "photo": lambda r: () if _gives(r, "photo", Photo) else (SKIP,),
    "landmark": lambda r: (SKIP,) if "landmark" in r.skips else (),
    "phone": lambda r: (SKIP,) if r.means.phone is None else (),
}

# A first paragraph that says the answer was not understood (Indonesian and English).
NOT_UNDERSTOOD = re.compile(
    r"\b(maaf|mohon|sorry)\b|belum (saya )?(mengerti|paham|pahami)"
    r"|tidak (saya )?(kenal|mengerti|paham)|tidak (dikenal|ditemukan)|belum benar"
    r"|wajib dijawab|\bnot found\b"
    r"|(did ?n[o']t|do ?n[o']t|not) (understand|recogni[sz]e)|\bplease (type|write|answer)",
    re.IGNORECASE,
)


def _gives(resident: Resident, concept: str, kind: type) -> bool:
    return any(isinstance(a, kind) for a in resident.answers.get(concept, ()))


# -- one resident --------------------------------------------------------------------------


@dataclass
class Result:
    key: str
    messages: int = 0
    refusals: int = 0
    ticket: str | None = None
    outcome: str = ""
    wrong_slots: list[str] = field(default_factory=list)
    refused_at: dict[str, int] = field(default_factory=dict)
    tapped_after_giving_up: int = 0
    transcript: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("transcript")
        data["ticket"] = self.ticket is not None
        return data


def position(state: dict[str, Any] | None) -> str:
    """Where the session stands: the flow's step id, or "@status" / "@await" outside one."""
    state = state or {}
    if state.get("await") == "resume":
        return "@resume"
    flow = state.get("flow")
    if flow and not state.get("paused"):
        if flow.get("status") == "asking" and flow.get("step"):
            return str(flow["step"])
        return f"@{flow.get('status')}"
    if state.get("await"):
        return f"@{state['await']}"
    return "@idle"


def concept_name(concept: str | tuple[str, ...] | None) -> str:
    if concept is None:
        return "?"
    return concept if isinstance(concept, str) else "+".join(concept)


def first_paragraph(replies: Sequence[Outbound]) -> str:
    text = next((r.text for r in replies if r.text.strip()), "")
    return text.strip().split("\n\n", 1)[0]


def question(where: str) -> str:
    """What is being asked at a position: its concept, or the position itself when the
    table does not know it (the menu and "no session" are one question: what they want)."""
    return concept_name(STEP_CONCEPTS[where]) if where in STEP_CONCEPTS else where


def is_refusal(before: str, after: str, choices_before: tuple[str, ...],
               choices_after: tuple[str, ...], first: str, *, opening: bool = False) -> bool:
    """The same question asked again after an answer, or told "not understood" without
    being moved on to another question.

    The opening (nothing asked yet) is refused when it is not understood and leaves the
    resident at the menu; a welcome menu is no refusal, nor is a report opened with a
    remark. The same step with other buttons and no "not understood" is a narrowing
    question (two categories offered), not a refusal.
    """
    not_understood = bool(NOT_UNDERSTOOD.search(first))
    if opening or question(before) != question(after):
        return not_understood and question(after) == question("@menu")
    if before == after and choices_before != choices_after and not before.startswith("@"):
        return not_understood
    return True


def says(resident: Resident, concept: str | tuple[str, ...], attempt: int) -> Say | None:
    """The resident's ``attempt``-th message (0-based) for a concept: their phrasings in
    order, the last one again once they have run out."""
    if isinstance(concept, tuple):
        parts = [says(resident, c, attempt) for c in concept]
        for part in parts:
            if part is not None and not isinstance(part, str):
                return part  # a pin or a photo answers the whole question
        texts = [p for p in parts if isinstance(p, str)]
        return " ".join(texts) if texts else None
    phrasings = resident.answers.get(concept)
    if not phrasings:
        return None
    return phrasings[min(attempt, len(phrasings) - 1)]


def press(resident: Resident, concept: str | tuple[str, ...],
          choices: tuple[str, ...]) -> Button | None:
    if not resident.buttons or not choices or not isinstance(concept, str):
        return None
    pick = BUTTON_PICKS.get(concept)
    for wanted in pick(resident) if pick else ():
        for choice in choices:
            if choice.rsplit(":", 1)[-1] == wanted:
                return Button(choice)
    return None


async def _session(db: Database, user: str) -> dict[str, Any] | None:
    async with db.transaction() as tx:
        contact = await tx.contacts.state(CHANNEL, user)
        if contact is None:
            return None
        return await tx.sessions.state(contact.id)


async def _ticket_in(db: Database, user: str, replies: Sequence[Outbound]) -> str | None:
    """A ticket number in a reply that is this resident's stored report (the help text
    shows an example number)."""
    async with db.transaction() as tx:
        contact = await tx.contacts.state(CHANNEL, user)
        for reply in replies:
            for found in TICKET_IN_TEXT.findall(reply.text):
                complaint = await tx.complaints.by_ticket(found)
                if complaint is not None and contact and complaint.contact_id == contact.id:
                    return str(found)
    return None


def _answer_for(answers: dict[str, Any], concept: str) -> tuple[bool, Any]:
    """The stored answer of the step that asks ``concept`` (found through STEP_CONCEPTS)."""
    for step, asked in STEP_CONCEPTS.items():
        if asked == concept and step in answers:
            return True, answers[step]
    return False, None


def _number(value: Any) -> Any:
    """A stored count as a number where it is one ("don't know" may be stored otherwise)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        return value


async def wrong_slots(db: Database, ticket: str, resident: Resident) -> list[str]:
    """What the stored ticket says differently from what the resident meant."""
    async with db.transaction() as tx:
        complaint = await tx.complaints.by_ticket(ticket)
    assert complaint is not None
    means = resident.means
    answers = dict(complaint.answers or {})
    wrong: list[str] = []

    def check(slot: str, meant: Any, stored: Any) -> None:
        if meant != stored:
            wrong.append(f"{slot} {meant}→{stored}")

    check("category", means.category, complaint.category)
    found, households = _answer_for(answers, "households")
    check("households", means.households, _number(households) if found else None)
    stored_rt_rw = (complaint.rt, complaint.rw) if complaint.rt or complaint.rw else None
    check("rt_rw", "/".join(means.rt_rw) if means.rt_rw else None,
          "/".join(str(v) for v in stored_rt_rw) if stored_rt_rw else None)
    code = re.sub(r"\D", "", complaint.kelurahan_code or "")
    check("kelurahan", means.kelurahan, code[-4:] or None)
    found, contact_ok = _answer_for(answers, "contact_ok")
    # Forms keep a yes/no answer as the choice's name ("yes"/"no").
    check("contact_ok", means.contact_ok, is_yes(contact_ok) if found else None)
    if means.contact_ok and means.phone:
        found, phone = _answer_for(answers, "phone")
        check("phone", means.phone, phone if found else None)
    return wrong


async def simulate(resident: Resident, db: Database, data_dir: Path, *,
                   max_messages: int = MAX_MESSAGES, open_with: str | None = None,
                   then_buttons: bool = False) -> Result:
    """One resident's conversation with the bot on ``db`` (an empty schema).

    ``open_with`` replaces their own opening (a resident who knows the command);
    with ``then_buttons`` a resident who has run out of patience taps the button that fits,
    once, before giving up (so the questions after a dead end are measured too)."""
    bot = Bot(db, Clock(START), user=resident.key, channel=CHANNEL, name=resident.name)
    for feature in default_features(dashboard_settings(str(db.url), data_dir)):
        bot.dispatcher.add_feature(feature)
    result = Result(resident.key)
    opening: list[Say] = [open_with] if open_with else list(resident.opening)
    where, choices = "@idle", ()
    attempt = 0  # messages already sent for the question now open
    while result.messages < max_messages:
        if opening:
            action: Say | Button | None = opening.pop(0)
            label = "opening"
        else:
            concept = STEP_CONCEPTS.get(where)
            label = concept_name(concept)
            if concept is None:
                result.outcome = f"stuck at {where}"
                break
            action = press(resident, concept, choices)
            if attempt >= resident.patience:
                tapped = press(replace(resident, buttons=True), concept, choices)
                if not then_buttons or tapped is None or attempt > resident.patience:
                    result.outcome = f"gave up at {label}"
                    break
                action = tapped
                result.tapped_after_giving_up += 1
            action = action or says(resident, concept, attempt)
            if action is None:
                result.outcome = f"no answer for {label}"
                break
        replies = await bot.send(action)
        result.messages += 1
        bot.clock.advance(seconds=40)  # time to read and type
        after = position(await _session(db, resident.key))
        after_choices = tuple(c.id for r in replies for c in r.choices)
        refused = is_refusal(where, after, choices, after_choices, first_paragraph(replies),
                             opening=label == "opening")
        result.transcript.append(f"> [{label}] {describe(action)}"
                                 + ("   ← refused" if refused else ""))
        for reply in replies:
            result.transcript.extend(render(reply))
        if refused:
            result.refusals += 1
            result.refused_at[label] = result.refused_at.get(label, 0) + 1
        if label == "opening" or question(after) != question(where):
            attempt = 0
        else:
            attempt += 1
        where, choices = after, after_choices
        ticket = await _ticket_in(db, resident.key, replies)
        if ticket:
            result.ticket = ticket
            result.outcome = "ticket"
            result.wrong_slots = await wrong_slots(db, ticket, resident)
            break
    else:
        result.outcome = f"{max_messages} messages"
    return result


async def run(residents: Sequence[Resident], max_messages: int = MAX_MESSAGES,
              open_with: str | None = None, then_buttons: bool = False) -> list[Result]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for resident in residents:
            data_dir = Path(tmp) / resident.key
            data_dir.mkdir()
            db = Database(f"sqlite+aiosqlite:///{data_dir / 'warga.db'}")
            await db.create_all()
            try:
                results.append(await simulate(resident, db, data_dir,
                                              max_messages=max_messages, open_with=open_with,
                                              then_buttons=then_buttons))
            finally:
                await db.close()
    return results


# -- report --------------------------------------------------------------------------------


def _stats(values: list[int]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "mean": None, "max": None}
    return {"median": statistics.median(values), "mean": round(statistics.mean(values), 1),
            "max": max(values)}


def summary(results: Sequence[Result]) -> dict[str, Any]:
    with_ticket = [r for r in results if r.ticket]
    refused_at: Counter[str] = Counter()
    for r in results:
        refused_at.update(r.refused_at)
    return {
        "residents": len(results),
        "tickets": len(with_ticket),
        "gave_up": sum(r.outcome.startswith("gave up") for r in results),
        "other_stops": sum(not r.ticket and not r.outcome.startswith("gave up")
                           for r in results),
        "messages": _stats([r.messages for r in results]),
        "messages_to_ticket": _stats([r.messages for r in with_ticket]),
        "refusals": _stats([r.refusals for r in results]),
        "refusals_total": sum(r.refusals for r in results),
        "residents_refused": sum(r.refusals > 0 for r in results),
        "wrong_slots_total": sum(len(r.wrong_slots) for r in results),
        "tapped_after_giving_up": sum(r.tapped_after_giving_up for r in results),
        "refused_at": dict(refused_at.most_common()),
    }


def _fmt(stats: dict[str, float | None]) -> str:
    if stats["median"] is None:
        return "-"
    return f"median {stats['median']:g}, mean {stats['mean']:g}, max {stats['max']:g}"


def table(results: Sequence[Result]) -> str:
    head = ("resident", "messages", "refusals", "ticket", "outcome", "wrong slots")
    rows = [(r.key, str(r.messages), str(r.refusals), "yes" if r.ticket else "no", r.outcome,
             "; ".join(r.wrong_slots) or "-") for r in results]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head) - 1)]
    lines = []
    for row in [head, *rows]:
        cells = [cell.ljust(widths[i]) if i in (0, 4) else cell.rjust(widths[i])
                 for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    s = summary(results)
    lines += [
        "",
        f"residents          {s['residents']}: {s['tickets']} got a ticket, "
        f"{s['gave_up']} gave up, {s['other_stops']} stopped otherwise",
        f"messages           {_fmt(s['messages'])} (all residents)",
        f"messages to ticket {_fmt(s['messages_to_ticket'])}",
        f"refusals           {_fmt(s['refusals'])}; total {s['refusals_total']}, "
        f"{s['residents_refused']} of {s['residents']} residents refused at least once",
        f"wrong slots        {s['wrong_slots_total']} in {s['tickets']} tickets",
        "refused at         " + (", ".join(f"{k} {v}" for k, v in s["refused_at"].items())
                                 or "-"),
    ]
    return "\n".join(lines)


def _keys(value: str) -> list[str]:
    return [k for k in value.split(",") if k]


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--only", type=_keys, default=[], help="these residents only")
    parser.add_argument("--show", type=_keys, default=[], help="print these transcripts")
    parser.add_argument("--max-messages", type=int, default=MAX_MESSAGES)
    parser.add_argument("--open-with", default=None, metavar="TEXT",
                        help="every resident opens with TEXT instead of their own words "
                             "(e.g. the command 'lapor'): the form alone")
    parser.add_argument("--then-buttons", action="store_true",
                        help="a resident out of patience taps the fitting button once "
                             "before giving up")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    known = {r.key for r in RESIDENTS}
    unknown = sorted(set(args.only + args.show) - known)
    if unknown:
        parser.error(f"unknown residents {unknown}")
    residents = [r for r in RESIDENTS if not args.only or r.key in args.only]
    results = await run(residents, args.max_messages, args.open_with, args.then_buttons)
    if args.json:
        print(json.dumps({"residents": [r.row() for r in results],
                          "summary": summary(results)}, ensure_ascii=False))
        return
    print(table(results))
    for r in results:
        if r.key in args.show:
            print(f"\n== {r.key} ==")
            print("\n".join(r.transcript))


if __name__ == "__main__":
    asyncio.run(main())
