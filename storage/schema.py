"""Every table of the service: importing this module registers them all on the metadata
(migrations and ``create_all`` need the whole schema; a repository needs only its own)."""

from __future__ import annotations

from storage import (
    models,
    models_activities,
    models_forms,
    models_pacing,
    models_tickets,
    models_volunteers,
)
from storage.base import Base

MODULES = (models, models_activities, models_forms, models_pacing, models_tickets,
           models_volunteers)
METADATA = Base.metadata
