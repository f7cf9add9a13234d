"""Explain a plan target's status: the territory series it used and the arithmetic behind it.

``poverty-warehouse explain --territory pre2025:02 --target T1`` answers from the published file
alone (``territory_year``, ``plans``, ``target_progress``): for each plan the target belongs to on
that territory, the harmonised series year by year with its method and coverage, then for every
review evaluated the value, how it was reached and why the status is what it is. For the poverty
rate targets (mean of yearly falls) the mean is recomputed here from the published series, so a
reader can check it with a pencil; the other targets are measured on series the warehouse keeps
internal (the baseline's extremely difficult communes, villages, the baseline's poor households),
and their arithmetic is the note each row carries.

Every row also shows its pace and projection worked out with the numbers in the row: for a
rate-fall target (a mean of yearly falls) the fall still needed a year, ``(required × (n + r) −
mean × n) / r`` with n falls so far and r reviews left, and the period's mean if the remaining
reviews fell at the mean so far, the slowest or the fastest fall seen; for a level or count
target the pace ``(value − baseline value) / years``, the straight line from the baseline value
to the required value at the period's last review, and ``value + pace × r``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.base.warehouse_connection import connect, rows_as_dicts

SERIES_COLUMNS = (
    "review_year",
    "review_unit_version",
    "method",
    "communes_reported",
    "communes_total",
    "households_covered_percent",
    "poor_households",
    "total_households",
    "poverty_rate",
    "poverty_rate_change_pp",
)
RATE_MEASURE_TARGETS = {"T1", "T6"}
"""Targets of the template plans measured as the mean yearly fall of the territory's rate."""
FALL_TARGETS = {"T1", "T2", "T6", "T7"}
"""Targets of the template plans judged on a mean of yearly falls (the others on a level)."""


class TargetExplainError(ValueError):
    """The question cannot be answered as asked (unknown territory, target or plan)."""


@dataclass
class PlanTarget:
    plan_id: str
    plan_name: str
    period_start: int
    period_end: int
    description: str
    description_vi: str
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TargetExplanation:
    territory: str
    province_name: str | None
    target_id: str
    series: list[dict[str, Any]]
    plans: list[PlanTarget]

    def falls(self, start: int, end: int) -> list[tuple[int, float]]:
        """Year-on-year falls of the territory's rate between consecutive reviews under one
        standard (a published change), for reviews after ``start`` up to ``end``."""
        return [
            (row["review_year"], -row["poverty_rate_change_pp"])
            for row in self.series
            if start < row["review_year"] <= end and row["poverty_rate_change_pp"] is not None
        ]

    def to_text(self) -> str:
        lines = [
            f"target {self.target_id} on territory {self.territory} ({self.province_name or '?'})",
            "",
            "harmonised series (territory_year):",
            "  year  units    method       communes  coverage %  poor       total      "
            "rate %    change pp",
        ]
        for row in self.series:
            lines.append(
                f"  {row['review_year']}  {row['review_unit_version']:<8} {row['method']:<12} "
                f"{row['communes_reported']:>3}/{row['communes_total']:<4} "
                f"{_number(row['households_covered_percent'], 2):>10}  "
                f"{_number(row['poor_households'], 2):<10} "
                f"{_number(row['total_households'], 2):<10} "
                f"{_number(row['poverty_rate'], 4):<9} {_number(row['poverty_rate_change_pp'], 4)}"
            )
        for plan in self.plans:
            lines += [
                "",
                f"plan {plan.plan_id} ({plan.period_start}-{plan.period_end}): {plan.plan_name}",
                f"  {plan.description_vi} / {plan.description}",
            ]
            for row in plan.rows:
                lines.append(
                    f"  review {row['review_year']}: actual {_number(row['actual'], 4)} vs "
                    f"required {_number(row['required'], 4)} (baseline {row['baseline_year']}: "
                    f"{_number(row['baseline_value'], 4)}), method {row['method']} → "
                    f"{row['status']}"
                )
                if self.target_id in RATE_MEASURE_TARGETS:
                    lines.append("    " + self._mean_of_falls(row))
                lines.extend("    " + line for line in self._pace(row, plan.rows))
                lines.append(f"    note: {row['note']}")
                if row.get("note_vi"):
                    lines.append(f"    ghi chú: {row['note_vi']}")
        return "\n".join(lines)

    def _mean_of_falls(self, row: dict[str, Any]) -> str:
        falls = self.falls(row["baseline_year"], row["review_year"])
        if not falls:
            return "no consecutive pair of reviews under one standard yet: nothing to average"
        terms = " + ".join(f"{fall:.4f} ({year - 1}→{year})" for year, fall in falls)
        mean = sum(fall for _, fall in falls) / len(falls)
        text = f"mean of falls = ({terms}) / {len(falls)} = {mean:.4f}"
        if row["actual"] is not None and abs(mean - row["actual"]) > 1e-9:
            text += f"  WARNING: the published actual is {row['actual']}"
        return text

    def _pace(self, row: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
        """The pace and projection of one evaluated row, with its arithmetic."""
        if "pace_so_far" not in row or row["actual"] is None:
            return []
        year, base, end, required = (
            row["review_year"],
            row["baseline_year"],
            row["period_end"],
            row["required"],
        )
        left = end - year
        if self.target_id in FALL_TARGETS or row.get("actual_if_not_reassessed_poor") is not None:
            lines = self._fall_pace(row, left, required, end)
        else:
            lines = self._level_pace(row, rows, year, base, end, left, required)
        lines.append(
            f"projected status: {row.get('projected_status') or 'NULL'} "
            f"(published projection {_number(row.get('projected_value'), 4)}, range "
            f"{_number(row.get('projected_low'), 4)} to {_number(row.get('projected_high'), 4)})"
        )
        return lines

    def _fall_pace(self, row: dict[str, Any], left: int, required: float, end: int) -> list[str]:
        mean = row["actual"]
        falls = (
            [fall for _, fall in self.falls(row["baseline_year"], row["review_year"])]
            if self.target_id in RATE_MEASURE_TARGETS
            else []
        )
        lines = [f"pace so far: a mean fall of {_number(mean, 4)} points a year"]
        if left <= 0:
            lines.append(f"the period's last review ({end}) is in: nothing left to require")
            return lines
        count = len(falls) if falls else None
        if count:
            needed = (required * (count + left) - mean * count) / left
            lines.append(
                f"pace still required = ({_number(required, 4)} × ({count} + {left}) − "
                f"{_number(mean, 4)} × {count}) / {left} = {needed:.4f} points a year"
                + _check(needed, row.get("required_pace"))
            )
            slowest, fastest = min(falls), max(falls)
            low = (mean * count + slowest * left) / (count + left)
            high = (mean * count + fastest * left) / (count + left)
            lines.append(
                f"projection to {end}: the mean stays {_number(mean, 4)} at this pace; at the "
                f"slowest fall seen ({slowest:.4f}) ({_number(mean, 4)} × {count} + "
                f"{slowest:.4f} × {left}) / {count + left} = {low:.4f}, at the fastest "
                f"({fastest:.4f}) {high:.4f}" + _check(low, row.get("projected_low"))
            )
        else:
            lines.append(
                f"pace still required: {_number(row.get('required_pace'), 4)} points a year over "
                f"the {left} remaining reviews (the series of this target is internal)"
            )
        return lines

    def _level_pace(
        self,
        row: dict[str, Any],
        rows: list[dict[str, Any]],
        year: int,
        base: int,
        end: int,
        left: int,
        required: float,
    ) -> list[str]:
        value = row["actual"]
        at_base = next((r["actual"] for r in rows if r["review_year"] == base), None)
        if at_base is None and row.get("pace_so_far") is not None:
            at_base = value - row["pace_so_far"] * (year - base)
        if at_base is None:
            return ["the baseline value is unknown: judged on the value so far"]
        lines = []
        if year > base:
            pace = (value - at_base) / (year - base)
            lines.append(
                f"pace so far = ({_number(value, 4)} − {_number(at_base, 4)}) / ({year} − {base})"
                f" = {pace:.4f} a year" + _check(pace, row.get("pace_so_far"))
            )
        line = at_base + (required - at_base) * (year - base) / (end - base) if end > base else 0
        lines.append(
            f"straight line from {_number(at_base, 4)} in {base} to {_number(required, 4)} in "
            f"{end}: {line:.4f} in {year}, the value {_number(value, 4)}"
        )
        if left > 0:
            needed = (required - value) / left
            lines.append(
                f"pace still required = ({_number(required, 4)} − {_number(value, 4)}) / {left} "
                f"= {needed:.4f} a year" + _check(needed, row.get("required_pace"))
            )
            if year > base:
                projected = value + pace * left
                lines.append(
                    f"projection to {end} = {_number(value, 4)} + {pace:.4f} × {left} = "
                    f"{projected:.4f} (kept within what the measure can take)"
                )
        return lines

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=["territory", *SERIES_COLUMNS], lineterminator="\n"
        )
        writer.writeheader()
        for row in self.series:
            writer.writerow({"territory": self.territory, **row})
        return buffer.getvalue()


def _number(value: float | int | None, digits: int) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else str(value)
    return str(value)


def _check(mine: float, published: float | None) -> str:
    """A warning when the arithmetic shown here differs from the published value."""
    if published is None or abs(mine - published) <= 1e-6:
        return ""
    return f"  WARNING: the published value is {published}"


def explain_target(
    published_path: Path, territory: str, target_id: str, plan_id: str | None = None
) -> TargetExplanation:
    """The series and the evaluated rows of ``target_id`` on ``territory`` (e.g. ``pre2025:02``),
    for every plan on the territory that has the target, or ``plan_id`` alone."""
    target_id = target_id.strip().upper()
    with connect(published_path, read_only=True) as con:
        series = rows_as_dicts(
            con.execute(
                f"select province_name, {', '.join(SERIES_COLUMNS)} from territory_year "
                "where territory = ? order by review_year",
                [territory],
            )
        )
        if not series:
            known = [
                row[0]
                for row in con.execute("select distinct territory from territory_year").fetchall()
            ]
            raise TargetExplainError(
                f"territory {territory!r} is not in territory_year; known: {sorted(known)}"
            )
        rows = rows_as_dicts(
            con.execute(
                """
                select target_progress.*, plans.name as plan_name
                from target_progress
                inner join plans
                    on target_progress.plan_id = plans.plan_id
                    and target_progress.territory = plans.territory
                where target_progress.territory = ? and target_progress.target_id = ?
                    and (? is null or target_progress.plan_id = ?)
                order by target_progress.plan_id, target_progress.review_year
                """,
                [territory, target_id, plan_id, plan_id],
            )
        )
    if not rows:
        raise TargetExplainError(
            f"no evaluated row of target {target_id} on {territory}"
            + (f" in plan {plan_id}" if plan_id else "")
            + " (no plan on the territory has it, or no review of its period is loaded)"
        )
    plans: dict[str, PlanTarget] = {}
    for row in rows:
        plan = plans.setdefault(
            row["plan_id"],
            PlanTarget(
                plan_id=row["plan_id"],
                plan_name=row["plan_name"],
                period_start=row["period_start"],
                period_end=row["period_end"],
                description=row["description"],
                description_vi=row["description_vi"],
            ),
        )
        plan.rows.append(row)
    province_name = series[0].pop("province_name")
    for row in series[1:]:
        row.pop("province_name")
    return TargetExplanation(
        territory=territory,
        province_name=province_name,
        target_id=target_id,
        series=series,
        plans=list(plans.values()),
    )
