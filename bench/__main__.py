"""``python -m bench``: the same as ``python bench/run.py`` (every benchmark, one table)."""

from __future__ import annotations

from bench.run import main

raise SystemExit(main())
