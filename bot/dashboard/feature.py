"""The coordinators' dashboard: a feature with pages and the /dasbor login link."""

from __future__ import annotations

from aiohttp import web

from bot.dashboard.auth import LOGIN_TTL, issue_login_link
from bot.dashboard.simulator import SimulatorPage
from bot.dashboard.views import Dashboard
from bot.feature import Command, Context, FeatureContext, FeatureSpec, Page
from bot.features.tickets import COORDINATOR, Actor, TicketsFeature
from conversations.i18n import T

DASHBOARD = web.AppKey("dashboard", Dashboard)


class DashboardFeature:
    """Pages under ``/`` and the command that sends a one-time login link."""

    name = "dashboard"

    def __init__(self, tickets: TicketsFeature) -> None:
        self.tickets = tickets
        self.settings = tickets.settings
        self._app: FeatureContext | None = None

    def spec(self) -> FeatureSpec:
        return FeatureSpec(
            name=self.name,
            commands=(Command(("dasbor", "dashboard"), self._cmd_dashboard,
                              roles=frozenset({COORDINATOR}), menu_text="cmd.dasbor"),),
            pages=(Page(self.add_routes), Page(SimulatorPage(self.tickets).add_routes)),
        )

    def bind(self, app: FeatureContext) -> None:
        self._app = app

    def add_routes(self, app: web.Application) -> None:
        """Add the dashboard's routes and static files to ``app``."""
        dashboard = Dashboard(self.tickets)
        dashboard.routes(app)
        app[DASHBOARD] = dashboard

    async def _cmd_dashboard(self, ctx: Context, args: str) -> None:
        """/dasbor: a one-time link to the dashboard, valid for 10 minutes."""
        url = await issue_login_link(ctx.tx, self.settings, ctx.contact.id, ctx.now)
        await ctx.tx.audit.add(Actor.of(ctx.contact).label, "dashboard.link", ctx.now)
        ctx.say(T("ticket.dashboard_link", url=url, minutes=int(LOGIN_TTL.total_seconds() // 60)),
                ephemeral=True)
