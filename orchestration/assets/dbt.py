"""The dbt project as one Dagster multi-asset: seeds, staging, intermediate and marts.

Asset keys are ``[schema, model]`` (seeds ``["seeds", name]``), dbt sources resolve through their
``meta.dagster.asset_key`` to the ingest assets (``["raw", ...]``, ``["reference", "admin_units"]``)
so the UI shows one lineage graph, and dbt tests surface as asset checks. Groups follow the layer.

The household models are incremental by review year and detect for themselves which years changed
(see ``dbt_project/macros/review_years_to_build.sql``), so this asset is not partitioned: one
``dbt build`` after any ingest rebuilds exactly what the new or re-sent years require.

Row counts and column metadata are fetched through dbt-duckdb's adapter inside this process; the
adapter keeps the DuckDB file open afterwards, which would block the next step's connection
(stack-pitfalls #4), so :func:`release_warehouse` closes it once the event stream ends.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotation at runtime.
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetKey
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliInvocation,
    DbtCliResource,
    dbt_assets,
)

from orchestration.resources import dbt_project
from orchestration.settings import WAREHOUSE_POOL


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Asset keys ``[schema, name]``, sources by their meta asset key, groups by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_group_name(dbt_resource_props)
        return dbt_resource_props["schema"]


# The two reference tables are written by one asset, so two dbt sources share its key.
translator = WarehouseDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
)


def release_warehouse(invocation: DbtCliInvocation) -> None:
    """Close the DuckDB handles dbt-duckdb keeps in this process after metadata fetching.

    The adapter's connections are released first, then dbt-duckdb's process-wide environment
    (which owns the ``duckdb.DuckDBPyConnection``) is closed and dropped, and the adapter registry
    is reset, so that a later ``duckdb.connect(path)`` in this process can take the write lock.
    """
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters

    if invocation.adapter is not None:
        invocation.adapter.cleanup_connections()
    with DuckDBConnectionManager._LOCK:
        environment = DuckDBConnectionManager._ENV
        if environment is not None:
            environment.close()
            DuckDBConnectionManager._ENV = None
    reset_adapters()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    name="warehouse_dbt_assets",
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def warehouse_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    """``dbt build`` of the selected models, seeds and tests, streamed as Dagster events."""
    # A full parse (about 2 s): the saved partial-parse state keeps the project path it was
    # parsed with, and one recorded with a relative --project-dir breaks the seeds' file paths
    # when dagster-dbt runs dbt from inside the project directory.
    invocation = dbt.cli(["build", "--no-partial-parse"], context=context)
    try:
        # Column lineage is off: sqlglot cannot resolve DuckDB's columns('^d_') and unpivot in
        # several models and logs a traceback for each; the column schemas still come through.
        yield from (
            invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)
        )
    finally:
        release_warehouse(invocation)
