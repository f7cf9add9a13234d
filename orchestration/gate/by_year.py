"""The household suites by review year: a year whose inputs did not change keeps its outcome.

Adding a review year to a built warehouse must cost about a year. The gate's household suites
(the staged households, their classification, the codes found again) read every household of
every year, most of the gate of a year added (docs/performance.md). An asset marked
``by_review_year`` in its suite is validated only for the review years whose inputs changed since
the gate last validated them; every other year keeps the outcome recorded then, in
``audit.gate_year_outcomes``, one row per expectation and review year. The outcome the build
records in ``audit.validation_results`` merges the years: its offending rows are counted over
every year, its first offending keys are taken in review-year order, and it passes only when
every year passed.

A year's inputs are recognised by their content, never by the load that wrote them: the gate is
there to catch rows that are wrong however they got there. ``fingerprints`` hashes, for each
review year, every row of the asset's ``rows_of`` relation in that year and the
``previous_years`` before it (``bit_xor`` of each row's hash, and their count), together with
the asset's expectations as configured, the versions of DuckDB and of this format, and every
other relation the outcome depends on: the asset's table and each relation it is built from,
followed through the views' SQL in the warehouse's own catalog (DuckDB's parser names what each
view and each SQL check reads), less ``rows_of`` and what it is built from, which its content
already accounts for. A view counts by its SQL, a table by its content (the seeds, the
reference units). A changed row, model, seed, rule or reference unit therefore validates the
years it touches again; nothing else does.

The rows of one validation are the years to validate (and the years before them that a rule
compares with); each expectation's outcome is split by review year:

- an SQL check is wrapped so that it returns one row per review year it found rows in: the year,
  how many, and the first few (sorted); years without a row passed. Rows of a year that was not
  to be validated (a previous year read for comparison) are left out;
- a GX column expectation (values between, say) gives its unexpected count and the keys of its
  first offending rows: the split is exact when it found none, or no more than it lists; a year
  it cannot split keeps no record and is validated again next time.

Pure helpers: no Dagster, no GX import (``gate/validation.py`` runs the validation).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import duckdb

from orchestration.gate.gx_errors import GXSetupError

FORMAT = "gate-year-outcomes-1"
"""Part of every fingerprint: a change to how outcomes are split or kept validates every year."""
OUTCOMES_TABLE = "audit.gate_year_outcomes"
FIRST_ROWS = "_first_rows"
"""The column of a wrapped SQL check that holds a year's first offending rows."""
YEAR_COUNT = "_offending_rows"

OUTCOMES_DDL = f"""
create schema if not exists audit;
create table if not exists {OUTCOMES_TABLE} (
    suite varchar not null,
    asset varchar not null,
    expectation varchar not null,
    review_year integer not null,
    fingerprint varchar not null,
    success boolean not null,
    unexpected bigint not null,
    elements bigint,
    offending_keys varchar not null,
    unexpected_values varchar not null,
    build_id varchar not null,
    validated_at timestamptz not null
);
"""

Execute = Callable[[str], list[tuple]]
"""Runs one SQL statement on the gate's read-only connection and returns its rows."""


@dataclass(frozen=True)
class YearScope:
    """What an asset's rows of one review year are made from (``by_review_year`` in a suite)."""

    rows_of: str
    previous_years: int = 0


@dataclass(frozen=True)
class YearOutcome:
    """One expectation's outcome on one review year, as kept in ``audit.gate_year_outcomes``."""

    expectation: str
    review_year: int
    fingerprint: str
    success: bool
    unexpected: int
    elements: int | None
    offending_keys: list[dict[str, Any]]
    unexpected_values: list[Any]
    build_id: str
    validated_at: datetime


def scope_from(document: dict[str, Any] | None) -> YearScope | None:
    if not document:
        return None
    return YearScope(
        rows_of=document["rows_of"],
        previous_years=int(document.get("previous_years", 0)),
    )


def specs_by_year(
    file_name: str, table: str, scope: YearScope, specs: Sequence[Any], sql_type: str, first: int
) -> list[Any]:
    """An asset's expectations validated by review year: its SQL checks wrapped to count by year
    (``wrapped_query``); a GX column expectation only on the table the years are fingerprinted
    on, without earlier years read (its rows of a year are then exactly the year's)."""
    by_year = []
    for spec in specs:
        if spec.type == sql_type and spec.query is not None:
            kwargs = {**spec.kwargs, "unexpected_rows_query": wrapped_query(spec.query, first)}
            by_year.append(replace(spec, kwargs=kwargs))
        elif (
            spec.type.startswith("expect_column_values_to_")
            and "mostly" not in spec.kwargs
            and table == scope.rows_of
            and scope.previous_years == 0
        ):
            by_year.append(spec)
        else:
            raise GXSetupError(f"{file_name}: {spec.name} cannot be validated by review year")
    return by_year


def wrapped_query(query: str, first: int) -> str:
    """An SQL check whose rows start with ``review_year``, as one row per review year it found
    rows in: the year, their count and the ``first`` ones in sorted order (the order the gate
    sorts every check's rows in). A check passes where it returns no row, so the wrapped one
    passes exactly when the check does."""
    return (
        f"select review_year, count(*) as {YEAR_COUNT}, min(found, {first}) as {FIRST_ROWS}"
        f"\nfrom (\n{query}\n) as found\ngroup by review_year order by review_year"
    )


# -- Fingerprints ------------------------------------------------------------------------------


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


_VIEW_HEAD = re.compile(
    r"^\s*create\s+(?:or\s+replace\s+)?(?:temp(?:orary)?\s+)?view\s+.+?\s+as\s+", re.I | re.S
)


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _base_tables(node: object, found: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE":
            found.add(f"{node.get('schema_name') or 'main'}.{node.get('table_name')}")
        for value in node.values():
            _base_tables(value, found)
    elif isinstance(node, list):
        for value in node:
            _base_tables(value, found)


class Relations:
    """The warehouse's relations as the gate's connection sees them, each read at most once per
    gate: the catalog (a view's SQL, or None for a table), what a SELECT names (DuckDB's own
    parser), a table's content and a relation's content by review year."""

    def __init__(self, execute: Execute) -> None:
        self.execute = execute
        self.catalog: dict[str, str | None] = {
            f"{schema}.{name}": None
            for schema, name in execute(
                "select schema_name, table_name from duckdb_tables() "
                "where database_name = current_database()"
            )
        }
        for schema, name, sql in execute(
            "select schema_name, view_name, sql from duckdb_views() "
            "where not internal and database_name = current_database()"
        ):
            self.catalog[f"{schema}.{name}"] = sql
        self._named: dict[str, set[str]] = {}
        self._contents: dict[str, object] = {}
        self._years: dict[str, dict[int, tuple[int, str]]] = {}

    def named_in(self, selects: Iterable[str]) -> set[str]:
        """The warehouse's relations the SELECT statements name (one parse for all)."""
        selects = list(selects)
        new = sorted({select for select in selects if select not in self._named})
        if new:
            rows = self.execute(
                "select json_serialize_sql(statement)::varchar from (values "
                + ", ".join(
                    f"({number}, {_sql_literal(select)})" for number, select in enumerate(new)
                )
                + ") as parsed(number, statement) order by number"
            )
            for select, (serialized,) in zip(new, rows, strict=True):
                tree = json.loads(serialized)
                if tree.get("error"):
                    raise GXSetupError(
                        f"cannot tell what a rule reads: {tree.get('error_message')}"
                    )
                found: set[str] = set()
                _base_tables(tree, found)
                self._named[select] = {name for name in found if name in self.catalog}
        return {name for select in selects for name in self._named[select]}

    def read_by(self, names: Iterable[str]) -> set[str]:
        """``names`` and every relation they are built from, through the views' SQL."""
        seen: set[str] = set()
        level = {name for name in names if name in self.catalog}
        while level:
            seen |= level
            bodies = [
                _VIEW_HEAD.sub("", sql, count=1).strip().rstrip(";")
                for name in sorted(level)
                if (sql := self.catalog[name]) is not None
            ]
            level = self.named_in(bodies) - seen
        return seen

    def content(self, name: str) -> object:
        """A view's SQL, or a table's row count and content hash."""
        if name not in self._contents:
            sql = self.catalog[name]
            self._contents[name] = (
                sql
                if sql is not None
                else self.execute(f"select count(*), bit_xor(hash(t)) from {name} as t")
            )
        return self._contents[name]

    def by_year(self, name: str) -> dict[int, tuple[int, str]]:
        """Each review year's rows of ``name``: (count, hash of their content)."""
        if name not in self._years:
            years: dict[int, tuple[int, str]] = {}
            for year, rows, content in self.execute(
                f"select review_year, count(*), bit_xor(hash(t)) from {name} as t "
                "group by review_year"
            ):
                if year is None:
                    raise GXSetupError(
                        f"{name}: rows without a review year cannot be validated by year"
                    )
                years[int(year)] = (int(rows), str(content))
            self._years[name] = years
        return self._years[name]


def fingerprints(
    relations: Relations,
    *,
    table: str,
    scope: YearScope,
    configuration: object,
    queries: Iterable[str],
) -> dict[int, str]:
    """Each review year's fingerprint of what the asset's outcome on that year depends on (the
    module's docstring lists it); ``queries`` are its SQL checks (``{batch}`` for its rows)."""
    if table not in relations.catalog or scope.rows_of not in relations.catalog:
        raise GXSetupError(f"{table} or {scope.rows_of} is not in the warehouse")
    named = {table} | relations.named_in(q.replace("{batch}", "(select 1)") for q in queries)
    covered = relations.read_by([scope.rows_of])
    static = [
        (name, relations.content(name)) for name in sorted(relations.read_by(named) - covered)
    ]
    common = _digest(FORMAT, duckdb.__version__, configuration, static)
    contents = relations.by_year(scope.rows_of)
    return {
        year: _digest(
            common,
            [
                (earlier, contents.get(earlier))
                for earlier in range(year - scope.previous_years, year + 1)
            ],
        )
        for year in contents
    }


# -- Outcomes kept and split -----------------------------------------------------------------


def kept_outcomes(
    relations: Relations,
    suite: str,
    asset: str,
    current: dict[int, str],
    expectations: Iterable[str],
) -> dict[int, list[YearOutcome]]:
    """The years whose kept outcomes hold their current fingerprint, for every expectation."""
    names = set(expectations)
    if OUTCOMES_TABLE not in relations.catalog:
        return {}
    kept: dict[int, list[YearOutcome]] = {}
    for row in relations.execute(
        "select expectation, review_year, fingerprint, success, unexpected, elements, "
        f"offending_keys, unexpected_values, build_id, validated_at from {OUTCOMES_TABLE} "
        f"where suite = '{suite}' and asset = '{asset}'"
    ):
        outcome = YearOutcome(
            expectation=row[0],
            review_year=int(row[1]),
            fingerprint=row[2],
            success=bool(row[3]),
            unexpected=int(row[4]),
            elements=None if row[5] is None else int(row[5]),
            offending_keys=json.loads(row[6]),
            unexpected_values=json.loads(row[7]),
            build_id=row[8],
            validated_at=row[9],
        )
        if current.get(outcome.review_year) == outcome.fingerprint and outcome.expectation in names:
            kept.setdefault(outcome.review_year, []).append(outcome)
    return {
        year: outcomes
        for year, outcomes in kept.items()
        if {o.expectation for o in outcomes} == names
    }


def split_sql_check(rows: Sequence[dict[str, Any]], years: Iterable[int], kept: int) -> dict:
    """A wrapped SQL check's rows, by review year: (passed, count, first rows)."""
    found = {int(row["review_year"]): row for row in rows}
    split = {}
    for year in years:
        row = found.get(year)
        if row is None:
            split[year] = (True, 0, [])
        else:
            first = [dict(item) for item in (row[FIRST_ROWS] or [])][:kept]
            split[year] = (False, int(row[YEAR_COUNT]), first)
    return split


def split_column_check(
    unexpected: int, keys: Sequence[dict[str, Any]], values: Sequence[Any], years: Iterable[int]
) -> dict | None:
    """A GX column expectation's result, by review year: (count, keys, values), or None when its
    first offending rows do not account for every one of them."""
    years = list(years)
    if unexpected and (len(keys) < unexpected or any("review_year" not in k for k in keys)):
        return None
    split: dict[int, tuple[int, list, list]] = {year: (0, [], []) for year in years}
    for key, value in zip(keys, list(values) + [None] * (len(keys) - len(values)), strict=True):
        year = int(key["review_year"])
        if year not in split:
            continue
        count, year_keys, year_values = split[year]
        split[year] = (count + 1, [*year_keys, key], [*year_values, value])
    return split


def merged(outcomes: Sequence[YearOutcome], kept: int) -> tuple[bool, int, int | None, list, list]:
    """Every year's outcome of one expectation as one: passed, offending rows, rows checked (for
    a column expectation), the first offending keys and values in review-year order."""
    ordered = sorted(outcomes, key=lambda o: o.review_year)
    keys = [key for o in ordered for key in o.offending_keys][:kept]
    values = [value for o in ordered for value in o.unexpected_values][:kept]
    elements = [o.elements for o in ordered]
    return (
        all(o.success for o in ordered),
        sum(o.unexpected for o in ordered),
        None if any(e is None for e in elements) else sum(e for e in elements if e is not None),
        keys,
        values,
    )


def write_outcomes(
    con: duckdb.DuckDBPyConnection,
    suite: str,
    asset: str,
    done: YearValidation,
) -> None:
    """Replace the asset's kept outcomes of the years validated now, and drop those of years no
    longer in the warehouse (in the caller's transaction, once ``OUTCOMES_DDL`` has run)."""
    from orchestration.base.warehouse_connection import insert_rows

    present, validated, outcomes = done.years_present, done.years_validated, done.validated
    con.execute(
        f"delete from {OUTCOMES_TABLE} where suite = ? and asset = ? "
        "and (list_contains(?, review_year) or not list_contains(?, review_year))",
        [suite, asset, validated, present],
    )
    insert_rows(
        con,
        OUTCOMES_TABLE,
        [
            [
                suite,
                asset,
                o.expectation,
                o.review_year,
                o.fingerprint,
                o.success,
                o.unexpected,
                o.elements,
                json.dumps(o.offending_keys, default=str),
                json.dumps(o.unexpected_values, default=str),
                o.build_id,
                o.validated_at,
            ]
            for o in outcomes
        ],
    )


@dataclass(frozen=True)
class Check:
    """What ``validate`` needs of one expectation: its name and whether it is an SQL check."""

    name: str
    sql: bool


@dataclass
class YearValidation:
    """An asset validated by review year: each expectation's years merged, the outcomes to keep."""

    merged: dict[str, tuple[bool, int, int | None, list, list]]
    validated: list[YearOutcome]
    years_present: list[int]
    years_validated: list[int]


def validate(
    relations: Relations,
    run: Callable[[str], dict[str, dict[str, Any]]],
    *,
    suite: str,
    asset: str,
    table: str,
    scope: YearScope,
    checks: Sequence[Check],
    configuration: object,
    queries: Sequence[str],
    build_id: str,
    validated_at: datetime,
    kept_rows: int,
    column_keys: Callable[[dict[str, Any], str], tuple[list[dict[str, Any]], list[Any]]],
) -> YearValidation:
    """Validate the review years whose fingerprint has no kept outcome and merge every year.

    ``run(where)`` validates the asset's rows matching ``where`` (an SQL condition) and returns
    each expectation's GX result by name; ``column_keys(result, name)`` gives a column
    expectation's offending keys (with ``review_year``) and values.
    """
    current = fingerprints(
        relations, table=table, scope=scope, configuration=configuration, queries=queries
    )
    contents = relations.by_year(scope.rows_of)
    kept = kept_outcomes(relations, suite, asset, current, (c.name for c in checks))
    to_validate = sorted(set(current) - set(kept))
    outcomes: dict[str, list[YearOutcome]] = {
        c.name: [o for year in sorted(kept) for o in kept[year] if o.expectation == c.name]
        for c in checks
    }
    validated: list[YearOutcome] = []
    if to_validate:
        read = sorted(
            {y - k for y in to_validate for k in range(scope.previous_years + 1)} & set(current)
        )
        results = run(f"review_year in ({', '.join(str(y) for y in read)})")
        for check in checks:
            result = results[check.name]

            def outcome(year: int, passed: bool, count: int, keys: list, values: list, check=check):
                elements = None if check.sql else contents[year][0]
                return YearOutcome(
                    check.name, year, current[year], passed, count, elements, keys, values,
                    build_id, validated_at,
                )  # fmt: skip

            if check.sql:
                rows = (result.get("details") or {}).get("unexpected_rows") or []
                split_rows = split_sql_check(rows, to_validate, kept_rows)
                year_outcomes = [outcome(y, *split_rows[y], []) for y in to_validate]
            else:
                keys, values = column_keys(result, check.name)
                unexpected = int(result.get("unexpected_count") or 0)
                split_columns = split_column_check(unexpected, keys, values, to_validate)
                if split_columns is None:
                    # Not split: this build gets the whole result; no year is kept.
                    year_outcomes = []
                    outcomes[check.name].append(
                        YearOutcome(
                            check.name,
                            to_validate[0],
                            "",
                            unexpected == 0,
                            unexpected,
                            int(result.get("element_count") or 0),
                            keys,
                            values,
                            build_id,
                            validated_at,
                        )
                    )
                else:
                    year_outcomes = [
                        outcome(y, split_columns[y][0] == 0, *split_columns[y]) for y in to_validate
                    ]
            outcomes[check.name].extend(year_outcomes)
            validated.extend(year_outcomes)
    # A year is kept only with every expectation's outcome (kept_outcomes asks for all of them).
    complete = {
        year
        for year in to_validate
        if {o.expectation for o in validated if o.review_year == year} == {c.name for c in checks}
    }
    return YearValidation(
        merged={name: merged(items, kept_rows) for name, items in outcomes.items()},
        validated=[o for o in validated if o.review_year in complete],
        years_present=sorted(current),
        years_validated=to_validate,
    )
