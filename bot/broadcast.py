"""Bulk sends: announcements, free-form broadcasts, reminders and cancel/reschedule
notices, fanned out into outbox rows; recurring activities rolled to their next date.

Every bulk send is a ``broadcasts`` row. Whichever replica's timer fires first claims the
due rows (``FOR UPDATE SKIP LOCKED`` and a lease) and fans each out in chunks, one
transaction per chunk: the outbox rows (``priority=BULK``, batch ``"<kind>:<id>"``, a
dedupe key per contact) and the cursor move together, so a crash loses no recipient and a
take-over, or a second replica, cannot queue anyone twice. The outbox then sends each row
once (bulk rows are marked before the platform call and never re-sent after a crash).

A send that a coordinator asked for is watched until its last row is final; the
coordinator gets progress at intervals while it runs, and a delivery report at the end.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger

from bot.feature import BULK, REPLY, FeatureContext
from conversations import activity as texts
from conversations.activity import (
    COMING,
    QUIET_HOURS,
    ActivityView,
    DeliveryCounts,
    QuietHours,
    reminder_times,
)
from conversations.engine import Prompt
from conversations.i18n import JAKARTA, T
from conversations.messages import Outbound
from storage.db import Database
from storage.models_activities import Activity, Broadcast
from storage.repos import ContactState, Repos
from storage.repos_activities import ActivityRepo, Recipient

log = logging.getLogger(__name__)

# Kinds a coordinator sends by hand (listed by /siaran status).
REPORTED_KINDS = ("siaran", "announce", "cancel", "reschedule")
# Kinds watched until the end, with progress and a delivery report: the sends to whole
# audiences. A cancel or reschedule notice goes to those coming, and is said at once.
WATCHED_KINDS = ("siaran", "announce")
# The next occurrence of a recurring activity is announced this long before it.
ANNOUNCE_LEAD = timedelta(days=3)
# Rows one chunk queues: a chunk is one transaction, short enough not to hold the loop.
CHUNK = 200


def batch_of(broadcast: Broadcast) -> str:
    return f"{broadcast.kind}:{broadcast.id}"


def view(activity: Activity) -> ActivityView:
    return ActivityView(
        id=activity.id, title=activity.title, kind=activity.kind,
        starts_at=activity.starts_at, place=activity.place, details=activity.details,
        audience=activity.audience, recurrence=activity.recurrence, status=activity.status,
    )


def next_occurrence(activity: Activity, after: datetime) -> datetime | None:
    """The first date of the series after ``after``, by APScheduler's cron rules (the
    same wall-clock time in Jakarta; monthly by day of month, skipping months without
    that day)."""
    local = activity.starts_at.astimezone(JAKARTA)
    if activity.recurrence == "weekly":
        trigger = CronTrigger(day_of_week=local.weekday(), hour=local.hour,
                              minute=local.minute, timezone=JAKARTA)
    elif activity.recurrence == "monthly":
        trigger = CronTrigger(day=local.day, hour=local.hour, minute=local.minute,
                              timezone=JAKARTA)
    else:
        return None
    start = max(after, activity.starts_at) + timedelta(seconds=1)
    found: datetime | None = trigger.get_next_fire_time(None, start)
    return found


class Broadcaster:
    """Creates bulk sends and carries them out; safe to run on every replica at once."""

    def __init__(
        self,
        db: Database,
        app: FeatureContext,
        *,
        clock: Callable[[], datetime],
        lease: timedelta = timedelta(seconds=60),
        chunk: int = CHUNK,
        progress_every: timedelta = timedelta(seconds=60),
        quiet: QuietHours | None = QUIET_HOURS,
    ) -> None:
        self.db = db
        self.quiet = quiet
        self.app = app
        self.clock = clock
        self.lease = lease
        self.chunk = chunk
        self.progress_every = progress_every
        # Fences this process's claims: a lease taken over by another replica is lost.
        self.token = secrets.token_hex(8)

    # -- creating sends (inside the caller's transaction) --------------------------------

    async def publish(self, tx: Repos, activity: Activity, now: datetime,
                      requested_by: int | None) -> Broadcast:
        """Announce an activity to its audience and schedule its reminders."""
        activity.status = "published"
        activity.published_at = now
        activity.updated_at = now
        repo = ActivityRepo(tx.session)
        announce = await repo.add_broadcast(
            kind="announce", activity_id=activity.id, requested_by=requested_by,
            audience=dict(activity.audience), status="scheduled", due_at=self.after_quiet(now),
            created_at=now,
        )
        await self.schedule_reminders(tx, activity, now)
        return announce

    def after_quiet(self, moment: datetime) -> datetime:
        """When a send due at ``moment`` goes: then, or when quiet hours end."""
        return moment if self.quiet is None else self.quiet.later(moment)

    def _notice_due(self, now: datetime, starts_at: datetime) -> datetime:
        """A cancel/reschedule notice waits for the end of quiet hours, unless the
        activity would begin first: then knowing beats sleeping."""
        due = self.after_quiet(now)
        return due if due < starts_at else now

    async def schedule_reminders(self, tx: Repos, activity: Activity, now: datetime) -> int:
        """One send per reminder still ahead; those already past are left out."""
        repo = ActivityRepo(tx.session)
        added = 0
        for code, due in reminder_times(activity.starts_at, activity.reminders, self.quiet,
                                        now):
            if due <= now:
                continue
            await repo.add_broadcast(
                kind="reminder", activity_id=activity.id,
                audience={"type": "rsvp", "activity_id": activity.id, "answers": list(COMING)},
                params={"code": code}, status="scheduled", due_at=due, created_at=now,
            )
            added += 1
        return added

    async def cancel(self, tx: Repos, activity: Activity, now: datetime, *,
                     reason: str | None, requested_by: int | None) -> Broadcast | None:
        """Cancel an occurrence: reminders dropped, those coming told (if it was out)."""
        was_published = activity.status == "published"
        activity.status = "cancelled"
        activity.cancelled_at = now
        activity.updated_at = now
        repo = ActivityRepo(tx.session)
        await repo.drop_pending_reminders(activity.id)
        if not was_published:
            return None
        return await repo.add_broadcast(
            kind="cancel", activity_id=activity.id, requested_by=requested_by,
            audience={"type": "rsvp", "activity_id": activity.id, "answers": list(COMING)},
            params={"reason": reason} if reason else {}, status="scheduled",
            due_at=self._notice_due(now, activity.starts_at), created_at=now,
        )

    async def reschedule(self, tx: Repos, activity: Activity, starts_at: datetime,
                         now: datetime, *, requested_by: int | None) -> Broadcast | None:
        """Move an occurrence: its reminders move with it, those coming are told."""
        before = activity.starts_at
        activity.starts_at = starts_at
        activity.updated_at = now
        repo = ActivityRepo(tx.session)
        await repo.drop_pending_reminders(activity.id)
        if activity.status != "published":
            return None
        await self.schedule_reminders(tx, activity, now)
        return await repo.add_broadcast(
            kind="reschedule", activity_id=activity.id, requested_by=requested_by,
            audience={"type": "rsvp", "activity_id": activity.id, "answers": list(COMING)},
            params={"before": before.isoformat()}, status="scheduled",
            due_at=self._notice_due(now, min(before, starts_at)), created_at=now,
        )

    # -- carrying them out ---------------------------------------------------------------

    async def run(self) -> int:
        """One pass: roll recurring activities, fan out what is due, watch running sends.
        Returns how many sends and activities it took on (0: nothing was due for it)."""
        done = await self.roll_series()
        while True:
            async with self.db.transaction() as tx:
                claimed = await ActivityRepo(tx.session).claim_due(
                    self.clock(), lease=self.lease, token=self.token)
            if not claimed:
                break
            done += len(claimed)
            for broadcast_id in claimed:
                await self.fan_out(broadcast_id)
        await self.watch()
        return done

    async def next_wake(self) -> datetime | None:
        async with self.db.transaction() as tx:
            return await ActivityRepo(tx.session).next_wake()

    async def fan_out(self, broadcast_id: int) -> None:
        """Queue the send for its audience, a chunk per transaction, from its cursor."""
        while True:
            async with self.db.transaction() as tx:
                more = await self._chunk(tx, broadcast_id)
            self.app.wake()  # the outbox starts on the first chunk while we queue the next
            if not more:
                return

    async def _chunk(self, tx: Repos, broadcast_id: int) -> bool:
        now = self.clock()
        repo = ActivityRepo(tx.session)
        broadcast = await repo.fenced(broadcast_id, self.token)
        if broadcast is None:
            return False  # taken over by another replica, or finished
        activity = (await repo.get(broadcast.activity_id)
                    if broadcast.activity_id is not None else None)
        stale = self._stale(broadcast, activity, now)
        if stale is not None:
            broadcast.status = stale
            broadcast.finished_at = now
            broadcast.lease_until = None
            return False
        recipients = await repo.recipients(broadcast.audience, broadcast.cursor, self.chunk)
        batch = batch_of(broadcast)
        rendered: dict[tuple[str, str | None], Outbound] = {}
        for recipient in recipients:
            contact = recipient.contact
            key = (contact.language or "id", recipient.answer)
            if key not in rendered:
                rendered[key] = self._render(broadcast, activity, recipient)
            outbound = replace(rendered[key], channel=contact.channel,
                               user_id=contact.external_id)
            await tx.outbox.enqueue(
                channel=contact.channel, recipient=contact.external_id,
                payload=outbound.as_dict(), now=now, contact_id=contact.id, priority=BULK,
                batch=batch, dedupe_key=f"{batch}:{contact.id}",
            )
        if recipients:
            broadcast.cursor = recipients[-1].contact.id
            broadcast.enqueued += len(recipients)
        if len(recipients) == self.chunk:
            broadcast.lease_until = now + self.lease
            return True
        broadcast.lease_until = None
        if broadcast.requested_by is not None and broadcast.kind in WATCHED_KINDS:
            broadcast.status = "sending"
        else:
            broadcast.status = "done"
            broadcast.finished_at = now
        return False

    @staticmethod
    def _stale(broadcast: Broadcast, activity: Activity | None, now: datetime) -> str | None:
        """Why a send must not go out any more, as its final status (None: it may go)."""
        if broadcast.kind == "siaran":
            return None
        if activity is None:
            return "cancelled"
        if broadcast.kind == "cancel":
            return None
        if activity.status != "published":
            return "cancelled"
        if activity.starts_at <= now:
            return "expired"  # a reminder or an announcement after the start helps nobody
        return None

    def _render(self, broadcast: Broadcast, activity: Activity | None,
                recipient: Recipient) -> Outbound:
        """The message in the recipient's language (computed once per language)."""
        prompt = self._prompt(broadcast, activity, recipient.answer)
        state = ContactState.from_orm(recipient.contact)
        return self.app.render(state, [prompt])

    @staticmethod
    def _prompt(broadcast: Broadcast, activity: Activity | None, answer: str | None) -> Prompt:
        if broadcast.kind == "siaran":
            return Prompt(texts=texts.broadcast_message(broadcast.body or ""))
        assert activity is not None
        act = view(activity)
        if broadcast.kind == "announce":
            return Prompt(texts=texts.announcement(act), choices=texts.rsvp_choices(act.id))
        if broadcast.kind == "reminder":
            code = str(broadcast.params.get("code", "2jam"))
            return Prompt(texts=texts.reminder(act, code, answer, due=broadcast.due_at),
                          choices=texts.rsvp_choices(act.id))
        if broadcast.kind == "cancel":
            return Prompt(texts=texts.cancelled(act, broadcast.params.get("reason")))
        if broadcast.kind == "reschedule":
            before = datetime.fromisoformat(str(broadcast.params["before"]))
            return Prompt(texts=texts.rescheduled(act, before),
                          choices=texts.rsvp_choices(act.id))
        raise ValueError(f"unknown bulk send kind {broadcast.kind!r}")

    # -- watching ------------------------------------------------------------------------

    async def watch(self) -> None:
        """Progress for long sends, and the delivery report once every row is final."""
        async with self.db.transaction() as tx:
            running = [b.id for b in await ActivityRepo(tx.session).watched()]
        for broadcast_id in running:
            async with self.db.transaction() as tx:
                await self._watch_one(tx, broadcast_id)
        self.app.wake()

    async def _watch_one(self, tx: Repos, broadcast_id: int) -> None:
        now = self.clock()
        repo = ActivityRepo(tx.session)
        broadcast = await repo.broadcast(broadcast_id)
        if broadcast is None or broadcast.status != "sending":
            return
        counts = await self.counts(tx, broadcast, now)
        coordinator = broadcast.requested_by
        if counts.finished:
            # The status change decides which replica reports: exactly one does.
            if await repo.finish(broadcast.id, now) and coordinator is not None:
                await self.app.notify(
                    tx, coordinator, *texts.delivery_report(broadcast.number, counts), now=now,
                    priority=REPLY, dedupe_key=f"{batch_of(broadcast)}:report")
            return
        last = broadcast.progress_at or broadcast.started_at or broadcast.created_at
        if coordinator is None or now - last < self.progress_every:
            return
        if await repo.note_progress(broadcast.id, broadcast.progress_at, now):
            await self.app.notify(
                tx, coordinator, *texts.delivery_progress(broadcast.number, counts), now=now,
                priority=REPLY, dedupe_key=f"{batch_of(broadcast)}:progress:{now.isoformat()}")

    async def counts(self, tx: Repos, broadcast: Broadcast, now: datetime) -> DeliveryCounts:
        found = await ActivityRepo(tx.session).batch_counts(batch_of(broadcast), now)
        pending = found.pending
        if broadcast.status in ("scheduled", "fanout"):
            pending = max(pending, 1)  # not all queued yet
        return DeliveryCounts(total=found.total, sent=found.sent, failed=found.failed,
                              blocked=found.blocked, opted_out=found.opted_out,
                              pending=pending)

    # -- recurring activities ------------------------------------------------------------

    async def roll_series(self) -> int:
        """Follow each recurring occurrence that has begun with the next one: created,
        published, its reminders scheduled, announced ``ANNOUNCE_LEAD`` before."""
        rolled = 0
        async with self.db.transaction() as tx:
            now = self.clock()
            repo = ActivityRepo(tx.session)
            for current in await repo.to_roll(now):
                current.rolled_at = now
                if await repo.next_of(current.id) is not None:
                    continue
                starts_at = next_occurrence(current, now)
                if starts_at is None:
                    continue
                following = await repo.create(
                    previous_id=current.id, seq=current.seq + 1, title=current.title,
                    kind=current.kind, starts_at=starts_at, place=current.place,
                    details=current.details, audience=dict(current.audience),
                    recurrence=current.recurrence, reminders=list(current.reminders),
                    status="published", created_by=current.created_by, created_at=now,
                    updated_at=now, published_at=now,
                )
                await repo.add_broadcast(
                    kind="announce", activity_id=following.id, requested_by=None,
                    audience=dict(following.audience), status="scheduled",
                    due_at=self.after_quiet(max(now, starts_at - ANNOUNCE_LEAD)),
                    created_at=now,
                )
                await self.schedule_reminders(tx, following, now)
                rolled += 1
        if rolled:
            log.info("rolled %d recurring activities to their next date", rolled)
        return rolled


# Audiences a free-form broadcast can be sent to without naming a place (the dashboard's
# composer offers these; the chat flow offers places too): form value → stored audience.
SIMPLE_AUDIENCES: dict[str, dict[str, Any]] = {
    "all": {"type": "all"},
    "volunteers": {"type": "volunteers"},
}


async def add_free_form(tx: Repos, *, body: str, audience: Mapping[str, Any],
                        requested_by: int | None, now: datetime) -> Broadcast:
    """A free-form broadcast (``/siaran``), as a draft awaiting confirmation."""
    return await ActivityRepo(tx.session).add_broadcast(
        kind="siaran", requested_by=requested_by, audience=dict(audience), body=body,
        status="draft", due_at=now, created_at=now,
    )


async def start_free_form(tx: Repos, broadcast: Broadcast, actor: str, now: datetime, *,
                          details: Mapping[str, Any] | None = None,
                          quiet: QuietHours | None = QUIET_HOURS) -> None:
    """A confirmed draft is due at once (or when quiet hours end), and audited. The
    fan-out starts when a broadcaster next runs: kick it after the commit
    (``ActivitiesFeature.kick_after_commit``) or it starts at the next timer tick."""
    broadcast.status = "scheduled"
    broadcast.due_at = now if quiet is None else quiet.later(now)
    await tx.audit.add(actor, "broadcast.sent", now, subject=f"broadcast:{broadcast.id}",
                       details=dict(details) if details else None)


async def send_free_form(tx: Repos, *, body: str, audience: Mapping[str, Any],
                         requested_by: int, actor: str, now: datetime,
                         details: Mapping[str, Any] | None = None) -> Broadcast:
    """Create a free-form broadcast to ``audience`` by a coordinator and start it (a
    preview already confirmed, as in the dashboard's composer)."""
    broadcast = await add_free_form(tx, body=body, audience=audience,
                                    requested_by=requested_by, now=now)
    await start_free_form(tx, broadcast, actor, now, details=details)
    return broadcast


def audience_counts_text(total: int, unreachable: int) -> list[T]:
    """'Will go to N people (M of them opted out or unreachable)'."""
    if unreachable:
        return [T("broadcast.recipients_skipped", count=total - unreachable,
                  skipped=unreachable)]
    return [T("broadcast.recipients", count=total)]


def rsvp_summary(counts: dict[str, int]) -> T:
    return T("activity.counts", yes=counts.get("yes", 0), maybe=counts.get("maybe", 0),
             no=counts.get("no", 0))


def names_lines(names: Sequence[tuple[str, str | None]], limit: int = 40) -> list[T]:
    """'Hadir (3): Siti, Budi, Ahmad' per answer, long lists cut with 'and N more'."""
    lines: list[T] = []
    for answer in ("yes", "maybe", "no"):
        who = [n or "-" for a, n in names if a == answer]
        if not who:
            continue
        shown = ", ".join(who[:limit])
        if len(who) > limit:
            lines.append(T("activity.names_more", answer=T(f"rsvp.answer.{answer}"),
                           count=len(who), names=shown, more=len(who) - limit))
        else:
            lines.append(T("activity.names", answer=T(f"rsvp.answer.{answer}"),
                           count=len(who), names=shown))
    return lines
