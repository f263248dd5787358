"""The coordinators' dashboard, mounted by the tickets feature's ``add_routes``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.features.tickets import TicketsFeature

DASHBOARD = web.AppKey("dashboard", object)


def setup_dashboard(app: web.Application, feature: TicketsFeature) -> None:
    """Add the dashboard's routes and static files to ``app``."""
    from bot.dashboard.views import Dashboard

    dashboard = Dashboard(feature)
    dashboard.routes(app)
    app[DASHBOARD] = dashboard
