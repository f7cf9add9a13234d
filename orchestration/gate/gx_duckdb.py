"""A Great Expectations SQL datasource for DuckDB that keeps one persisted connection.

Why this exists: Great Expectations 1.24 through ``duckdb-engine`` is broken upstream
(great_expectations#10738 and #11579). ``SqlAlchemyExecutionEngine.execute_query`` runs each
metric query inside ``with engine.connect() as connection:`` and returns the result *after* that
block has closed the connection; ``duckdb-engine`` drops the pending result when its connection
closes, so every bundled metric fails with ``IndexError: list index out of range``. GX catches the
error per metric and reports the expectation as ``success=False`` with the error only in
``exception_info``: a broken setup looks exactly like bad data. No engine option fixes it.

What works, and is used here: the path GX already takes for sqlite and SQL Server, where temporary
tables only live as long as their connection. The execution engine below opens ONE connection on
first use, hands that same connection to every query, and closes it together with the engine when
validation is over. The connection is opened read-only on the warehouse file, so the gate can never
change what it validates; results are written afterwards by the caller with a normal connection,
once this one is closed (DuckDB refuses a second in-process connection with a different
configuration while the read-only one is open).

Even with this fix, any expectation result whose ``exception_info`` says an exception was raised
(a missing table or column, a SQL error, an upstream regression) must not be read as bad data:
:func:`raise_for_exceptions` turns it into :class:`GXSetupError`.

One cost of GX is set aside, with the same result: ``great_expectations.util.
convert_decimal_to_float``, which serializes every DECIMAL value of a validation result, walks
the whole call stack (``inspect.stack()``, the source line of every frame) to ask whether GX's
rule-based profiler called it, only to leave out a warning then. Inside a Dagster run the stack
is deep and every module is loaded: 2.7 ms a value, 0.3 s of a tiny run's gate for 116 values.
The gate never runs that profiler, so :func:`_decimal_to_float` converts and warns exactly as
GX does outside the profiler, without the walk; it replaces GX's function only in the GX version
it was written against (``PATCHED_GX_VERSION``), and ``tests/test_gx_datasource.py`` compares it
with GX's own.

Tables are reached through query assets (``select * from schema.table``): GX's column reflection
fallback drops the schema of a table asset on DuckDB, and the ``schema_name`` argument is
deprecated in 1.x.
"""

from __future__ import annotations

import contextlib
import decimal
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import great_expectations as gx
import great_expectations.util as gx_util
import sqlalchemy as sa
from great_expectations.constants import MAX_RESULT_RECORDS
from great_expectations.core.expectation_validation_result import (
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)
from great_expectations.datasource.fluent import SQLDatasource
from great_expectations.execution_engine import SqlAlchemyExecutionEngine

from orchestration.base.settings import duckdb_memory_limit
from orchestration.gate.gx_errors import GXSetupError

logger = logging.getLogger(__name__)

DATASOURCE_TYPE = "duckdb_persisted"
PATCHED_GX_VERSION = "1.24.1"


def _decimal_to_float(d: Any) -> float:
    """``great_expectations.util.convert_decimal_to_float`` outside GX's rule-based profiler
    (see the module's docstring): the same float, the same warning when it loses digits."""
    if isinstance(d, decimal.Decimal) and gx_util.requires_lossy_conversion(d=d):
        gx_util.logger.warning(
            f"Using lossy conversion for decimal {d} to float object to support serialization."
        )
    return float(d)


gx_decimal_to_float = gx_util.convert_decimal_to_float  # GX's own, for the tests' comparison
if gx.__version__ == PATCHED_GX_VERSION:
    # Looked up as a module global by its two callers in great_expectations/util.py.
    gx_util.convert_decimal_to_float = _decimal_to_float


def _quiet_progress_bar(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("set enable_progress_bar = false")


class PersistedConnectionDuckDBExecutionEngine(SqlAlchemyExecutionEngine):
    """A SQLAlchemy execution engine that reuses one connection for every query.

    ``get_connection`` never closes what it yields, so a result returned by ``execute_query`` is
    still attached to a live DuckDB connection when GX fetches it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A session option in DuckDB 2.0 (not settable as config at connect time): without it,
        # long metric queries draw a progress bar on stderr.
        sa.event.listen(self.engine, "connect", _quiet_progress_bar)

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = self.engine.connect()
        yield self._connection

    def close(self) -> None:
        """Close the persisted connection and dispose the pool, releasing the DuckDB file."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
        self.engine.dispose()


class DuckDBPersistedDatasource(SQLDatasource):
    """A SQL datasource for a DuckDB file, validated over one persisted connection.

    Registered with GX under the type ``duckdb_persisted``, so a data context gains
    ``context.data_sources.add_duckdb_persisted(...)``. Use :func:`duckdb_data_context` rather
    than building it by hand: it also closes every connection afterwards.
    """

    type: Literal["duckdb_persisted"] = "duckdb_persisted"  # type: ignore[assignment]

    @property
    def execution_engine_type(self) -> type[SqlAlchemyExecutionEngine]:
        return PersistedConnectionDuckDBExecutionEngine

    def close(self) -> None:
        """Close the execution engine's connection and the engine GX keeps for test_connection."""
        if self._execution_engine is not None:
            self._execution_engine.close()
            self._execution_engine = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def connection_string(database: Path) -> str:
    return f"duckdb:///{Path(database).resolve()}"


@contextlib.contextmanager
def duckdb_data_context(
    database: Path, *, datasource_name: str = "warehouse"
) -> Iterator[tuple[Any, DuckDBPersistedDatasource]]:
    """An ephemeral GX context with one read-only DuckDB datasource, closed on exit.

    The context is ephemeral so that no GX project (and no validation result carrying sample
    rows) is ever written into the repository; Data Docs go where the caller asks.
    """
    database = Path(database)
    if not database.is_file():
        raise GXSetupError(f"warehouse file not found: {database}")
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    datasource = context.data_sources.add_duckdb_persisted(
        name=datasource_name,
        connection_string=connection_string(database),
        kwargs={
            "connect_args": {
                "read_only": True,
                "config": {"memory_limit": duckdb_memory_limit()},
            },
        },
    )
    try:
        yield context, datasource
    finally:
        datasource.close()
        # The context may hold a distinct copy of the datasource with its own engine.
        with contextlib.suppress(Exception):
            stored = context.data_sources.get(datasource_name)
            if stored is not datasource:
                stored.close()


def _raised(exception_info: Any) -> list[str]:
    """Messages of every raised exception in an ``exception_info`` (flat or keyed by metric)."""
    if not isinstance(exception_info, dict):
        return []
    if "raised_exception" in exception_info:
        if exception_info.get("raised_exception"):
            return [str(exception_info.get("exception_message"))]
        return []
    messages: list[str] = []
    for value in exception_info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            messages.append(str(value.get("exception_message")))
    return messages


def exception_messages(result: ExpectationValidationResult) -> list[str]:
    return _raised(result.exception_info)


def raise_for_exceptions(
    results: ExpectationSuiteValidationResult | list[ExpectationValidationResult],
) -> None:
    """Raise :class:`GXSetupError` if any expectation could not be evaluated.

    GX reports a metric that raised as ``success=False``; read as-is it would block (or worse,
    for a warning, quietly pass) on data nobody looked at.
    """
    items = results.results if isinstance(results, ExpectationSuiteValidationResult) else results
    problems = []
    for result in items:
        messages = exception_messages(result)
        if messages:
            config = result.expectation_config
            label = config.type if config else "?"
            kwargs = json.dumps(dict(config.kwargs) if config else {}, default=str)[:200]
            problems.append(f"{label} {kwargs}: {messages[0][:500]}")
    if problems:
        raise GXSetupError(
            "Great Expectations could not evaluate "
            f"{len(problems)} expectation(s); this is a broken setup, not bad data:\n- "
            + "\n- ".join(problems)
        )


class UnexpectedRowsOnce(gx.expectations.UnexpectedRowsExpectation):
    """GX's ``UnexpectedRowsExpectation`` with its query run once instead of twice.

    The bundled expectation depends on two metrics, ``unexpected_rows_query.row_count`` (a
    ``COUNT(*)`` around the query) and ``unexpected_rows_query.table`` (the query's rows, at most
    200), so every check query ran twice; the one-row-per-household check over every household
    of every year cost 1.4 s each time. This one depends on the rows only: it succeeds when the
    query returns none, and reports how many it returned. GX fetches at most ``MAX_ROWS`` of
    them, so a larger count is reported as "at least" that many (``count_is_lower_bound``).
    Registered with GX as ``unexpected_rows_once``.
    """

    MAX_ROWS: ClassVar[int] = MAX_RESULT_RECORDS  # what GX's table metric fetches at most
    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.table",)

    def _validate(
        self,
        metrics: dict,
        runtime_configuration: dict | None = None,
        execution_engine: Any = None,
    ) -> dict:
        rows = metrics["unexpected_rows_query.table"]
        return {
            "success": not rows,
            "result": {
                "observed_value": len(rows),
                "details": {
                    "unexpected_rows": rows,
                    "count_is_lower_bound": len(rows) >= self.MAX_ROWS,
                },
            },
        }


def query_rows(datasource: DuckDBPersistedDatasource, sql: str) -> list[tuple]:
    """The rows of ``sql`` on the datasource's one read-only connection (passed to DuckDB as it
    is: no bind parameters, so a ``::`` cast in a view's SQL is not read as one)."""
    with datasource.get_execution_engine().get_connection() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql).fetchall()]


def snapshot(
    datasource: DuckDBPersistedDatasource,
    name: str,
    table: str,
    columns: tuple[str, ...],
    where: str,
) -> str:
    """Copy ``columns`` of ``table``'s rows matching ``where`` into a temporary table ``name`` of
    the gate's connection; its qualified name.

    The connection is read-only on the warehouse file, so the copy is the warehouse as the
    expectations would have read it: a view is evaluated once instead of once per expectation.
    An expectation that reads a column left out of the copy fails to bind, which the gate
    reports as a broken build (``GXSetupError``), never as bad data.
    """
    qualified = f"temp.{name}"
    with datasource.get_execution_engine().get_connection() as connection:
        connection.execute(
            sa.text(
                f"create or replace temp table {qualified} as "
                f"select {', '.join(columns)} from {table} where {where}"
            )
        )
        connection.commit()
    return qualified
