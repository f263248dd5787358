"""``place``: where the problem is, in one answer — a pin, or a line with the kelurahan,
RT/RW and a landmark (``Kalibaru RT 5 RW 3 dekat masjid Al Hidayah``).

It fills the separate answers with ``chat::derive`` (``lokasi = pin; kelurahan =
kelurahan; rt_rw = rt_rw; patokan = landmark``); what the line did not say is asked next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations import parsing
from conversations.i18n import T
from conversations.messages import Inbound, InboundKind, Location
from conversations.parsing import InvalidAnswer
from conversations.privacy import mask_ids
from conversations.prompt import Prompt
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step

_PIN = Inbound("console", "u", "m", kind=InboundKind.LOCATION,
               location=Location(-6.0937, 106.9244))
_KALIBARU = {"code": "31.72.04.1004", "name": "Kalibaru"}
_NOT_A_PLACE = frozenset({"ga", "gak", "gk", "nggak", "ngga", "enggak", "tidak", "tdk", "usah",
                          "aja", "saja", "deh", "ya", "lokasi", "pin", "bisa", "kirim"})


@register
class Place(QuestionType):
    name = "place"
    export_kind = "place"
    expected = "answer.place"
    # Its parts are shown in the summary by the answers it fills.
    in_summary = False
    cases = (
        Case("Kalibaru RT 5 RW 3 dekat masjid Al Hidayah",
             {"kelurahan": _KALIBARU, "rt_rw": {"rt": "005", "rw": "003"},
              "landmark": "masjid Al Hidayah", "pin": None}),
        Case("rt 3 rw 4", {"kelurahan": None, "rt_rw": {"rt": "003", "rw": "004"}}),
        Case("ga usah kalibaru rw 5 rt 2 ga usah", {"landmark": None, "kelurahan": _KALIBARU},
             note="words about the pin are not a landmark"),
        Case(_PIN, {"pin": {"latitude": -6.0937, "longitude": 106.9244, "name": None,
                            "address": None}, "kelurahan": None}),
        Case("🙏", error="answer.place"),
        Case("x" * 400, error="answer.place"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        if answer.inbound.location is not None:
            return {"pin": answer.inbound.location.as_dict(), "kelurahan": None,
                    "rt_rw": None, "landmark": None}, []
        text = self.need_text(answer)
        found = parsing.extract_location(text)
        kel = found.kelurahan
        landmark = found.landmark
        if landmark and not set(landmark.lower().split()) - _NOT_A_PLACE:
            landmark = None  # "ga usah" said about the pin is not a landmark
        value = {
            "pin": None,
            "kelurahan": {"code": kel.code, "name": kel.name} if kel else None,
            "rt_rw": {"rt": found.rt_rw[0], "rw": found.rt_rw[1]} if found.rt_rw else None,
            "landmark": mask_ids(landmark)[:200] if landmark else None,
        }
        if not any(value.values()):
            raise InvalidAnswer("answer.place")
        return value, []

    def prompt(self, step: Step, prompt: Prompt) -> None:
        prompt.request_location = True

    def display(self, step: Step, value: Any) -> Display:
        parts: list[T | str] = []
        if isinstance(value, dict):
            if value.get("pin"):
                pin = value["pin"]
                parts.append(T("summary.location", lat=f"{pin['latitude']:.5f}",
                               lon=f"{pin['longitude']:.5f}"))
            if value.get("kelurahan"):
                parts.append(str(value["kelurahan"]["name"]))
            if value.get("rt_rw"):
                parts.append(T("summary.rt_rw", **value["rt_rw"]))
            if value.get("landmark"):
                parts.append(str(value["landmark"]))
        return T("flow.list", items=parts) if parts else "-"
