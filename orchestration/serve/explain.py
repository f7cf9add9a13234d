"""Explain one published number: the value, the rule applied, and the source rows behind it.

An auditor asks "why does commune 00004 have 12 poor households in 2024?". The answer has three
parts, each from where it is authoritative: the value from ``published.duckdb`` (what BI tools
show), the standard, its rule and its own indicator set from the seeds (falling back to the lines
recorded on the classified rows), and every household row that is counted, with its source file
and row number, from ``intermediate.int_households_classified`` in the working warehouse. The
rows listed are exactly the rows counted, so they make up the published value: if they do not,
the explanation says so instead of hiding it.

A rate is shown with its numerator and denominator (the rows listed are the numerator's); each
row names the indicators of its standard the household lacks; a flow lists, for each household,
the earlier reviews that decided it (year, class, file, row).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import yaml

from orchestration.base.admin_units import unit_version_for_year
from orchestration.base.settings import DBT_PROJECT_DIR
from orchestration.base.warehouse_connection import (
    connect,
    rows_as_dicts,
    sql_text,
    table_exists,
)

CLASSIFIED = "intermediate.int_households_classified"
FLOWS = "intermediate.int_household_flows_tracked"
STANDARD_INDICATORS = "seeds.standard_indicators"

COMMUNE_MART = "commune_year"
COMMUNE_MART_YAML = DBT_PROJECT_DIR / "models" / "marts" / f"{COMMUNE_MART}.yml"


@dataclass(frozen=True)
class Measure:
    """How the rows behind one commune_year measure are found: the ``meta.explain`` of the
    column in the mart's dbt YAML (``dbt_project/models/marts/commune_year.yml``), the one place
    the measures are defined for both explain and dbt docs."""

    name: str
    rows: str | None = None
    """SQL filter over the classified households ``c`` (and their flows ``f``)."""
    sums: str | None = None
    """The column the rows add up to, instead of counting them (people measures)."""
    numerator: str | None = None
    denominator: str | None = None

    @property
    def is_rate(self) -> bool:
        return self.numerator is not None

    @property
    def is_flow(self) -> bool:
        """A flow's rows come with the earlier reviews that decided it."""
        return self.rows is not None and "f." in self.rows


def measures(models_yaml: Path = COMMUNE_MART_YAML) -> dict[str, Measure]:
    """Every measure explain offers, from the ``meta.explain`` of commune_year's columns.

    Read from the model's YAML itself rather than dbt's manifest, so that the command's help
    lists them on a fresh clone, before ``dbt parse`` has written a manifest.
    """
    return _measures(Path(models_yaml))


@lru_cache(maxsize=4)
def _measures(models_yaml: Path) -> dict[str, Measure]:
    document = yaml.safe_load(models_yaml.read_text(encoding="utf-8"))
    (model,) = (m for m in document["models"] if m["name"] == COMMUNE_MART)
    found = {}
    for column in model["columns"]:
        explain_meta = (column.get("meta") or {}).get("explain")
        if explain_meta:
            found[column["name"]] = Measure(name=column["name"], **explain_meta)
    return dict(sorted(found.items()))


ROW_COLUMNS = (
    "source_file",
    "source_sheet",
    "source_row",
    "household_code",
    "area_type",
    "household_size",
    "income_per_capita",
    "income_line",
    "middle_line",
    "deprivation_count",
    "deprived_in",
    "computed_class",
    "rule_reason",
    "reported_class",
    "official_class",
    "earlier_reviews",
)

KEPT_COLUMNS = (
    "source_file",
    "source_sheet",
    "source_row",
    "household_code",
    "area_type",
    "household_size",
    "income_per_capita",
    "income_line",
    "middle_line",
    "deprivation_count",
    "computed_class",
    "reported_class",
    "official_class",
    "standard_id",
)
"""The columns of a classified row an explanation keeps (no identity column)."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Cell starts a spreadsheet reads as a formula: such cells are prefixed with a single quote."""


def rule_reason(row: dict[str, Any]) -> str:
    """Why the rule gives a classified row its class, in the terms an officer checks: the
    income against the standard's lines and the deprivations against the threshold (``≤``: an
    income exactly on a line belongs to the lower class)."""
    income, line = row.get("income_per_capita"), row.get("income_line")
    upper, middle = row.get("upper_income_line"), row.get("middle_line")
    count, threshold = row.get("deprivation_count"), row.get("deprivation_threshold")
    cls = row.get("computed_class")
    if cls is None or income is None or line is None:
        return "no standard applies to the review year"
    deprivations = f"{count} deprivations {'≥' if (count or 0) >= (threshold or 0) else '<'} "
    deprivations += f"{threshold}"
    if income <= line:
        if row.get("rule_type") == "qd59_upper_band":
            return f"income {income} ≤ line {line}"
        return f"income {income} ≤ line {line} and {deprivations}"
    if row.get("rule_type") == "qd59_upper_band" and upper is not None and income <= upper:
        return f"line {line} < income {income} ≤ upper line {upper} and {deprivations}"
    if cls == "middle":
        return f"line {upper or line} < income {income} ≤ middle line {middle}"
    if middle is None:
        return f"income {income} > line {upper or line} (the standard has no middle line)"
    return f"income {income} > middle line {middle}"


class ExplainError(ValueError):
    """The question cannot be answered as asked (unknown measure, commune or year)."""


def neutralise_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet cannot run as a formula (``=1+1`` → ``'=1+1``)."""
    if value is None:
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else value


def describe_rule(standard: list[dict[str, Any]], indicator_count: int | None) -> str:
    """The classification rule in words, from the standard's own seed rows."""
    count = f"{indicator_count}" if indicator_count else "the standard's"
    if any(row.get("rule_type") == "qd59_upper_band" for row in standard):
        return (
            f"poor: income <= L, or L < income <= U with >= 3 of {count} deprivations; "
            "near-poor: L < income <= U with < 3 deprivations; no middle line "
            "(income exactly on a line belongs to the lower class)"
        )
    has_middle = bool(standard) and all(row.get("middle_line") is not None for row in standard)
    middle = (
        "middle: L < income <= middle line M; otherwise not_poor"
        if has_middle
        else "no middle line in the standard: above L not_poor (middle published as NULL)"
    )
    return (
        f"poor: income <= L and >= 3 of {count} deprivations; near_poor: income <= L and < 3; "
        f"{middle} (income exactly on a line belongs to the lower class)"
    )


@dataclass
class Explanation:
    review_year: int
    unit_version: str
    commune_code: str
    commune_name: str | None
    measure: str
    published_value: float | int | None
    standard_id: str | None
    standard: list[dict[str, Any]]
    rule: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    indicators: list[dict[str, Any]] = field(default_factory=list)
    counted_measure: str | None = None
    numerator: int | None = None
    denominator: int | None = None

    @property
    def rows_total(self) -> int:
        """What the listed rows add up to: households, or people for a people measure."""
        summed = measures()[self.counted_measure or self.measure].sums
        if summed:
            return sum(row.get(summed) or 0 for row in self.rows)
        return len(self.rows)

    @property
    def matches(self) -> bool:
        """The rows listed make up the published value (NULL, an unknown flow, has no rows)."""
        expected = self.numerator if measures()[self.measure].is_rate else self.published_value
        if expected is None:
            return not self.rows
        return expected == self.rows_total

    def to_text(self) -> str:
        lines = [
            f"{self.measure} for commune {self.commune_code} ({self.commune_name or '?'}), "
            f"review {self.review_year}, units {self.unit_version}",
            "published value: "
            + (
                "NULL (not known for this review: the commune is not reported, has no totals, "
                "or it is the first review of the data or of a standard)"
                if self.published_value is None
                else str(self.published_value)
            ),
        ]
        rate = measures()[self.measure]
        if rate.is_rate:
            numerator, denominator = rate.numerator, rate.denominator
            lines.append(f"= 100 x {numerator} {self.numerator} / {denominator} {self.denominator}")
        lines.append(f"standard: {self.standard_id or '?'}")
        for row in self.standard:
            lines.append("    " + ", ".join(f"{k}={v}" for k, v in row.items()))
        lines.append(f"rule: {self.rule}")
        if self.indicators:
            names = ", ".join(
                f"{i['indicator_name_vi']} ({i['indicator_code']})" for i in self.indicators
            )
            lines.append(f"indicators ({len(self.indicators)}): {names}")
        lines.append(f"source rows: {len(self.rows)}")
        if not self.matches:
            lines.append(
                f"WARNING: the {len(self.rows)} source rows do not make up the published value "
                f"{self.published_value}; the published file and the working warehouse differ"
            )
        for row in self.rows:
            sheet = f"[{row['source_sheet']}]" if row.get("source_sheet") else ""
            lines.append(
                f"  {row['source_file']}{sheet} row {row['source_row']}: "
                f"household {row['household_code']}, {row['area_type']}, "
                f"{row['household_size']} people, "
                f"income {row['income_per_capita']} (line {row['income_line']}), "
                f"deprivations {row['deprivation_count']}, "
                f"class by rule {row['computed_class']} ({row.get('rule_reason')}), "
                f"approved {row['reported_class'] or 'empty (the class by rule stands in)'}, "
                f"official {row.get('official_class')}"
            )
            if row.get("deprived_in"):
                lines.append(f"      lacks: {row['deprived_in']}")
            if row.get("earlier_reviews"):
                lines.append(f"      earlier reviews: {row['earlier_reviews']}")
        return "\n".join(lines)

    def to_csv(self) -> str:
        """The source rows as CSV, every cell neutralised against spreadsheet formulas."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(ROW_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({column: neutralise_cell(row.get(column)) for column in ROW_COLUMNS})
        return buffer.getvalue()


def normalise_commune_code(commune: str | int) -> str:
    """Commune codes keep their leading zeros: ``4`` and ``'04'`` both mean ``'00004'``."""
    text = str(commune).strip()
    if not text.isdigit() or len(text) > 5:
        raise ExplainError(f"commune code must be up to 5 digits, got {commune!r}")
    return text.zfill(5)


def _published_row(
    con: duckdb.DuckDBPyConnection,
    published_path: Path,
    columns: list[str],
    year: int,
    unit_version: str,
    commune: str,
) -> dict[str, Any]:
    """The commune's published row, read through the warehouse's connection: attaching the
    published file costs a few milliseconds, opening a second DuckDB database about 40."""
    con.execute(f"attach {sql_text(str(published_path))} as explained_publish (read_only)")
    try:
        rows = rows_as_dicts(
            con.execute(
                f"""
                select {", ".join(columns)}, commune_name, standard_id
                from explained_publish.main.commune_year
                where review_year = ? and unit_version = ? and commune_code = ?
                """,
                [year, unit_version, commune],
            )
        )
    finally:
        con.execute("detach explained_publish")
    if not rows:
        raise ExplainError(
            f"commune {commune} has no row for review {year} ({unit_version}) in {published_path}"
        )
    return rows[0]


def _indicators(con: duckdb.DuckDBPyConnection, standard_id: str | None) -> list[dict[str, Any]]:
    if not standard_id or not table_exists(con, "seeds", "standard_indicators"):
        return []
    return rows_as_dicts(
        con.execute(
            f"""
            select indicator_code, indicator_name_vi, service_code
            from {STANDARD_INDICATORS} where standard_id = ?
            order by service_code, indicator_code
            """,
            [standard_id],
        )
    )


def _earlier_reviews(con: duckdb.DuckDBPyConnection, year: int, codes: list[str]) -> dict[str, str]:
    """Each household's reviews before ``year``: what a flow was decided on."""
    if not codes:
        return {}
    history = con.execute(
        f"""
        select household_code, review_year, computed_class, source_file, source_row
        from {CLASSIFIED}
        where review_year < ? and household_code in (select unnest(?::varchar[]))
        order by household_code, review_year
        """,
        [year, codes],
    ).fetchall()
    described: dict[str, list[str]] = {}
    for code, review_year, computed_class, source_file, source_row in history:
        described.setdefault(code, []).append(
            f"{review_year} {computed_class} ({source_file} row {source_row})"
        )
    return {code: "; ".join(parts) for code, parts in described.items()}


def explain(
    warehouse_path: Path,
    published_path: Path,
    *,
    year: int,
    commune: str,
    measure: str = "poor_households",
    unit_version: str | None = None,
) -> Explanation:
    """The published value of a commune measure and the household rows that make it up."""
    offered = measures()
    if measure not in offered:
        raise ExplainError(f"cannot explain {measure!r}; measures: {', '.join(offered)}")
    asked = offered[measure]
    counted = offered[asked.numerator] if asked.is_rate else asked
    commune_code = normalise_commune_code(commune)
    unit_version = unit_version or unit_version_for_year(year)
    columns = [measure, *((asked.numerator, asked.denominator) if asked.is_rate else ())]
    with connect(warehouse_path, read_only=True) as con:
        published = _published_row(
            con, Path(published_path), columns, year, unit_version, commune_code
        )
        value = published[measure]
        numerator, denominator = (
            (published[asked.numerator], published[asked.denominator])
            if asked.is_rate
            else (None, None)
        )
        known = published[counted.name]
        flow_join = (
            f"inner join {FLOWS} as f on f.review_year = c.review_year "
            "and f.household_code = c.household_code"
            if counted.is_flow
            else ""
        )
        # An unknown value (a commune not reported, a flow of a first review) has no rows.
        rows = (
            []
            if known is None
            else rows_as_dicts(
                con.execute(
                    f"""
                    select c.*
                    from {CLASSIFIED} as c
                    {flow_join}
                    where c.review_year = ? and c.unit_version = ? and c.commune_code = ?
                        and ({counted.rows})
                    order by c.source_file, c.source_sheet, c.source_row, c.household_code
                    """,
                    [year, unit_version, commune_code],
                )
            )
        )
        standard_id = published["standard_id"] or next((r["standard_id"] for r in rows), None)
        indicators = _indicators(con, standard_id)
        names = {i["indicator_code"]: i["indicator_name_vi"] for i in indicators}
        for index, row in enumerate(rows):
            marks = {k: v for k, v in row.items() if k.startswith("d_")}
            reason = rule_reason(row)
            row = rows[index] = {k: row[k] for k in KEPT_COLUMNS if k in row}
            lacking = [names.get(k, k) for k, v in marks.items() if v and (not names or k in names)]
            row["deprived_in"] = "; ".join(lacking)
            row["rule_reason"] = reason
        if counted.is_flow:
            history = _earlier_reviews(con, year, [r["household_code"] for r in rows])
            for row in rows:
                row["earlier_reviews"] = history.get(row["household_code"], "none")
        standard: list[dict[str, Any]] = []
        if standard_id and table_exists(con, "seeds", "poverty_standards"):
            standard = rows_as_dicts(
                con.execute(
                    "select * from seeds.poverty_standards where standard_id = ? "
                    "order by area_type",
                    [standard_id],
                )
            )
        if not standard and standard_id:
            standard = rows_as_dicts(
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
    indicator_count = len(indicators) or next(
        (row.get("indicator_count") for row in standard if row.get("indicator_count")), None
    )
    return Explanation(
        review_year=year,
        unit_version=unit_version,
        commune_code=commune_code,
        commune_name=published["commune_name"],
        measure=measure,
        published_value=value,
        standard_id=standard_id,
        standard=standard,
        rule=describe_rule(standard, indicator_count),
        rows=rows,
        indicators=indicators,
        counted_measure=counted.name,
        numerator=numerator,
        denominator=denominator,
    )
