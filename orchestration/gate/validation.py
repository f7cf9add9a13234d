"""The quality gate: every expectation suite of ``expectations/``, validated inside DuckDB.

The suites are versioned JSON (see ``expectations/README.md``). Each expectation is ``critical``
(a failure blocks publishing) or ``warning`` (recorded and reported, never blocking). Everything
runs as SQL inside DuckDB through the persisted-connection datasource of
:mod:`orchestration.gate.gx_duckdb`: no table is pulled into pandas, which matters at millions of
household rows.

Order of work, dictated by DuckDB's one-writer rule: GX opens the warehouse read-only and is
closed; only then are the outcomes written to ``audit.validation_results`` with a normal
connection. An expectation GX could not evaluate raises :class:`GXSetupError` instead of being
recorded as bad data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestration.base import background
from orchestration.base.settings import EXPECTATIONS_DIR
from orchestration.base.warehouse_connection import connect, insert_rows
from orchestration.gate import by_year, carry_over
from orchestration.gate.data_docs import build_site
from orchestration.gate.gx_errors import GXSetupError

if TYPE_CHECKING:
    import great_expectations as gx

# Great Expectations is imported inside the functions that validate: the Dagster code server and
# the command line import this module for its light helpers, and GX alone takes 2-4 s to import.

CRITICAL = "critical"
WARNING = "warning"
SEVERITIES = (CRITICAL, WARNING)
UNEXPECTED_ROWS = "unexpected_rows_expectation"
OFFENDING_KEYS_KEPT = 5
"""How many offending keys an outcome keeps: enough to start looking, not a copy of the data."""
COUNT_COLUMN = "_offending_rows"
"""The column in which an SQL check flagged ``count_in_query`` returns how many rows it has."""

__all__ = [
    "CRITICAL",
    "WARNING",
    "ExpectationOutcome",
    "GXSetupError",
    "GateResult",
    "gated_tables",
    "load_suites",
    "run_gate",
]


@dataclass(frozen=True)
class ExpectationSpec:
    name: str
    severity: str
    type: str
    kwargs: dict[str, Any]
    description: str
    column: str | None
    query: str | None = None
    """An SQL check's own query, before the gate wraps it."""


@dataclass(frozen=True)
class AssetSpec:
    suite: str
    asset: str
    table: str
    key_columns: tuple[str, ...]
    expectations: tuple[ExpectationSpec, ...]
    # Columns copied once into a temporary table that the expectations then read instead of
    # ``table`` (empty: they read ``table``). For a view that is costly to evaluate, such as
    # ``int_households_classified``, which classifies every household each time it is read.
    snapshot_columns: tuple[str, ...] = ()
    # Validated by review year, each year's outcome kept (orchestration/gate/by_year.py).
    by_review_year: by_year.YearScope | None = None


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result, as stored in ``audit.validation_results``."""

    build_id: str
    run_id: str
    suite: str
    expectation: str
    table_name: str
    column_name: str | None
    severity: str
    success: bool
    observed: str
    expected: str
    offending_keys: list[dict[str, Any]]
    validated_at: datetime


@dataclass
class GateResult:
    build_id: str
    run_id: str
    results: list[ExpectationOutcome]
    duration_s: float
    data_docs_index: Path | None = None
    carried_over_from: str | None = None  # the build whose outcomes it kept (carry_over.py)
    expectations_evaluated: int = field(init=False)

    def __post_init__(self) -> None:
        self.expectations_evaluated = len(self.results)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        """Failed critical expectations: any one of them blocks publishing."""
        return [r for r in self.results if not r.success and r.severity == CRITICAL]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success and r.severity == WARNING]

    @property
    def passed(self) -> bool:
        return not self.failures


def _query_text(raw: str | list[str]) -> str:
    return "\n".join(raw) if isinstance(raw, list) else raw


def _ingest_postconditions(file_name: str, seen: set[str]) -> list[ExpectationSpec]:
    """The ingest's survey quarantine rules, re-checked on the staged households: one critical
    expectation per reason code, generated from the ingest's own list (one owner per rule)."""
    from orchestration.base.postconditions import SURVEY_POSTCONDITIONS

    specs = []
    for rule in SURVEY_POSTCONDITIONS:
        name = f"ingest_rule_{rule.reason}"
        if name in seen:
            raise GXSetupError(f"{file_name}: duplicate expectation name {name}")
        seen.add(name)
        specs.append(
            ExpectationSpec(
                name=name,
                severity=CRITICAL,
                type=UNEXPECTED_ROWS,
                kwargs={
                    "unexpected_rows_query": f"select * from (\n{rule.violations}\n) order by all"
                },
                description=f"{rule.description} (the ingest quarantines a row as {rule.reason})",
                column=rule.column,
                query=rule.violations,
            )
        )
    return specs


def load_suites(expectations_dir: Path = EXPECTATIONS_DIR) -> list[AssetSpec]:
    """Every asset of every suite file, validated for the fields the gate relies on."""
    assets: list[AssetSpec] = []
    files = sorted(Path(expectations_dir).glob("*.json"))
    if not files:
        raise GXSetupError(f"no expectation suites found in {expectations_dir}")
    seen: set[str] = set()
    for path in files:
        document = json.loads(path.read_text(encoding="utf-8"))
        suite = document["suite"]
        for asset in document["assets"]:
            specs = []
            for item in asset["expectations"]:
                if item["severity"] not in SEVERITIES:
                    raise GXSetupError(f"{path.name}: {item['name']}: unknown severity")
                if item["name"] in seen:
                    raise GXSetupError(f"{path.name}: duplicate expectation name {item['name']}")
                seen.add(item["name"])
                kwargs = dict(item.get("kwargs", {}))
                if item["type"] == UNEXPECTED_ROWS:
                    # Sorted, so that the offending keys kept (the first rows) are the same in
                    # every build of the same data, whatever order a parallel aggregate yields.
                    # A query that aggregates computes all its rows before the first one, so
                    # when flagged it also counts them, instead of a second run for the count.
                    counted = (
                        f", count(*) over () as {COUNT_COLUMN}"
                        if item.get("count_in_query")
                        else ""
                    )
                    kwargs["unexpected_rows_query"] = (
                        f"select *{counted} from (\n{_query_text(item['query'])}\n) order by all"
                    )
                column = item.get("column") or kwargs.get("column")
                if column is None and "column_list" in kwargs:
                    column = ", ".join(kwargs["column_list"])
                specs.append(
                    ExpectationSpec(
                        name=item["name"],
                        severity=item["severity"],
                        type=item["type"],
                        kwargs=kwargs,
                        description=item["description"],
                        column=column,
                        query=_query_text(item["query"]) if "query" in item else None,
                    )
                )
            if asset.get("ingest_postconditions"):
                specs.extend(_ingest_postconditions(path.name, seen))
            scope = by_year.scope_from(asset.get("by_review_year"))
            if scope is not None:
                specs = by_year.specs_by_year(
                    path.name, asset["table"], scope, specs, UNEXPECTED_ROWS, OFFENDING_KEYS_KEPT
                )
            assets.append(
                AssetSpec(
                    suite=suite,
                    asset=asset["asset"],
                    table=asset["table"],
                    key_columns=tuple(asset["key_columns"]),
                    expectations=tuple(specs),
                    snapshot_columns=tuple(asset.get("snapshot_columns", ())),
                    by_review_year=scope,
                )
            )
    return assets


def gated_tables(
    schemas: Sequence[str] | None = None, expectations_dir: Path = EXPECTATIONS_DIR
) -> list[str]:
    """The tables the suites validate (``schema.table``), optionally only those of ``schemas``.

    The one list of what the gate reads: the Dagster gate asset depends on these tables, so a new
    asset in a suite is a new dependency without a second list to keep in step.
    """
    tables = {asset.table for asset in load_suites(expectations_dir)}
    if schemas is not None:
        tables = {table for table in tables if table.split(".", 1)[0] in schemas}
    return sorted(tables)


def _gx_suite(name: str, specs: Iterable[ExpectationSpec]) -> gx.ExpectationSuite:
    """A GX suite; each expectation carries its gate name and severity in ``meta``."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from orchestration.gate.gx_duckdb import UnexpectedRowsOnce

    suite = gx.ExpectationSuite(name=name)
    for spec in specs:
        # A check query runs once (GX's own expectation runs it twice: count, then rows).
        gx_type = UnexpectedRowsOnce.expectation_type if spec.type == UNEXPECTED_ROWS else spec.type
        configuration = ExpectationConfiguration(
            type=gx_type,
            kwargs=dict(spec.kwargs),
            meta={"gate_name": spec.name, "severity": spec.severity},
            description=spec.description,
            severity=spec.severity,
        )
        suite.add_expectation(configuration.to_domain_obj())
    return suite


def short_text(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _expected_text(spec: ExpectationSpec) -> str:
    if spec.type == UNEXPECTED_ROWS:
        return f"{spec.description} (no row returned by the check query)"
    shown = {k: v for k, v in spec.kwargs.items() if k not in ("column", "column_list")}
    return f"{spec.description} ({spec.type} {short_text(shown, 200)})"


def _observed_and_keys(
    spec: ExpectationSpec, result: dict[str, Any], key_columns: Sequence[str]
) -> tuple[str, list[dict[str, Any]]]:
    if spec.type == UNEXPECTED_ROWS:
        count = result.get("observed_value", 0)
        details = result.get("details") or {}
        rows = details.get("unexpected_rows") or []
        keys = [dict(row) if isinstance(row, dict) else {"row": list(row)} for row in rows]
        at_least = "at least " if details.get("count_is_lower_bound") else ""
        if keys and COUNT_COLUMN in keys[0]:
            keys = [{k: v for k, v in key.items() if k != COUNT_COLUMN} for key in keys]
            return f"{rows[0][COUNT_COLUMN]:,} offending row(s)", keys[:OFFENDING_KEYS_KEPT]
        return f"{at_least}{count} offending row(s)", keys[:OFFENDING_KEYS_KEPT]
    if "unexpected_count" in result:
        keys, values = _column_keys(spec, result, key_columns)
        observed = _column_observed(
            result.get("unexpected_count") or 0, result.get("element_count"), values
        )
        return observed, keys[:OFFENDING_KEYS_KEPT]
    return short_text(result.get("observed_value")), []


def _column_keys(
    spec: ExpectationSpec, result: dict[str, Any], key_columns: Sequence[str]
) -> tuple[list[dict[str, Any]], list[Any]]:
    """A GX column expectation's first offending rows: their key columns and the expectation's
    column, and the values GX lists."""
    wanted = {*key_columns, spec.column}
    keys = [
        {k: v for k, v in row.items() if k in wanted}
        for row in result.get("partial_unexpected_index_list") or []
        if isinstance(row, dict)
    ]
    return keys, list(result.get("partial_unexpected_list") or [])


def _column_observed(count: int, total: int | None, values: Sequence[Any]) -> str:
    observed = f"{count} of {total} row(s) unexpected"
    if values:
        observed += f"; values {short_text(list(values[:OFFENDING_KEYS_KEPT]), 200)}"
    return observed


def _run_suite(
    context: Any, datasource: Any, asset_spec: AssetSpec, where: str | None = None
) -> tuple[list[tuple[ExpectationSpec, bool, dict[str, Any]]], str]:
    """GX's validation of the asset's rows matching ``where``: each expectation with its success
    and result, and the relation the expectations read."""
    import great_expectations as gx

    from orchestration.gate.gx_duckdb import raise_for_exceptions, snapshot

    name = f"{asset_spec.suite}.{asset_spec.asset}"
    source = (
        asset_spec.table if where is None else f"(select * from {asset_spec.table} where {where})"
    )
    try:
        if asset_spec.snapshot_columns:
            source = snapshot(
                datasource,
                f"_gate_snapshot_{asset_spec.asset}",
                asset_spec.table,
                asset_spec.snapshot_columns,
                where or "true",
            )
        data_asset = datasource.add_query_asset(name=name, query=f"select * from {source}")
    except Exception as error:  # GX wraps the DuckDB error in its own types
        raise GXSetupError(f"cannot read {asset_spec.table}: {error}") from error
    batch_definition = data_asset.add_batch_definition_whole_table("whole table")

    # Row-level expectations keep a few offending keys through GX's index list (SUMMARY); the
    # SQL checks (UnexpectedRowsOnce) return their rows, up to 200, whatever the format. So one
    # validation run per asset.
    specs = asset_spec.expectations
    spec_of = {spec.name: spec for spec in specs}
    suite = context.suites.add(_gx_suite(name, specs))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
    )
    validation = definition.run(
        result_format={
            "result_format": "SUMMARY",
            "unexpected_index_column_names": list(asset_spec.key_columns),
            "partial_unexpected_count": OFFENDING_KEYS_KEPT,
            "return_unexpected_index_query": False,
        }
    )
    raise_for_exceptions(validation)
    if len(validation.results) != len(specs):
        raise GXSetupError(
            f"{name}: {len(specs)} expectations configured, {len(validation.results)} evaluated"
        )
    return [
        (
            spec_of[(item.expectation_config.meta or {})["gate_name"]],
            bool(item.success),
            item.result or {},
        )
        for item in validation.results
    ], source


def _outcome(
    asset_spec: AssetSpec,
    spec: ExpectationSpec,
    success: bool,
    observed: str,
    keys: list,
    ids: tuple,
) -> ExpectationOutcome:
    build_id, run_id, validated_at = ids
    return ExpectationOutcome(
        build_id=build_id,
        run_id=run_id,
        suite=asset_spec.suite,
        expectation=spec.name,
        table_name=asset_spec.table,
        column_name=spec.column,
        severity=spec.severity,
        success=success,
        observed=observed,
        expected=_expected_text(spec),
        offending_keys=keys,
        validated_at=validated_at,
    )


def _validate_asset(
    context: Any, datasource: Any, asset_spec: AssetSpec, ids: tuple
) -> list[ExpectationOutcome]:
    from orchestration.gate.gx_duckdb import query_rows

    results, source = _run_suite(context, datasource, asset_spec)
    outcomes: list[ExpectationOutcome] = []
    for spec, success, result in results:
        observed, keys = _observed_and_keys(spec, result, asset_spec.key_columns)
        if observed.startswith("at least "):
            # The exact number of rows an SQL check returned when GX fetched only the first ones:
            # a warning must say how many (3,000 rows from 17 provinces, not "at least 200").
            query = spec.kwargs["unexpected_rows_query"].replace(
                "{batch}", f"(select * from {source})"
            )
            (count,) = query_rows(datasource, f"select count(*) from ({query})")[0]
            observed = f"{int(count):,} offending row(s)"
        outcomes.append(_outcome(asset_spec, spec, success, observed, keys, ids))
    return outcomes


def _validate_by_year(
    context: Any, datasource: Any, asset_spec: AssetSpec, ids: tuple, relations: Any
) -> tuple[list[ExpectationOutcome], by_year.YearValidation]:
    """An asset validated by review year (``orchestration/gate/by_year.py``)."""
    scope = asset_spec.by_review_year
    assert scope is not None

    def run(where: str) -> dict[str, dict[str, Any]]:
        results, _ = _run_suite(context, datasource, asset_spec, where)
        return {spec.name: result for spec, _, result in results}

    spec_of = {spec.name: spec for spec in asset_spec.expectations}

    def column_keys(result: dict[str, Any], name: str) -> tuple[list[dict[str, Any]], list[Any]]:
        return _column_keys(spec_of[name], result, asset_spec.key_columns)

    done = by_year.validate(
        relations,
        run,
        suite=asset_spec.suite,
        asset=asset_spec.asset,
        table=asset_spec.table,
        scope=scope,
        checks=[by_year.Check(s.name, s.type == UNEXPECTED_ROWS) for s in asset_spec.expectations],
        configuration=[
            asset_spec.table,
            asset_spec.key_columns,
            asset_spec.snapshot_columns,
            [(s.name, s.severity, s.type, s.kwargs) for s in asset_spec.expectations],
        ],
        queries=[s.query for s in asset_spec.expectations if s.query is not None],
        build_id=ids[0],
        validated_at=ids[2],
        kept_rows=OFFENDING_KEYS_KEPT,
        column_keys=column_keys,
    )
    outcomes = []
    for spec in asset_spec.expectations:
        success, unexpected, elements, keys, values = done.merged[spec.name]
        if spec.type == UNEXPECTED_ROWS:
            observed = f"{unexpected:,} offending row(s)"
        else:
            observed = _column_observed(unexpected, elements, values)
        outcomes.append(_outcome(asset_spec, spec, success, observed, keys, ids))
    return outcomes, done


DATA_DOCS_WORK = "gate-data-docs"
"""The background work that renders the gate's Data Docs (``run_gate``)."""


RESULTS_DDL = """
create schema if not exists audit;
create table if not exists audit.validation_results (
    build_id varchar not null,
    run_id varchar not null,
    suite varchar not null,
    expectation varchar not null,
    table_name varchar not null,
    column_name varchar,
    severity varchar not null,
    success boolean not null,
    observed varchar,
    expected varchar,
    offending_keys varchar,
    validated_at timestamptz not null
);
"""


def _write_results(
    warehouse_path: Path,
    build_id: str,
    outcomes: list[ExpectationOutcome],
    by_years: list[tuple[AssetSpec, by_year.YearValidation]],
    inputs: str | None,
) -> None:
    with connect(warehouse_path) as con:
        con.execute(RESULTS_DDL)
        con.execute(by_year.OUTCOMES_DDL)
        con.execute("begin transaction")
        con.execute("delete from audit.validation_results where build_id = ?", [build_id])
        if inputs is not None:
            carry_over.record_gate_inputs(con, build_id, inputs)
        for spec, done in by_years:
            by_year.write_outcomes(con, spec.suite, spec.asset, done)
        insert_rows(
            con,
            "audit.validation_results",
            [
                [
                    o.build_id,
                    o.run_id,
                    o.suite,
                    o.expectation,
                    o.table_name,
                    o.column_name,
                    o.severity,
                    o.success,
                    o.observed,
                    o.expected,
                    json.dumps(o.offending_keys, default=str),
                    o.validated_at,
                ]
                for o in outcomes
            ],
        )
        con.execute("commit")


def run_gate(
    warehouse_path: Path,
    *,
    build_id: str,
    run_id: str,
    data_docs_dir: Path | None,
    expectations_dir: Path = EXPECTATIONS_DIR,
    docs_in_background: bool = False,
) -> GateResult:
    """Validate every suite against the working warehouse and record each outcome.

    With ``docs_in_background`` the Data Docs are rendered on a thread
    (``orchestration.base.background``, ``DATA_DOCS_WORK``) once the outcomes are recorded, and
    the result names the index page they will be at; the run's publish step and the command wait
    for it.

    When nothing it reads changed since a build's gate, ``build_id`` keeps that build's outcomes
    and nothing is validated or rendered again (``carry_over.py``, ``carried_over_from``).

    Raises :class:`GXSetupError` when an expectation cannot be evaluated (missing table or
    column, SQL error, upstream regression): that is a broken build, never a data finding.
    """
    started = time.perf_counter()
    paths = (Path(warehouse_path), Path(expectations_dir), data_docs_dir)
    inputs, kept = carry_over.kept_result(*paths, build_id=build_id, run_id=run_id)
    if kept is not None:
        return kept

    from orchestration.gate.gx_duckdb import duckdb_data_context, query_rows

    assets = load_suites(expectations_dir)
    outcomes: list[ExpectationOutcome] = []
    by_years: list[tuple[AssetSpec, by_year.YearValidation]] = []
    ids = (build_id, run_id, datetime.now(UTC))
    docs_index: Path | None = None
    with duckdb_data_context(Path(warehouse_path)) as (context, datasource):
        relations = None  # the warehouse's relations, read once for every asset by review year
        for asset_spec in assets:
            if asset_spec.by_review_year is None:
                outcomes.extend(_validate_asset(context, datasource, asset_spec, ids))
                continue
            if relations is None:
                relations = by_year.Relations(partial(query_rows, datasource))
            validated, done = _validate_by_year(context, datasource, asset_spec, ids, relations)
            outcomes.extend(validated)
            by_years.append((asset_spec, done))
        datasource.close()
        if data_docs_dir is not None and not docs_in_background:
            docs_index = build_site(context, Path(data_docs_dir))
    _write_results(Path(warehouse_path), build_id, outcomes, by_years, inputs)
    if data_docs_dir is not None and docs_in_background:
        # The context is in memory and its datasource closed: the pages need only the results.
        site = Path(data_docs_dir)
        background.start(DATA_DOCS_WORK, lambda: build_site(context, site))
        docs_index = site / "index.html"
    return GateResult(
        build_id=build_id,
        run_id=run_id,
        results=outcomes,
        duration_s=time.perf_counter() - started,
        data_docs_index=docs_index,
    )
