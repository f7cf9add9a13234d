"""The report's charts, as inline SVG written here: the rates of each territory, access by
indicator and the targets' trends. No script and no renderer: the page stays one static file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestration.publish.report.markup import _e, _na, vi_number


@dataclass(frozen=True)
class Chart:
    """A rendered chart and the number of data marks (points or bars) it must show."""

    name: str
    svg: str
    marks: int


REORGANISATION_YEAR = 2025
"""The first review on the 2025 units (Resolution 202/2025/QH15): the series breaks there."""


def _segment(row: dict[str, Any]) -> str:
    """The stretch of a series a line may join: one standard, one side of the reorganisation."""
    side = "2025" if int(row["review_year"]) >= REORGANISATION_YEAR else "pre2025"
    return f"{row.get('standard_id') or '?'}|{side}"


RATE_SERIES = (
    ("poverty_rate", "Tỷ lệ nghèo / poverty rate", "#d92d20"),
    ("near_poverty_rate", "Tỷ lệ cận nghèo / near-poverty rate", "#2e90fa"),
)


METHOD_MARKS = {"native": "circle", "mapped": "square", "apportioned": "triangle"}


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if kind == "triangle":
        return (
            f'<path d="M{x:.1f},{y - 5:.1f} L{x + 5:.1f},{y + 4:.1f} L{x - 5:.1f},{y + 4:.1f} Z" '
            f'fill="{colour}"/>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'


def _rates_chart(series: list[dict[str, Any]], name: str) -> Chart | None:
    """One territory's poverty and near-poverty rates as inline SVG (a chart per territory: a
    national build has about a hundred). The line is broken, not joined, at the 2025
    reorganisation and at every change of standard, a dashed rule marks each break, and the
    point's shape is the method (circle native, square mapped, triangle apportioned). ``marks``
    counts the points."""
    values = [
        (int(r["review_year"]), measure, float(r[measure]), r)
        for r in series
        for measure, _, _ in RATE_SERIES
        if r.get(measure) is not None
    ]
    if not values:
        return None
    years = sorted({int(r["review_year"]) for r in series})
    top = max(v for _, _, v, _ in values)
    step = next(s for s in (1, 2, 5, 10, 20, 25, 50) if top / s <= 6)
    top = step * (int(top // step) + 1)
    width, height, left, right, upper, lower = 700, 280, 44, 16, 40, 60

    def x(year: float) -> float:
        span = max(years[-1] - years[0], 1)
        return left + (width - left - right) * (year - years[0] + 0.5) / (span + 1)

    def y(value: float) -> float:
        return upper + (height - upper - lower) * (1 - value / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="11" font-family="sans-serif">'
    ]
    for tick in range(0, int(top) + 1, step):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#eaecf0"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
            f'fill="#475467">{vi_number(tick)}</text>'
        )
    for year in years:
        parts.append(
            f'<text x="{x(year):.1f}" y="{height - lower + 16}" text-anchor="middle" '
            f'fill="#475467">{year}</text>'
        )
    stretches: dict[str, list[int]] = {}
    for r in series:
        stretches.setdefault(_segment(r), []).append(int(r["review_year"]))
    shown = 0
    for key, stretch_years in stretches.items():
        start = min(stretch_years)
        if start == years[0]:
            continue
        label_y = 12 + 13 * (shown % 2)  # alternate rows: two close breaks stay legible
        shown += 1
        why = (
            "sắp xếp đơn vị 2025 / 2025 reorganisation"
            if start == REORGANISATION_YEAR and key.endswith("|2025")
            else f"chuẩn mới {key.split('|')[0]} / new standard"
        )
        at = x(start - 0.5)
        parts.append(
            f'<line class="break" x1="{at:.1f}" x2="{at:.1f}" y1="{label_y - 8}" '
            f'y2="{height - lower}" stroke="#98a2b3" stroke-dasharray="4 4"/>'
            f'<text x="{at + 3:.1f}" y="{label_y}" fill="#475467" font-size="10">{_e(why)}</text>'
        )
    for measure, _label, colour in RATE_SERIES:
        for key in stretches:
            points = [(yr, v) for yr, m, v, r in values if m == measure and _segment(r) == key]
            if len(points) > 1:
                d = " ".join(
                    f"{'M' if i == 0 else 'L'}{x(yr):.1f},{y(v):.1f}"
                    for i, (yr, v) in enumerate(points)
                )
                parts.append(
                    f'<path class="segment" data-measure="{measure}" data-stretch="{_e(key)}" '
                    f'd="{d}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
        for yr, m, v, r in values:
            if m == measure:
                kind = METHOD_MARKS.get(r.get("method") or "", "circle")
                parts.append(
                    f'<g class="point" data-measure="{measure}" data-year="{yr}">'
                    f"<title>{yr}: {vi_number(v, 2)} % ({_e(r.get('method'))})</title>"
                    f"{_marker(kind, x(yr), y(v), colour)}</g>"
                )
    legend_y = height - 18
    offset = left
    for _, label, colour in RATE_SERIES:
        parts.append(
            f'<rect x="{offset}" y="{legend_y - 8}" width="12" height="3" fill="{colour}"/>'
            f'<text x="{offset + 16}" y="{legend_y - 4}" fill="#344054">{_e(label)}</text>'
        )
        offset += 230
    parts.append(
        f'<text x="{left}" y="{legend_y + 14}" fill="#344054">● số liệu gốc / native · ■ quy '
        "đổi / mapped · ▲ phân bổ / apportioned</text></svg>"
    )
    return Chart(name, "".join(parts), len(values))


def _line_segments(series: list[dict[str, Any]]) -> int:
    """How many line pieces the chart of ``series`` draws: one per measure and stretch with at
    least two points (a lone point is a point, not a line)."""
    counts: dict[tuple[str, str], int] = {}
    for row in series:
        for measure, _, _ in RATE_SERIES:
            if row.get(measure) is not None:
                key = (measure, _segment(row))
                counts[key] = counts.get(key, 0) + 1
    return sum(1 for n in counts.values() if n > 1)


def _access_chart(rows: list[dict[str, Any]]) -> Chart | None:
    """Access by indicator as inline SVG: one horizontal bar per indicator, the share of poor
    households not deprived in it on a fixed 0-100 % axis, lowest first (where access lacks
    most); each bar says its value on hover. ``marks`` counts the bars."""
    values = sorted(
        (
            (float(r["access"]), str(r["indicator_name_vi"] or r["indicator_code"]))
            for r in rows
            if r["access"] is not None
        ),
        key=lambda value: value[0],
    )
    if not values:
        return None
    bar, gap = 16, 6
    # Room for the longest label at 11 px (about 6 px a character), however long it is.
    label_width = 12 + 6 * max(len(label) for _, label in values)
    plot = 480
    left, right, upper, lower = label_width + 8, 24, 12, 56
    width = left + plot + right
    height = upper + len(values) * (bar + gap) + lower
    bottom = height - lower

    def x(share: float) -> float:
        return left + plot * min(max(share, 0.0), 100.0) / 100

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="11" font-family="sans-serif" role="img" '
        'aria-label="tiếp cận theo chỉ số / access by indicator">'
    ]
    for tick in range(0, 101, 20):
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{upper}" y2="{bottom}" '
            f'stroke="#eaecf0"/><text x="{x(tick):.1f}" y="{bottom + 14}" text-anchor="middle" '
            f'fill="#475467">{vi_number(tick)}</text>'
        )
    for index, (share, label) in enumerate(values):
        top = upper + index * (bar + gap) + gap / 2
        parts.append(
            f'<g class="bar" data-indicator="{_e(label)}" data-access="{share:.4f}">'
            f"<title>{_e(label)}: {vi_number(share, 1)} %</title>"
            f'<rect x="{left}" y="{top:.1f}" width="{x(share) - left:.1f}" height="{bar}" '
            f'fill="#2e90fa"/><text x="{left - 6}" y="{top + bar / 2 + 4:.1f}" '
            f'text-anchor="end" fill="#344054">{_e(label)}</text></g>'
        )
    parts.append(
        f'<line x1="{left}" x2="{left}" y1="{upper}" y2="{bottom}" stroke="#98a2b3"/>'
        f'<text x="{left + plot / 2:.1f}" y="{bottom + 34}" text-anchor="middle" fill="#344054">'
        "% hộ nghèo được tiếp cận / % of poor households with access</text></svg>"
    )
    return Chart("access", "".join(parts), len(values))


def _figure(chart: Chart | None, caption: str) -> str:
    if chart is None:
        return _na()
    return (
        f'<figure data-chart="{chart.name}" data-marks="{chart.marks}">{chart.svg}'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _sparkline(values: list[tuple[int, float | None]], required: float | None) -> str:
    """A small trend of a target's value by review year (inline SVG, no script)."""
    known = [(y, v) for y, v in values if v is not None]
    if len(known) < 2:
        return ""
    width, height = 200, 36
    span = [v for _, v in known] + ([required] if required is not None else [])
    low, high = min(span), max(span)
    high = high if high > low else low + 1
    years = [y for y, _ in known]
    first, last = min(years), max(years)

    def x(y: int) -> float:
        return 4 + (width - 8) * (y - first) / max(last - first, 1)

    def y_of(v: float) -> float:
        return height - 4 - (height - 8) * (v - low) / (high - low)

    line = " ".join(f"{x(y):.1f},{y_of(v):.1f}" for y, v in known)
    goal = (
        f'<line x1="4" x2="{width - 4}" y1="{y_of(required):.1f}" y2="{y_of(required):.1f}" '
        'stroke="#98a2b3" stroke-dasharray="3 3"/>'
        if required is not None
        else ""
    )
    return (
        f'<svg class="trend" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="xu hướng / trend">{goal}<polyline points="{line}" fill="none" '
        'stroke="#2e90fa" stroke-width="2"/></svg>'
    )
