"""Activities, RSVPs, broadcasts and reminders by chat.

- ``/kegiatan`` (coordinators): schedule an activity; it is saved as a draft, previewed
  as residents will see it, then announced to its audience with RSVP buttons.
- ``/siaran`` (coordinators): a free-form broadcast, previewed with its number of
  recipients, sent after confirmation; ``/siaran status`` shows how recent ones went.
- ``/jadwal``: upcoming activities with the person's own answer, to change it;
  coordinators see the counts and names, and reschedule, cancel or announce from there.
- ``/wilayah``: where a resident lives, so announcements to their RW/RT reach them.
- Buttons ``rsvp:<id>:yes|no|maybe`` (on announcements, reminders and /jadwal), and the
  words *hadir*, *mungkin*, *tidak bisa* typed instead.

Quiet hours (``WARGA_QUIET_HOURS``): reminders due inside them go before, broadcasts
after; previews say so.

Timers: one APScheduler date job wakes at the next due moment read from the database
(reminders, sends to take over, recurring activities to roll), and an interval job
catches up and watches running sends. Which replica does the work is decided by the
database (see ``bot.broadcast``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.events import EVENT_SCHEDULER_SHUTDOWN
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import event

from bot.broadcast import (
    REPORTED_KINDS,
    Broadcaster,
    add_free_form,
    audience_counts_text,
    batch_of,
    names_lines,
    rsvp_summary,
    start_free_form,
    view,
)
from bot.feature import (
    Button,
    Command,
    Context,
    FeatureContext,
    FeatureSpec,
    FormUse,
    MenuItem,
)
from bot.scheduler import Scheduler
from bot.settings import Settings
from conversations import activity as texts
from conversations.activity import (
    ACTIVITY,
    ACTIVITY_CANCEL,
    ACTIVITY_MOVE,
    BROADCAST,
    COMING,
    PLACE,
    QUIET_HOURS,
    BroadcastAction,
    ManageActivity,
    MoveTo,
    QuietHours,
    Rsvp,
    ScheduleItem,
    audience_from_answers,
    reminders_from_answers,
)
from conversations.i18n import JAKARTA, T
from conversations.matching import normalize
from conversations.roles import COORDINATORS
from storage.models_activities import Activity
from storage.repos import Repos
from storage.repos_activities import ActivityRepo

log = logging.getLogger(__name__)

NAME = "activities"
# Which activity a move/cancel flow is about, per flow id, in this feature's session part.
TARGETS = "targets"
# How many activities /jadwal lists (a WhatsApp list has ten rows).
LIST_LIMIT = 10
# The safety net: catch up on anything due, watch running sends.
TICK_SECONDS = 5.0
TYPED_RSVP: dict[str, tuple[str, ...]] = {
    "yes": ("hadir", "saya hadir", "insya allah hadir", "insyaallah hadir", "datang"),
    "no": ("tidak bisa", "tidak hadir", "gak bisa", "ga bisa", "nggak bisa", "ngga bisa",
           "tdk bisa", "berhalangan"),
    "maybe": ("mungkin", "mungkin hadir", "belum tahu", "belum tau"),
}


class ActivitiesFeature:
    """The Feature: flows, commands, buttons and timers of activities and broadcasts."""

    def __init__(self, settings: Settings | None = None, *,
                 progress_every: timedelta = timedelta(seconds=60)) -> None:
        self.lease = timedelta(seconds=settings.lease_seconds if settings else 60.0)
        self.quiet = QuietHours.parse(settings.quiet_hours) if settings else QUIET_HOURS
        self.progress_every = progress_every
        self.scheduler: AsyncIOScheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False
        self._again = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._app: FeatureContext | None = None
        self._broadcaster: Broadcaster | None = None

    @property
    def app(self) -> FeatureContext:
        assert self._app is not None, "bind() first"
        return self._app

    @property
    def broadcaster(self) -> Broadcaster:
        assert self._broadcaster is not None, "bind() first"
        return self._broadcaster

    # -- Feature -------------------------------------------------------------------------

    def spec(self) -> FeatureSpec:
        typed_rsvp = tuple(Command(words, self._typed_rsvp(answer))
                           for answer, words in TYPED_RSVP.items())
        return FeatureSpec(
            name=NAME,
            forms=(FormUse(ACTIVITY, self._activity_saved),
                   FormUse(ACTIVITY_MOVE, self._activity_moved),
                   FormUse(ACTIVITY_CANCEL, self._activity_cancelled),
                   FormUse(BROADCAST, self._broadcast_composed),
                   FormUse(PLACE, self._place_saved)),
            commands=(
                Command(("kegiatan", "buat kegiatan", "kegiatan baru"), self._cmd_kegiatan,
                        roles=COORDINATORS, menu_text="cmd.kegiatan"),
                Command(("siaran", "buat siaran"), self._cmd_siaran, roles=COORDINATORS,
                        menu_text="cmd.siaran"),
                Command(("jadwal", "jadwal kegiatan", "agenda"), self._cmd_jadwal,
                        menu_text="cmd.jadwal"),
                Command(("wilayah", "alamat saya", "ubah wilayah"), self._cmd_wilayah,
                        menu_text="cmd.wilayah"),
                *typed_rsvp,
            ),
            menu=(
                MenuItem("jadwal", T("menu.jadwal"), self._menu_jadwal),
                MenuItem("kegiatan", T("menu.kegiatan"), self._menu_kegiatan,
                         roles=COORDINATORS),
                MenuItem("siaran", T("menu.siaran"), self._menu_siaran, roles=COORDINATORS),
            ),
            buttons=(Button(Rsvp, self._on_rsvp, "rsvp.unknown"),
                     Button(ScheduleItem, self._on_jadwal, "rsvp.unknown"),
                     Button(ManageActivity, self._on_manage),
                     Button(BroadcastAction, self._on_siaran),
                     Button(MoveTo, self._on_move_to)),
            startup=self._startup,
        )

    def bind(self, app: FeatureContext) -> None:
        self._app = app
        self._broadcaster = Broadcaster(app.db, app, clock=app.clock, lease=self.lease,
                                        progress_every=self.progress_every,
                                        quiet=self.quiet)

    async def _startup(self, scheduler: AsyncIOScheduler) -> None:
        """Rebuild the timers from the database rows (start-up)."""
        self.scheduler = scheduler
        self._loop = asyncio.get_running_loop()
        scheduler.add_job(self._wake, "interval", seconds=TICK_SECONDS, id="activities:tick",
                          replace_existing=True)
        scheduler.add_listener(self._stopped, EVENT_SCHEDULER_SHUTDOWN)
        self._plan(await self.broadcaster.next_wake())

    def _stopped(self, _event: object) -> None:
        """The service stops: a run under way is abandoned (its claims are leased, and
        taken up again after a restart or by another replica)."""
        self._loop = None
        for task in list(self._tasks):
            task.cancel()

    async def _wake(self) -> None:
        """What the timers call: start a run and return at once, so that a job is never
        still running when it fires again (APScheduler would skip that firing)."""
        self._spawn()

    async def idle(self) -> None:
        """Wait for the runs under way (tests, benchmarks, a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self) -> None:
        if self._loop is None:
            return  # stopped: a commit seen after shutdown starts nothing on a closed database
        task = asyncio.create_task(self.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if isinstance(self.scheduler, Scheduler):
            # Cancelled at shutdown; the database closes only once it has unwound.
            self.scheduler.track(task)

    # -- timers --------------------------------------------------------------------------

    async def run(self) -> None:
        """Do what is due; runs once at a time per process, again if asked meanwhile."""
        if self._running:
            self._again = True
            return
        self._running = True
        try:
            while True:
                self._again = False
                worked = await self.broadcaster.run()
                due = await self.broadcaster.next_wake()
                # Asked again meanwhile, or more fell due while this pass worked: go on.
                if self._again or (worked and due is not None
                                   and due <= self.app.clock()):
                    continue
                break
            self._plan(due)
        except Exception:
            # The interval job tries again in a few seconds; no hot loop on a failure.
            log.exception("activities: bulk sends failed; retrying at the next tick")
        finally:
            self._running = False

    def _plan(self, due: datetime | None) -> None:
        """One date job at the next moment something is due (the database says when)."""
        if self.scheduler is None:
            return
        if due is None:
            if self.scheduler.get_job("activities:wake") is not None:
                self.scheduler.remove_job("activities:wake")
            return
        now = self.app.clock()
        # Due already, yet not taken by this run: another replica holds it. Look again
        # in a moment rather than at once.
        at = due if due > now else now + timedelta(seconds=1)
        self.scheduler.add_job(self._wake, "date", run_date=at, id="activities:wake",
                               replace_existing=True)

    def kick_after_commit(self, tx: Repos) -> None:
        """Fan out a send created in this transaction as soon as it is committed (also
        used by the dashboard's broadcast composer)."""
        loop = self._loop
        if loop is None:
            return  # no timers (tests drive the broadcaster themselves)

        def committed(_session: Any) -> None:
            loop.call_soon_threadsafe(self._spawn)

        event.listen(tx.session.sync_session, "after_commit", committed, once=True)

    # -- commands and menu ---------------------------------------------------------------

    async def _cmd_kegiatan(self, ctx: Context, args: str) -> None:
        await ctx.start_or_offer(ACTIVITY.id, _now(ctx))

    async def _menu_kegiatan(self, ctx: Context) -> None:
        await self._cmd_kegiatan(ctx, "")

    async def _cmd_siaran(self, ctx: Context, args: str) -> None:
        if normalize(args) in ("status", "laporan", "hasil"):
            await self._broadcast_status(ctx)
            ctx.reask()
            return
        await ctx.start_or_offer(BROADCAST.id)

    async def _menu_siaran(self, ctx: Context) -> None:
        await self._cmd_siaran(ctx, "")

    async def _cmd_jadwal(self, ctx: Context, args: str) -> None:
        await self._schedule_list(ctx)
        ctx.reask()

    async def _menu_jadwal(self, ctx: Context) -> None:
        await self._schedule_list(ctx)

    async def _cmd_wilayah(self, ctx: Context, args: str) -> None:
        await ctx.start_or_offer(PLACE.id)

    # -- /jadwal -------------------------------------------------------------------------

    async def _schedule_list(self, ctx: Context) -> None:
        repo = ActivityRepo(ctx.tx.session)
        coordinator = ctx.contact.role in COORDINATORS
        if coordinator:
            found = list(await repo.upcoming(ctx.now, statuses=("published", "draft"),
                                             limit=LIST_LIMIT))
        else:
            found = await self._visible(ctx, repo)
        if not found:
            ctx.say(T("jadwal.none_coordinator" if coordinator else "jadwal.none"))
            return
        ids = [a.id for a in found]
        lines: list[T] = []
        if coordinator:
            counts = await repo.rsvp_counts(ids)
            for n, a in enumerate(found, start=1):
                status = T("jadwal.draft") if a.status == "draft" else ""
                lines.append(T("jadwal.line_coordinator", n=n, title=a.title, when=a.starts_at,
                               status=status, counts=rsvp_summary(counts.get(a.id, {}))))
            intro, hint = T("jadwal.intro_coordinator"), T("jadwal.hint_coordinator")
        else:
            answers = await repo.rsvps_of(ctx.contact.id, ids)
            for n, a in enumerate(found, start=1):
                answer = answers.get(a.id)
                mine = T(f"rsvp.answer.{answer}") if answer else T("rsvp.answer.none")
                lines.append(T("jadwal.line", n=n, title=a.title, when=a.starts_at,
                               place=a.place, answer=mine))
            intro, hint = T("jadwal.intro"), T("jadwal.hint")
        ctx.say(intro, *lines, hint,
                choices=[(ScheduleItem(a.id).pack(), _label(a.title)) for a in found])

    async def _visible(self, ctx: Context, repo: ActivityRepo) -> list[Activity]:
        """Upcoming published activities meant for this person, or that they answered."""
        upcoming = await repo.upcoming(ctx.now, limit=50)
        answered = await repo.rsvps_of(ctx.contact.id, [a.id for a in upcoming])
        out: list[Activity] = []
        for a in upcoming:
            if a.id in answered or await repo.in_audience(ctx.contact.id, a.audience):
                out.append(a)
            if len(out) == LIST_LIMIT:
                break
        return out

    async def _on_jadwal(self, ctx: Context, button: ScheduleItem) -> None:
        repo = ActivityRepo(ctx.tx.session)
        activity = await repo.get(button.activity)
        coordinator = ctx.contact.role in COORDINATORS
        if activity is None or (activity.status == "draft" and not coordinator):
            ctx.say(T("rsvp.unknown"))
            return
        if coordinator:
            await self._manage_view(ctx, repo, activity)
            return
        answer = await repo.rsvp(activity.id, ctx.contact.id)
        # Button data can be forged: only the activity's audience (or someone who
        # answered it already) sees it.
        if answer is None and not await repo.in_audience(ctx.contact.id, activity.audience):
            ctx.say(T("rsvp.not_for_you"))
            return
        body = texts.details_lines(view(activity))
        if activity.status == "cancelled":
            ctx.say(T("activity.status.cancelled"), *body)
            return
        if activity.starts_at <= ctx.now:
            ctx.say(*body, T("rsvp.past", title=activity.title))
            return
        mine = T(f"rsvp.answer.{answer}") if answer else T("rsvp.answer.none")
        ctx.say(*body, T("jadwal.your_answer", answer=mine), T("jadwal.change_question"),
                choices=texts.rsvp_choices(activity.id))

    async def _manage_view(self, ctx: Context, repo: ActivityRepo, activity: Activity) -> None:
        counts = (await repo.rsvp_counts([activity.id])).get(activity.id, {})
        names = await repo.rsvp_names(activity.id)
        lines = [T(f"activity.status.{activity.status}"), *texts.details_lines(view(activity)),
                 T("activity.audience_line", audience=texts.audience_text(activity.audience)),
                 rsvp_summary(counts), *names_lines(names)]
        choices: list[tuple[str, T | str]] = []
        if activity.status != "cancelled" and activity.starts_at > ctx.now:
            if activity.status == "draft":
                choices.append((ManageActivity(activity.id, "umumkan").pack(),
                                T("activity.button.publish")))
            choices.append((ManageActivity(activity.id, "pindah").pack(),
                                T("activity.button.move")))
            choices.append((ManageActivity(activity.id, "batal").pack(),
                                T("activity.button.cancel")))
            if activity.recurrence != "none" and activity.rolled_at is None:
                choices.append((ManageActivity(activity.id, "henti").pack(),
                                T("activity.button.stop")))
        ctx.say(*lines, choices=choices)

    # -- RSVP ----------------------------------------------------------------------------

    async def _on_rsvp(self, ctx: Context, button: Rsvp) -> None:
        await self._answer(ctx, button.activity, button.answer)

    async def _answer(self, ctx: Context, activity_id: int, answer: str) -> None:
        repo = ActivityRepo(ctx.tx.session)
        activity = await repo.get(activity_id)
        if activity is None or activity.status == "draft":
            ctx.say(T("rsvp.unknown"))
            return
        previous = await repo.rsvp(activity.id, ctx.contact.id)
        if (previous is None and ctx.contact.role not in COORDINATORS
                and not await repo.in_audience(ctx.contact.id, activity.audience)):
            ctx.say(T("rsvp.not_for_you"))
            return
        if activity.status == "cancelled":
            ctx.say(T("rsvp.cancelled", title=activity.title, when=activity.starts_at))
            return
        if activity.starts_at <= ctx.now:
            ctx.say(T("rsvp.past", title=activity.title))
            return
        if previous == answer:
            ctx.say(T("rsvp.same", title=activity.title, answer=T(f"rsvp.answer.{answer}")),
                    T("rsvp.change_hint"))
            return
        await repo.set_rsvp(activity.id, ctx.contact.id, answer, ctx.now)
        thanks = T(f"rsvp.thanks.{answer}", title=activity.title, when=activity.starts_at)
        ctx.say(thanks, T("rsvp.change_hint"))

    def _typed_rsvp(self, answer: str) -> Callable[[Context, str], Awaitable[None]]:
        async def handler(ctx: Context, args: str) -> None:
            """'hadir' typed (a WhatsApp template has no buttons): the one upcoming
            activity this person was told of, or the list to pick from."""
            repo = ActivityRepo(ctx.tx.session)
            found = await self._visible(ctx, repo)
            if len(found) == 1:
                await self._answer(ctx, found[0].id, answer)
            elif not found:
                ctx.say(T("jadwal.none"))
            else:
                await self._schedule_list(ctx)
            ctx.reask()

        return handler

    # -- creating and managing activities ------------------------------------------------

    async def _activity_saved(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        repo = ActivityRepo(ctx.tx.session)
        activity = await repo.create(
            title=answers["judul"], kind=answers["jenis"],
            starts_at=datetime.fromisoformat(answers["waktu"]), place=answers["tempat"],
            details=answers.get("keterangan"), audience=audience_from_answers(answers),
            recurrence=answers["ulang"], reminders=reminders_from_answers(answers),
            status="draft", created_by=ctx.contact.id, created_at=ctx.now,
            updated_at=ctx.now,
        )
        await ctx.tx.audit.add(_actor(ctx), "activity.created", ctx.now,
                               subject=f"activity:{activity.id}")
        if activity.starts_at <= ctx.now:
            await self._ask_new_time(ctx, activity, T("activity.saved", number=activity.id),
                                     T("activity.time_past", when=activity.starts_at))
            return []
        await self._offer_publish(ctx, repo, activity, T("activity.saved", number=activity.id))
        return []

    async def _offer_publish(self, ctx: Context, repo: ActivityRepo, activity: Activity,
                             intro: T) -> None:
        """The announcement exactly as residents will get it, how many, and: send now?"""
        total, unreachable = await repo.audience_size(activity.audience)
        ctx.say(intro, T("activity.preview_intro"), T("broadcast.rule"),
                *texts.announcement(view(activity)), T("broadcast.rule"),
                T("activity.audience_line", audience=texts.audience_text(activity.audience)),
                *audience_counts_text(total, unreachable), *self._quiet_now(ctx),
                *self._reminder_lines(activity, ctx.now),
                T("activity.publish_question"),
                choices=[(ManageActivity(activity.id, "umumkan").pack(),
                          T("activity.button.publish")),
                         (ManageActivity(activity.id, "draf").pack(), T("activity.button.draft"))])

    def _reminder_lines(self, activity: Activity, now: datetime) -> list[T]:
        times = [(code, due) for code, due in
                 texts.reminder_times(activity.starts_at, activity.reminders, self.quiet, now)
                 if due > now]
        if not times:
            return [T("activity.reminders_none")]
        names = [T(f"activity.pengingat_pilih.{code}") for code, _ in times]
        lines = [T("activity.reminders", list=names)]
        plain = dict(texts.reminder_times(activity.starts_at, activity.reminders, None))
        for code, due in times:
            if plain.get(code) != due:
                lines.append(self._quiet_line("activity.reminder_quiet", due))
        return lines

    def _quiet_line(self, key: str, when: datetime) -> T:
        """'Sent Monday 20.30, because of quiet hours 21.00–05.30'."""
        assert self.quiet is not None
        return T(key, when=when, start=self.quiet.start.strftime("%H.%M"),
                 end=self.quiet.end.strftime("%H.%M"))

    def _quiet_now(self, ctx: Context) -> list[T]:
        """Said in a preview made in quiet hours: when it will go out."""
        if self.quiet is None or not self.quiet.contains(ctx.now):
            return []
        return [self._quiet_line("broadcast.quiet_deferred", self.quiet.later(ctx.now))]

    async def _ask_new_time(self, ctx: Context, activity: Activity, *intro: T) -> None:
        ctx.data(NAME).setdefault(TARGETS, {})[ACTIVITY_MOVE.id] = activity.id
        await ctx.start_flow(ACTIVITY_MOVE.id, _now(ctx), intro=list(intro))

    async def _on_manage(self, ctx: Context, button: ManageActivity) -> None:
        action = button.action
        if ctx.contact.role not in COORDINATORS:
            ctx.say(T("bot.not_allowed"))
            return
        repo = ActivityRepo(ctx.tx.session)
        activity = await repo.get(button.activity, for_update=True)
        if activity is None or activity.status == "cancelled":
            ctx.say(T("activity.gone"))
            return
        if activity.starts_at <= ctx.now and action in ("umumkan", "pindah", "batal", "henti"):
            ctx.say(T("activity.already_started", title=activity.title))
            return
        if action == "umumkan":
            await self._publish(ctx, activity)
        elif action == "draf":
            ctx.say(T("activity.kept_draft", number=activity.id))
        elif action == "pindah":
            await self._start_about(ctx, ACTIVITY_MOVE.id, activity,
                                    T("activity_move.intro", title=activity.title,
                                      when=activity.starts_at))
        elif action == "batal":
            told = await self._coming(repo, activity.id)
            await self._start_about(ctx, ACTIVITY_CANCEL.id, activity,
                                    T("activity_cancel.intro", title=activity.title,
                                      when=activity.starts_at, count=told))
        elif action == "henti":
            activity.recurrence = "none"
            activity.updated_at = ctx.now
            await ctx.tx.audit.add(_actor(ctx), "activity.series_stopped", ctx.now,
                                   subject=f"activity:{activity.id}")
            ctx.say(T("activity.series_stopped", title=activity.title))

    async def _publish(self, ctx: Context, activity: Activity) -> None:
        if activity.status == "published":
            ctx.say(T("activity.already_published", number=activity.id))
            return
        announce = await self.broadcaster.publish(ctx.tx, activity, ctx.now, ctx.contact.id)
        await ctx.tx.audit.add(_actor(ctx), "activity.published", ctx.now,
                               subject=f"activity:{activity.id}")
        self.kick_after_commit(ctx.tx)
        total, unreachable = await ActivityRepo(ctx.tx.session).audience_size(activity.audience)
        ctx.say(T("activity.publishing", number=activity.id, broadcast=announce.number),
                *audience_counts_text(total, unreachable), *self._quiet_now(ctx),
                T("broadcast.report_promise"))

    async def _start_about(self, ctx: Context, flow_id: str, activity: Activity,
                           intro: T) -> None:
        """Start a flow about one activity (or offer to finish the one under way first:
        then the target is not touched, so the unfinished flow keeps its own)."""
        if ctx.session.flow is not None:
            await ctx.start_or_offer(flow_id, _now(ctx))
            return
        ctx.data(NAME).setdefault(TARGETS, {})[flow_id] = activity.id
        await ctx.start_flow(flow_id, _now(ctx), intro=[intro])

    async def _target(self, ctx: Context, flow_id: str) -> Activity | None:
        targets: dict[str, int] = ctx.data(NAME).get(TARGETS) or {}
        activity_id = targets.pop(flow_id, None)
        if activity_id is None:
            return None
        return await ActivityRepo(ctx.tx.session).get(activity_id, for_update=True)

    async def _activity_moved(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        activity = await self._target(ctx, ACTIVITY_MOVE.id)
        if activity is None or activity.status == "cancelled":
            return [T("activity.gone")]
        starts_at = datetime.fromisoformat(answers["waktu"])
        if starts_at <= ctx.now:
            await self._ask_new_time(ctx, activity, T("activity.time_past", when=starts_at))
            return []
        kept = texts.kept_day(activity.starts_at, starts_at, ctx.now)
        if kept is not None:
            ctx.say(T("activity_move.which_day"), T("activity_move.kept", when=kept),
                    T("activity_move.new", when=starts_at),
                    choices=[(MoveTo(activity.id, _minute(kept)).pack(),
                              T("activity_move.button.keep")),
                             (MoveTo(activity.id, _minute(starts_at)).pack(),
                              T("activity_move.button.new"))])
            return []
        return await self._move(ctx, activity, starts_at)

    async def _on_move_to(self, ctx: Context, button: MoveTo) -> None:
        if ctx.contact.role not in COORDINATORS:
            ctx.say(T("bot.not_allowed"))
            return
        activity = await ActivityRepo(ctx.tx.session).get(button.activity, for_update=True)
        if activity is None or activity.status == "cancelled":
            ctx.say(T("activity.gone"))
            return
        if activity.starts_at <= ctx.now:
            ctx.say(T("activity.already_started", title=activity.title))
            return
        starts_at = datetime.fromtimestamp(button.minute * 60, UTC)
        if starts_at == activity.starts_at:
            ctx.say(T("activity.moved_same", title=activity.title, when=starts_at))
            return
        if starts_at <= ctx.now:
            await self._ask_new_time(ctx, activity, T("activity.time_past", when=starts_at))
            return
        said = await self._move(ctx, activity, starts_at)
        if said:
            ctx.say(*said)

    async def _move(self, ctx: Context, activity: Activity, starts_at: datetime) -> list[T]:
        """The activity at its new time: a draft previewed again, a published one moved
        with its reminders and those coming told."""
        repo = ActivityRepo(ctx.tx.session)
        if activity.status == "draft":
            activity.starts_at = starts_at
            activity.updated_at = ctx.now
            await self._offer_publish(ctx, repo, activity,
                                      T("activity.draft_moved", number=activity.id))
            return []
        before = activity.starts_at
        notice = await self.broadcaster.reschedule(ctx.tx, activity, starts_at, ctx.now,
                                                   requested_by=ctx.contact.id)
        await ctx.tx.audit.add(_actor(ctx), "activity.rescheduled", ctx.now,
                               subject=f"activity:{activity.id}",
                               details={"before": before.isoformat(),
                                        "after": starts_at.isoformat()})
        self.kick_after_commit(ctx.tx)
        told = await self._coming(repo, activity.id)
        return [T("activity.moved_done", title=activity.title, when=starts_at, count=told,
                  broadcast=notice.number if notice else "-")]

    async def _activity_cancelled(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        activity = await self._target(ctx, ACTIVITY_CANCEL.id)
        if activity is None or activity.status == "cancelled":
            return [T("activity.gone")]
        repo = ActivityRepo(ctx.tx.session)
        told = await self._coming(repo, activity.id) if activity.status == "published" else 0
        await self.broadcaster.cancel(ctx.tx, activity, ctx.now, reason=answers.get("alasan"),
                                      requested_by=ctx.contact.id)
        await ctx.tx.audit.add(_actor(ctx), "activity.cancelled", ctx.now,
                               subject=f"activity:{activity.id}")
        self.kick_after_commit(ctx.tx)
        return [T("activity.cancelled_done", title=activity.title, count=told)]

    @staticmethod
    async def _coming(repo: ActivityRepo, activity_id: int) -> int:
        """Those coming or maybe coming who can be told (not opted out, not blocked)."""
        total, unreachable = await repo.audience_size(
            {"type": "rsvp", "activity_id": activity_id, "answers": list(COMING)})
        return total - unreachable

    # -- /siaran -------------------------------------------------------------------------

    async def _broadcast_composed(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        repo = ActivityRepo(ctx.tx.session)
        audience = audience_from_answers(answers)
        broadcast = await add_free_form(ctx.tx, body=answers["pesan"], audience=audience,
                                        requested_by=ctx.contact.id, now=ctx.now)
        total, unreachable = await repo.audience_size(audience)
        ctx.say(T("broadcast.preview_intro", number=broadcast.number), T("broadcast.rule"),
                *texts.broadcast_message(broadcast.body or ""), T("broadcast.rule"),
                T("activity.audience_line", audience=texts.audience_text(audience)),
                *audience_counts_text(total, unreachable), *self._quiet_now(ctx),
                T("broadcast.send_question"),
                choices=[(BroadcastAction(broadcast.id, "kirim").pack(),
                          T("broadcast.button.send")),
                         (BroadcastAction(broadcast.id, "batal").pack(),
                          T("broadcast.button.discard"))])
        return []

    async def _on_siaran(self, ctx: Context, button: BroadcastAction) -> None:
        action = button.action
        if ctx.contact.role not in COORDINATORS:
            ctx.say(T("bot.not_allowed"))
            return
        repo = ActivityRepo(ctx.tx.session)
        broadcast = await repo.broadcast(button.broadcast, for_update=True)
        if broadcast is None or broadcast.kind != "siaran":
            ctx.say(T("rsvp.unknown"))
        elif broadcast.status != "draft":
            ctx.say(T("broadcast.already", number=broadcast.number))
        elif action == "kirim":
            await start_free_form(ctx.tx, broadcast, _actor(ctx), ctx.now, quiet=self.quiet)
            self.kick_after_commit(ctx.tx)
            total, unreachable = await repo.audience_size(broadcast.audience)
            ctx.say(T("broadcast.sending", number=broadcast.number),
                    *audience_counts_text(total, unreachable), *self._quiet_now(ctx),
                    T("broadcast.report_promise"))
        else:
            broadcast.status = "cancelled"
            ctx.say(T("broadcast.discarded", number=broadcast.number))

    async def _broadcast_status(self, ctx: Context) -> None:
        repo = ActivityRepo(ctx.tx.session)
        recent = await repo.recent_broadcasts(REPORTED_KINDS)
        if not recent:
            ctx.say(T("broadcast.status_none"))
            return
        lines: list[T] = []
        for b in recent:
            counts = await self.broadcaster.counts(ctx.tx, b, ctx.now)
            state = T(f"broadcast.state.{b.status}")
            lines.append(T("broadcast.status_line", number=b.number,
                           kind=T(f"broadcast.kind.{b.kind}"), state=state, sent=counts.sent,
                           total=counts.total,
                           failed=counts.failed, blocked=counts.blocked,
                           opted_out=counts.opted_out))
        ctx.say(T("broadcast.status_intro"), *lines)

    # -- /wilayah ------------------------------------------------------------------------

    async def _place_saved(self, ctx: Context, answers: dict[str, Any]) -> list[T]:
        kel = answers["kelurahan"]
        rt_rw = answers["rt_rw"]
        await ActivityRepo(ctx.tx.session).set_place(
            ctx.contact.id, kel["code"], rt_rw["rw"], rt_rw["rt"], "self", ctx.now)
        return [T("wilayah.saved", rt_rw=texts.rt_rw_text(rt_rw["rt"], rt_rw["rw"]),
                  kelurahan=kel["name"])]


def _label(title: str) -> str:
    """A button label: WhatsApp list rows hold 24 characters. No number of its own:
    channels that number choices add theirs ("1. 1. Siti" otherwise)."""
    return title if len(title) <= 24 else title[:23] + "…"


def _minute(moment: datetime) -> int:
    return int(moment.timestamp()) // 60


def _now(ctx: Context) -> dict[str, str]:
    """The flow's ``_now``: its date-time question refuses a moment already past."""
    return {"now": ctx.now.astimezone(JAKARTA).isoformat()}


def _actor(ctx: Context) -> str:
    return f"{ctx.contact.channel}:{ctx.contact.id}"


__all__ = ["ActivitiesFeature", "batch_of"]
