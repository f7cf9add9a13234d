"""The dbt project materialized through Dagster, in process, into a throwaway warehouse file."""

from __future__ import annotations

import importlib
import os
import shutil
import threading
from pathlib import Path

import duckdb
import psutil
import pytest
from dagster import AssetKey, DagsterInstance, EventLogEntry, materialize
from dbt_fixtures.sample import YEARS
from dbt_fixtures.warehouse import create_warehouse, replace_year

from orchestration.base import dbt_parse_state
from orchestration.base.resources import build_resources
from orchestration.base.settings import (
    DBT_PROJECT_DIR,
    WAREHOUSE_PATH_ENV,
    WAREHOUSE_POOL,
    Settings,
    duckdb_memory_limit,
)
from orchestration.transform.node_log import DBT_NODE_LOG_PREFIX

MARTS = (
    "commune_year",
    "district_year",
    "province_year",
    "commune_year_deprivation",
    "province_year_deprivation",
    "target_progress",
)


@pytest.fixture(scope="module")
def dbt_assets_module():
    """The asset module, imported once the manifest exists (it is read at import time).

    The session's start prepared that manifest (``tests/conftest.py``), for a warehouse named
    ``warehouse.duckdb`` as here. It is not parsed again: dbt rewrites ``manifest.json`` in
    place, and a test worker loading the definitions meanwhile would read it half written."""
    return importlib.import_module("orchestration.transform.assets")


def materialize_dbt(dbt_assets_module, path: Path, instance: DagsterInstance | None = None):
    """The dbt asset with the code location's resources for a warehouse at ``path``: the path
    reaches dbt through the resources only (this process's environment is left alone)."""
    settings = Settings(raw_dir=path.parent / "raw", warehouse_dir=path.parent)
    return materialize(
        [dbt_assets_module.warehouse_dbt_assets],
        resources=build_resources(settings),
        instance=instance,
    )


class WarmDbtWatch:
    """Every warm dbt (``dbt_child --serve NAME``) this process starts while the watch runs: its
    socket's name and each working directory it was seen in, sampled every 20 ms."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[str, set[str]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> WarmDbtWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            # This process's own children: a warm dbt's forks (its subprocesses before their
            # `exec`) carry its command line for a moment, but are not warm dbts.
            for child in psutil.Process().children():
                try:
                    command = child.cmdline()
                    # The pipeline's warm dbt, not the tests' own dbt server (dbt_fixtures).
                    if "--serve" in command and "orchestration.base.dbt_child" in command:
                        name = command[command.index("--serve") + 1]
                        self.seen.setdefault(child.pid, (name, set()))[1].add(child.cwd())
                except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                    continue


@pytest.fixture(scope="module")
def materialized(tmp_path_factory, dbt_assets_module):
    """Materialize every dbt asset in this process against a warehouse with reviews 2023-2025,
    with no warehouse path in this process's environment (the resources carry it to dbt); the
    warm dbts started meanwhile are watched (``warm_dbts``)."""
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    create_warehouse(path)
    for year in (2023, 2024, 2025):
        replace_year(path, year, **YEARS[year]())
    instance = DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as patch, WarmDbtWatch() as watch:
        patch.delenv(WAREHOUSE_PATH_ENV, raising=False)
        result = materialize_dbt(dbt_assets_module, path, instance)
        assert WAREHOUSE_PATH_ENV not in os.environ
    WARM_DBTS[str(path)] = watch.seen
    RUN_LOGS[str(path)] = instance.all_logs(result.run_id)
    return result, path


WARM_DBTS: dict[str, dict[int, tuple[str, set[str]]]] = {}
RUN_LOGS: dict[str, list[EventLogEntry]] = {}


def test_asset_keys_follow_schema_and_sources_map_to_ingest_assets(dbt_assets_module):
    assets = dbt_assets_module.warehouse_dbt_assets
    keys = set(assets.keys)
    for mart in MARTS:
        assert AssetKey(["marts", mart]) in keys
    assert AssetKey(["seeds", "poverty_standards"]) in keys
    assert AssetKey(["staging", "stg_review_exports__households"]) in keys
    upstream = {dep.asset_key for spec in assets.specs for dep in spec.deps} - keys
    assert upstream == {
        AssetKey(["raw", "survey_households"]),
        AssetKey(["raw", "commune_totals"]),
        AssetKey(["raw", "difficult_areas"]),
        AssetKey(["reference", "admin_units"]),
    }
    assert set(assets.group_names_by_key.values()) == {"seeds", "staging", "intermediate", "marts"}
    assert assets.op.pool == WAREHOUSE_POOL
    assert assets.check_specs, "dbt tests should surface as asset checks"


def test_every_dbt_asset_materializes_and_its_checks_pass(materialized, dbt_assets_module):
    result, _ = materialized
    assert result.success
    materialized_keys = {event.asset_key for event in result.get_asset_materialization_events()}
    assert materialized_keys == set(dbt_assets_module.warehouse_dbt_assets.keys)
    evaluations = result.get_asset_check_evaluations()
    assert evaluations
    assert all(evaluation.passed for evaluation in evaluations)


def test_a_run_dagster_launches_hands_its_build_to_the_warm_dbt_its_resources_started(
    materialized,
):
    """Not only ``poverty-warehouse run``: any run's dbt resource starts a warm dbt when the
    run's resources start (here ``materialize``, as for the sensor, schedule and UI), its dbt
    child hands the build to it, and nothing of it outlives the run."""
    result, path = materialized
    assert result.success
    warm = WARM_DBTS[str(path)]
    assert len(warm) == 1, warm
    ((pid, (name, directories)),) = warm.items()
    assert name.startswith("poverty-warehouse-dbt-")
    # It waited in this process's directory, then worked in the warehouse's: the build ran in it.
    assert str(path.parent) in directories, directories
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_models_rules_check_run_on_its_own_runs_as_a_dbt_test(
    materialized, dbt_assets_module, tmp_path
):
    """A model's `model_rules` check selected without its model (run from the UI on its own):
    no model is built, so no post-hook runs the rules; the test runs as a dbt node and reports
    its result, once. With its model, the post-hook's result is the one reported."""
    import shutil

    from dagster import AssetCheckKey, AssetSelection

    _, built = materialized
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(built, path)
    settings = Settings(raw_dir=tmp_path / "raw", warehouse_dir=tmp_path)
    commune_year = AssetKey(["marts", "commune_year"])
    rules = AssetCheckKey(commune_year, "model_rules")
    runs = {
        "alone": AssetSelection.checks(rules),
        "with its model": AssetSelection.assets(commune_year),
    }
    seen = {}
    for name, selection in runs.items():
        result = materialize(
            [dbt_assets_module.warehouse_dbt_assets],
            selection=selection,
            resources=build_resources(settings),
        )
        assert result.success
        seen[name] = (
            [e.asset_key for e in result.get_asset_materialization_events()],
            [
                (e.asset_check_key, e.passed, "run_by" in e.metadata)
                for e in result.get_asset_check_evaluations()
                if e.asset_check_key == rules
            ],
        )
    assert seen["alone"] == ([], [(rules, True, False)])
    assert seen["with its model"] == ([commune_year], [(rules, True, True)])


def test_row_counts_are_attached_to_the_marts(materialized):
    result, _ = materialized
    commune_year = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == AssetKey(["marts", "commune_year"])
    ]
    assert commune_year[0].metadata["dagster/row_count"].value == 10


def test_each_model_and_seed_carries_the_row_count_and_columns_its_table_has(materialized):
    """dbt logs them as it builds (the post-hook of `macros/relation_shape_logged.sql`): every
    materialization's count and column schema are those of its relation in the warehouse."""
    result, path = materialized
    events = result.get_asset_materialization_events()
    assert len(events) >= 40
    with duckdb.connect(str(path), read_only=True) as con:
        for event in events:
            schema, name = event.asset_key.path
            metadata = event.materialization.metadata
            (count,) = con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()
            columns = con.execute(
                "select column_name, lower(data_type) from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            ).fetchall()
            assert metadata["dagster/row_count"].value == count, event.asset_key
            schema_value = metadata["dagster/column_schema"].value
            assert [(c.name, c.type) for c in schema_value.columns] == columns, event.asset_key


def test_each_model_is_materialized_as_dbt_reports_it_not_once_dbt_has_ended(materialized):
    """The run stores a model's materialization while dbt builds the next ones: the first
    materialization comes before dbt reports its last node."""
    _, path = materialized
    logs = RUN_LOGS[str(path)]
    materialized_at = [
        i for i, entry in enumerate(logs) if entry.dagster_event_type == "ASSET_MATERIALIZATION"
    ]
    nodes_reported_at = [
        i for i, entry in enumerate(logs) if DBT_NODE_LOG_PREFIX in (entry.user_message or "")
    ]
    assert len(materialized_at) >= 40 and len(nodes_reported_at) >= 40
    assert materialized_at[0] < nodes_reported_at[-1]
    assert materialized_at[-1] > nodes_reported_at[-1]


def test_the_warehouse_file_is_released_after_the_dbt_step(materialized):
    """A later step in the same process (ingest, the gate) must be able to take the write lock."""
    _, path = materialized
    with duckdb.connect(str(path)) as con:
        con.execute("create table main.lock_probe as select 1 as probe")
        con.execute("insert into main.lock_probe values (2)")
        assert con.execute("select count(*) from marts.commune_year").fetchone() == (10,)
        assert con.execute("select sum(probe) from main.lock_probe").fetchone() == (3,)


def test_the_parse_is_kept_for_the_next_build_and_the_target_folder_removed(
    materialized, dbt_assets_module
):
    """The next build on a warehouse of this name (this one or another directory's) starts from
    this build's parse (dbt partial parsing).

    The state holds the project's absolute path (a relative one broke the seed paths), a
    successful build leaves no target folder behind, and a build from the kept state, or from a
    damaged one (dbt then parses in full), gives the same marts.
    """
    from dbt.contracts.graph.manifest import Manifest

    result, path = materialized
    state = dbt_parse_state.parse_state(str(path), duckdb_memory_limit())
    assert state.exists()
    manifest = Manifest.from_msgpack(state.read_bytes())
    seeds = [node for node in manifest.nodes.values() if node.resource_type == "seed"]
    assert seeds and {seed.root_path for seed in seeds} == {str(DBT_PROJECT_DIR)}
    assert not list(
        (DBT_PROJECT_DIR / "target").glob(f"warehouse_dbt_assets-{result.run_id[:7]}-*")
    )

    query = "select * from marts.commune_year order by all"
    with duckdb.connect(str(path)) as con:
        before = con.execute(query).fetchall()
    for damage in (False, True):
        if damage:
            state.write_bytes(b"not a manifest")
        # The inputs are unchanged: dbt builds again only once the last build is forgotten.
        with duckdb.connect(str(path)) as con:
            con.execute("delete from audit.dbt_builds")
        again = materialize_dbt(dbt_assets_module, path)
        assert again.success
        with duckdb.connect(str(path)) as con:
            assert con.execute(query).fetchall() == before
    assert Manifest.from_msgpack(state.read_bytes()).nodes


def test_only_the_most_recent_parse_states_are_kept(tmp_path):
    """Throwaway warehouses (tests, benchmarks) would otherwise leave 1.2 MB each behind."""
    kept = dbt_parse_state.PARSE_STATES_KEPT
    states = tmp_path / "parse-state"
    states.mkdir()
    for age in range(kept + 3):
        old = states / f"old{age}.msgpack"
        old.write_bytes(b"state")
        os.utime(old, (1_000_000 - age, 1_000_000 - age))
    target = tmp_path / "build"
    target.mkdir()
    (target / dbt_parse_state.PARTIAL_PARSE_FILE).write_bytes(b"this build's parse")

    dbt_parse_state.keep_parse_state(target, states / "this.msgpack")

    assert (states / "this.msgpack").read_bytes() == b"this build's parse"
    assert sorted(path.name for path in states.iterdir()) == sorted(
        ["this.msgpack"] + [f"old{age}.msgpack" for age in range(kept - 1)]
    )
    # A state pruned before a build could copy it means a full parse, not a failed build.
    assert not dbt_parse_state.use_parse_state(states / "old99.msgpack", target)


# -- A build whose inputs did not change -------------------------------------------------------


def test_a_builds_inputs_digest_moves_with_each_input_and_its_record_with_the_relations(
    tmp_path, monkeypatch
):
    """``build_inputs.py``: the digest changes with the project's files, the environment it
    reads, a raw table's rows or its years' ingest records, and a reference table's content; a
    recorded build is found only with every relation it made still present, and not once
    forgotten."""
    from orchestration.base import build_inputs

    project = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb")
    )
    sources = [("raw", "survey_households"), ("reference", "admin_units")]
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("create schema raw; create schema reference; create schema audit")
    con.execute("create table raw.survey_households as select range as h from range(3)")
    con.execute("create table reference.admin_units as select range as code from range(3)")
    con.execute(
        "create table audit.ingested_years as "
        "select 'survey' as dataset, 2024 as review_year, 'abc' as inputs_sha256, 'r1' as run_id"
    )
    monkeypatch.delenv("POVERTY_CROSSWALK_CORRECTIONS", raising=False)

    def digest() -> str | None:
        return build_inputs.build_inputs_digest(con, project, sources)

    first = digest()
    assert first is not None and digest() == first
    seen = {first}
    changes = [
        lambda: con.execute("insert into raw.survey_households values (3)"),
        lambda: con.execute("update audit.ingested_years set run_id = 'r2'"),
        lambda: con.execute("update reference.admin_units set code = 7 where code = 1"),
        lambda: (project / "models" / "marts" / "commune_year.sql").write_text(
            (project / "models" / "marts" / "commune_year.sql").read_text() + "\n-- edited\n"
        ),
        lambda: monkeypatch.setenv("POVERTY_CROSSWALK_CORRECTIONS", "ignore"),
    ]
    for change in changes:
        change()
        moved = digest()
        assert moved is not None and moved not in seen
        seen.add(moved)
    # The raw rows cannot be described without their ingest records.
    con.execute("alter table audit.ingested_years rename to ingested_years_aside")
    assert digest() is None
    con.execute("alter table audit.ingested_years_aside rename to ingested_years")

    inputs = digest()
    relations = [("raw", "survey_households"), ("reference", "admin_units")]
    assert build_inputs.kept_build(con, inputs, relations) is None
    checks = [{"asset_key": ["marts", "x"], "check_name": "c", "passed": True}]
    build_inputs.record_build(con, inputs, "run-1", checks)
    kept = build_inputs.kept_build(con, inputs, relations)
    assert kept is not None and kept.run_id == "run-1" and kept.checks == checks
    assert build_inputs.kept_build(con, "other", relations) is None
    assert build_inputs.kept_build(con, inputs, [*relations, ("marts", "gone")]) is None
    build_inputs.forget_builds(con)
    assert build_inputs.kept_build(con, inputs, relations) is None
    con.close()
