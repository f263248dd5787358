"""Who someone is to the service: the role kept on their contact."""

from __future__ import annotations

RESIDENT = "resident"
VOLUNTEER = "volunteer"
COORDINATOR = "coordinator"
ROLES = (RESIDENT, VOLUNTEER, COORDINATOR)
# Those who act on reports and households.
OFFICERS = frozenset({VOLUNTEER, COORDINATOR})
COORDINATORS = frozenset({COORDINATOR})
