"""The persisted-connection GX datasource for DuckDB (orchestration/gate/gx_duckdb.py)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import great_expectations as gx
import pytest

from orchestration.gate.gx_duckdb import (
    GXSetupError,
    duckdb_data_context,
    exception_messages,
    raise_for_exceptions,
)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(
            """
            create schema marts;
            create table marts.good as
                select lpad(i::varchar, 5, '0') as commune_code, (i % 100)::double as rate
                from range(1000) as t(i);
            create table marts.bad as
                select lpad(i::varchar, 5, '0') as commune_code,
                    case when i in (3, 7) then 150.0 else 10.0 end as rate
                from range(1000) as t(i);
            """
        )
    return path


def _validate(database: Path, table: str, expectations: list) -> list:
    with duckdb_data_context(database) as (context, datasource):
        asset = datasource.add_query_asset(name=table, query=f"select * from marts.{table}")
        batch = asset.add_batch_definition_whole_table("whole table")
        suite = context.suites.add(gx.ExpectationSuite(name=table, expectations=expectations))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=table, data=batch, suite=suite)
        )
        return definition.run(
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": ["commune_code"],
            }
        ).results


def _rate_expectations() -> list:
    return [
        gx.expectations.ExpectColumnValuesToBeBetween(column="rate", min_value=0, max_value=100),
        gx.expectations.ExpectColumnValuesToBeUnique(column="commune_code"),
        gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query="select commune_code from {batch} where rate > 100"
        ),
    ]


def test_known_good_table_passes(database: Path) -> None:
    results = _validate(database, "good", _rate_expectations())
    assert [r.success for r in results] == [True, True, True]
    raise_for_exceptions(results)


def test_known_bad_table_reports_the_right_failures(database: Path) -> None:
    results = _validate(database, "bad", _rate_expectations())
    raise_for_exceptions(results)  # bad data is not a broken setup
    by_type = {r.expectation_config.type: r for r in results}
    between = by_type["expect_column_values_to_be_between"]
    assert not between.success
    assert between.result["unexpected_count"] == 2
    assert {row["commune_code"] for row in between.result["partial_unexpected_index_list"]} == {
        "00003",
        "00007",
    }
    assert by_type["expect_column_values_to_be_unique"].success
    assert by_type["unexpected_rows_expectation"].result["observed_value"] == 2


def test_missing_column_raises_instead_of_reporting_bad_data(database: Path) -> None:
    results = _validate(
        database,
        "good",
        [gx.expectations.ExpectColumnValuesToNotBeNull(column="no_such_column")],
    )
    assert not results[0].success  # what GX alone would report: looks like bad data
    assert exception_messages(results[0])
    with pytest.raises(GXSetupError, match="broken setup"):
        raise_for_exceptions(results)


def test_missing_table_in_a_sql_expectation_raises(database: Path) -> None:
    results = _validate(
        database,
        "good",
        [
            gx.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query="select * from {batch} anti join marts.absent using (rate)"
            )
        ],
    )
    with pytest.raises(GXSetupError, match="absent"):
        raise_for_exceptions(results)


def test_connection_is_read_only_and_released(database: Path) -> None:
    with duckdb_data_context(database) as (_context, datasource):
        engine = datasource.get_execution_engine()
        with engine.get_connection() as connection, pytest.raises(Exception, match="read-only"):
            connection.exec_driver_sql("create table marts.sneaky (x integer)")
    with duckdb.connect(str(database)) as con:  # a writer can open the file again
        con.execute("create table marts.after_validation (x integer)")


def test_documents_upstream_failure_with_plain_duckdb_engine(database: Path) -> None:
    """Documents upstream behaviour (great_expectations#10738, #11579), not our code.

    GX's stock SQL datasource over duckdb-engine closes the connection before fetching, so every
    bundled metric fails with IndexError and the expectation reads as failed data. If this test
    starts failing, upstream has fixed it and gx_duckdb.py may be simplified.
    """
    context = gx.get_context(mode="ephemeral")
    datasource = context.data_sources.add_sql(
        name="stock", connection_string=f"duckdb:///{database}"
    )
    try:
        asset = datasource.add_query_asset(name="good", query="select * from marts.good")
        batch = asset.add_batch_definition_whole_table("whole table")
        suite = context.suites.add(
            gx.ExpectationSuite(
                name="stock",
                expectations=[gx.expectations.ExpectTableRowCountToEqual(value=1000)],
            )
        )
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name="stock", data=batch, suite=suite)
        )
        result = definition.run().results[0]
    finally:
        datasource.get_execution_engine().close()
        datasource.get_engine().dispose()
    assert not result.success, "the table has 1000 rows: a pass means upstream is fixed"
    assert any("list index out of range" in m for m in exception_messages(result))


def test_unexpected_rows_once_runs_its_query_once_and_counts(database: Path) -> None:
    """The gate's SQL checks: one execution of the query, its rows returned, the count exact
    under 200 rows and flagged as a lower bound from 200 on."""
    import sqlalchemy as sa

    from orchestration.gate.gx_duckdb import UnexpectedRowsOnce

    executed: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        executed.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        few, many, none = _validate(
            database,
            "bad",
            [
                UnexpectedRowsOnce(
                    unexpected_rows_query="select commune_code from {batch} where rate > 100"
                ),
                UnexpectedRowsOnce(
                    unexpected_rows_query="select commune_code from {batch} where rate < 100"
                ),
                UnexpectedRowsOnce(
                    unexpected_rows_query="select commune_code from {batch} where rate < 0"
                ),
            ],
        )
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    assert not few.success
    assert few.result["observed_value"] == 2
    assert sorted(r["commune_code"] for r in few.result["details"]["unexpected_rows"]) == [
        "00003",
        "00007",
    ]
    assert few.result["details"]["count_is_lower_bound"] is False
    assert not many.success and many.result["observed_value"] == 200
    assert many.result["details"]["count_is_lower_bound"] is True
    assert none.success and none.result["observed_value"] == 0
    for condition in ("rate > 100", "rate < 100", "rate < 0"):
        assert sum(condition in statement for statement in executed) == 1, executed


def test_decimals_convert_as_gx_does_without_walking_the_call_stack(database: Path, caplog) -> None:
    """The gate's DECIMAL values are serialized as GX serializes them (the same floats, the same
    warning when digits are lost), without GX's walk of the call stack for each value; a real
    validation of DECIMAL columns goes through the replacement and never through the walk."""
    import decimal

    import great_expectations.util as gx_util

    from orchestration.gate import gx_duckdb

    assert gx.__version__ == gx_duckdb.PATCHED_GX_VERSION, "check the replacement against GX"
    assert gx_util.convert_decimal_to_float is gx_duckdb._decimal_to_float
    values = [
        decimal.Decimal("37.900000000000000000"),
        decimal.Decimal("0.1"),
        decimal.Decimal("1234567890.123456789012345678"),
        decimal.Decimal("-5"),
        decimal.Decimal("Infinity"),
        7,
        2.5,
    ]
    warned = []
    for value in values:
        caplog.clear()
        with caplog.at_level("WARNING", logger=gx_util.logger.name):
            ours = gx_util.convert_decimal_to_float(value)
            ours_logged = [r.getMessage() for r in caplog.records]
        caplog.clear()
        with caplog.at_level("WARNING", logger=gx_util.logger.name):
            theirs = gx_duckdb.gx_decimal_to_float(value)
            theirs_logged = [r.getMessage() for r in caplog.records]
        assert (ours, type(ours), ours_logged) == (theirs, type(theirs), theirs_logged), value
        warned += [value] if ours_logged else []
    assert warned == [decimal.Decimal("1234567890.123456789012345678")]

    with duckdb.connect(str(database)) as con:
        con.execute(
            "create table marts.decimals as select lpad(i::varchar, 5, '0') as commune_code, "
            "(i / 7)::decimal(38, 18) as share from range(50) as t(i)"
        )
    walked, converted = [], []
    real_stack = gx_util.stack

    def counting_stack(*args, **kwargs):
        walked.append(1)
        return real_stack(*args, **kwargs)

    installed = gx_util.convert_decimal_to_float

    def counting_convert(d):
        converted.append(d)
        return installed(d)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gx_util, "stack", counting_stack)
        patch.setattr(gx_util, "convert_decimal_to_float", counting_convert)
        results = _validate(
            database,
            "decimals",
            [
                gx.expectations.ExpectColumnMaxToBeBetween(
                    column="share", min_value=0, max_value=10
                ),
                gx.expectations.ExpectColumnMeanToBeBetween(
                    column="share", min_value=0, max_value=10
                ),
            ],
        )
    assert all(r.success for r in results)
    assert converted and all(isinstance(d, decimal.Decimal) for d in converted)
    assert walked == []


def test_scipy_stats_and_altair_are_executed_at_first_use_not_when_gx_is_imported() -> None:
    """In a fresh interpreter, the gate's datasource imports Great Expectations (and every GX
    core expectation) without executing scipy.stats or altair
    (orchestration/gate/deferred_imports.py); the first use of one of their names executes the
    module, and an expectation then gets the real one."""
    code = textwrap.dedent(
        """
        import sys
        import orchestration.gate.gx_duckdb
        from great_expectations.expectations.core import (
            expect_column_kl_divergence_to_be_less_than as kl,
        )
        executed_on_import = "scipy.stats._stats_py" in sys.modules
        altair_on_import = "altair.vegalite" in sys.modules
        value = kl.stats.entropy([0.5, 0.5], [0.9, 0.1])
        chart = kl.alt.Chart
        print(executed_on_import, "scipy.stats._stats_py" in sys.modules, round(value, 6))
        print(altair_on_import, "altair.vegalite" in sys.modules, chart.__name__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == [
        "False",
        "True",
        "0.510826",
        "False",
        "True",
        "Chart",
    ]
