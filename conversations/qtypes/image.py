"""``image``: a photo (the largest size the platform offers; the bytes are kept later)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conversations.i18n import T
from conversations.messages import Inbound, InboundKind, Media
from conversations.parsing import InvalidAnswer
from conversations.qtypes import Answer, Case, Display, QuestionType, register

if TYPE_CHECKING:
    from conversations.flow import Step

_PHOTO = Inbound("console", "u", "m", kind=InboundKind.MEDIA,
                 media=Media(kind="photo", ref="file-1", unique_id="u-1"))
_VOICE = Inbound("console", "u", "m", kind=InboundKind.MEDIA,
                 media=Media(kind="voice", ref="file-2"))


@register
class Image(QuestionType):
    name = "image"
    xlsform = ("image",)
    export_kind = "media"
    expected = "answer.need_photo"
    cases = (
        Case(_PHOTO, {"kind": "photo", "stored_id": None, "ref": "file-1", "unique_id": "u-1",
                      "mime_type": None, "sha256": None, "size": None}),
        Case(_VOICE, error="answer.need_photo"),
        Case("nanti saya kirim", error="answer.need_photo"),
    )

    def parse(self, answer: Answer) -> tuple[Any, list[T]]:
        media = answer.inbound.media
        if media is None or media.kind != "photo":
            raise InvalidAnswer("answer.need_photo")
        return media.as_dict(), []

    def display(self, step: Step, value: Any) -> Display:
        return T("summary.photo")
