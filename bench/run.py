"""Every benchmark, one table: ``python bench/run.py`` (or ``python -m bench``).

    python bench/run.py [--quick] [--only intake,baseline,...] [--budget 480] [--json]

Each benchmark runs as its own process with ``--json`` and prints one JSON object; this
script reads it and prints: benchmark, figure, value, target, result. Targets are those
of docs/performance.md (and the platform caps); a figure without a target is information.

A benchmark that does not exist yet, or does not accept ``--json``, is listed as "not
run"; one that fails or overruns its time is listed with the reason. The whole run is
bounded by ``--budget`` seconds (default 20 minutes): what would start after it is "not
run". The load average is shown before and after each benchmark: other processes on the
machine change every figure here, so read them together.

For a benchmark written elsewhere to join the table, give it ``--json`` and print one
JSON object on the last line of stdout; the keys read (when present) are listed in
``SPECS`` below, any other numeric key is shown as information.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

Row = tuple[str, str, str, bool | None]  # figure, value, target, passed (None: no target)
Extract = Callable[[dict[str, Any], dict[str, dict[str, Any]]], list[Row]]


def at_least(value: float, target: float, unit: str = "", fmt: str = ",.0f"
             ) -> tuple[str, str, bool]:
    return f"{value:{fmt}}{unit}", f">= {target:{fmt}}{unit}", value >= target


def below(value: float, target: float, unit: str = "", fmt: str = ",.1f"
          ) -> tuple[str, str, bool]:
    return f"{value:{fmt}}{unit}", f"< {target:{fmt}}{unit}", value < target


def info(value: Any, unit: str = "", fmt: str = ",.0f") -> tuple[str, str, None]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:{fmt}}{unit}", "", None
    return str(value), "", None


def row(figure: str, cell: tuple[str, str, bool | None]) -> Row:
    return (figure, *cell)


# -- how each benchmark's JSON becomes rows ----------------------------------------------


def intake_rows(data: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for channel in ("telegram", "whatsapp"):
        if channel not in data:
            continue
        closed, opened = data[channel]["closed"], data[channel]["open"]
        rows += [
            row(f"{channel}: messages/s stored, {data['users']} residents / "
                f"{data['connections']} connections (load {closed['loadavg_before']:.1f})",
                at_least(closed["messages_per_s"], 1000)),
            row(f"{channel}: time to 200 p99 at {data['rate']:.0f} msg/s offered "
                f"(load {opened['loadavg_before']:.1f})",
                below(opened["p99_ms"], 100, " ms")),
            row(f"{channel}: not 200 (both loads)",
                (str(closed["not_200"] + opened["not_200"]), "0",
                 closed["not_200"] + opened["not_200"] == 0)),
            row(f"{channel}: service CPU per message (closed loop)",
                info(closed["service_cpu_share"] * closed["seconds"] * 1000
                     / max(1, closed["messages"]), " ms", ".2f")),
            row(f"{channel}: service peak RSS",
                info(max(closed["service_peak_rss_mb"], opened["service_peak_rss_mb"]),
                     " MB")),
        ]
    return rows


def baseline_rows(data: dict[str, Any], done: dict[str, dict[str, Any]]) -> list[Row]:
    runs = data["runs"]
    rows: list[Row] = []
    for kind, label in (("ours", "ours, round trip (outbox unpaced)"),
                        ("ptb", "PTB ConversationHandler + PicklePersistence, round trip")):
        if kind in runs:
            figures = runs[kind]
            rows.append(row(f"{label}: updates/s (load {figures['loadavg']:.1f})",
                            info(figures["updates_per_s"])))
            rows.append(row(f"{label}: update → reply p99",
                            info(figures["reply_p99_ms"], " ms", ".1f")))
    ptb = runs.get("ptb")
    if ptb and "ours" in runs:
        rows.append(row("ours / baseline: round trip vs round trip (same work)",
                        at_least(runs["ours"]["updates_per_s"] / ptb["updates_per_s"], 3,
                                 "x", ".1f")))
    intake = done.get("intake", {}).get("telegram")
    if ptb and intake:
        rows.append(row("ours / baseline: durable intake (Telegram) vs its round trip",
                        at_least(intake["closed"]["messages_per_s"] / ptb["updates_per_s"], 3,
                                 "x", ".1f")))
    return rows


def human_speed_rows(data: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[Row]:
    """Replies at human speed, under the caps: ours beside the conventional bot."""
    rows: list[Row] = []
    think = data.get("think", {})
    ours, ptb = think.get("ours"), think.get("ptb")
    if ours:
        rows.append(row(f"20 residents, 1 s think: reply p99 (load {ours['loadavg']:.1f})",
                        below(ours["reply_p99_ms"], 300, " ms", ",.0f")))
        rows.append(row("20 residents, 1 s think: reply p50",
                        info(ours["reply_p50_ms"], " ms", ",.1f")))
        if ptb:
            rows.append(row("  conventional bot: reply p50 / p99",
                            (f"{ptb['reply_p50_ms']:,.1f} / {ptb['reply_p99_ms']:,.0f} ms",
                             "", None)))
            rows.append(row("CPU per answer, ours vs conventional",
                            (f"{ours['service_cpu_ms_per_answer']:.2f} vs "
                             f"{ptb['service_cpu_ms_per_answer']:.2f} ms",
                             "<= conventional",
                             ours["service_cpu_ms_per_answer"]
                             <= ptb["service_cpu_ms_per_answer"])))
            rows.append(row("peak RSS, ours vs conventional",
                            (f"{ours['service_peak_rss_mb']:.0f} vs "
                             f"{ptb['service_peak_rss_mb']:.0f} MB", "", None)))
    cap = data.get("cap", {})
    if "ours" in cap:
        c = cap["ours"]
        rows.append(row("100 residents over the cap: 429s",
                        (str(c["throttled_429"]), "0", c["throttled_429"] == 0)))
        rows.append(row("100 residents over the cap: answers lost",
                        (str(c["lost"]), "0", c["lost"] == 0)))
        if "ptb" in cap:
            p = cap["ptb"]
            rows.append(row("  conventional bot: 429s / lost / residents stranded",
                            (f"{p['throttled_429']} / {p['lost']} / {p['stranded']}", "",
                             None)))
    flood = data.get("flood")
    if flood and ours:
        rows.append(row(f"flood of {flood['flood_messages']:,}: others' reply p99",
                        below(flood["reply_p99_ms"], ours["reply_p99_ms"] + 2000, " ms",
                              ",.0f")))
    broadcast = data.get("broadcast")
    if broadcast:
        rows.append(row(f"during a {broadcast['recipients']}-recipient broadcast: reply p99",
                        info(broadcast["during_reply_p99_ms"], " ms")))
        rows.append(row("broadcast rate / 429s",
                        (f"{broadcast['broadcast_rate_per_s']}/s / "
                         f"{broadcast['throttled_429']}", "0 × 429",
                         broadcast["throttled_429"] == 0)))
    export = data.get("export")
    if export:
        rows.append(row(f"{export['households']:,}-household XLSX export: max loop stall",
                        below(export["loop_lag_max_ms_during"], 100, " ms", ",.0f")))
        rows.append(row("  residents' reply p99 before / during the export",
                        (f"{export['reply_p99_ms_before']:,.0f} / "
                         f"{export['reply_p99_ms_during']:,.0f} ms", "", None)))
    sigkill = data.get("sigkill")
    if sigkill:
        rows.append(row("SIGKILL mid-broadcast: healthy → first delivery",
                        info(sigkill["healthy_to_first_delivery_s"], " s", ".1f")))
        rows.append(row("SIGKILL mid-broadcast: lost / sent twice",
                        (f"{sigkill['lost']} / {sigkill['sent_twice']}", "0 / 0",
                         sigkill["lost"] == 0 and sigkill["sent_twice"] == 0)))
    return rows


def memory_rows(data: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[Row]:
    return [
        row("open conversations", info(data["open_conversations"])),
        row(f"RSS with {data['open_conversations']:,} open conversations",
            below(data["rss_after_mb"], 200, " MB", ".0f")),
    ]


def broadcast_rows(data: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    share = data.get("rate_vs_cap")
    if share is not None:
        rows.append(row("broadcast rate / platform cap", at_least(share * 100, 95, " %")))
    throttled = data.get("throttled_429", data.get("429s"))
    if throttled is not None:
        rows.append(row("429s received", (str(throttled), "0", throttled == 0)))
    return rows + generic_rows(data, exclude={"rate_vs_cap", "throttled_429", "429s"})


def generic_rows(data: dict[str, Any], _done: Any = None, *, prefix: str = "",
                 exclude: set[str] | None = None) -> list[Row]:
    """Every number of a JSON object (nested objects flattened), as information."""
    rows: list[Row] = []
    for key, value in data.items():
        if exclude and key in exclude:
            continue
        if isinstance(value, dict):
            rows += generic_rows(value, prefix=f"{prefix}{key}: ")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            rows.append(row(f"{prefix}{key}", info(value, fmt=",.1f" if isinstance(
                value, float) else ",")))
    return rows


def engine_rows(data: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[Row]:
    return [
        row("dispatcher + engine + SQLite commit: answers/s (50 residents)",
            info(data["answers_per_s"])),
        row(f"latency p99 at {data['open_rate']:.0f} answers/s offered",
            info(data["open_p99_ms"], " ms", ".1f")),
        row("peak RSS", info(data["peak_rss_mb"], " MB")),
    ]


def telegram_webhook_rows(data: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[Row]:
    return [
        row("in one process: updates/s to 200 (50 residents)",
            info(data["webhook_updates_per_s"])),
        row("replies reaching the Bot API while paced (cap 30/s)",
            info(data["replies_per_s_paced"], "/s", ".1f")),
        row("in one process: round trip updates/s (outbox unpaced)",
            info(data["round_trip_updates_per_s"])),
        row("update → reply p99", info(data["round_trip_p99_ms"], " ms", ".1f")),
    ]


def whatsapp_webhook_rows(data: dict[str, Any], _: dict[str, dict[str, Any]]) -> list[Row]:
    rows: list[Row] = []
    for label, phase in data["phases"].items():
        if label.startswith("closed"):
            rows.append(row(f"{label}: deliveries/s", info(phase["deliveries_per_s"])))
        else:
            # Meta waits a few seconds at most for the 200: "well under 2 s" is the bar.
            rows.append(row(f"{label}: time to 200 max",
                            below(phase["max_ms"], 2000, " ms", ",.0f")))
    return rows


@dataclass
class Spec:
    name: str
    script: str
    args: list[str]
    timeout: float
    extract: Extract
    quick_args: list[str] = field(default_factory=list)


SPECS: list[Spec] = [
    Spec("intake", "intake.py", ["--seconds", "10", "--open-seconds", "10"], 240,
         intake_rows, ["--seconds", "5", "--open-seconds", "5"]),
    Spec("baseline", "baseline_ptb.py", ["--runs", "ours,ptb", "--seconds", "10"], 150,
         baseline_rows, ["--runs", "ours,ptb", "--seconds", "5"]),
    Spec("memory", "memory.py", [], 120, memory_rows),
    Spec("human_speed", "human_speed.py", [], 600, human_speed_rows, ["--quick"]),
    # Written by others; read when they print JSON. Expected keys: rate_vs_cap (1.0 =
    # exactly the cap) and throttled_429.
    Spec("broadcast", "broadcast.py", [], 180, broadcast_rows),
    Spec("reminders", "reminders.py", [], 180, generic_rows, ["--pending", "20000"]),
    Spec("export", "export_assessments.py", ["--households", "20000"], 240, generic_rows,
         ["--households", "5000"]),
    # In-process figures (load generator, fake API and service share one process).
    Spec("engine", "engine.py", ["--seconds", "5"], 90, engine_rows, ["--seconds", "3"]),
    Spec("telegram_webhook", "telegram_webhook.py", [], 150, telegram_webhook_rows),
    Spec("whatsapp_webhook", "whatsapp_webhook.py", ["--slow", "3"], 150,
         whatsapp_webhook_rows, ["--seconds", "3", "--slow", "0.5"]),
]


# -- running -------------------------------------------------------------------------------


def accepts_json(script: Path) -> bool:
    """Whether the script takes --json (asked through its --help)."""
    try:
        done = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        return False
    return "--json" in done.stdout


def run_one(spec: Spec, quick: bool, remaining: float
            ) -> tuple[str, dict[str, Any] | None, float]:
    """(status, JSON figures or None, seconds taken)."""
    script = HERE / spec.script
    if not script.exists():
        return "not run: no such benchmark yet", None, 0.0
    if not accepts_json(script):
        return "not run: no --json option yet", None, 0.0
    limit = min(spec.timeout, remaining)
    if limit < 20:
        return "not run: time budget spent", None, 0.0
    argv = [sys.executable, str(script), *(spec.quick_args if quick and spec.quick_args
                                           else spec.args), "--json"]
    t0 = time.monotonic()
    try:
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=limit,
                              check=False)
    except subprocess.TimeoutExpired:
        return f"failed: over {limit:.0f} s", None, time.monotonic() - t0
    took = time.monotonic() - t0
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"failed (exit {done.returncode}): {last[:120]}", None, took
    try:
        return "ok", json.loads(done.stdout.strip().splitlines()[-1]), took
    except (ValueError, IndexError):
        return "failed: no JSON on its last line", None, took


def table(rows: list[tuple[str, str, str, str, str]]) -> str:
    head = ("benchmark", "figure", "value", "target", "result")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names: "
                        + ", ".join(s.name for s in SPECS))
    parser.add_argument("--quick", action="store_true", help="shorter loads (a smoke run)")
    parser.add_argument("--budget", type=float, default=1200.0,
                        help="seconds for the whole run (default 1200)")
    parser.add_argument("--json", action="store_true",
                        help="print every benchmark's JSON as one object instead")
    args = parser.parse_args()
    wanted = [n for n in args.only.split(",") if n]
    unknown = set(wanted) - {s.name for s in SPECS}
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}")
    specs = [s for s in SPECS if not wanted or s.name in wanted]
    started = time.monotonic()
    done: dict[str, dict[str, Any]] = {}
    rows: list[tuple[str, str, str, str, str]] = []
    failures = 0
    for spec in specs:
        load = os.getloadavg()[0]
        print(f"… {spec.name} (load {load:.2f})", file=sys.stderr, flush=True)
        status, data, took = run_one(spec, args.quick,
                                     args.budget - (time.monotonic() - started))
        if data is None:
            rows.append((spec.name, status, "", "", ""))
            failures += status.startswith("failed")
            continue
        done[spec.name] = data
        extracted = spec.extract(data, done)
        for figure, value, target, passed in extracted:
            verdict = "" if passed is None else ("pass" if passed else "FAIL")
            rows.append((spec.name, figure, value, target, verdict))
        rows.append((spec.name, f"took {took:.0f} s; load {load:.2f} → "
                                f"{os.getloadavg()[0]:.2f}", "", "", ""))
    if args.json:
        print(json.dumps(done))
    else:
        print(f"{os.cpu_count()} cores; {time.monotonic() - started:.0f} s in all")
        print(table(rows))
    missed = sum(1 for r in rows if r[4] == "FAIL")
    return 1 if failures or missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
