"""The plan report: one self-contained HTML page for the province's leaders, Vietnamese first.

It is written by the publish from the file it is about to serve (never from the working
warehouse, never from a build the gate blocked), and ``make report`` writes it again from
``published.duckdb``. Charts are Vega-Lite specifications built with Altair and rendered to static
SVG by vl-convert, in this process and without a browser: the page carries no script, and no
request leaves it (styles inline, no web fonts, no images from elsewhere).

The page follows the published tables' contract, and a table or column a build does not have
yields one "not available in this build" line instead of an error, so the report never stops a
publish of valid data.
"""

from __future__ import annotations

import contextlib
import html
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.lib.warehouse_connection import connect

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
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def close(self) -> None:
        self.con.close()


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else _e(value)


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

    svg = vl_convert.vegalite_to_svg(chart.to_dict(validate=False))
    # The SVG's namespace URIs are identifiers, not requests; nothing else names a URL.
    return svg


def _rates_chart(series: list[dict[str, Any]]) -> Chart | None:
    import altair as alt

    points = []
    for row in series:
        for measure, vi in (("poverty_rate", "Tỷ lệ nghèo"), ("near_poverty_rate", "Cận nghèo")):
            if row.get(measure) is not None:
                points.append(
                    {
                        "review_year": int(row["review_year"]),
                        "rate": float(row[measure]),
                        "measure": vi,
                        "territory": str(row["territory"]),
                        "method": METHOD_LABELS.get(row.get("method") or "", row.get("method")),
                    }
                )
    if not points:
        return None
    base = alt.Chart(alt.Data(values=points)).encode(
        x=alt.X("review_year:O", title="Năm rà soát / review year", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("rate:Q", title="% hộ / % of households"),
        color=alt.Color("measure:N", title="Chỉ tiêu / measure"),
        detail="territory:N",
    )
    lines = base.mark_line().encode(
        strokeDash=alt.StrokeDash("territory:N", title="Địa bàn / territory")
    )
    marks = base.mark_point(filled=True, size=70).encode(
        shape=alt.Shape("method:N", title="Phương pháp / method")
    )
    chart = (
        (lines + marks)
        .properties(width=620, height=300)
        .configure_legend(labelLimit=320, titleLimit=320)
    )
    return Chart("rates", _render_svg(chart), len(points))


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
            order by target_id, review_year desc
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


def _rates_section(db: _Published) -> tuple[str, Chart | None]:
    needed = ("territory", "review_year", "poverty_rate", "near_poverty_rate", "method")
    if not db.has("territory_year", *needed):
        return _na(), None
    series = db.rows("select * from territory_year order by territory, review_year")
    chart = _rates_chart(series)
    rows = [
        [
            _td(r["territory"]),
            _year(r["review_year"]),
            _td(r["poverty_rate"]),
            _td(r["near_poverty_rate"]),
            _td(METHOD_LABELS.get(r["method"] or "", r["method"])),
            _td(r.get("households_covered_percent"), 1),
        ]
        for r in series
    ]
    table = _table(
        [
            ("Địa bàn", "territory"),
            ("Năm", "year"),
            ("Tỷ lệ nghèo (%)", "poverty rate"),
            ("Tỷ lệ cận nghèo (%)", "near-poverty rate"),
            ("Phương pháp", "method"),
            ("Hộ được báo cáo (%)", "households covered"),
        ],
        rows,
    )
    caption = _bi(
        "Chuỗi số liệu hài hòa qua đợt sắp xếp đơn vị hành chính 2025; ký hiệu điểm cho biết "
        "phương pháp",
        "harmonised series across the 2025 reorganisation; the point shape shows the method",
    )
    return _figure(chart, caption) + table + _unverified_note(series), chart


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
    if not db.has("commune_year", "is_extremely_difficult", "difficult_villages", "commune_name"):
        return _na()
    year = _latest_year(db, "commune_year")
    rows = db.rows(
        """
        select commune_code, commune_name, province_name, is_extremely_difficult,
            difficult_villages, poverty_rate
        from commune_year
        where review_year = ? and (is_extremely_difficult or difficult_villages > 0)
        order by province_name, commune_name
        """,
        [year],
    )
    communes = sum(1 for r in rows if r["is_extremely_difficult"])
    villages = sum(int(r["difficult_villages"] or 0) for r in rows)
    summary = (
        f"<p>Năm {year}: <b>{communes}</b> xã đặc biệt khó khăn, <b>{villages}</b> thôn đặc biệt "
        f'khó khăn <span class="en">/ {communes} extremely difficult communes, {villages} '
        "extremely difficult villages</span></p>"
    )
    table = _table(
        [
            ("Xã", "commune"),
            ("Tỉnh", "province"),
            ("Xã ĐBKK", "extremely difficult"),
            ("Thôn ĐBKK", "difficult villages"),
            ("Tỷ lệ nghèo (%)", "poverty rate"),
        ],
        (
            [
                _td(_commune_label(r)),
                _td(r["province_name"]),
                _td("Có / yes" if r["is_extremely_difficult"] else "Không / no"),
                _td(r["difficult_villages"]),
                _td(r["poverty_rate"]),
            ]
            for r in rows[:LONG_LIST]
        ),
    )
    more = f'<p class="meta">… {len(rows) - LONG_LIST} more</p>' if len(rows) > LONG_LIST else ""
    return summary + table + more


def _access_section(db: _Published) -> tuple[str, Chart | None]:
    needed = ("indicator_code", "poor_households", "deprived_poor_households", "review_year")
    if not db.has("province_year_deprivation", *needed):
        return _na(), None
    year = _latest_year(db, "province_year_deprivation")
    name = (
        "indicator_name_vi" if db.has("province_year_deprivation", "indicator_name_vi") else "null"
    )
    rows = db.rows(
        f"""
        select indicator_code, any_value({name}) as indicator_name_vi,
            sum(poor_households)::bigint as poor,
            sum(deprived_poor_households)::bigint as deprived,
            100.0 * (sum(poor_households) - sum(deprived_poor_households))
                / nullif(sum(poor_households), 0) as access
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
    return _figure(chart, caption), chart


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
    parts = []
    if db.has("build_info", "communes_not_reported", "files_quarantined"):
        info = db.rows("select communes_not_reported, files_quarantined from build_info")[0]
        parts.append(
            f"<p>Xã chưa báo cáo: <b>{_num(info['communes_not_reported'])}</b> · tệp bị cách ly: "
            f"<b>{_num(info['files_quarantined'])}</b> "
            f'<span class="en">/ communes not reported: {_num(info["communes_not_reported"])} · '
            f"quarantined files: {_num(info['files_quarantined'])}</span></p>"
        )
    if db.has("province_year", "communes_reported", "communes_total", "households_covered_percent"):
        rows = db.rows(
            """
            select province_name, review_year, communes_reported, communes_total,
                households_covered_percent
            from province_year order by province_name, review_year
            """
        )
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
    if db.has("commune_year", "reporting_status"):
        rows = db.rows(
            """
            select review_year, commune_code, commune_name, province_name from commune_year
            where reporting_status = 'not_reported' order by review_year, commune_code
            """
        )
        if rows:
            parts.append(
                f"<h3>{_bi('Xã chưa báo cáo', 'communes not reported')}</h3>"
                + _table(
                    [("Năm", "year"), ("Xã", "commune"), ("Tỉnh", "province")],
                    (
                        [_year(r["review_year"]), _td(_commune_label(r)), _td(r["province_name"])]
                        for r in rows[:LONG_LIST]
                    ),
                )
            )
    if db.has("source_files", "status", "file_name"):
        reason = "status_reason" if db.has("source_files", "status_reason") else "null"
        rows = db.rows(
            f"""
            select review_year, file_name, status, {reason} as status_reason, rows_quarantined
            from source_files where status not in ('loaded', 'duplicate', 'replaced')
                or rows_quarantined > 0
            order by review_year, file_name
            """
        )
        if rows:
            parts.append(
                f"<h3>{_bi('Tệp chưa nạp đầy đủ', 'files not loaded in full')}</h3>"
                + _table(
                    [
                        ("Năm", "year"),
                        ("Tệp", "file"),
                        ("Trạng thái", "status"),
                        ("Lý do", "reason"),
                        ("Dòng cách ly", "rows quarantined"),
                    ],
                    (
                        [
                            _year(r["review_year"]),
                            _td(r["file_name"]),
                            _td(r["status"]),
                            _td(r["status_reason"]),
                            _td(r["rows_quarantined"]),
                        ]
                        for r in rows
                    ),
                )
            )
    return "".join(parts) or _na()


def render_report(published_path: Path) -> tuple[str, list[Chart]]:
    """The report's HTML for the published file at ``published_path``, and its charts."""
    db = _Published(Path(published_path))
    try:
        build_id, build_html = _build_section(db)
        rates_html, rates_chart = _rates_section(db)
        access_html, access_chart = _access_section(db)
        sections = [
            (("Kế hoạch và chỉ tiêu", "plans and targets"), _plans_section(db)),
            (("Tỷ lệ hộ nghèo, cận nghèo theo năm", "poverty rates by review year"), rates_html),
            (
                ("Xã, thôn đặc biệt khó khăn", "extremely difficult communes and villages"),
                _difficult_section(db),
            ),
            (("Tiếp cận dịch vụ của hộ nghèo", "access for poor households"), access_html),
            (("Xã cần chú ý", "communes to watch"), _communes_section(db)),
            (("Mức độ đầy đủ của số liệu", "completeness"), _completeness_section(db)),
            (("Bản dựng", "the build"), build_html),
        ]
    finally:
        db.close()
    body = "".join(f"<h2>{_bi(vi, en)}</h2>{content}" for (vi, en), content in sections)
    page = (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Báo cáo giảm nghèo / Poverty-reduction report — {_e(build_id)}</title>"
        f"<style>{STYLE}</style></head><body><main>"
        f"<h1>{_bi('Báo cáo thực hiện mục tiêu giảm nghèo', 'poverty-reduction plan report')}</h1>"
        f'<p class="meta" data-build="{_e(build_id)}">Bản dựng / build {_e(build_id)}</p>'
        f"{body}</main></body></html>"
    )
    charts = [c for c in (rates_chart, access_chart) if c is not None]
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
    """``python -m orchestration.lib.report WAREHOUSE_DIR``: rebuild the report, open nothing."""
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
