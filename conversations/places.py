"""Place reference data: Kemendagri region codes for the programme area.

Codes follow the Kemendagri (Ministry of Home Affairs) administrative codes, written with
dots between the levels: province ``31``, regency/city ``31.72``, district (kecamatan)
``31.72.04``, village (kelurahan/desa) ``31.72.04.1004``. The first two digits of an NIK
or a No. KK are a province code from :data:`PROVINCE_CODES`.

Sources: the Kemendagri decrees on "kode dan data wilayah administrasi pemerintahan" (the
province list includes the four Papua provinces created in 2022, codes 93-96); postal
codes from Pos Indonesia.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "DISTRICT_CILINCING",
    "KELURAHAN",
    "PROVINCE_CODES",
    "PROVINCE_DKI_JAKARTA",
    "REGENCY_JAKARTA_UTARA",
    "Kelurahan",
]

PROVINCE_DKI_JAKARTA: Final = "31"
REGENCY_JAKARTA_UTARA: Final = "31.72"
DISTRICT_CILINCING: Final = "31.72.04"


@dataclass(frozen=True, slots=True)
class Kelurahan:
    """A kelurahan (urban village) of Kecamatan Cilincing."""

    code: str  # full Kemendagri code, "31.72.04.1004"
    name: str  # "Kalibaru"
    postal_code: str  # "14110"

    @property
    def short_code(self) -> str:
        """The four-digit village part of the code, "1004"."""
        return self.code.rsplit(".", 1)[-1]

    @property
    def plain_code(self) -> str:
        """The full code without dots, "3172041004" (as some registers write it)."""
        return self.code.replace(".", "")


KELURAHAN: Final[tuple[Kelurahan, ...]] = (
    Kelurahan(f"{DISTRICT_CILINCING}.1001", "Cilincing", "14120"),
    Kelurahan(f"{DISTRICT_CILINCING}.1002", "Sukapura", "14140"),
    Kelurahan(f"{DISTRICT_CILINCING}.1003", "Marunda", "14150"),
    Kelurahan(f"{DISTRICT_CILINCING}.1004", "Kalibaru", "14110"),
    Kelurahan(f"{DISTRICT_CILINCING}.1005", "Semper Timur", "14130"),
    Kelurahan(f"{DISTRICT_CILINCING}.1006", "Rorotan", "14140"),
    Kelurahan(f"{DISTRICT_CILINCING}.1007", "Semper Barat", "14130"),
)

# Kemendagri province codes (38 provinces). The Papua codes are Kemendagri's, which differ
# from BPS's statistical codes for the same provinces.
PROVINCE_CODES: Final[dict[str, str]] = {
    "11": "Aceh",
    "12": "Sumatera Utara",
    "13": "Sumatera Barat",
    "14": "Riau",
    "15": "Jambi",
    "16": "Sumatera Selatan",
    "17": "Bengkulu",
    "18": "Lampung",
    "19": "Kepulauan Bangka Belitung",
    "21": "Kepulauan Riau",
    "31": "DKI Jakarta",
    "32": "Jawa Barat",
    "33": "Jawa Tengah",
    "34": "DI Yogyakarta",
    "35": "Jawa Timur",
    "36": "Banten",
    "51": "Bali",
    "52": "Nusa Tenggara Barat",
    "53": "Nusa Tenggara Timur",
    "61": "Kalimantan Barat",
    "62": "Kalimantan Tengah",
    "63": "Kalimantan Selatan",
    "64": "Kalimantan Timur",
    "65": "Kalimantan Utara",
    "71": "Sulawesi Utara",
    "72": "Sulawesi Tengah",
    "73": "Sulawesi Selatan",
    "74": "Sulawesi Tenggara",
    "75": "Gorontalo",
    "76": "Sulawesi Barat",
    "81": "Maluku",
    "82": "Maluku Utara",
    "91": "Papua",
    "92": "Papua Barat",
    "93": "Papua Selatan",
    "94": "Papua Tengah",
    "95": "Papua Pegunungan",
    "96": "Papua Barat Daya",
}
