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

from conversations.forms import load_builtin

REGISTRATION_ID = "volunteer_registration"
REGISTRATION_NOTICE_VERSION = "relawan-2026-11"
REGISTRATION_NOTICE_KEY = "volunteer_registration.setuju.label"

VOLUNTEER_TYPES = ("tagana", "pkh", "pelopor", "karang_taruna", "lainnya")

REGISTRATION = load_builtin(REGISTRATION_ID).flow

# Data-subject requests (UU PDP art. 6-9): correct, erase, withdraw consent.
CORRECTION_ID = "data_correction"
ERASURE_ID = "data_erasure"
WITHDRAWAL_ID = "consent_withdrawal"

CORRECTION = load_builtin(CORRECTION_ID).flow
ERASURE = load_builtin(ERASURE_ID).flow
WITHDRAWAL = load_builtin(WITHDRAWAL_ID).flow
REQUEST_KINDS = {CORRECTION_ID: "ubah", ERASURE_ID: "hapus", WITHDRAWAL_ID: "tarik"}
