"""Capabilities plugged into the dispatcher: each module registers its flows, commands,
menu entries and button handlers through ``Dispatcher.add_*``.
"""

from __future__ import annotations

from bot.dispatcher import Feature
from bot.features.activities import ActivitiesFeature
from bot.features.tickets import TicketsFeature
from bot.features.volunteers import VolunteersFeature
from bot.settings import Settings


def default_features(settings: Settings) -> list[Feature]:
    """Every feature the service runs with, in menu order."""
    features: list[Feature] = []
    features.append(TicketsFeature(settings))
    features.append(ActivitiesFeature(settings))
    features.append(VolunteersFeature(settings))
    return features
