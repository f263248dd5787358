"""``geopoint``: a location pin shared with the platform's own button."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.i18n import T
from conversations.messages import Inbound, InboundKind, Location, Media
from conversations.parsing import InvalidAnswer
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step

_PIN = Inbound("console", "u", "m", kind=InboundKind.LOCATION,
               location=Location(-6.0937, 106.9244))


@register
class Geopoint(QuestionType):
    name = "geopoint"
    xlsform = ("geopoint",)
    export_kind = "geopoint"
    expected = "answer.need_location"
    cases = (
        Case(_PIN, {"latitude": -6.0937, "longitude": 106.9244, "name": None,
                    "address": None}),
        Case("di depan masjid", error="answer.need_location"),
        Case(Inbound("console", "u", "m", kind=InboundKind.MEDIA,
                     media=Media(kind="photo", ref="f")), error="answer.need_location"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        if answer.inbound.location is None:
            raise InvalidAnswer("answer.need_location")
        return answer.inbound.location.as_dict(), []

    def prompt(self, step: Step, prompt: Prompt) -> None:
        prompt.request_location = True

    def display(self, step: Step, value: Any) -> Display:
        return T("summary.location", lat=f"{value['latitude']:.5f}",
                 lon=f"{value['longitude']:.5f}")
