"""Server-rendered SVG charts: no JavaScript library, readable without scripts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 220
LEFT = 36
BOTTOM = 28
TOP = 12


def daily_bars(points: Sequence[tuple[date, int]], title: str, empty_label: str) -> Markup:
    """A bar per day, with the maximum on the y axis and a date every fifth bar."""
    n = len(points)
    top = max((v for _, v in points), default=0)
    plot_w = WIDTH - LEFT - 8
    plot_h = HEIGHT - BOTTOM - TOP
    slot = plot_w / n if n else plot_w
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" '
        f'y2="{TOP + plot_h}"/>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{LEFT - 6}" y="{TOP + plot_h}" text-anchor="end">0</text>',
    ]
    if top == 0:
        parts.append(f'<text class="empty" x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" '
                     f'text-anchor="middle">{escape(empty_label)}</text>')
    for i, (day, value) in enumerate(points):
        x = LEFT + i * slot + slot * 0.15
        h = (value / top) * plot_h if top else 0
        y = TOP + plot_h - h
        label = f"{day.isoformat()}: {value}"
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" data-day="{day.isoformat()}" data-value="{value}">'
            f"<title>{escape(label)}</title></rect>"
        )
        if i % 5 == 0 or i == n - 1:
            parts.append(f'<text class="tick" x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" '
                         f'text-anchor="middle">{day.day}/{day.month}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
