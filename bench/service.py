"""``warga serve`` for the benchmarks: the same app factory and settings from the
environment, plus an event-loop lag probe the load side can read.

    PYTHONPATH=ROOT python bench/service.py [--probe-ms 10]

The probe is a task that sleeps ``--probe-ms`` and records how late it woke: the longest
any other work held the event loop. ``GET /bench/lag`` answers
``{"max_ms": …, "p99_ms": …, "samples": …}`` since the last ``POST /bench/lag`` (which
starts a fresh count). It imports the service from ``PYTHONPATH``, so the same probe
runs on another checkout (``bench/human_speed.py --service-root``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


class LagProbe:
    def __init__(self, every: float) -> None:
        self.every = every
        self.samples: list[float] = []

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.every)
            self.samples.append(max(0.0, loop.time() - started - self.every))
            if len(self.samples) > 1_000_000:
                del self.samples[:500_000]

    def figures(self) -> dict[str, float]:
        ordered = sorted(self.samples)
        if not ordered:
            return {"max_ms": 0.0, "p99_ms": 0.0, "samples": 0}
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return {"max_ms": round(ordered[-1] * 1000, 1), "p99_ms": round(p99 * 1000, 1),
                "samples": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probe-ms", type=float, default=0.0,
                        help="sample the event loop's lag every this many ms (0: off)")
    parser.add_argument("--cprofile", default=None, metavar="FILE",
                        help="profile the service with cProfile into FILE (pstats)")
    args = parser.parse_args()

    from bot.cli import _logging
    from bot.settings import Settings

    settings = Settings.from_env()
    # As `warga serve` does: the workbooks checked in a process of their own first (an
    # older checkout may not have it).
    try:
        from conversations.forms import check_in_child
    except ImportError:
        pass
    else:
        check_in_child([settings.forms_dir])
    from bot import app as service

    _logging(settings.log_level)
    # As `warga serve` does (an older checkout may not have it: migrated in-process there).
    upgrade_in_child = getattr(service, "upgrade_in_child", None)
    if upgrade_in_child is not None:
        app = service.create_app(settings, migrate=not upgrade_in_child(settings.database_url))
    else:
        app = service.create_app(settings)
    if args.probe_ms > 0:
        probe = LagProbe(args.probe_ms / 1000)

        async def lag(request: web.Request) -> web.Response:
            if request.method == "POST":
                probe.samples.clear()
                return web.json_response({})
            return web.json_response(probe.figures())

        async def probing(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(probe.run())
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        app.router.add_route("*", "/bench/lag", lag)
        app.cleanup_ctx.append(probing)
    if args.cprofile:
        import cProfile
        import time

        # CPU time of the event loop's thread, not wall time: waits are not work.
        with cProfile.Profile(time.thread_time) as profile:
            web.run_app(app, host=settings.host, port=settings.port, print=None,
                        shutdown_timeout=10)
        profile.dump_stats(args.cprofile)
        return
    web.run_app(app, host=settings.host, port=settings.port, print=None, shutdown_timeout=10)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
