"""The dbt project as one Dagster multi-asset: seeds, staging, intermediate and marts.

Asset keys are ``[schema, relation]`` (seeds ``["seeds", name]``), dbt sources resolve through their
``meta.dagster.asset_key`` to the ingest assets (``["raw", ...]``, ``["reference", "admin_units"]``)
so the UI shows one lineage graph, and dbt tests surface as asset checks. Groups follow the layer.

The household models are incremental by review year and detect for themselves which years changed
(see ``dbt_project/macros/review_years_to_build.sql``), so this asset is not partitioned: one
``dbt build`` after any ingest rebuilds exactly what the new or re-sent years require.

A build of the whole project whose inputs are those of the last build that succeeded (the
project's files, the versions, the sources: ``base/build_inputs.py``) does not run dbt: each
model and seed is materialized as that build left it, and each check it evaluated is carried
over, naming its run. Any change, or a partial selection, runs dbt.

dbt's parse of the project is reused from the previous build against a warehouse of the same
name (dbt's own partial parsing, its state kept by ``orchestration/base/dbt_parse_state.py``):
1.7 s of every build. Each build's dbt target folder is removed once the build succeeds; a failed
build keeps it for inspection.

Each model's or seed's ``model_rules`` test runs in its post-hook as it is built or loaded
(``dbt_project/macros/model_rules_in_build.sql``); the build excludes those tests and this asset
reports their checks itself (passed after the node's output, failed with the offending rows
when the hook stopped the node). A check selected without its node runs as its dbt test.

Row counts and column schemas come from dbt itself: the last post-hook of every model and seed
logs them (``dbt_project/macros/relation_shape_logged.sql``), so each materialization is yielded
as dbt reports its node and Dagster stores the events while dbt goes on. dagster-dbt's
``fetch_row_counts()`` / ``fetch_column_metadata()`` are not used: their thread pool busy-waits on
dbt's event stream (two spinning threads on a 2-core machine), which tripled the step's time, and
they leave dbt-duckdb's handle on the warehouse open in this process. A build that does not run
dbt reads them in one query on a connection opened and closed here.
"""

# No `from __future__ import annotations`: Dagster inspects the context annotation at runtime.
import contextlib
import graphlib
import json
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    Failure,
    MetadataValue,
    Output,
    RetryRequested,
    TableColumn,
    TableSchema,
)
from dagster_dbt import (
    DagsterDbtCliRuntimeError,
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from dagster_dbt.asset_utils import get_asset_check_key_for_test

from orchestration.base.build_inputs import (
    KeptBuild,
    build_inputs_digest,
    forget_builds,
    kept_build,
    manifest_sources,
    record_build,
)
from orchestration.base.dbt_parse_state import keep_parse_state, parse_state, use_parse_state
from orchestration.base.model_rules import (
    IN_BUILD_SELECTION,
    broken_in_build,
    rules_checked_in_build,
)
from orchestration.base.resources import (
    LOCK_RETRIES,
    LOCK_RETRY_WAIT_S,
    WarehouseResource,
    dbt_project,
    is_lock_error,
)
from orchestration.base.settings import DBT_TARGET_DIR, WAREHOUSE_POOL
from orchestration.transform.dbt_failures import offending_rows
from orchestration.transform.dbt_test_names import readable_manifest, readable_test_names
from orchestration.transform.node_log import DBT_NODE_LOG_PREFIX, DBT_NOT_RUN


class WarehouseDbtTranslator(DagsterDbtTranslator):
    """Asset keys ``[schema, name]``, sources by their meta asset key, groups by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        # The relation's name: a mart may take an alias (`plans_applied` is published as `plans`,
        # a name its seed already holds in the dbt namespace).
        name = dbt_resource_props.get("alias") or dbt_resource_props["name"]
        return AssetKey([dbt_resource_props["schema"], name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_group_name(dbt_resource_props)
        return dbt_resource_props["schema"]


# The two reference tables are written by one asset, so two dbt sources share its key.
translator = WarehouseDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_duplicate_source_asset_keys=True)
)


def _table_metadata(
    warehouse: WarehouseResource, relations: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Row count and column schema of each relation a kept build left, in one pass over the
    warehouse (a build that runs dbt has them from its post-hooks)."""
    if not relations:
        return {}
    counts = " union all ".join(
        f"select '{schema}' as s, '{name}' as n, count(*) as c from \"{schema}\".\"{name}\""
        for schema, name in relations
    )
    with warehouse.get_connection() as con:
        rows = {(s, n): c for s, n, c in con.execute(counts).fetchall()}
        columns: dict[tuple[str, str], list[TableColumn]] = {}
        for schema, name, column, data_type in con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns order by table_schema, table_name, ordinal_position"
        ).fetchall():
            if (schema, name) in rows:
                columns.setdefault((schema, name), []).append(
                    TableColumn(name=column, type=data_type.lower())
                )
    return {
        key: {
            "dagster/row_count": MetadataValue.int(count),
            "dagster/column_schema": MetadataValue.table_schema(
                TableSchema(columns=columns.get(key, []))
            ),
        }
        for key, count in rows.items()
    }


def _log_node(context: AssetExecutionContext, event: Any) -> None:
    """One log line per model or seed built and per failed test, as dbt reports it:
    ``dbt node <schema>/<name> <outcome>`` (passing tests are counted in the step's end)."""
    if isinstance(event, Output):
        name, outcome = "/".join(context.asset_key_for_output(event.output_name).path), "built"
    elif isinstance(event, AssetMaterialization):
        name, outcome = "/".join(event.asset_key.path), "built"
    elif isinstance(event, AssetCheckResult) and not event.passed:
        name, outcome = event.check_name or "test", "test FAILED"
    else:
        return
    context.log.info(f"{DBT_NODE_LOG_PREFIX}{name} {outcome}")


# The manifest the definitions read, with readable test names and descriptions (see
# orchestration/transform/dbt_test_names.py): the UI's checks and the terminal's lines name the
# rule.
manifest = readable_manifest(json.loads(dbt_project.manifest_path.read_text(encoding="utf-8")))
TEST_NAMES = readable_test_names(manifest)
# Each model's or seed's `model_rules` test is run by its post-hook as it is built or loaded
# (dbt_project/macros/model_rules_in_build.sql), not as a node of its own (about 25 ms of dbt's
# time per node): model or seed id → test id, and the test's check.
RULES_IN_BUILD = rules_checked_in_build(manifest)
RULE_CHECKS: dict[str, AssetCheckKey] = {
    test_id: key
    for test_id in RULES_IN_BUILD.values()
    if (key := get_asset_check_key_for_test(manifest, translator, test_id, dbt_project))
}
# Models and seeds in an order where each comes after what it reads: Dagster takes a multi-asset's
# outputs only in that order.
BUILD_ORDER: list[AssetKey] = [
    translator.get_asset_key(manifest["nodes"][unique_id])
    for unique_id in graphlib.TopologicalSorter(
        {
            unique_id: [
                d for d in node.get("depends_on", {}).get("nodes", []) if d in manifest["nodes"]
            ]
            for unique_id, node in manifest["nodes"].items()
            if node["resource_type"] in ("model", "seed")
        }
    ).static_order()
    if manifest["nodes"][unique_id]["resource_type"] in ("model", "seed")
]
# What a build's inputs digest describes (base/build_inputs.py).
SOURCES = manifest_sources(manifest)


@dbt_assets(
    manifest=manifest,
    project=dbt_project,
    name="warehouse_dbt_assets",
    dagster_dbt_translator=translator,
    pool=WAREHOUSE_POOL,
)
def warehouse_dbt_assets(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    """``dbt build`` of the selected models, seeds and tests, streamed as Dagster events.

    Each node is logged and yielded as dbt reports it (the command's progress display prints
    both live), so that Dagster stores a model's events while dbt builds the next ones; each
    materialization carries the row count and column schema its post-hook logged (this process
    cannot open the warehouse file while dbt holds it). A failed check is yielded once dbt has
    ended, with the first offending rows when the build failed.
    """
    inputs, kept = _unchanged_build(context, warehouse)
    if kept is not None:
        yield from _kept_build_events(context, warehouse, kept)
        return
    target_path = (
        DBT_TARGET_DIR / f"warehouse_dbt_assets-{context.run.run_id[:7]}-{uuid.uuid4().hex[:7]}"
    )
    target_path.mkdir(parents=True)
    state = parse_state(str(warehouse.warehouse_path), dbt.memory_limit)
    # No debug file log in the per-build target folder: dbt wrote 7 MB of it per build (every
    # statement it ran), 0.9 s of each build, and the folder goes once the build succeeds. The
    # run's own log keeps dbt's messages; rerun `dbt build` for statement-level detail.
    # dbt's unit tests check the models' SQL on fixed inputs, not the data: they run with the
    # test suite (tests/test_dbt_models.py::test_the_dbt_unit_tests_pass runs and names every
    # one), not in every production build.
    args = ["build", "--exclude-resource-type", "unit_test", "--log-level-file", "none"]
    # The `model_rules` tests: the post-hooks of their models and seeds run them. A check
    # selected without its node (run from the UI on its own) has no hook to run it: then the
    # tests run as dbt nodes and report themselves.
    rules_in_build = not any(
        key in context.selected_asset_check_keys
        and key.asset_key not in context.selected_asset_keys
        for key in RULE_CHECKS.values()
    )
    if rules_in_build:
        args += ["--exclude", IN_BUILD_SELECTION]
    if not use_parse_state(state, target_path):
        # A full parse, also keeping dagster-dbt from copying in the state of `dbt parse`.
        args.append("--no-partial-parse")
    invocation = dbt.cli(args, context=context, target_path=target_path)
    checks: list[AssetCheckResult] = []
    held: list[AssetCheckResult] = []
    failure: Exception | None = None
    try:
        for streamed in _streamed_with_shapes(invocation):
            _log_node(context, streamed)
            for event in [streamed, *_rules_passed_in_build(context, streamed, rules_in_build)]:
                if isinstance(event, AssetCheckResult):
                    checks.append(event)
                    if not event.passed:
                        # Yielded once dbt has ended: a failed build lists its offending rows.
                        held.append(event)
                        continue
                yield event
    except DagsterDbtCliRuntimeError as error:
        # A failed model or data test: what dbt reported before failing was yielded (the failed
        # checks follow, with their rows), so the run records why it stopped, then the step fails.
        failure = error
    except BaseException:
        # Stopped while Dagster stored a node's events (the run interrupted, this generator
        # closed): dbt is interrupted as dagster-dbt interrupts it when the stop meets its read.
        _interrupt(invocation)
        raise
    keep_parse_state(target_path, state)
    if failure is None:
        shutil.rmtree(target_path, ignore_errors=True)
    elif _lock_failure(target_path, failure):
        # Another process held the warehouse file: nothing was built, try the step again.
        raise RetryRequested(
            max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_WAIT_S
        ) from failure
    if failure is None:
        if inputs is not None:
            with warehouse.get_connection() as con:
                record_build(con, inputs, context.run.run_id, _check_records(checks))
        yield from held
        return
    held += _rules_broken_in_build(context, target_path, reported=checks)
    yield from _with_offending_rows(context, warehouse, held, target_path)
    # The failed nodes by name, not the CLI error that wraps them (it names only the command).
    raise Failure(
        description=_failed_nodes(target_path) or str(failure), allow_retries=False
    ) from None


def _interrupt(invocation: Any) -> None:
    process = invocation.process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=invocation.termination_timeout_seconds)


def _streamed_with_shapes(invocation: Any) -> Iterator[Any]:
    """dagster-dbt's events of each node as dbt reports it; a model's or seed's output carries
    the row count and column schema its last post-hook logged
    (``dbt_project/macros/relation_shape_logged.sql``), from which dagster-dbt builds the column
    schema and this adds the row count."""
    for raw in invocation.stream_raw_events():
        # The node's logged JSON object, as dagster-dbt kept it for the node's result event (it
        # has no public reader for the object; tests/test_dbt_assets.py checks the counts).
        shape = getattr(raw, "_event_history_metadata", None) or {}
        for event in raw.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=invocation.context,
            target_path=invocation.target_path,
            project=invocation.project,
        ):
            if isinstance(event, Output | AssetMaterialization) and "row_count" in shape:
                event = event.with_metadata(
                    {
                        **event.metadata,
                        "dagster/row_count": MetadataValue.int(int(shape["row_count"])),
                    }
                )
            yield event


def _unchanged_build(
    context: AssetExecutionContext, warehouse: WarehouseResource
) -> tuple[str | None, KeptBuild | None]:
    """The digest of this build's inputs when it builds the whole project (else None), and the
    last build made from the same inputs, when it left every relation and evaluated every check
    selected now. Otherwise the record is deleted before dbt starts (base/build_inputs.py)."""
    # The whole project: the asset as defined, not the step's subset of it (context.assets_def).
    whole = set(context.selected_asset_keys) == set(warehouse_dbt_assets.keys) and set(
        context.selected_asset_check_keys
    ) == set(warehouse_dbt_assets.check_keys)
    relations = [tuple(key.path) for key in warehouse_dbt_assets.keys]
    with warehouse.get_connection() as con:
        inputs = build_inputs_digest(con, dbt_project.project_dir, SOURCES) if whole else None
        kept = kept_build(con, inputs, relations) if inputs is not None else None
        if kept is not None:
            carried = {
                AssetCheckKey(AssetKey(check["asset_key"]), check["check_name"])
                for check in kept.checks
            }
            if not set(context.selected_asset_check_keys) <= carried:
                kept = None
        if kept is None:
            forget_builds(con)
    return inputs, kept


def _kept_build_events(
    context: AssetExecutionContext, warehouse: WarehouseResource, kept: KeptBuild
) -> Iterator[Any]:
    """dbt not run: each model and seed as the build of ``kept`` left it (its row count and
    columns read now), and each check that build evaluated, carried over and saying so."""
    keys = [key for key in BUILD_ORDER if key in context.selected_asset_keys]
    metadata = _table_metadata(warehouse, [tuple(key.path) for key in keys])
    selected = context.selected_asset_check_keys
    checks = [
        check
        for check in kept.checks
        if AssetCheckKey(AssetKey(check["asset_key"]), check["check_name"]) in selected
    ]
    context.log.info(
        f"{DBT_NODE_LOG_PREFIX}{DBT_NOT_RUN}its inputs are those of the build of run "
        f"{kept.run_id} ({kept.built_at:%Y-%m-%d %H:%M} UTC): its {len(keys)} models and seeds "
        f"are kept and its {len(checks)} checks carried over"
    )
    for key in keys:
        yield Output(
            None,
            output_name=context.assets_def.get_output_name_for_asset_key(key),
            metadata={
                **metadata.get(tuple(key.path), {}),
                "unchanged_since_run": MetadataValue.text(kept.run_id),
            },
        )
    for check in checks:
        yield AssetCheckResult(
            asset_key=AssetKey(check["asset_key"]),
            check_name=check["check_name"],
            passed=check["passed"],
            severity=AssetCheckSeverity(check["severity"]),
            description=check["description"],
            metadata={"carried_over_from_run": MetadataValue.text(kept.run_id)},
        )


def _check_records(events: list[Any]) -> list[dict[str, Any]]:
    """The checks a build evaluated, as ``audit.dbt_builds`` keeps them."""
    return [
        {
            "asset_key": list(event.asset_key.path),
            "check_name": event.check_name,
            "passed": event.passed,
            "severity": event.severity.value,
            "description": event.description,
        }
        for event in events
        if isinstance(event, AssetCheckResult) and event.asset_key and event.check_name
    ]


def _with_offending_rows(
    context: AssetExecutionContext,
    warehouse: WarehouseResource,
    events: list[Any],
    target_path: Path,
) -> list[Any]:
    """Each failed test's check with its first offending rows, keys and values, in its
    description (the terminal prints it) and its metadata (the UI shows it)."""
    failed = [e for e in events if isinstance(e, AssetCheckResult) and not e.passed]
    if not failed:
        return events
    results = _run_results(target_path)
    compiled = {r["unique_id"]: r.get("compiled_code") for r in results.get("results", [])}
    described: dict[int, Any] = {}
    try:
        with warehouse.get_connection(read_only=True) as con:
            for event in failed:
                unique_id = event.metadata.get("unique_id")
                unique_id = getattr(unique_id, "value", unique_id)
                node = manifest["nodes"].get(unique_id or "")
                lines = offending_rows(con, node, manifest, compiled.get(unique_id)) if node else []
                if lines:
                    described[id(event)] = event._replace(
                        description="\n".join([event.description or node["description"], *lines]),
                        metadata={
                            **event.metadata,
                            "offending_rows": MetadataValue.text("\n".join(lines)),
                        },
                    )
    except Exception as error:  # the rows are a courtesy: never hide why dbt failed behind them
        context.log.warning(f"the failed dbt tests' rows could not be listed: {error}")
    return [described.get(id(event), event) for event in events]


def _rule_check(test_id: str, passed: bool, broken: list[tuple[str, int]]) -> AssetCheckResult:
    key = RULE_CHECKS[test_id]
    return AssetCheckResult(
        asset_key=key.asset_key,
        check_name=key.name,
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        description=manifest["nodes"][test_id]["description"],
        metadata={
            "unique_id": test_id,
            "status": "pass" if passed else "fail",
            "dagster_dbt/failed_row_count": len(broken),
            "run_by": "its post-hook, as it was built or loaded",
            "broken_rules": ", ".join(f"{label} ({rows})" for label, rows in broken) or "none",
        },
    )


def _rules_passed_in_build(
    context: AssetExecutionContext, event: Any, rules_in_build: bool
) -> list[AssetCheckResult]:
    """After a model's or seed's output, the check of its `model_rules` test, passed: its
    post-hook ran the rules before dbt reported the node (when ``rules_in_build``: the build
    left the tests out, else they report themselves)."""
    if not (rules_in_build and isinstance(event, Output)):
        return []
    model_id = event.metadata.get("unique_id")
    test_id = RULES_IN_BUILD.get(str(getattr(model_id, "value", model_id)))
    if test_id in RULE_CHECKS and RULE_CHECKS[test_id] in context.selected_asset_check_keys:
        return [_rule_check(test_id, True, [])]
    return []


def _rules_broken_in_build(
    context: AssetExecutionContext, target_path: Path, reported: list[AssetCheckResult]
) -> list[AssetCheckResult]:
    """The failed check of each model or seed dbt stopped on because a rule broke in its
    post-hook (from ``run_results.json`` in the failed build's ``target_path``), unless its test
    reported."""
    selected = context.selected_asset_check_keys
    already = {
        AssetCheckKey(event.asset_key, event.check_name)
        for event in reported
        if event.asset_key and event.check_name
    }
    checks = []
    for result in _run_results(target_path).get("results", []):
        test_id = RULES_IN_BUILD.get(result.get("unique_id", ""))
        broken = broken_in_build(result.get("message") or "")
        if result.get("status") == "error" and test_id in RULE_CHECKS and broken is not None:
            check = _rule_check(test_id, False, broken)
            if RULE_CHECKS[test_id] in selected and RULE_CHECKS[test_id] not in already:
                _log_node(context, check)
                checks.append(check)
    return checks


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _run_results(target_path: Path) -> dict[str, Any]:
    try:
        return json.loads((target_path / "run_results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _lock_failure(target_path: Path, failure: Exception) -> bool:
    """Whether dbt failed because another process held the warehouse file."""
    if is_lock_error(failure):
        return True
    return any(
        is_lock_error(Exception(result.get("message") or ""))
        for result in _run_results(target_path).get("results", [])
        if result.get("status") == "error"
    )


def _failed_nodes(target_path: Path) -> str | None:
    """One line naming the models and tests dbt failed on, from its ``run_results.json`` (kept,
    with the compiled SQL of each failed test, in the build's target folder); a model its
    post-hook stopped is named as its failed `model_rules` test, and any other node in error
    with the start of dbt's message (the database's error)."""
    failed = []
    for result in _run_results(target_path).get("results", []):
        unique_id, status, count = result["unique_id"], result.get("status"), result.get("failures")
        if status not in ("fail", "error"):
            continue
        message = result.get("message") or ""
        broken = broken_in_build(message) if status == "error" else None
        detail = ""
        if broken is not None and unique_id in RULES_IN_BUILD:
            model = unique_id.split(".")[-1]
            unique_id, status, count = RULES_IN_BUILD[unique_id], f"fail on {model}", len(broken)
        elif status == "error" and message.strip():
            detail = ": " + _shortened(" ".join(message.split()), 200)
        name = TEST_NAMES.get(unique_id) or unique_id.split(".")[-1]
        failed.append(f"{name} ({status}" + (f" {count}" if count else "") + detail + ")")
    if not failed:
        return None
    return (
        f"dbt build failed on {len(failed)} node(s): {', '.join(failed)}; "
        f"compiled SQL under {target_path}"
    )
