"""How residents describe clean-water problems: phrases for each report category.

Data for :func:`conversations.parsing.extract_report` and
:func:`conversations.parsing.is_water_report`. Each pattern names a category code and a
weight: 3 for a phrase that settles the category on its own (``sumur bor mati``,
``air ga ngalir``, ``keruh``), 2 for a symptom word (``kotor``, ``bocor``, ``mahal``), 1 for
a word that only hints (``banjir``, ``pompa``). Patterns are tried in order and each
claims its words, so the specific phrase wins over the words inside it: ``sumur bor mati``
is a broken pump, not "no water"; ``lampu mati`` is claimed by a non-water pattern and
counts for nothing. A symptom right after a negation (``ga keruh``) does not count.

``context``: the pattern speaks of water only when the message also names water, a tap, a
well, a pipe… (``WATER_CONTEXT``): ``bau`` alone may be anything, ``air bau`` is a report.

The texts are lower-case, NFKC-normalised, apostrophes removed, letters held three times
or more squeezed (``bauuu`` -> ``bau``). Patterns have no nested quantifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "CATEGORIES",
    "CATEGORY_PATTERNS",
    "CAUSES",
    "NEGATION_BEFORE",
    "REPORT_INTENT",
    "SUPPORTING_CLAUSE",
    "WATER_CONTEXT",
    "WaterPattern",
]

CATEGORIES = (
    "mati",  # no water at all
    "debit",  # weak flow, or water only at certain hours
    "keruh",  # dirty or coloured water
    "bau",  # smell or taste
    "asin",  # salty or brackish
    "bocor",  # a pipe, tap or meter leaking or broken
    "pompa",  # a bored well (sumur bor) or pump broken
    "kering",  # a dry well
    "tangki",  # the water truck or kiosk not coming, or closed
    "harga",  # the price of jerrycan or tanker water
    "tagihan",  # PAM bill, meter reading, new connection
    "rob",  # tidal flooding fouling wells or pipes
    "lainnya",  # something else
)


@dataclass(frozen=True, slots=True)
class WaterPattern:
    category: str | None  # None: words that look like a problem but are not about water
    weight: int
    pattern: re.Pattern[str]
    context: bool = False  # counts for is_water_report only when water is named


def _w(body: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z])(?:{body})(?![a-z])")


# Building blocks
_NEG = (
    r"(?:ga|gak|gk|g|gx|nggak|ngga|ngak|nggk|enggak|engga|tidak|tdk|tak|ndak|nda|kaga|kagak"
    r"|kgk|belum|blm|blom|ra|ora|not|no|isnt|doesnt|dont|didnt|wont|aint|never)"
)
_NYA = r"(?:\s?nya)?"
# Adverbs that may sit between the subject and the problem: "air udah mati", "airnya juga kecil"
_ADV = (
    r"(?:\s(?:sudah|udah|udh|sdh|dah|lagi|lg|masih|msh|jadi|jd|sering|suka|terus|trus|selalu"
    r"|pada|juga|jg|kok|sih|nih|tuh|bener|beneran|bgt|banget|sama\s?sekali|samsek|wis|uwis"
    r"|is|was|has|been|keeps?|still|also|pretty|very|so|too|kadang))*"
)
_AIR = r"(?:air|aer|ayr|banyu|banyune|pam|pdam|pam\s?jaya|palyja|aetra|ledeng|leding|water)"
_PUMP = (
    r"(?:sumur\s?bor|pompa(?:\s?air)?|mesin\s?(?:air|pompa|sumur)|jet\s?pump|jetpump|sanyo"
    r"|shimizu|dinamo\s?pompa|pump)"
)
_PIPE = (
    r"(?:pipa|paralon|pralon|selang|keran|kran|kran\s?air|meteran|meter\s?air|meter"
    r"|sambungan|tandon|toren|tangki|pipe|pipes|tap|faucet|water\s?meter)"
)
_JERRYCAN = r"(?:jerigen|jeriken|jirigen|jrigen|jerikan|galon|pikul|pikulan|gerobak)"

CATEGORY_PATTERNS: tuple[WaterPattern, ...] = (
    # Not about water: claimed first so that their words count for nothing.
    WaterPattern(None, 0, _w(
        r"(?:lampu|listrik|pln|token|hp|handphone|motor|mobil|tv|kipas|kulkas|wifi|internet"
        r"|sinyal|kompor|lift|lampunya|listriknya)" + _NYA + _ADV
        + r"\s?(?:mati|rusak|macet|ngadat|error|eror|bocor|" + _NEG + r"\s?nyala)"
        r"|mati\s?(?:lampu|listrik)|tagihan\s?(?:listrik|pln|internet|wifi|hp|kredit|pinjol)"
        r"|(?:atap|genteng|genting|plafon|tembok|dinding|ban|perahu|kapal)" + _NYA + _ADV
        + r"\s?bocor"
    )),
    # pompa
    WaterPattern("pompa", 3, _w(
        _PUMP + _NYA + _ADV + r"\s?(?:mati|rusak|macet|ngadat|error|eror|trouble|konslet"
        r"|korslet|terbakar|kebakar|jebol|bunyi|berisik|panas|broken|dead|not\s?working|"
        + _NEG + r"\s?(?:mau\s?|bisa\s?)?(?:nyala|jalan|hidup|idup|berfungsi|keluar\s?air"
        r"|sedot|nyedot|narik|work|working))"
    )),
    # kering
    WaterPattern("kering", 3, _w(
        r"(?:air\s?)?sumur(?:\s?(?:gali|timba|biasa|saya|kami|warga))?" + _NYA + _ADV
        + r"\s?(?:kering|asat|surut|habis|kosong|mati|dangkal|" + _NEG
        + r"\s?(?:ada\s?)?(?:keluar\s?)?air(?:nya)?)|kekeringan|kemarau"
        r"|(?:wells?)\s?(?:is\s|are\s|has\s|have\s)?(?:dry|dried(?:\s?up)?|empty)|dry\s?wells?"
    )),
    # rob
    WaterPattern("rob", 3, _w(
        r"(?:banjir\s?)?rob|air\s?laut\s?(?:pasang|naik|masuk)|(?:air\s?)?pasang\s?(?:laut|naik)"
        r"|banjir\s?(?:masuk|ke)\s?(?:sumur|pipa|tandon|toren)|tidal\s?flood(?:ing)?"
        r"|high\s?tide|sea\s?water|seawater"
    )),
    # bocor: a pipe, tap, meter or tank named with what is wrong with it
    WaterPattern("bocor", 3, _w(
        _PIPE + r"(?:\s?air)?" + _NYA + _ADV + r"\s?(?:bocor|pecah|patah|rusak|copot|lepas"
        r"|putus|jebol|retak|rembes|merembes|muncrat|dol|los|leak|leaks|leaking|burst|broken"
        r"|cracked)"
    )),
    # tangki
    WaterPattern("tangki", 3, _w(
        r"(?:mobil|truk|truck)\s?(?:tangki|air)|(?:water\s?)?(?:truck|tanker)|kios\s?air"
        r"|(?:tukang|abang|gerobak|pedagang|penjual)\s?air|air\s?(?:bersih\s?)?(?:bantuan"
        r"|droping|dropping|kiriman)|(?:droping|dropping)\s?air|hidran\s?umum"
        r"|water\s?(?:kiosk|vendor|seller|delivery)"
    )),
    # harga
    WaterPattern("harga", 3, _w(
        r"(?:harga|hrg)\s?(?:air|" + _JERRYCAN + r"|tangki)|(?:air|" + _JERRYCAN + r")" + _NYA
        + _ADV + r"\s?(?:mahal|naik)|harga\s?(?:nya\s?)?(?:naik|mahal|melonjak)|kemahalan"
        r"|(?:too\s?)?expensive|price\s?(?:went\s?up|increase|rise)|(?:per|se)\s?" + _JERRYCAN
    )),
    # tagihan
    WaterPattern("tagihan", 3, _w(
        r"tagihan|rekening\s?(?:air|pam|pdam)|(?:bayar|bayaran|pembayaran)\s?(?:air|pam|pdam"
        r"|ledeng)|(?:meteran|meter|water\s?meter)(?:\s?air)?" + _NYA + _ADV + r"\s?(?:muter"
        r"|berputar|jalan\s?terus|naik|salah|ngaco|kencang|kenceng|cepat|cepet|aneh|" + _NEG
        + r"\s?(?:dicatat|dibaca|sesuai|dicek))|(?:pasang|pemasangan|sambungan|daftar"
        r"|pendaftaran|langganan|berlangganan)\s?(?:baru\s?)?(?:pam|pdam|air|ledeng|meteran)"
        r"|(?:sambung|nyambung)\s?(?:pam|pdam|ledeng)|bill|bills|billing|new\s?connection"
        r"|meter\s?reading"
    )),
    WaterPattern("tagihan", 2, _w(r"denda|tunggakan|nunggak|diputus|pemutusan|disegel"), True),
    # asin
    WaterPattern("asin", 3, _w(r"payau|brackish|salt\s?water|air\s?laut")),
    WaterPattern("asin", 3, _w(
        r"asin|keasinan|asin\s?asin|rasa\s?(?:nya\s?)?(?:garam|laut|asin)|salty"
    ), True),
    # bau
    WaterPattern("bau", 2, _w(
        r"(?:bau|berbau|bauk)(?:\s?nya)?(?:\s?(?:kaporit|got|comberan|busuk|amis|besi|karat"
        r"|lumpur|tanah|kotoran|selokan|sampah|bangkai|aneh|menyengat|tidak\s?sedap|ga\s?enak"
        r"|gak\s?enak))?|amis|anyir|apek|kaporit|rasa\s?(?:nya\s?)?(?:aneh|pahit|besi|karat"
        r"|kaporit|obat|ga\s?enak|gak\s?enak|tidak\s?enak|nggak\s?enak|beda|logam)"
        r"|smells?|smelly|stinks?|stinky|odou?r|tastes?\s?(?:bad|strange|weird|funny|metallic)"
    ), True),
    # keruh
    WaterPattern("keruh", 3, _w(r"keruh|butek|buthek|burek|bulek|murky|cloudy|muddy|turbid")),
    WaterPattern("keruh", 1, _w(
        r"(?:filter|saringan|penyaring)" + _NYA + _ADV + r"\s?(?:cepet|cepat)?\s?(?:mampet|buntu"
        r"|kotor|penuh)"
    )),
    WaterPattern("keruh", 3, _w(
        _AIR + _NYA + _ADV + r"\s?(?:kotor|hitam|item|coklat|cokelat|kecoklatan|kecokelatan"
        r"|kuning|kekuningan|kehitaman|kemerahan|merah|hijau|kehijauan|berwarna|berlumpur"
        r"|berpasir|berminyak|berbusa|berlumut|berkarat|ada\s?(?:cacing|jentik|pasir|lumpur"
        r"|kotoran|lumut|karat|minyak|busa)|dirty|brown|yellow|black|rusty)"
    )),
    WaterPattern("keruh", 2, _w(
        r"kotor|lumpur|berlumpur|berpasir|coklat|cokelat|kecoklatan|kuning|kekuningan|hitam"
        r"|kehitaman|berkarat|cacing|jentik|lumut|berlumut|dirty|brown|rusty|sediment"
    ), True),
    # debit: weak flow, or only at some hours
    WaterPattern("debit", 3, _w(
        r"debit|debet|low\s?pressure|weak\s?(?:flow|pressure)|trickl(?:e|es|ing)"
    )),
    WaterPattern("debit", 3, _w(
        r"(?:" + _AIR + r"|aliran|ngalir|mengalir|keluar|kluar|ngocor|ngucur|kucuran|tekanan"
        r"|keran|kran)" + _NYA + _ADV + r"\s?(?:cuma\s?|hanya\s?|cmn\s?|cm\s?|cuman\s?)?(?:kecil"
        r"|kcl|lemah|pelan|dikit|sedikit|seret|netes|menetes|tetes|ngecil|mengecil|lambat|lemot"
        r"|kurang\s?(?:deras|lancar|kenceng|kencang)|" + _NEG + r"\s?(?:deras|kenceng|kencang"
        r"|lancar|full|penuh))"
    )),
    WaterPattern("debit", 3, _w(
        r"(?:cuma|hanya|cmn|cm|cuman|cman|kadang|kdg|kdang|jarang|jrg)\s?(?:ngalir|mengalir"
        r"|keluar|kluar|nyala|ada|jalan|ngocor|hidup|idup|flows?|comes?|runs?)"
        r"|(?:kadang|kdg|kdang)\s?(?:mati|" + _NEG + r"\s?(?:ngalir|keluar|ada))"
        r"|mati\s?nyala|nyala\s?mati"
        r"|putus\s?nyambung|on\s?and\s?off|on\s?off|only\s?(?:at|in\s?the)\s?(?:night|morning)"
        r"|(?:ngalir|keluar|nyala)(?:nya)?\s?(?:cuma|hanya|pas|kalau|kalo|klo)\s?(?:malam"
        r"|malem|mlm|pagi|subuh|tengah\s?malam|jam)"
    )),
    WaterPattern("debit", 2, _w(
        r"kecil|kcl|lemah|pelan|seret|netes|menetes|ngecil|mengecil|ngocor\s?dikit"
    ), True),
    # mati: no water
    WaterPattern("mati", 3, _w(
        r"(?:" + _AIR + r"|keran|kran|pipa|tap|taps)" + _NYA + _ADV + r"\s?(?:mati|mampet"
        r"|macet|mampat|berhenti|ngadat|hilang|kosong|abis|habis|kering|off|out|cut(?:\s?off)?"
        r"|stopped|" + _NEG + r"\s?(?:ngalir|mengalir|keluar|kluar|metu|nyala|ada|jalan|ngocor"
        r"|ngucur|netes|menetes|idup|hidup|muncul|flowing|running|coming|working))"
    )),
    WaterPattern("mati", 3, _w(
        _NEG + r"\s?(?:ada\s?)?(?:air|aer|water)(?:nya)?|" + _NEG
        + r"\s?(?:ngalir|mengalir|keluar\s?air|ngocor|ngucur)|no\s?(?:running\s?)?water"
        r"|not\s?(?:flowing|running|coming\s?out)"
    )),
    WaterPattern("mati", 2, _w(r"mati|mampet|macet|berhenti"), True),
    # weak hints
    WaterPattern("pompa", 1, _w(_PUMP), True),
    WaterPattern("bocor", 2, _w(
        r"bocor|bocoran|kebocoran|pecah|rembes|merembes|muncrat|leak|leaks|leaking|leakage|burst"
    ), True),
    WaterPattern("tangki", 2, _w(
        r"tangki|antri|antre|antrian|antrean|ngantri|ngantre|queue|jadwal\s?(?:air|tangki|mobil"
        r"|pengiriman|droping)"
    ), True),
    WaterPattern("harga", 2, _w(r"mahal|harga|hrg|price|prices"), True),
    WaterPattern("kering", 1, _w(r"kering|asat|dry"), True),
    WaterPattern("rob", 1, _w(r"banjir|flood|flooded|flooding"), True),
    WaterPattern("tagihan", 1, _w(r"meteran"), True),
    WaterPattern("lainnya", 1, _w(
        r"lainnya|lain\s?lain|lain2|yang\s?lain|yg\s?lain|other|something\s?else"
    )),
)

# Something that names water, a tap, a well, a pipe, a pump: "bau" becomes a water report.
WATER_CONTEXT = _w(
    r"air|airnya|aer|banyu|banyune|pam|pdam|palyja|aetra|ledeng|leding|keran|kran|pipa|paralon|pralon"
    r"|sumur|sumurnya|pompa\s?air|sumur\s?bor|meteran|tandon|toren|jerigen|jeriken|galon"
    r"|tangki|water|well|wells|pipe|pipes|tap|taps|faucet"
)
# "mau lapor air", "ada masalah air", "keluhan pdam", "air bermasalah", "report water";
# not "laporan AIR-4K7QX", which asks about a ticket.
REPORT_INTENT = _w(
    r"(?:lapor|laporan|lapur|melapor|melaporkan|ngadu|ngadukan|mengadu|mengadukan|aduan"
    r"|pengaduan|keluhan|ngeluh|mengeluh|komplain|complain|complaint|masalah|problem|report"
    r"|issue|trouble)(?:\s?(?:soal|tentang|ttg|masalah|mslh|perihal|ke|about|with|the|my|a))?"
    r"\s?(?:air|aer|pam|pdam|sumur|pipa|keran|ledeng|leding|water|tangki)(?!-[0-9a-z]{5})"
    r"|(?:air|pam|pdam|sumur|water)(?:\s?nya)?\s?(?:bermasalah|ada\s?masalah|problem|trouble"
    r"|error|eror)"
)
# A negation right before a symptom word: "ga keruh", "tidak bau", "bukan bocor".
NEGATION_BEFORE = re.compile(
    r"(?<![a-z])(?:" + _NEG + r"|bukan|bkn)\s?(?:terlalu\s?|begitu\s?|pernah\s?|lagi\s?)?$"
)

# A named cause outranks what it brings about: "tukang air ga lewat, ga ada air" is the
# vendor (tangki), "pompa rusak, air mati" the pump. Each cause, and the categories it
# makes redundant when both are found.
CAUSES: dict[str, frozenset[str]] = {
    "pompa": frozenset({"mati", "debit"}),
    "bocor": frozenset({"mati", "debit"}),
    "tangki": frozenset({"mati", "debit"}),
    "kering": frozenset({"mati", "debit", "keruh"}),
    "rob": frozenset({"asin", "keruh", "bau", "mati"}),
}
# "tagihan naik padahal air jarang ngalir": after "padahal" comes the supporting detail,
# not the complaint; what is found there counts only when nothing else is.
SUPPORTING_CLAUSE = _w(r"padahal|pdhl|padahl|pdahal|although|even\s?though")
