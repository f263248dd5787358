"""The resident's report: a clean-water problem, another complaint, an aspiration or a
request for information. The questions are the workbook ``forms/complaint.xlsx``;
the lifecycle of a report follows SP4N-LAPOR!.
"""

from __future__ import annotations

from conversations import tickets_flow
from conversations.flow import Option
from conversations.forms import load_builtin

FORM = load_builtin("complaint")
COMPLAINT = FORM.flow

WATER_CATEGORIES: tuple[Option, ...] = COMPLAINT.step("kategori").choices

# The lifecycle's statuses, in order (defined with its rules).
STATUSES = tickets_flow.STATUSES
