"""The report's other sections: the build, the rates, what changed, completeness, the
extremely difficult communes, access by indicator and the communes to watch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orchestration.publish.completeness import communes_not_reported, files_not_loaded
from orchestration.publish.report.charts import (
    Chart,
    _access_chart,
    _figure,
    _line_segments,
    _rates_chart,
)
from orchestration.publish.report.markup import (
    METHOD_LABELS,
    _bi,
    _e,
    _na,
    _num,
    _table,
    _td,
    _year,
    vi_count,
    vietnamese_sort_key,
)
from orchestration.publish.report.published import _Published

TOP_COMMUNES = 10


LONG_LIST = 50


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
