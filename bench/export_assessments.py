"""Export benchmark: N generated households (≈4 members each, sealed NIKs) exported to
CSV and XLSX; prints the time, rows/s and the peak memory of each export.

    python bench/export_assessments.py [--households 100000] [--database-url URL]

Each export runs in a fresh process so that its peak RSS is its own (not the data
generator's); ``tracemalloc`` is not used because it doubles the run time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from bot.features.volunteers import export_columns
from conversations.assessment import FLAGS, vulnerability_flags
from storage.crypto import IdentityCipher
from storage.db import Database
from storage.export_assessments import export_assessments
from storage.migrate import upgrade
from storage.models import Contact
from storage.models_volunteers import Assessment, AssessmentIdentity

SECRET = "bench-secret-key-0123456789abcdef"
BATCH = 2000
START = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
KELURAHAN = ("31.72.04.1001", "31.72.04.1003", "31.72.04.1004", "31.72.04.1005")


def nik(rng: random.Random, born: datetime, female: bool, serial: int) -> str:
    day = born.day + (40 if female else 0)
    return f"317201{day:02d}{born.month:02d}{born.year % 100:02d}{serial % 9999 + 1:04d}"


def household(rng: random.Random, cipher: IdentityCipher, n: int) -> tuple[dict[str, Any],
                                                                           list[Any]]:
    size = rng.choice((1, 2, 3, 4, 4, 5, 6))
    members = []
    identities: list[tuple[str, str, int | None, str]] = []
    for position in range(size):
        female = rng.random() < 0.5 if position else rng.random() < 0.2
        age = rng.randint(20, 75) if position < 2 else rng.randint(0, 19)
        born = START - timedelta(days=365 * age + rng.randint(0, 364))
        number = nik(rng, born, female, n * 7 + position)
        sealed = cipher.seal("nik", number)
        member = {
            "nama": f"Anggota {n}-{position + 1}",
            "nik": {"masked": number[:4] + "*" * 8 + number[-4:], **sealed,
                    "sex": "P" if female else "L", "birth_date": born.date().isoformat()},
            "hubungan": "1" if position == 0 else ("2" if position == 1 else "3"),
            "jenis_kelamin": "2" if female else "1",
            "tanggal_lahir": born.date().isoformat(),
            "umur": age,
            "disabilitas": ["0"] if rng.random() < 0.9 else ["1"],
            "penyakit_kronis": rng.choice(("0", "0", "0", "1", "5")),
        }
        if age >= 5:
            member["pendidikan"] = rng.choice(("0", "1", "2", "3"))
        if age >= 10:
            member["pekerjaan"] = rng.choice(("0", "4", "5", "9", "12", "14"))
        members.append(member)
        identities.append(("nik", "kepala" if position == 0 else "anggota", position + 1,
                           sealed["hash"]))
    kk = f"3172012005{15 + n % 10:02d}{n % 9999 + 1:04d}"
    kk_sealed = cipher.seal("kk", kk)
    identities.append(("kk", "kk", None, kk_sealed["hash"]))
    answers: dict[str, Any] = {
        "persetujuan": True, "persetujuan_khusus": True,
        "kelurahan": {"code": rng.choice(KELURAHAN), "name": "Kalibaru"},
        "kepala_nama": members[0]["nama"], "kepala_nik": members[0]["nik"],
        "no_kk": {"masked": kk[:4] + "*" * 8 + kk[-4:], **kk_sealed, "issued": "2015-05-20"},
        "rt_rw": {"rt": f"{rng.randint(1, 15):03d}", "rw": f"{rng.randint(1, 12):03d}"},
        "patokan": "Dekat musholla", "jumlah_art": size, "anggota": members,
        "status_rumah": rng.choice("12345"), "luas_lantai": rng.randint(12, 90),
        "lantai": rng.choice("2468"), "dinding": rng.choice("136"), "atap": rng.choice("123"),
        "air_minum": rng.choice(("2", "3", "4", "6")), "fasilitas_bab": rng.choice("1246"),
        "penerangan": rng.choice("124"), "bahan_bakar": rng.choice(("4", "4", "7", "10")),
        "aset_nelayan": rng.choice((["0"], ["1"], ["1", "2"])),
        "bantuan": rng.choice((["0"], ["1"], ["1", "2", "3"])),
        "lokasi": {"latitude": -6.1 + rng.random() / 100, "longitude": 106.93},
    }
    if answers["air_minum"] in ("4", "6"):
        answers["jarak_tinja"] = rng.choice("123")
    if answers["fasilitas_bab"] != "6":
        answers["kloset"], answers["pembuangan_tinja"] = "1", rng.choice("134")
    answers["kerentanan"] = vulnerability_flags(answers, START.date())
    assert set(answers["kerentanan"]) <= set(FLAGS)
    return answers, identities


async def generate(url: str, count: int, *, migrate: bool = True) -> None:
    """``count`` households by one volunteer (``migrate=False``: the schema is there)."""
    if migrate:
        await upgrade(url)
    db = Database(url)
    rng = random.Random(2026)
    cipher = IdentityCipher(SECRET)
    started = time.perf_counter()
    async with db.transaction() as tx:
        contact = await tx.contacts.upsert("console", "bench-relawan", START, inbound=False)
        contact.role, contact.volunteer_type = "volunteer", "tagana"
        contact_id = contact.id
    done = 0
    while done < count:
        rows, identity_rows = [], []
        size = min(BATCH, count - done)
        for n in range(done, done + size):
            answers, identities = household(rng, cipher, n)
            # One house in five has a second keluarga (its KK 2 is the next assessment).
            second = n % 10 == 1
            answers["rumah"] = f"ASM-{n - 1 if second else n:05X}"[:9]
            answers["kk_ke"] = 2 if second else 1
            answers["jumlah_kk_rumah"] = "2" if n % 10 in (0, 1) else "1"
            head, kk = answers["kepala_nik"], answers["no_kk"]
            rows.append({
                "id": n + 1, "ref": f"ASM-{n:05X}"[:9], "contact_id": contact_id,
                "kelurahan_code": answers["kelurahan"]["code"], "rw": answers["rt_rw"]["rw"],
                "rt": answers["rt_rw"]["rt"], "head_name": answers["kepala_nama"],
                "nik_sealed": head["sealed"], "nik_hash": head["hash"],
                "nik_masked": head["masked"], "kk_sealed": kk["sealed"],
                "kk_hash": kk["hash"], "kk_masked": kk["masked"],
                "household_size": answers["jumlah_art"],
                "member_count": len(answers["anggota"]),
                "latitude": answers["lokasi"]["latitude"],
                "longitude": answers["lokasi"]["longitude"],
                "flags": answers["kerentanan"], "answers": answers, "flow_id": "assessment",
                "flow_version": 1, "consent_version": "asesmen-2026-11",
                "specific_consent": True, "duplicate_of": None,
                "created_at": START, "updated_at": START,
            })
            identity_rows += [{"assessment_id": n + 1, "kind": k, "role": r, "position": p,
                               "hash": h} for k, r, p, h in identities]
        async with db.transaction() as tx:
            await tx.session.execute(insert(Assessment), rows)
            await tx.session.execute(insert(AssessmentIdentity), identity_rows)
        done += size
        sys.stderr.write(f"\rgenerated {done:,}/{count:,}")
    sys.stderr.write("\n")
    print(f"generated {count:,} households in {time.perf_counter() - started:.1f} s")
    await db.close()
    assert Contact is not None


def _status_kib(field: str) -> int | None:
    """A field of /proc/self/status in KiB (Linux), e.g. VmRSS, VmHWM."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Start the peak-RSS count afresh (Linux: "5" > /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def export_once(url: str, fmt: str, out: Path) -> dict[str, Any]:
    db = Database(url)
    households, members, houses = export_columns()
    before = _status_kib("VmRSS")
    reset = _reset_peak()
    started = time.perf_counter()
    result = await export_assessments(db, out, "xlsx" if fmt == "xlsx" else "csv",
                                      households=households, members=members,
                                      houses=houses)
    elapsed = time.perf_counter() - started
    await db.close()
    size = sum(p.stat().st_size for p in result.files)
    peak_kib = (_status_kib("VmHWM") if reset else None) or resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss
    return {"format": fmt, "households": result.households, "members": result.members,
            "houses": result.houses,
            "seconds": round(elapsed, 2), "households_per_s": round(result.households / elapsed),
            "rss_before_mib": round((before or 0) / 1024, 1),
            "peak_rss_mib": round(peak_kib / 1024, 1), "file_mib": round(size / 2**20, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--households", type=int, default=100_000)
    p.add_argument("--database-url", default=None)
    p.add_argument("--export-only", choices=("csv", "xlsx"), help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.export_only:
        print(json.dumps(asyncio.run(export_once(args.database_url, args.export_only,
                                                 Path(args.out)))))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        asyncio.run(generate(url, args.households))
        # The export's memory must not grow with the table: a fresh process per format,
        # its peak counted from just before the export starts.
        for fmt in ("csv", "xlsx"):
            run = subprocess.run(
                [sys.executable, __file__, "--export-only", fmt, "--database-url", url,
                 "--out", str(Path(tmp) / f"bench.{fmt}")],
                capture_output=True, text=True, check=True)
            r = json.loads(run.stdout.strip().splitlines()[-1])
            print(f"{r['format']:>4}: {r['households']:,} households + {r['members']:,} "
                  f"members + {r['houses']:,} houses in {r['seconds']} s "
                  f"({r['households_per_s']:,} households/s); "
                  f"RSS {r['rss_before_mib']} MiB before, peak {r['peak_rss_mib']} MiB during; "
                  f"files {r['file_mib']} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
