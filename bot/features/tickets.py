"""Ticket follow-up: officers move a report through its lifecycle by chat
(``/tiket AIR-XXXXX``) or in the dashboard (``/dasbor``); every change reaches the
reporter in their language; closing carries a note and maybe a proof photo, and the
reporter's "belum" reopens the ticket. Reports of the same problem are linked and follow
their primary ticket; overdue tickets are escalated to the coordinators once.

The rules (who may move a ticket where, which deadline runs) are pure functions in
``conversations.tickets_flow``; the SQL is in ``storage.repos_tickets``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.feature import (
    Button,
    Command,
    Context,
    FeatureContext,
    FeatureSpec,
    FormUse,
    MenuItem,
    Timer,
)
from bot.features.complaints import CREATED
from bot.settings import Settings
from conversations import qtypes
from conversations.buttons import Payload
from conversations.complaint import COMPLAINT
from conversations.i18n import T
from conversations.places import KELURAHAN
from conversations.privacy import mask_ids
from conversations.qtypes.yes_no import is_yes
from conversations.roles import COORDINATOR, OFFICERS, VOLUNTEER
from conversations.tickets import find_ticket
from conversations.tickets_flow import (
    CLOSE,
    CLOSED,
    DONE,
    DUPLICATE_WINDOW,
    IN_PROGRESS,
    NOTE_FLOWS,
    OPEN,
    RECEIVED,
    REJECT,
    REJECTED,
    REOPEN_WINDOW,
    RESOLVED_NO,
    RESOLVED_YES,
    Sla,
    SlaPolicy,
    is_reopening,
    next_statuses,
    sla_for,
)
from storage.db import Database
from storage.models import Complaint, ComplaintStatus, Contact, MediaFile
from storage.repos import Repos
from storage.repos_tickets import TicketRepo

log = logging.getLogger(__name__)

NAME = "tickets"
# This feature's session key holding the ticket a closing or rejecting note is for.
PENDING = "pending"
# Kept in the history when a reporter's "belum" reopens a ticket (shown to officers).
REOPEN_NOTE = "Pelapor: belum teratasi"
ESCALATION_LINES = 20
# A proof photo that never arrives (download failed) stops being looked for after this.
PHOTO_GIVE_UP = timedelta(days=1)
KELURAHAN_NAMES = {k.code: k.name for k in KELURAHAN}
# The resident's answers an officer reads on a ticket, in the form's order (the place line,
# the description and the reporter's number are shown on their own).
DETAIL_ANSWERS = ("sejak", "jumlah_kk", "kelurahan", "rt_rw", "patokan")
# A phone screen holds this many history lines; the dashboard shows them all.
CHAT_HISTORY = 6


@dataclass(frozen=True)
class ViewTicket(Payload, prefix="tkv"):
    ticket: int


@dataclass(frozen=True)
class MoveTicket(Payload, prefix="tks"):
    """A status button; ``seen`` is the status the officer saw when it was offered."""

    ticket: int
    seen: str
    target: str


@dataclass(frozen=True)
class Resolved(Payload, prefix="tkr"):
    """The reporter's answer under "Sudah teratasi?"."""

    closure: int
    answer: Literal["ya", "belum"]


class TicketError(Exception):
    """A change that may not happen; ``message`` says why, in the reader's language."""

    def __init__(self, message: T) -> None:
        super().__init__(message.key)
        self.message = message


@dataclass(frozen=True)
class Actor:
    """Who changes a ticket: a contact by chat, or a coordinator in the dashboard."""

    contact_id: int
    channel: str
    role: str
    name: str | None = None

    @property
    def label(self) -> str:
        # Same form as the dispatcher's audit actors ("telegram:12").
        return f"{self.channel}:{self.contact_id}"

    @classmethod
    def of(cls, contact: Any) -> Actor:
        return cls(contact.id, contact.channel, contact.role, contact.name)


@dataclass(frozen=True)
class Proof:
    """A closing photo as it arrived: where from, and the platform's (or our) reference."""

    channel: str
    ref: str


def place_label(complaint: Complaint) -> str:
    kel = KELURAHAN_NAMES.get(complaint.kelurahan_code or "", complaint.kelurahan_code or "-")
    if complaint.rw is None and complaint.rt is None:
        return kel  # a pin was shared instead: no RT/RW was asked
    return f"{kel} RW {complaint.rw or '-'} / RT {complaint.rt or '-'}"


def map_link(latitude: float, longitude: float) -> str:
    """The reported pin on openstreetmap.org (opens in any browser, no account)."""
    return f"https://www.openstreetmap.org/?mlat={latitude:.5f}&mlon={longitude:.5f}"


def answer_lines(complaint: Complaint) -> list[T]:
    """'• Sejak: …' lines for the answers the resident gave, as the form reads them back."""
    answers = complaint.answers or {}
    lines = []
    for name in DETAIL_ANSWERS:
        value = answers.get(name)
        if value is None or value == "":
            continue
        step = COMPLAINT.step(name)
        try:
            shown: qtypes.Display = qtypes.get(step.type).display(step, value)
        except (TypeError, ValueError, KeyError):
            # Saved by an older form whose answer had another shape: as it was stored.
            shown = mask_ids(str(value))[:200]
        lines.append(T("flow.summary_line", title=T(step.title), value=shown))
    return lines


def reporter_phone(complaint: Complaint, reporter: Contact | None) -> str | None:
    """The reporter's number, only when they agreed to be contacted."""
    if reporter is None or not is_yes((complaint.answers or {}).get("boleh_dihubungi")):
        return None
    return reporter.phone or None


def photo_ref(complaint: Complaint) -> str | None:
    foto = (complaint.answers or {}).get("foto")
    if isinstance(foto, dict) and foto.get("ref"):
        return str(foto["ref"])
    return None


async def actor_names(repo: TicketRepo, history: Sequence[ComplaintStatus],
                      reporter_id: int) -> dict[str, T | str]:
    """Who made each change, as officers read it: a name, "pelapor" or "sistem"."""
    out: dict[str, T | str] = {}
    for step in history:
        label = step.actor
        if label in out:
            continue
        channel, _, raw_id = label.partition(":")
        contact = await repo.contact(int(raw_id)) if raw_id.isdigit() else None
        if contact is not None and contact.id == reporter_id:
            out[label] = T("ticket.who.reporter")
        elif contact is not None:
            out[label] = contact.name or f"{contact.channel}:{contact.id}"
        elif label == "system":
            out[label] = T("ticket.who.system")
        else:
            out[label] = channel or "-"
    return out


def deadline_day(sla: Sla, tz: ZoneInfo) -> date | None:
    """The last day of a deadline (``due_at`` is midnight after it)."""
    if sla.due_at is None:
        return None
    return (sla.due_at.astimezone(tz) - timedelta(seconds=1)).date()


class TicketsFeature:
    """Registers /tiket, /dasbor, the status buttons, "sudah"/"belum", and the dashboard."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self.policy = SlaPolicy(
            verify_days=settings.sla_verify_days,
            act_days=settings.sla_act_days,
            holidays=frozenset(settings.holidays),
            tz=self.tz,
        )
        self._app: FeatureContext | None = None

    @property
    def app(self) -> FeatureContext:
        if self._app is None:
            raise RuntimeError("TicketsFeature used before it was bound")
        return self._app

    # -- wiring --------------------------------------------------------------------------

    def spec(self) -> FeatureSpec:
        """The note flows, /tiket, "sudah"/"belum", the ticket buttons and the timers."""
        return FeatureSpec(
            name=NAME,
            forms=(FormUse(CLOSE, self._on_note), FormUse(REJECT, self._on_note)),
            commands=(
                Command(("tiket",), self._cmd_ticket, roles=OFFICERS, others_pass=True,
                        menu_text="cmd.tiket"),
                Command(RESOLVED_YES, self._typed_yes),
                Command(RESOLVED_NO, self._typed_no),
            ),
            buttons=(Button(ViewTicket, self._on_view_button),
                     Button(MoveTicket, self._on_status_button),
                     Button(Resolved, self._on_resolved_button, "ticket.answer.nothing")),
            menu=(MenuItem("tiket", T("menu.tickets"), self._menu_tickets, roles=OFFICERS),),
            # Deadlines fall at midnight; coordinators hear about them in the morning, not
            # at 00.00 — and a restart repeats nothing (escalations are rows).
            timers=(
                Timer("tickets:sla", "cron", {"hour": "7-20", "minute": "*/15"},
                      self._escalate),
                Timer("tickets:proof-photos", "interval", {"minutes": 1}, self._photos),
                Timer("tickets:housekeeping", "interval", {"hours": 6}, self._housekeeping),
            ),
        )

    def bind(self, app: FeatureContext) -> None:
        self._app = app
        app.subscribe(CREATED, self._link_new_report)

    async def _escalate(self) -> None:
        await self.escalate_overdue(self.app.db, self.app.clock())
        self.app.wake()

    async def _photos(self) -> None:
        await self.send_pending_photos(self.app.db, self.app.clock())
        self.app.wake()

    async def _housekeeping(self) -> None:
        async with self.app.db.transaction() as tx:
            await TicketRepo(tx.session).forget_expired(self.app.clock())

    # -- the lifecycle -------------------------------------------------------------------

    async def may_change(self, repo: TicketRepo, actor: Actor, group: Sequence[Complaint]) -> bool:
        if actor.role == COORDINATOR:
            return True
        if actor.role == VOLUNTEER:
            return await repo.is_assigned([c.id for c in group], actor.contact_id)
        return False

    async def change_status(
        self,
        tx: Repos,
        complaint: Complaint,
        target: str,
        actor: Actor,
        now: datetime,
        *,
        note: str | None = None,
        proof: Proof | None = None,
        expected: str | None = None,
        by_reporter: bool = False,
    ) -> list[Complaint]:
        """Move a ticket and every report linked to it; tell each reporter.

        ``expected`` is the status the officer saw: if the ticket moved meanwhile (another
        officer, the reporter's "belum"), nothing happens and they are told.
        """
        repo = TicketRepo(tx.session)
        group = await repo.group(complaint.id, for_update=True)
        primary = group[0]
        if expected is not None and primary.status != expected:
            raise TicketError(T("ticket.error.moved", ticket=primary.ticket,
                                status=T(f"status.{primary.status}")))
        if not by_reporter:
            if not await self.may_change(repo, actor, group):
                raise TicketError(T("ticket.error.not_yours", ticket=primary.ticket))
            if target not in next_statuses(primary.status, actor.role):
                raise TicketError(T("ticket.error.transition", ticket=primary.ticket,
                                    status=T(f"status.{primary.status}"),
                                    target=T(f"status.{target}")))
            if target in CLOSED and not (note and note.strip()):
                raise TicketError(T(f"ticket.error.note_{target}"))
        media = await repo.media(proof.channel, proof.ref) if proof else None
        changed: list[Complaint] = []
        for member in group:
            if member.status == target:
                continue
            before = member.status
            await tx.complaints.set_status(member, target, now, actor.label, note)
            await tx.audit.add(actor.label, "ticket.status", now, subject=member.ticket,
                               details={"from": before, "to": target,
                                        "via": "linked" if member is not primary else "direct"})
            changed.append(member)
            if by_reporter and member.contact_id == actor.contact_id:
                continue  # they get a direct reply
            await self._tell_reporter(tx, repo, member, before, target, actor, now, note,
                                      proof, media)
        return changed

    async def _tell_reporter(
        self, tx: Repos, repo: TicketRepo, complaint: Complaint, before: str, target: str,
        actor: Actor, now: datetime, note: str | None, proof: Proof | None,
        media: MediaFile | None,
    ) -> None:
        notify = self.app.notify
        key = f"ticket:{complaint.id}:{target}:{now.isoformat()}"
        if target == DONE:
            closure = await repo.add_closure(
                complaint_id=complaint.id, closed_at=now, closed_by=actor.label,
                note=note or "", proof_channel=proof.channel if proof else None,
                proof_ref=proof.ref if proof else None,
                proof_media_id=media.id if media else None,
                photo_sent=media is not None or proof is None,
            )
            await notify(
                tx, complaint.contact_id,
                T("ticket.notify.done", ticket=complaint.ticket, note=note or ""),
                T("ticket.resolved_question"),
                now=now, dedupe_key=key, media_path=media.path if media else None,
                choices=[(Resolved(closure.id, "ya").pack(), T("ticket.resolved_yes")),
                         (Resolved(closure.id, "belum").pack(), T("ticket.resolved_no"))],
            )
        elif target == REJECTED:
            await notify(tx, complaint.contact_id,
                         T("ticket.notify.rejected", ticket=complaint.ticket, reason=note or ""),
                         now=now, dedupe_key=key)
        elif is_reopening(before, target):
            await notify(tx, complaint.contact_id,
                         T("ticket.notify.reopened", ticket=complaint.ticket),
                         now=now, dedupe_key=key)
        else:
            texts = [T("ticket.notify.status", ticket=complaint.ticket,
                       status=T(f"status.{target}"))]
            if note:
                texts.append(T("ticket.notify.note", note=note))
            await notify(tx, complaint.contact_id, *texts, now=now, dedupe_key=key)

    async def answer_resolution(self, tx: Repos, reporter: Actor, closure_id: int | None,
                                resolved: bool, now: datetime) -> T:
        """The reporter's answer to "Sudah teratasi?"; "belum" reopens the ticket."""
        repo = TicketRepo(tx.session)
        if closure_id is None:
            closure = await repo.awaiting_answer(reporter.contact_id, now - REOPEN_WINDOW)
        else:
            closure = await repo.closure(closure_id, for_update=True)
        complaint = await repo.get(closure.complaint_id) if closure else None
        if closure is None or complaint is None or complaint.contact_id != reporter.contact_id:
            return T("ticket.answer.nothing")
        latest = (await repo.latest_closures([complaint.id]))[complaint.id]
        if closure.answer is not None or complaint.status != DONE or latest.id != closure.id:
            return T("ticket.answer.already", ticket=complaint.ticket)
        if not resolved and now - closure.closed_at > REOPEN_WINDOW:
            return T("ticket.answer.too_late", ticket=complaint.ticket)
        closure.answer = "ya" if resolved else "belum"
        closure.answered_at = now
        await tx.audit.add(reporter.label, "ticket.answer", now, subject=complaint.ticket,
                           details={"answer": closure.answer})
        if resolved:
            return T("ticket.answer.thanks", ticket=complaint.ticket)
        await self.change_status(tx, complaint, IN_PROGRESS, reporter, now, note=REOPEN_NOTE,
                                 by_reporter=True)
        group = await repo.group(complaint.id)
        officers = {c.id: c for c in await repo.people(COORDINATOR)}
        for member in group:
            officers.update({c.id: c for c in await repo.assignees(member.id)})
        for officer in officers.values():
            await self.app.notify(
                tx, officer.id, T("ticket.alert.reopened", ticket=group[0].ticket),
                now=now, dedupe_key=f"ticket:reopened:{closure.id}:{officer.id}",
                choices=[(ViewTicket(group[0].id).pack(), group[0].ticket)],
            )
        return T("ticket.answer.reopened", ticket=complaint.ticket)

    def sla(self, complaint: Complaint, history: Sequence[Any]) -> Sla:
        return sla_for(complaint.status, complaint.created_at,
                       [(h.status, h.at) for h in history], self.policy)

    async def escalate_overdue(self, db: Database, now: datetime) -> list[str]:
        """Tell the coordinators, once per deadline, about tickets past it."""
        async with db.transaction() as tx:
            repo = TicketRepo(tx.session)
            tickets = await repo.open_primaries()
            histories = await repo.histories([c.id for c in tickets])
            late: list[tuple[Complaint, Sla]] = []
            for complaint in tickets:
                sla = self.sla(complaint, histories[complaint.id])
                if sla.kind is None or sla.due_at is None or not sla.overdue(now):
                    continue
                if await repo.escalate(complaint.id, sla.kind, sla.due_at, now):
                    late.append((complaint, sla))
            if not late:
                return []
            lines = [
                T("ticket.escalation.line", ticket=c.ticket, status=T(f"status.{c.status}"),
                  kind=T(f"ticket.sla.{sla.kind}"), due=deadline_day(sla, self.tz),
                  place=place_label(c))
                for c, sla in late[:ESCALATION_LINES]
            ]
            if len(late) > ESCALATION_LINES:
                lines.append(T("ticket.escalation.more", count=len(late) - ESCALATION_LINES))
            coordinators = await repo.people(COORDINATOR)
            if not coordinators:
                log.warning("%d tickets overdue and no coordinator to tell", len(late))
            for person in coordinators:
                await self.app.notify(
                    tx, person.id, T("ticket.escalation.intro", count=len(late)), *lines,
                    T("ticket.escalation.hint"), now=now,
                    dedupe_key=f"ticket:escalation:{person.id}:{now.isoformat()}",
                )
                await tx.audit.add("system", "ticket.escalated", now,
                                   subject=f"{person.channel}:{person.id}",
                                   details={"tickets": [c.ticket for c, _ in late]})
        return [c.ticket for c, _ in late]

    async def send_pending_photos(self, db: Database, now: datetime) -> int:
        """Proof photos that were still downloading when the ticket was closed."""
        sent = 0
        async with db.transaction() as tx:
            repo = TicketRepo(tx.session)
            for closure in await repo.photos_to_send():
                assert closure.proof_channel is not None and closure.proof_ref is not None
                media = await repo.media(closure.proof_channel, closure.proof_ref)
                if media is None:
                    if now - closure.closed_at > PHOTO_GIVE_UP:
                        closure.photo_sent = True  # give up: the download failed for good
                        log.warning("proof photo for closure %d never arrived", closure.id)
                    continue
                complaint = await repo.get(closure.complaint_id)
                if complaint is None:
                    continue
                closure.proof_media_id = media.id
                closure.photo_sent = True
                await self.app.notify(
                    tx, complaint.contact_id, T("ticket.notify.proof", ticket=complaint.ticket),
                    now=now, media_path=media.path, dedupe_key=f"ticket:proof:{closure.id}",
                )
                sent += 1
        return sent

    # -- duplicates ----------------------------------------------------------------------

    async def _link_new_report(self, ctx: Context, details: Any) -> list[T]:
        """Link a new report to an open one about the same problem, and say so."""
        newest = await ctx.tx.complaints.for_contact(ctx.contact.id, limit=1)
        if not newest:
            return []
        complaint = newest[0]
        repo = TicketRepo(ctx.tx.session)
        primary = await repo.find_same_problem(complaint, DUPLICATE_WINDOW)
        if primary is None:
            return []
        await repo.link(complaint.id, primary.id, ctx.now)
        await ctx.tx.audit.add("system", "ticket.linked", ctx.now, subject=complaint.ticket,
                               details={"primary": primary.ticket})
        if primary.status in OPEN and primary.status != RECEIVED:
            # It follows its primary from now on, including where the primary already is.
            await ctx.tx.complaints.set_status(complaint, primary.status, ctx.now, "system",
                                               f"Mengikuti {primary.ticket}")
        return [T("ticket.linked", primary=primary.ticket, status=T(f"status.{primary.status}"))]

    # -- chat: officers ------------------------------------------------------------------

    async def _menu_tickets(self, ctx: Context) -> None:
        await self._cmd_ticket(ctx, "")

    async def _cmd_ticket(self, ctx: Context, args: str) -> None:
        """/tiket: the officer's open tickets; /tiket AIR-XXXXX: one ticket and its actions."""
        repo = TicketRepo(ctx.tx.session)
        if args.strip():
            ticket = find_ticket(args)
            complaint = await repo.by_ticket(ticket) if ticket else None
            if complaint is None:
                ctx.say(T("ticket.officer.not_found", ticket=args.strip()[:20]))
                return
            await self._show(ctx, repo, complaint)
            return
        if ctx.contact.role == COORDINATOR:
            tickets = list(await repo.open_primaries())
            histories = await repo.histories([c.id for c in tickets])
            slas = {c.id: self.sla(c, histories[c.id]) for c in tickets}
            far = datetime.max.replace(tzinfo=ctx.now.tzinfo)
            tickets.sort(key=lambda c: slas[c.id].due_at or far)
            tickets = tickets[:10]
        else:
            tickets = list(await repo.assigned_open(ctx.contact.id))
            histories = await repo.histories([c.id for c in tickets])
            slas = {c.id: self.sla(c, histories[c.id]) for c in tickets}
        if not tickets:
            ctx.say(T("ticket.officer.none"))
            return
        lines = [self._line(c, slas[c.id], ctx.now) for c in tickets]
        ctx.say(T("ticket.officer.list_intro"), *lines, T("ticket.officer.list_hint"),
                choices=[(ViewTicket(c.id).pack(), c.ticket) for c in tickets])

    def _line(self, complaint: Complaint, sla: Sla, now: datetime) -> T:
        if sla.overdue(now):
            return T("ticket.officer.line", ticket=complaint.ticket,
                     status=T(f"status.{complaint.status}"), what=self._what(complaint),
                     place=place_label(complaint), late=T("ticket.officer.late"))
        return T("ticket.officer.line_on_time", ticket=complaint.ticket,
                 status=T(f"status.{complaint.status}"), what=self._what(complaint),
                 place=place_label(complaint))

    @staticmethod
    def _what(complaint: Complaint) -> T:
        if complaint.category:
            return T(f"complaint.kategori.{complaint.category}")
        return T(f"complaint.jenis.{complaint.report_type}")

    async def _show(self, ctx: Context, repo: TicketRepo, complaint: Complaint) -> None:
        """One ticket for an officer: what was reported, every answer, the reporter's
        number when they agreed, the photo and the pin, linked reports, the history, and
        the status buttons."""
        group = await repo.group(complaint.id)
        primary = group[0]
        actor = Actor.of(ctx.contact)
        if not await self.may_change(repo, actor, group):
            ctx.say(T("ticket.error.not_yours", ticket=complaint.ticket))
            return
        history = (await repo.histories([primary.id]))[primary.id]
        sla = self.sla(primary, history)
        reporter = await repo.contact(primary.contact_id)
        texts = [T("ticket.officer.detail", ticket=primary.ticket,
                   status=T(f"status.{primary.status}"), what=self._what(primary),
                   place=place_label(primary), when=primary.created_at,
                   description=mask_ids(primary.description[:300]))]
        if complaint.id != primary.id:
            texts.insert(0, T("ticket.officer.follows", ticket=complaint.ticket,
                              primary=primary.ticket))
        facts = answer_lines(primary)
        phone = reporter_phone(primary, reporter)
        if phone:
            facts.append(T("ticket.officer.phone", phone=phone))
        else:
            facts.append(T("ticket.officer.no_phone"))
        ref = photo_ref(primary)
        photo = await repo.media(reporter.channel, ref) if ref and reporter else None
        if photo is not None:
            facts.append(T("ticket.officer.photo_sent"))
        elif ref:
            facts.append(T("ticket.officer.photo_pending"))
        if primary.latitude is not None and primary.longitude is not None:
            facts.append(T("ticket.officer.pin",
                           url=map_link(primary.latitude, primary.longitude)))
        texts.extend(facts)
        if sla.kind:
            key = "ticket.officer.deadline_late" if sla.overdue(ctx.now) else (
                "ticket.officer.deadline")
            texts.append(T(key, kind=T(f"ticket.sla.{sla.kind}"),
                           due=deadline_day(sla, self.tz)))
        if len(group) > 1:
            texts.append(T("ticket.officer.linked", count=len(group) - 1,
                           tickets=", ".join(c.ticket for c in group[1:6])))
        names = await actor_names(repo, history, primary.contact_id)
        texts.append(T("ticket.officer.history_title"))
        for step in history[-CHAT_HISTORY:]:
            texts.append(T("ticket.officer.history_line", when=step.at,
                           status=T(f"status.{step.status}"), who=names[step.actor]))
        targets = next_statuses(primary.status, ctx.contact.role)
        if targets:
            texts.append(T("ticket.officer.actions"))
        ctx.say(*texts, choices=[(MoveTicket(primary.id, primary.status, t).pack(),
                                  T(f"ticket.action.{t}")) for t in targets])
        if photo is not None:
            # Once per officer: looking at the ticket again does not resend it.
            await self.app.notify(ctx.tx, ctx.contact.id,
                                  T("ticket.officer.photo", ticket=primary.ticket),
                                  now=ctx.now, media_path=photo.path,
                                  dedupe_key=f"ticket:photo:{primary.id}:{ctx.contact.id}")

    async def _on_view_button(self, ctx: Context, button: ViewTicket) -> None:
        repo = TicketRepo(ctx.tx.session)
        if ctx.contact.role not in OFFICERS:
            ctx.say(T("bot.not_allowed"))
            return
        complaint = await repo.get(button.ticket)
        if complaint is None:
            ctx.say(T("ticket.officer.not_found", ticket="?"))
            return
        await self._show(ctx, repo, complaint)

    async def _on_status_button(self, ctx: Context, button: MoveTicket) -> None:
        """A status button: change now, or ask for the note first."""
        if ctx.contact.role not in OFFICERS:
            ctx.say(T("bot.not_allowed"))
            return
        seen, target = button.seen, button.target
        repo = TicketRepo(ctx.tx.session)
        complaint = await repo.get(button.ticket)
        if complaint is None:
            ctx.say(T("ticket.officer.not_found", ticket="?"))
            return
        actor = Actor.of(ctx.contact)
        if target in NOTE_FLOWS:
            group = await repo.group(complaint.id)
            problem = await self._check(repo, actor, group, seen, target)
            if problem is not None:
                ctx.say(problem)
                return
            ctx.data(NAME)[PENDING] = {"id": complaint.id, "seen": seen, "target": target}
            intro = [T(f"ticket.{'close' if target == DONE else 'reject'}.intro",
                       ticket=complaint.ticket)]
            if ctx.session.in_flow:
                await ctx.start_or_offer(NOTE_FLOWS[target].id)
            else:
                await ctx.start_flow(NOTE_FLOWS[target].id, intro=intro)
            return
        try:
            changed = await self.change_status(ctx.tx, complaint, target, actor, ctx.now,
                                               expected=seen)
        except TicketError as err:
            ctx.say(err.message)
            return
        ctx.say(T("ticket.officer.changed", ticket=complaint.ticket,
                  status=T(f"status.{target}"), count=len(changed)))

    async def _check(self, repo: TicketRepo, actor: Actor, group: Sequence[Complaint],
                     seen: str, target: str) -> T | None:
        primary = group[0]
        if primary.status != seen:
            return T("ticket.error.moved", ticket=primary.ticket,
                     status=T(f"status.{primary.status}"))
        if not await self.may_change(repo, actor, group):
            return T("ticket.error.not_yours", ticket=primary.ticket)
        if target not in next_statuses(primary.status, actor.role):
            return T("ticket.error.transition", ticket=primary.ticket,
                     status=T(f"status.{primary.status}"), target=T(f"status.{target}"))
        return None

    async def _on_note(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        """The closing note (+ photo) or the rejection reason is confirmed: apply it."""
        pending = ctx.data(NAME).pop(PENDING, None)
        if not isinstance(pending, dict):
            return [T("ticket.error.lost")]
        repo = TicketRepo(ctx.tx.session)
        complaint = await repo.get(_int(pending.get("id")))
        if complaint is None:
            return [T("ticket.error.lost")]
        target = str(pending.get("target"))
        note = str(answers.get("catatan") or answers.get("alasan") or "")
        photo = answers.get("foto")
        proof = None
        if isinstance(photo, dict) and photo.get("ref"):
            proof = Proof(ctx.contact.channel, str(photo["ref"]))
        try:
            changed = await self.change_status(
                ctx.tx, complaint, target, Actor.of(ctx.contact), ctx.now, note=note,
                proof=proof, expected=str(pending.get("seen")),
            )
        except TicketError as err:
            return [err.message]
        return [T("ticket.officer.changed", ticket=complaint.ticket,
                  status=T(f"status.{target}"), count=len(changed))]

    # -- chat: reporters -----------------------------------------------------------------

    async def _on_resolved_button(self, ctx: Context, button: Resolved) -> None:
        """The reporter's button under "Sudah teratasi?"."""
        ctx.say(await self.answer_resolution(ctx.tx, Actor.of(ctx.contact), button.closure,
                                             button.answer == "ya", ctx.now))

    async def _typed_yes(self, ctx: Context, args: str) -> None:
        await self._typed(ctx, True)

    async def _typed_no(self, ctx: Context, args: str) -> None:
        await self._typed(ctx, False)

    async def _typed(self, ctx: Context, resolved: bool) -> None:
        repo = TicketRepo(ctx.tx.session)
        if await repo.awaiting_answer(ctx.contact.id, ctx.now - REOPEN_WINDOW) is None:
            # Nothing asked: "sudah"/"belum" meant something else; show the menu.
            ctx.menu(T("bot.unknown"))
            return
        ctx.say(await self.answer_resolution(ctx.tx, Actor.of(ctx.contact), None, resolved,
                                             ctx.now))


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
