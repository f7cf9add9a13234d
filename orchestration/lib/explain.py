"""Explain one published number: the value, the rule applied, and the source rows behind it.

An auditor asks "why does commune 00004 have 12 poor households in 2024?". The answer has three
parts, each from where it is authoritative: the value from ``published.duckdb`` (what BI tools
show), the standard and rule from ``seeds.poverty_standards`` (falling back to the lines recorded
on the classified rows), and every household row that is counted, with its source file and row
number, from ``intermediate.int_households_classified`` in the working warehouse. The rows listed
are exactly the rows counted, so their number equals the published value: if it does not, the
explanation says so instead of hiding it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from orchestration.lib.admin_units import unit_version_for_year
from orchestration.lib.warehouse_connection import connect

CLASSIFIED = "intermediate.int_households_classified"
FLOWS = "intermediate.int_household_flows_tracked"

MEASURE_FILTERS: dict[str, str] = {
    "assessed_households": "true",
    "poor_households": "c.computed_class = 'poor'",
    "near_poor_households": "c.computed_class = 'near_poor'",
    "middle_households": "c.computed_class = 'middle'",
    "poor_ethnic_minority": "c.is_poor and c.is_ethnic_minority",
    "poor_meritorious_family": "c.is_poor and c.is_meritorious_family",
    "poor_social_protection": "c.is_poor and c.is_social_protection",
    "poor_no_labour_capacity": "c.is_poor and c.is_no_labour_capacity",
    "poor_female_headed": "c.is_poor and c.is_female_headed",
    "classification_mismatches": "c.is_class_mismatch",
    "exited_poverty": "f.flow = 'exited_poverty'",
    "newly_poor": "f.flow = 'newly_poor'",
    "returned_to_poverty": "f.flow = 'returned_to_poverty'",
}
"""How each count measure of commune_year is made of household rows."""

FLOW_MEASURES = frozenset({"exited_poverty", "newly_poor", "returned_to_poverty"})

RULES = {
    "QD59_2015": (
        "poor: income <= L, or L < income <= U with >= 3 of 10 deprivations; "
        "near-poor: L < income <= U with < 3 deprivations"
    ),
    "default": (
        "poor: income <= L and >= 3 of 12 deprivations; near_poor: income <= L and < 3; "
        "middle: L < income <= middle line (1.5 x L); otherwise not_poor "
        "(income exactly on a line belongs to the lower class)"
    ),
}

ROW_COLUMNS = (
    "source_file",
    "source_sheet",
    "source_row",
    "household_code",
    "area_type",
    "income_per_capita",
    "income_line",
    "middle_line",
    "deprivation_count",
    "computed_class",
    "reported_class",
)


class ExplainError(ValueError):
    """The question cannot be answered as asked (unknown measure, commune or year)."""


@dataclass
class Explanation:
    review_year: int
    unit_version: str
    commune_code: str
    commune_name: str | None
    measure: str
    published_value: int | None
    standard_id: str | None
    standard: list[dict[str, Any]]
    rule: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        """The rows listed make up the published value (NULL, an unknown flow, has no rows)."""
        if self.published_value is None:
            return not self.rows
        return self.published_value == len(self.rows)

    def to_text(self) -> str:
        lines = [
            f"{self.measure} for commune {self.commune_code} ({self.commune_name or '?'}), "
            f"review {self.review_year}, units {self.unit_version}",
            "published value: "
            + (
                "NULL (not known for this review: first review of the data or of a standard)"
                if self.published_value is None
                else str(self.published_value)
            ),
            f"standard: {self.standard_id or '?'}",
        ]
        for row in self.standard:
            lines.append("    " + ", ".join(f"{k}={v}" for k, v in row.items()))
        lines.append(f"rule: {self.rule}")
        lines.append(f"source rows: {len(self.rows)}")
        if not self.matches:
            lines.append(
                f"WARNING: {len(self.rows)} source rows do not make up the published value "
                f"{self.published_value}; the published file and the working warehouse differ"
            )
        for row in self.rows:
            sheet = f"[{row['source_sheet']}]" if row.get("source_sheet") else ""
            lines.append(
                f"  {row['source_file']}{sheet} row {row['source_row']}: "
                f"household {row['household_code']}, {row['area_type']}, "
                f"income {row['income_per_capita']} (line {row['income_line']}), "
                f"deprivations {row['deprivation_count']}, computed {row['computed_class']}, "
                f"reported {row['reported_class']}"
            )
        return "\n".join(lines)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(ROW_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({column: row.get(column) for column in ROW_COLUMNS})
        return buffer.getvalue()


def normalise_commune_code(commune: str | int) -> str:
    """Commune codes keep their leading zeros: ``4`` and ``'04'`` both mean ``'00004'``."""
    text = str(commune).strip()
    if not text.isdigit() or len(text) > 5:
        raise ExplainError(f"commune code must be up to 5 digits, got {commune!r}")
    return text.zfill(5)


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    return bool(row and row[0])


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _published_value(
    published_path: Path, measure: str, year: int, unit_version: str, commune: str
) -> tuple[int | None, str | None, str | None]:
    with connect(published_path, read_only=True) as con:
        row = con.execute(
            f"""
            select {measure}, commune_name, standard_id from main.commune_year
            where review_year = ? and unit_version = ? and commune_code = ?
            """,
            [year, unit_version, commune],
        ).fetchone()
    if row is None:
        raise ExplainError(
            f"commune {commune} has no row for review {year} ({unit_version}) in {published_path}"
        )
    return row[0], row[1], row[2]


def explain(
    warehouse_path: Path,
    published_path: Path,
    *,
    year: int,
    commune: str,
    measure: str = "poor_households",
    unit_version: str | None = None,
) -> Explanation:
    """The published value of a commune count measure and the household rows that make it up."""
    if measure not in MEASURE_FILTERS:
        raise ExplainError(
            f"cannot explain {measure!r}; count measures: {', '.join(sorted(MEASURE_FILTERS))}"
        )
    commune_code = normalise_commune_code(commune)
    unit_version = unit_version or unit_version_for_year(year)
    value, commune_name, standard_id = _published_value(
        Path(published_path), measure, year, unit_version, commune_code
    )
    flow_join = (
        f"inner join {FLOWS} as f on f.review_year = c.review_year "
        "and f.household_code = c.household_code"
        if measure in FLOW_MEASURES
        else ""
    )
    with connect(warehouse_path, read_only=True) as con:
        rows = _dicts(
            con.execute(
                f"""
                select c.source_file, c.source_sheet, c.source_row, c.household_code,
                    c.area_type, c.income_per_capita, c.income_line, c.middle_line,
                    c.deprivation_count, c.computed_class, c.reported_class, c.standard_id
                from {CLASSIFIED} as c
                {flow_join}
                where c.review_year = ? and c.unit_version = ? and c.commune_code = ?
                    and ({MEASURE_FILTERS[measure]})
                order by c.source_file, c.source_sheet, c.source_row, c.household_code
                """,
                [year, unit_version, commune_code],
            )
        )
        standard_id = standard_id or next((r["standard_id"] for r in rows), None)
        standard: list[dict[str, Any]] = []
        if standard_id and _table_exists(con, "seeds", "poverty_standards"):
            standard = _dicts(
                con.execute(
                    "select * from seeds.poverty_standards where standard_id = ?", [standard_id]
                )
            )
        if not standard and standard_id:
            standard = _dicts(
                con.execute(
                    f"""
                    select distinct standard_id, area_type, income_line, middle_line
                    from {CLASSIFIED}
                    where review_year = ? and standard_id = ?
                    order by area_type
                    """,
                    [year, standard_id],
                )
            )
    return Explanation(
        review_year=year,
        unit_version=unit_version,
        commune_code=commune_code,
        commune_name=commune_name,
        measure=measure,
        published_value=value,
        standard_id=standard_id,
        standard=standard,
        rule=RULES.get(standard_id or "", RULES["default"]),
        rows=rows,
    )
