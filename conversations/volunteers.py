"""Volunteer registration and the data subject's requests, as short flows.

Registration starts from an invite code (``/relawan KODE``, the Telegram deep link
``start=relawan_KODE``, or "DAFTAR RELAWAN KODE" on WhatsApp): the volunteer reads what
we keep about them and agrees, picks a volunteer type, and a coordinator approves.

```mermaid
flowchart TD
  code([/relawan KODE]) --> consent{{setuju?}}
  consent -- tidak --> stop([nothing kept but the refusal])
  consent -- ya --> type[jenis] -- lainnya --> other[jenis_lain] --> name[nama]
  type --> name --> area[wilayah] --> summary{{summary}} --> pending([menunggu koordinator])
  pending -- setujui --> volunteer([relawan])
  pending -- tolak --> resident([warga])
```
"""

from __future__ import annotations

from conversations.flow import Constraint, Eq, Flow, Option, Step, StepType

REGISTRATION_ID = "volunteer_registration"
REGISTRATION_NOTICE_VERSION = "relawan-2026-11"
REGISTRATION_NOTICE_KEY = "vol.setuju.label"

VOLUNTEER_TYPES = ("tagana", "pkh", "pelopor", "karang_taruna", "lainnya")

REGISTRATION = Flow(
    id=REGISTRATION_ID,
    version=1,
    title="vol.title",
    summary_intro="vol.summary_intro",
    with_meta=True,
    mask_ids_in_text=True,
    cancelled="vol.cancelled",
    steps=(
        Step("setuju", StepType.YES_NO, REGISTRATION_NOTICE_KEY, "vol.setuju.title",
             finish_if=Eq("setuju", False), timestamp=True),
        Step("jenis", StepType.SELECT_ONE, "vol.jenis.label", "vol.jenis.title",
             choices=(
                 Option("tagana", "vol.type.tagana", ("tagana", "taruna siaga bencana")),
                 Option("pkh", "vol.type.pkh", ("pkh", "pendamping", "pendamping pkh")),
                 Option("pelopor", "vol.type.pelopor", ("pelopor", "pelopor perdamaian")),
                 Option("karang_taruna", "vol.type.karang_taruna", ("karang taruna", "kt")),
                 Option("lainnya", "vol.type.lainnya", ("lain", "lainnya")),
             )),
        Step("jenis_lain", StepType.TEXT, "vol.jenis_lain.label", "vol.jenis_lain.title",
             relevant=Eq("jenis", "lainnya"), constraint=Constraint(min_length=2,
                                                                     max_length=100)),
        Step("nama", StepType.TEXT, "vol.nama.label", "vol.nama.title",
             constraint=Constraint(min_length=2, max_length=100)),
        Step("wilayah", StepType.KELURAHAN, "vol.wilayah.label", "vol.wilayah.title"),
    ),
)

# Data-subject requests (UU PDP art. 6-9): correct, erase, withdraw consent.
CORRECTION_ID = "data_correction"
ERASURE_ID = "data_erasure"
WITHDRAWAL_ID = "consent_withdrawal"

CORRECTION = Flow(
    id=CORRECTION_ID, version=1, title="dsr.ubah.title", summary_intro="dsr.summary_intro",
    mask_ids_in_text=True, cancelled="dsr.cancelled",
    steps=(
        Step("rincian", StepType.TEXT, "dsr.ubah.label", "dsr.rincian.title",
             constraint=Constraint(min_length=5, max_length=1000)),
    ),
)
ERASURE = Flow(
    id=ERASURE_ID, version=1, title="dsr.hapus.title", summary_intro="dsr.summary_intro",
    mask_ids_in_text=True, cancelled="dsr.cancelled",
    steps=(
        Step("alasan", StepType.TEXT, "dsr.alasan.label", "dsr.alasan.title", required=False,
             constraint=Constraint(max_length=1000)),
    ),
)
WITHDRAWAL = Flow(
    id=WITHDRAWAL_ID, version=1, title="dsr.tarik.title", summary_intro="dsr.summary_intro",
    mask_ids_in_text=True, cancelled="dsr.cancelled",
    steps=(
        Step("alasan", StepType.TEXT, "dsr.alasan.label", "dsr.alasan.title", required=False,
             constraint=Constraint(max_length=1000)),
    ),
)
REQUEST_KINDS = {CORRECTION_ID: "ubah", ERASURE_ID: "hapus", WITHDRAWAL_ID: "tarik"}
