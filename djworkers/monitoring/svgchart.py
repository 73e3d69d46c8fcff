"""A dependency-free bar chart as inline SVG (the admin cannot load a chart library
from a CDN, and djworkers adds no JavaScript dependency for one picture)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28
COLORS = {"processed": "#417690", "failed": "#ba2121"}


def _nice_max(value: int) -> int:
    """Round the axis maximum up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if value <= step * factor:
                return step * factor
        step *= 10


def _label(minute: Any) -> str:
    if isinstance(minute, str):
        minute = dt.datetime.fromisoformat(minute)
    return minute.strftime("%H:%M")


def per_minute_chart(series: Sequence[dict[str, Any]], *, title: str = "Jobs per minute") -> SafeString:
    """Stacked bars, processed under failed, one per entry of ``series``.

    ``series`` items have ``minute`` (datetime or ISO string), ``processed`` and
    ``failed``, oldest first, as :func:`djworkers.monitoring.stats.per_minute` returns.
    """
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_max(max((p["processed"] + p["failed"] for p in series), default=0))
    n = max(len(series), 1)
    slot = plot_w / n
    bar = max(slot - 1.5, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="djworkers-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" style="max-width:{WIDTH}px">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#666">{top * fraction:g}</text>'
        )
    for index, point in enumerate(series):
        x = LEFT + index * slot
        base = TOP + plot_h
        label = _label(point["minute"])
        for kind in ("processed", "failed"):
            count = point[kind]
            if not count:
                continue
            height = plot_h * count / top
            base -= height
            parts.append(
                f'<rect class="bar-{kind}" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{COLORS[kind]}"><title>{escape(label)} UTC: {count} {kind}</title></rect>'
            )
        if index % 10 == 0 or index == len(series) - 1:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - 10}" text-anchor="middle" font-size="11" fill="#666">{escape(label)}</text>'
            )
    legend_x = LEFT + 8
    for kind in ("processed", "failed"):
        parts.append(f'<rect x="{legend_x}" y="{TOP + 2}" width="10" height="10" fill="{COLORS[kind]}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{TOP + 11}" font-size="11" fill="#333">{kind}</text>')
        legend_x += 90
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated text is escaped above; numbers are formatted
