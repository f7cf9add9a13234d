"""The plan report: one self-contained HTML page for the province's leaders, Vietnamese first.

It is written by the publish from the file it is about to serve (never from the working
warehouse, never from a build the gate blocked), and ``make report`` writes it again from
``published.duckdb``. Charts are Vega-Lite specifications built with Altair and rendered to static
SVG by vl-convert, in this process and without a browser: the page carries no script, and no
request leaves it (styles inline, no web fonts, no images from elsewhere).

It briefs before it lists: target cards first (each plan and territory by its Vietnamese name,
T1 … T10, the latest verdict, actual against required, the pace still required and the
projection), the rates with a gap in the line at the 2025 reorganisation and at every change of
standard, what changed since the previous publish, completeness (the same list the terminal
prints, from ``orchestration.publish.completeness``), then the details, the full target history
collapsed. Numbers are written the Vietnamese way (1.234,5), counts as integers; names sort in
Vietnamese alphabetical order (a ă â b c d đ e ê …), not by code point.

The page follows the published tables' contract, and a table or column a build does not have
yields one "not available in this build" line instead of an error, so the report never stops a
publish of valid data.
"""

from __future__ import annotations

import contextlib
import html
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from orchestration.base.warehouse_connection import connect
from orchestration.publish.completeness import communes_not_reported, files_not_loaded

STATUS_LABELS = {
    "achieved": ("Đạt", "achieved", "#1a7f37"),
    "missed": ("Không đạt", "missed", "#b42318"),
    "on_track": ("Đúng tiến độ", "on track", "#1a7f37"),
    "off_track": ("Chậm tiến độ", "off track", "#b54708"),
    "provisional": ("Tạm tính", "provisional", "#475467"),
    "not_measurable": ("Không đo được", "not measurable", "#475467"),
}
METHOD_LABELS = {
    "native": "số liệu gốc / native",
    "mapped": "quy đổi theo đơn vị mới / mapped",
    "apportioned": "phân bổ / apportioned",
}
# d3-format's locale for Vietnamese numbers on the chart axes (1.234,5).
VI_LOCALE = {"decimal": ",", "thousands": ".", "grouping": [3], "currency": ["", " ₫"]}
NOT_AVAILABLE = "Không có trong bản dựng này / not available in this build"
TOP_COMMUNES = 10
LONG_LIST = 50

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;
color:#101828;background:#f9fafb;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px} h2{font-size:1.25rem;margin:32px 0 8px;
border-bottom:2px solid #d0d5dd;padding-bottom:4px} h3{font-size:1.05rem;margin:20px 0 6px}
.en{color:#475467;font-weight:normal;font-size:.9em}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0;font-size:.92rem}
th,td{border:1px solid #e4e7ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7} td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:.85rem}
.na{color:#667085;font-style:italic} figure{margin:8px 0;background:#fff;padding:8px;
border:1px solid #e4e7ec;overflow-x:auto} figcaption{font-size:.85rem;color:#475467}
.meta{color:#475467;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(255px,1fr));gap:10px}
.card{background:#fff;border:1px solid #d0d5dd;border-left:6px solid var(--c);border-radius:6px;
padding:8px 10px;font-size:.86rem} .card h4{margin:0 0 4px;font-size:.92rem}
.card .big{font-size:1.15rem;font-weight:600} .card .why{color:#b54708;font-size:.8rem}
.card svg{display:block;margin-top:4px} details{margin:8px 0} summary{cursor:pointer}
"""


@dataclass(frozen=True)
class Chart:
    """A rendered chart and the number of data marks (points or bars) it must show."""

    name: str
    svg: str
    marks: int


class _Published:
    """Read access to the published file through an ATTACH (not DuckDB's instance cache)."""

    def __init__(self, path: Path) -> None:
        self.con = connect(":memory:")
        quoted = str(path).replace("'", "''")
        self.con.execute(f"attach '{quoted}' as p (read_only)")
        self.con.execute("use p")
        self.columns: dict[str, set[str]] = {}
        for table, column in self.con.execute(
            "select table_name, column_name from duckdb_columns() where database_name = 'p'"
        ).fetchall():
            self.columns.setdefault(table, set()).add(column)

    def has(self, table: str, *columns: str) -> bool:
        return table in self.columns and set(columns) <= self.columns[table]

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        # DECIMAL values (a hand-made file, an older build) are numbers like the DOUBLEs.
        return [
            {n: float(v) if isinstance(v, Decimal) else v for n, v in zip(names, row, strict=True)}
            for row in cursor.fetchall()
        ]

    def close(self) -> None:
        self.con.close()


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def vi_number(value: float | int | None, digits: int = 2) -> str:
    """A number as Vietnamese text writes it: points between thousands, a comma before the
    decimals (1.234,5), no trailing zeros; a whole number without decimals."""
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def vi_count(value: float | int | None) -> str:
    """A count as an integer (17, not 17,00); a weighted count carried across the 2025
    reorganisation keeps its decimals."""
    if isinstance(value, float) and abs(value - round(value)) < 0.005:
        value = int(round(value))
    return vi_number(value)


_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
_MODIFIERS = {"\u0306": "ă", "\u0302": "^", "\u031b": "+"}
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def vietnamese_sort_key(text: str | None) -> tuple:
    """Vietnamese alphabetical order: letters first (a < ă < â < b … d < đ …), tones second
    (none, huyền, hỏi, ngã, sắc, nặng), so "Bạch" sorts before "Bình" (code points put it
    after)."""
    letters: list[int] = []
    tones: list[int] = []
    for char in (text or "").lower():
        base, *marks = unicodedata.normalize("NFD", char)
        tone = next((_TONES[m] for m in marks if m in _TONES), 0)
        modifier = next((_MODIFIERS[m] for m in marks if m in _MODIFIERS), "")
        letter = {
            ("a", "ă"): "ă",
            ("a", "^"): "â",
            ("e", "^"): "ê",
            ("o", "^"): "ô",
            ("o", "+"): "ơ",
            ("u", "+"): "ư",
        }.get((base, modifier), base)
        index = _LETTERS.find(letter)
        letters.append(index if index >= 0 else 100 + ord(letter))
        tones.append(tone)
    return tuple(letters), tuple(tones)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return vi_number(value, digits)
    return _e(value)


def _bi(vi: str, en: str) -> str:
    return f'{_e(vi)} <span class="en">/ {_e(en)}</span>'


def _table(headers: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_bi(vi, en)}</th>" for vi, en in headers)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(value: Any, digits: int = 2) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{_num(value, digits)}</td>'
    return f"<td>{_e(value) if value is not None else '—'}</td>"


def _year(value: Any) -> str:
    return f"<td>{_e(value) if value is not None else '—'}</td>"


def _status(status: str | None) -> str:
    vi, en, colour = STATUS_LABELS.get(status or "", (status or "—", status or "—", "#475467"))
    return (
        f'<td data-status="{_e(status)}"><span class="status" style="background:{colour}">'
        f'{_e(vi)}</span> <span class="en">{_e(en)}</span></td>'
    )


def _na() -> str:
    return f'<p class="na">{NOT_AVAILABLE}</p>'


def _render_svg(chart: Any) -> str:
    """The chart as SVG. Altair's JSON-schema check of the spec is skipped: it walks every data
    point, the specs are fixed by this module, and Vega-Lite rejects an invalid one when it
    renders."""
    import vl_convert

    svg = vl_convert.vegalite_to_svg(chart.to_dict(validate=False), format_locale=VI_LOCALE)
    # The SVG's namespace URIs are identifiers, not requests; nothing else names a URL.
    return svg


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
    """One territory's poverty and near-poverty rates as inline SVG, written here rather than
    by Vega (a chart per territory: about 0.3 s each through vl-convert, 30 s on a national
    build's hundred territories). The line is broken, not joined, at the 2025 reorganisation and
    at every change of standard, a dashed rule marks each break, and the point's shape is the
    method (circle native, square mapped, triangle apportioned). ``marks`` counts the points."""
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
    import altair as alt

    values = [
        {"indicator": f"{r['indicator_name_vi'] or r['indicator_code']}", "access": r["access"]}
        for r in rows
        if r["access"] is not None
    ]
    if not values:
        return None
    chart = (
        alt.Chart(alt.Data(values=values))
        .mark_bar(color="#2e90fa")
        .encode(
            y=alt.Y("indicator:N", sort="x", title="Chỉ số / indicator"),
            x=alt.X(
                "access:Q",
                title="% hộ nghèo được tiếp cận / % of poor households with access",
                scale=alt.Scale(domain=[0, 100]),
            ),
        )
        .properties(width=560, height=max(120, 22 * len(values)))
    )
    return Chart("access", _render_svg(chart), len(values))


def _figure(chart: Chart | None, caption: str) -> str:
    if chart is None:
        return _na()
    return (
        f'<figure data-chart="{chart.name}" data-marks="{chart.marks}">{chart.svg}'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _build_section(db: _Published) -> tuple[str, str]:
    if not db.has("build_info", "build_id"):
        return "", _na()
    info = db.rows("select * from build_info")[0]
    fields = [
        ("Mã bản dựng", "build", info.get("build_id")),
        ("Thời điểm", "built at (UTC)", info.get("built_at")),
        ("Phiên bản mã", "code version", info.get("code_version")),
        ("Chuẩn nghèo", "standards", info.get("standards")),
        ("Dòng đọc / nạp / cách ly", "rows read / loaded / quarantined", None),
    ]
    counts = " / ".join(_num(info.get(c)) for c in ("rows_read", "rows_loaded", "rows_quarantined"))
    rows = [
        f"<tr><th>{_bi(vi, en)}</th><td>{_e(value) if value is not None else counts}</td></tr>"
        for vi, en, value in fields
    ]
    return str(info.get("build_id")), f'<table class="build">{"".join(rows)}</table>'


def _plans_section(db: _Published) -> str:
    if not db.has("target_progress", "target_id", "status", "actual", "required"):
        return _na()
    plans: list[dict[str, Any]] = []
    if db.has("plans", "plan_id"):
        plans = db.rows("select * from plans order by period_start, plan_id, territory")
    has_plan = db.has("target_progress", "plan_id")
    has_territory = db.has("target_progress", "territory") and db.has("plans", "territory")
    if not plans:
        plan_ids = (
            [
                r["plan_id"]
                for r in db.rows("select distinct plan_id from target_progress order by 1")
            ]
            if has_plan
            else [None]
        )
        plans = [{"plan_id": plan_id} for plan_id in plan_ids]
    vi_col = "description_vi" if db.has("target_progress", "description_vi") else "null"
    en_col = "description" if db.has("target_progress", "description") else "null"
    note_col = "note" if db.has("target_progress", "note") else "null"
    method_col = "method" if db.has("target_progress", "method") else "null"
    note_col = "coalesce(note_vi, note)" if db.has("target_progress", "note_vi") else note_col
    order = (
        "target_order"
        if db.has("target_progress", "target_order")
        else "cast(regexp_extract(target_id, '[0-9]+') as integer)"
    )
    parts = []
    for plan in plans:
        plan_id = plan.get("plan_id")
        title = plan.get("name") or plan_id or "Kế hoạch / plan"
        period = ""
        if plan.get("period_start") is not None:
            period = f"{plan.get('period_start')}–{plan.get('period_end')}"
        meta = " · ".join(
            _e(x)
            for x in (period, plan.get("territory"), plan.get("legal_source"))
            if x not in (None, "")
        )
        # The plans table has one row per plan and territory it applies to: a section shows
        # that territory's targets only.
        territory = plan.get("territory")
        filters, params = [], []
        if has_plan and plan_id is not None:
            filters.append("plan_id = ?")
            params.append(plan_id)
        if has_territory and territory is not None:
            filters.append("territory = ?")
            params.append(territory)
        where = f"where {' and '.join(filters)}" if filters else ""
        targets = db.rows(
            f"""
            select target_id, {vi_col} as description_vi, {en_col} as description, review_year,
                actual, required, status, {note_col} as note, {method_col} as method
            from target_progress {where}
            order by {order}, review_year desc
            """,
            params,
        )
        rows = [
            [
                f'<td data-target="{_e(t["target_id"])}"><b>{_e(t["target_id"])}</b></td>',
                f"<td>{_e(t['description_vi'] or '')}"
                f'<br><span class="en">{_e(t["description"] or "")}</span></td>',
                _year(t["review_year"]),
                _status(t["status"]),
                _td(t["actual"]),
                _td(t["required"]),
                f"<td>{_e(t['note'] or '')}"
                + (f'<br><span class="en">{_e(t["method"])}</span>' if t["method"] else "")
                + "</td>",
            ]
            for t in targets
        ]
        table = (
            _table(
                [
                    ("Chỉ tiêu", "target"),
                    ("Nội dung", "description"),
                    ("Năm rà soát", "review year"),
                    ("Đánh giá", "status"),
                    ("Thực hiện", "actual"),
                    ("Yêu cầu", "required"),
                    ("Ghi chú", "note"),
                ],
                rows,
                cls="targets",
            )
            if rows
            else _na()
        )
        parts.append(
            f'<section class="plan" data-plan="{_e(plan_id)}" '
            f'data-territory="{_e(territory)}"><h3>{_e(title)}</h3>'
            f'<p class="meta">{meta}</p>{table}</section>'
        )
    return "".join(parts)


def _territory_names(db: _Published) -> dict[str, str]:
    if db.has("territory_year", "territory_name_vi"):
        rows = db.rows("select distinct territory, territory_name_vi from territory_year")
        return {r["territory"]: r["territory_name_vi"] or r["territory"] for r in rows}
    return {}


def _by_vietnamese_name(territories: Iterable[str], names: dict[str, str]) -> list[str]:
    return sorted(territories, key=lambda t: (vietnamese_sort_key(names.get(t, t)), t))


def _rates_section(db: _Published) -> tuple[str, list[Chart]]:
    needed = ("territory", "review_year", "poverty_rate", "near_poverty_rate", "method")
    if not db.has("territory_year", *needed):
        return _na(), []
    standard = "standard_id" if db.has("territory_year", "standard_id") else "null"
    series = db.rows(
        f"select *, {standard} as standard_id from territory_year order by territory, review_year"
    )
    names = _territory_names(db)
    parts, charts = [], []
    for territory in _by_vietnamese_name({r["territory"] for r in series}, names):
        rows = [r for r in series if r["territory"] == territory]
        chart = _rates_chart(rows, f"rates-{territory}")
        if chart is None:
            continue
        charts.append(chart)
        methods = sorted({METHOD_LABELS.get(r["method"] or "", r["method"]) for r in rows})
        caption = _bi(
            f"{names.get(territory, territory)}: đường đứt tại đợt sắp xếp đơn vị hành chính 2025 "
            "và tại mỗi lần đổi chuẩn nghèo (không nối qua chỗ đổi); ký hiệu điểm là phương pháp: "
            + ", ".join(methods),
            "the line breaks at the 2025 reorganisation and at every change of standard; the "
            "point shape shows the method",
        )
        parts.append(
            f'<figure data-chart="{_e(chart.name)}" data-territory="{_e(territory)}" '
            f'data-marks="{chart.marks}" data-segments="{_line_segments(rows)}">{chart.svg}'
            f"<figcaption>{caption}</figcaption></figure>"
        )
    table = _table(
        [
            ("Địa bàn", "territory"),
            ("Năm", "year"),
            ("Tỷ lệ nghèo (%)", "poverty rate"),
            ("Tỷ lệ cận nghèo (%)", "near-poverty rate"),
            ("Chuẩn", "standard"),
            ("Phương pháp", "method"),
            ("Hộ được báo cáo (%)", "households covered"),
        ],
        (
            [
                _td(names.get(r["territory"], r["territory"])),
                _year(r["review_year"]),
                _td(r["poverty_rate"]),
                _td(r["near_poverty_rate"]),
                _td(r["standard_id"]),
                _td(METHOD_LABELS.get(r["method"] or "", r["method"])),
                _td(r.get("households_covered_percent"), 1),
            ]
            for territory in _by_vietnamese_name({r["territory"] for r in series}, names)
            for r in series
            if r["territory"] == territory
        ),
    )
    details = (
        f"<details><summary>{_bi('Bảng số liệu theo năm', 'the series as a table')}</summary>"
        f"{table}</details>"
    )
    return "".join(parts) + details + _unverified_note(series), charts


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


def _cards_section(db: _Published) -> str:
    """One card per target, in order T1 … T10, for each plan and territory by Vietnamese name:
    the latest verdict, actual against required, pace and projection, why when provisional."""
    if not db.has("target_progress", "target_id", "status", "actual", "required", "review_year"):
        return _na()
    columns = db.columns["target_progress"]

    def col(name: str) -> str:
        return name if name in columns else f"null as {name}"

    order = (
        "target_order"
        if "target_order" in columns
        else ("cast(regexp_extract(target_id, '[0-9]+') as integer)")
    )
    rows = db.rows(
        f"""
        select {col("plan_id")}, {col("territory")}, {col("territory_name_vi")}, target_id,
            {order} as target_order, {col("description_vi")}, {col("description")}, review_year,
            {col("period_end")}, actual, required, status, {col("note")}, {col("note_vi")},
            {col("pace_so_far")}, {col("required_pace")}, {col("projected_value")},
            {col("projected_low")}, {col("projected_high")}, {col("projected_status")}
        from target_progress
        order by plan_id, territory, target_order, review_year
        """
    )
    if not rows:
        return _na()
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["plan_id"], r["territory"]), []).append(r)
    plan_names = {}
    if db.has("plans", "plan_id", "name"):
        plan_names = {r["plan_id"]: r["name"] for r in db.rows("select plan_id, name from plans")}
    names = {key[1]: group[0]["territory_name_vi"] or key[1] for key, group in groups.items()}
    parts = []
    for plan_id, territory in sorted(
        groups, key=lambda k: (vietnamese_sort_key(names[k[1]]), k[1], k[0] or "")
    ):
        group = groups[(plan_id, territory)]
        cards = []
        for target_id in dict.fromkeys(r["target_id"] for r in group):
            history = [r for r in group if r["target_id"] == target_id]
            cards.append(_card(history[-1], history))
        title = plan_names.get(plan_id) or plan_id or ""
        parts.append(
            f'<section class="plan-cards" data-plan="{_e(plan_id)}" '
            f'data-territory="{_e(territory)}"><h3>{_e(names[territory])} '
            f'<span class="en">· {_e(plan_id)}</span></h3><p class="meta">{_e(title)}</p>'
            f'<div class="cards">{"".join(cards)}</div></section>'
        )
    return "".join(parts)


def _card(latest: dict[str, Any], history: list[dict[str, Any]]) -> str:
    status = latest["status"]
    vi, en, colour = STATUS_LABELS.get(status or "", (status or "—", status or "—", "#475467"))
    lines = [
        f'<div class="big">{vi_count(latest["actual"])} '
        f'<span class="en">/ yêu cầu {vi_count(latest["required"])}</span></div>'
    ]
    final = latest.get("period_end") is not None and latest["review_year"] >= latest["period_end"]
    if final:
        lines.append('<div>Kết quả cuối kỳ <span class="en">/ the period\'s result</span></div>')
    elif latest.get("pace_so_far") is not None or latest.get("required_pace") is not None:
        lines.append(
            f"<div>Tốc độ đến nay <b>{_num(latest.get('pace_so_far'))}</b>/năm · cần "
            f"<b>{_num(latest.get('required_pace'))}</b>/năm "
            f'<span class="en">/ pace so far · still required, a year</span></div>'
        )
    if latest.get("projected_value") is not None and not final:
        projected = STATUS_LABELS.get(latest.get("projected_status") or "", ("—", "—", ""))[0]
        lines.append(
            f"<div>Dự báo {_e(latest.get('period_end'))}: <b>{_num(latest['projected_value'])}</b> "
            f"({_num(latest.get('projected_low'))}–{_num(latest.get('projected_high'))}) → "
            f'<b data-projected="{_e(latest.get("projected_status"))}">{_e(projected)}</b> '
            f'<span class="en">/ projection</span></div>'
        )
    if status in ("provisional", "not_measurable"):
        # From the first provisional clause on (the reasons), else the whole note.
        note = latest.get("note_vi") or latest.get("note") or ""
        starts = [i for i in (note.find("tạm tính:"), note.find("provisional:")) if i >= 0]
        why = note[min(starts) :] if starts else note
        lines.append(f'<div class="why" data-why="{_e(status)}">{_e(why)}</div>')
    trend = _sparkline([(r["review_year"], r["actual"]) for r in history], latest["required"])
    return (
        f'<article class="card" data-target="{_e(latest["target_id"])}" '
        f'data-status="{_e(status)}" data-year="{_e(latest["review_year"])}" '
        f'style="--c:{colour}"><h4>{_e(latest["target_id"])} · '
        f'<span class="status" style="background:{colour}">{_e(vi)}</span> '
        f'<span class="en">{_e(en)}, {_e(latest["review_year"])}</span></h4>'
        f"<div>{_e(latest.get('description_vi') or latest.get('description') or '')}</div>"
        f"{''.join(lines)}{trend}</article>"
    )


def _changes_section(db: _Published) -> str:
    """What changed since the previous publish (publish_changes), when the build has the table."""
    if not db.has("publish_changes", "change_kind"):
        return (
            '<p class="na" data-changes="absent">'
            + _bi(
                "Bản dựng này chưa ghi thay đổi so với lần công bố trước",
                "this build records no changes against the previous publish",
            )
            + "</p>"
        )
    columns = db.columns["publish_changes"]
    wanted = ["change_kind", "table_name", "key", "column_name", "previous_value", "value"]
    select = ", ".join(c if c in columns else f"null as {c}" for c in wanted)
    rows = db.rows(f"select {select} from publish_changes order by change_kind, table_name")
    if not rows:
        return (
            '<p data-changes="0">'
            + _bi("Không có thay đổi so với lần công bố trước", "nothing changed since")
            + "</p>"
        )
    table = _table(
        [
            ("Loại", "kind"),
            ("Bảng", "table"),
            ("Khóa", "key"),
            ("Cột", "column"),
            ("Trước", "before"),
            ("Nay", "now"),
        ],
        ([_td(r[c]) for c in wanted] for r in rows[:LONG_LIST]),
    )
    more = f'<p class="meta">… {len(rows) - LONG_LIST} more</p>' if len(rows) > LONG_LIST else ""
    return f'<div data-changes="{len(rows)}">{table}{more}</div>'


def _unverified_note(series: list[dict[str, Any]]) -> str:
    """Say which review years rest on a standard not checked against its legal text (_bi
    escapes the text)."""
    years: dict[str, set[int]] = {}
    for r in series:
        if r.get("standard_verified") is False:
            years.setdefault(str(r.get("standard_id")), set()).add(int(r["review_year"]))
    notes = [
        "<p class='note'>"
        + _bi(
            f"Các năm {min(ys)}-{max(ys)} tính theo chuẩn {sid}, chưa đối chiếu "
            "với văn bản: danh mục chỉ số còn tạm thời.",
            f"reviews {min(ys)}-{max(ys)} rest on {sid}, a standard not verified "
            "against its legal text: its indicator list is provisional.",
        )
        + "</p>"
        for sid, ys in sorted(years.items())
    ]
    return "".join(notes)


def _latest_year(db: _Published, table: str) -> int | None:
    if not db.has(table, "review_year"):
        return None
    row = db.rows(f"select max(review_year) as y from {table}")
    return row[0]["y"] if row else None


def _commune_label(r: dict[str, Any]) -> str:
    return f"{r['commune_name'] or ''} ({r['commune_code']})"


def _difficult_section(db: _Published) -> str:
    """The extremely difficult communes (xã ĐBKK) of the latest review only, in Vietnamese
    alphabetical order, and the extremely difficult villages (thôn ĐBKK) of every commune."""
    if not db.has("commune_year", "is_extremely_difficult", "difficult_villages", "commune_name"):
        return _na()
    year = _latest_year(db, "commune_year")
    rows = db.rows(
        """
        select commune_code, commune_name, province_name, is_extremely_difficult,
            difficult_villages, poverty_rate
        from commune_year
        where review_year = ? and (is_extremely_difficult or difficult_villages > 0)
        """,
        [year],
    )
    communes = sorted(
        (r for r in rows if r["is_extremely_difficult"]),
        key=lambda r: (
            vietnamese_sort_key(r["province_name"]),
            vietnamese_sort_key(r["commune_name"]),
            r["commune_code"],
        ),
    )
    villages = sum(int(r["difficult_villages"] or 0) for r in rows)
    in_other = sum(1 for r in rows if not r["is_extremely_difficult"])
    summary = (
        f"<p>Năm {year}: <b>{len(communes)}</b> xã đặc biệt khó khăn, <b>{vi_count(villages)}</b> "
        f"thôn đặc biệt khó khăn (ở {len(communes) + in_other} xã) "
        f'<span class="en">/ {len(communes)} extremely difficult communes, {villages} '
        "extremely difficult villages</span></p>"
    )
    table = _table(
        [
            ("Xã ĐBKK", "extremely difficult commune"),
            ("Tỉnh", "province"),
            ("Thôn ĐBKK", "difficult villages"),
            ("Tỷ lệ nghèo (%)", "poverty rate"),
        ],
        (
            [
                f'<td data-commune="{_e(r["commune_code"])}">{_e(_commune_label(r))}</td>',
                _td(r["province_name"]),
                _td(r["difficult_villages"]),
                _td(r["poverty_rate"]),
            ]
            for r in communes
        ),
        cls="difficult",
    )
    return summary + (table if communes else _na())


def _access_section(db: _Published) -> tuple[str, Chart | None]:
    needed = ("indicator_code", "poor_households", "deprived_poor_households", "review_year")
    if not db.has("province_year_deprivation", *needed):
        return _na(), None
    year = _latest_year(db, "province_year_deprivation")
    table_columns = db.columns["province_year_deprivation"]
    name = "indicator_name_vi" if "indicator_name_vi" in table_columns else "null"
    near = (
        """100.0 * (sum(near_poor_households) - sum(deprived_near_poor_households))
                / nullif(sum(near_poor_households), 0)"""
        if {"near_poor_households", "deprived_near_poor_households"} <= table_columns
        else "null"
    )
    rows = db.rows(
        f"""
        select indicator_code, any_value({name}) as indicator_name_vi,
            sum(poor_households)::bigint as poor,
            sum(deprived_poor_households)::bigint as deprived,
            100.0 * (sum(poor_households) - sum(deprived_poor_households))
                / nullif(sum(poor_households), 0) as access,
            {near} as near_poor_access
        from province_year_deprivation
        where review_year = ?
        group by indicator_code
        order by indicator_code
        """,
        [year],
    )
    chart = _access_chart(rows)
    caption = _bi(
        f"Năm {year}, hộ nghèo không thiếu hụt chỉ số",
        f"review {year}, poor households not deprived in the indicator",
    )
    table = _table(
        [
            ("Chỉ số", "indicator"),
            ("Hộ nghèo được tiếp cận (%)", "poor households with access"),
            ("Hộ cận nghèo được tiếp cận (%)", "near-poor households with access"),
        ],
        (
            [
                _td(r["indicator_name_vi"] or r["indicator_code"]),
                _td(r["access"], 1),
                _td(r["near_poor_access"], 1),
            ]
            for r in sorted(rows, key=lambda r: vietnamese_sort_key(r["indicator_name_vi"]))
        ),
    )
    return _figure(chart, caption) + table, chart


def _communes_section(db: _Published) -> str:
    if not db.has("commune_year", "poverty_rate", "poverty_rate_change_pp", "commune_name"):
        return _na()
    year = _latest_year(db, "commune_year")
    headers = [
        ("Xã", "commune"),
        ("Tỉnh", "province"),
        ("Tỷ lệ nghèo (%)", "poverty rate"),
        ("Thay đổi (điểm %)", "change, points"),
    ]

    def table(order: str, where: str) -> str:
        rows = db.rows(
            f"""
            select commune_code, commune_name, province_name, poverty_rate, poverty_rate_change_pp
            from commune_year
            where review_year = ? and {where}
            order by {order} desc, commune_code
            limit {TOP_COMMUNES}
            """,
            [year],
        )
        if not rows:
            return _na()
        return _table(
            headers,
            (
                [
                    _td(_commune_label(r)),
                    _td(r["province_name"]),
                    _td(r["poverty_rate"]),
                    _td(r["poverty_rate_change_pp"]),
                ]
                for r in rows
            ),
        )

    return (
        f"<h3>{_bi(f'Tỷ lệ nghèo cao nhất, năm {year}', f'highest poverty rates, {year}')}</h3>"
        + table("poverty_rate", "poverty_rate is not null")
        + f"<h3>{_bi(f'Tăng nhiều nhất, năm {year}', f'largest rises, {year}')}</h3>"
        + table("poverty_rate_change_pp", "poverty_rate_change_pp > 0")
    )


def _completeness_section(db: _Published) -> str:
    """Communes not reported and files not loaded in full with their reasons: the same list the
    terminal prints (orchestration.publish.completeness)."""
    parts = []
    if db.has("province_year", "communes_reported", "communes_total", "households_covered_percent"):
        rows = db.rows(
            """
            select province_name, review_year, communes_reported, communes_total,
                households_covered_percent
            from province_year
            """
        )
        rows.sort(key=lambda r: (vietnamese_sort_key(r["province_name"]), r["review_year"]))
        parts.append(
            _table(
                [
                    ("Tỉnh", "province"),
                    ("Năm", "year"),
                    ("Xã đã báo cáo", "communes reported"),
                    ("Tổng số xã", "communes"),
                    ("Hộ được báo cáo (%)", "households covered"),
                ],
                (
                    [
                        _td(r["province_name"]),
                        _year(r["review_year"]),
                        _td(r["communes_reported"]),
                        _td(r["communes_total"]),
                        _td(r["households_covered_percent"], 1),
                    ]
                    for r in rows
                ),
            )
        )
    communes = communes_not_reported(db.con)
    parts.append(
        f'<h3 data-not-reported="{len(communes)}">'
        f"{_bi(f'Xã chưa báo cáo ({len(communes)})', 'communes not reported')}</h3>"
    )
    if communes:
        parts.append(
            _table(
                [("Năm", "year"), ("Xã", "commune"), ("Tỉnh", "province")],
                (
                    [_year(r["review_year"]), _td(_commune_label(r)), _td(r["province_name"])]
                    for r in communes[:LONG_LIST]
                ),
            )
        )
        if len(communes) > LONG_LIST:
            parts.append(f'<p class="meta">… {len(communes) - LONG_LIST} more</p>')
    files = files_not_loaded(db.con)
    parts.append(
        f'<h3 data-files-not-loaded="{len(files)}">'
        f"{_bi(f'Tệp chưa nạp đầy đủ ({len(files)})', 'files not loaded in full')}</h3>"
    )
    if files:
        parts.append(
            _table(
                [
                    ("Năm", "year"),
                    ("Tệp", "file"),
                    ("Trạng thái", "status"),
                    ("Lý do", "reason"),
                    ("Dòng nạp / đọc", "rows loaded / read"),
                    ("Dòng cách ly", "rows quarantined"),
                ],
                (
                    [
                        _year(r["review_year"]),
                        f'<td data-file="{_e(r["file_name"])}">{_e(r["file_name"])}</td>',
                        _td(r["status"]),
                        _td(r["status_reason"]),
                        _td(f"{vi_count(r['rows_loaded'])} / {vi_count(r['rows_read'])}"),
                        _td(r["rows_quarantined"]),
                    ]
                    for r in files
                ),
                cls="files",
            )
        )
    return "".join(parts)


def render_report(published_path: Path) -> tuple[str, list[Chart]]:
    """The report's HTML for the published file at ``published_path``, and its charts."""
    db = _Published(Path(published_path))
    try:
        build_id, build_html = _build_section(db)
        rates_html, rates_charts = _rates_section(db)
        access_html, access_chart = _access_section(db)
        history = (
            "<details data-history><summary>"
            + _bi("Toàn bộ lịch sử đánh giá chỉ tiêu", "the full target history")
            + f"</summary>{_plans_section(db)}</details>"
        )
        sections = [
            (("Chỉ tiêu kế hoạch", "plan targets"), "cards", _cards_section(db)),
            (("Tỷ lệ hộ nghèo, cận nghèo theo năm", "poverty rates"), "rates", rates_html),
            (
                ("Thay đổi so với lần công bố trước", "changes since the previous publish"),
                "changes",
                _changes_section(db),
            ),
            (
                ("Mức độ đầy đủ của số liệu", "completeness"),
                "completeness",
                _completeness_section(db),
            ),
            (("Bản dựng", "the build"), "build", build_html),
            (
                ("Xã, thôn đặc biệt khó khăn", "extremely difficult communes and villages"),
                "difficult",
                _difficult_section(db),
            ),
            (("Tiếp cận dịch vụ theo chỉ số", "access by indicator"), "access", access_html),
            (("Xã cần chú ý", "communes to watch"), "watch", _communes_section(db)),
            (("Lịch sử chỉ tiêu", "target history"), "history", history),
        ]
    finally:
        db.close()
    body = "".join(
        f'<section data-section="{key}"><h2>{_bi(vi, en)}</h2>{content}</section>'
        for (vi, en), key, content in sections
    )
    page = (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Báo cáo giảm nghèo / Poverty-reduction report — {_e(build_id)}</title>"
        f"<style>{STYLE}</style></head><body><main>"
        f"<h1>{_bi('Báo cáo thực hiện mục tiêu giảm nghèo', 'poverty-reduction plan report')}</h1>"
        f'<p class="meta" data-build="{_e(build_id)}">Bản dựng / build {_e(build_id)}</p>'
        f"{body}</main></body></html>"
    )
    charts = [*rates_charts, *([access_chart] if access_chart is not None else [])]
    return page, charts


def write_report(published_path: Path, destination: Path) -> Path:
    """Write the report of ``published_path`` to ``destination`` (a temp file, then a rename)."""
    page, _ = render_report(published_path)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".publishing-report-", suffix=".tmp", dir=destination.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as writer:
            writer.write(page)
            writer.flush()
            os.fsync(writer.fileno())
        os.chmod(name, 0o644)
        os.replace(name, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return destination


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m orchestration.publish.report WAREHOUSE_DIR``: rebuild the report, open
    nothing."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("warehouse_dir", type=Path, help="the folder of published.duckdb")
    args = parser.parse_args(argv)
    published = args.warehouse_dir / "published.duckdb"
    if not published.is_file():
        parser.error(f"{published} does not exist: run `poverty-warehouse run` first")
    print(write_report(published, args.warehouse_dir / "report" / "index.html"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
