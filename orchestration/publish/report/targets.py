"""The report's plan targets: a card per target (the latest verdict, pace and projection)
and the full history of every plan's targets."""

from __future__ import annotations

from typing import Any

from orchestration.publish.report.charts import _sparkline
from orchestration.publish.report.markup import (
    STATUS_LABELS,
    _e,
    _na,
    _num,
    _status,
    _table,
    _td,
    _year,
    vi_count,
    vietnamese_sort_key,
)
from orchestration.publish.report.published import _Published


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
