"""Parsing benchmark: the cost per message of the answer parsers, which run on every
inbound message (``is_water_report`` and ``extract_report`` outside the guided forms).

    python bench/parsing.py [--rounds 200] [--json]

Prints, for each parser, the mean and p99 time per call over a corpus of residents'
messages (short answers, one-line reports, a 500-character report, 10,000 characters of
junk), and the 1-minute load average at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conversations.parsing import (
    extract_location,
    extract_report,
    is_dont_know,
    is_water_report,
    match_kelurahan,
    parse_number,
    parse_phone,
    parse_rt_rw,
    parse_when,
    parse_yes_no,
)

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone(timedelta(hours=7)))
LONG = (
    "Assalamualaikum pak, saya mau lapor, air pam di rumah saya sudah tiga hari ga ngalir "
    "sama sekali, tetangga juga sama, kira2 20an kk di rt 5 rw 3 kalibaru deket masjid al "
    "hidayah gang mawar. Kami udah beli air jerigen tiap hari, harganya 5rb sejerigen. "
) * 2
CORPUS = [
    "halo", "menu", "ya", "ok kirim", "gak tau", "20an", "besok jam 7 mlm", "rt 5 rw 3",
    "air pam mati dr kmrn di rt 3 rw 4 kalibaru deket masjid, 20an kk",
    "sumur bor mati", "air keruh dan bau udah 3 hari", "WA 0812-3456-7890",
    "no water since yesterday in rt 3 rw 4 kalibaru near the mosque", LONG, "a" * 10_000,
]  # fmt: skip

PARSERS: dict[str, Callable[[str], object]] = {
    "is_water_report": is_water_report,
    "extract_report": lambda text: extract_report(text, NOW),
    "extract_location": extract_location,
    "parse_when(past)": lambda text: parse_when(text, NOW, prefer="past"),
    "parse_yes_no": parse_yes_no,
    "parse_number": parse_number,
    "is_dont_know": is_dont_know,
    "parse_phone": parse_phone,
    "parse_rt_rw": parse_rt_rw,
    "match_kelurahan": match_kelurahan,
}


def measure(parse: Callable[[str], object], rounds: int) -> tuple[float, float, float]:
    """(mean µs, p99 µs, worst-message mean µs) per call over the corpus."""
    samples: list[float] = []
    per_message: list[float] = []
    for text in CORPUS:
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            parse(text)
            times.append(time.perf_counter() - t0)
        samples += times
        per_message.append(statistics.fmean(times))
    samples.sort()
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return statistics.fmean(samples) * 1e6, p99 * 1e6, max(per_message) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results = {name: measure(parse, args.rounds) for name, parse in PARSERS.items()}
    if args.json:
        print(json.dumps({"load": load, "parsers": {
            name: {"mean_us": m, "p99_us": p, "worst_message_us": w}
            for name, (m, p, w) in results.items()
        }}))
        return
    print(f"load average {load:.2f}; {len(CORPUS)} messages x {args.rounds} rounds")
    print(f"{'parser':20} {'mean µs':>9} {'p99 µs':>9} {'worst msg µs':>13}")
    for name, (mean, p99, worst) in results.items():
        print(f"{name:20} {mean:9.1f} {p99:9.1f} {worst:13.1f}")


if __name__ == "__main__":
    main()
