"""The code location loads, and its jobs keep the warehouse to one writer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

from orchestration.base.model_rules import IN_BUILD_SELECTION
from orchestration.base.settings import WAREHOUSE_POOL
from orchestration.definitions import POVERTY_REVIEW_JOB, defs

REPO = Path(__file__).parents[1]


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "POVERTY_WAREHOUSE_DIR": str(tmp_path)}
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_lineage_graph_from_raw_files_to_the_publish():
    graph = defs.resolve_asset_graph()
    published = AssetKey(["published", "published_warehouse"])
    upstream = graph.get(published).parent_keys
    assert AssetKey(["audit", "validation_results"]) in upstream
    keys = set(graph.get_all_asset_keys())
    for key in (
        ["raw", "survey_households"],
        ["raw", "commune_totals"],
        ["raw", "difficult_areas"],
        ["reference", "admin_units"],
        ["marts", "commune_year"],
        ["marts", "target_progress"],
    ):
        assert AssetKey(key) in keys
    stg = graph.get(AssetKey(["staging", "stg_review_exports__households"]))
    assert AssetKey(["raw", "survey_households"]) in stg.parent_keys


def test_every_warehouse_step_holds_the_single_writer_pool():
    job = defs.resolve_job_def(POVERTY_REVIEW_JOB)
    assert job.executor_def.name == "in_process"
    pools = {node.name: node.definition.pool for node in job.graph.node_dict.values()}
    assert pools and all(pool == WAREHOUSE_POOL for pool in pools.values()), pools


def test_gate_and_row_balance_checks_are_blocking():
    """A failing gate (or ingest balance) must stop everything downstream in the same run."""
    graph = defs.resolve_asset_graph()
    specs = {key.name: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert specs["critical_expectations_pass"].blocking
    assert specs["survey_households_row_balance"].blocking


def test_every_check_is_named_and_described_for_people():
    """dbt's generated test names reach 784 characters and have no description."""
    graph = defs.resolve_asset_graph()
    specs = [graph.get_check_spec(key) for key in graph.asset_check_keys]
    # Each dbt model's row-level rules are one check, `model_rules`, on every model with rules.
    ruled = {spec.asset_key for spec in specs if spec.name == "model_rules"}
    assert len(ruled) >= 30 and len(specs) > 60
    too_long = [spec.name for spec in specs if len(spec.name) > 64]
    undescribed = [spec.name for spec in specs if not (spec.description or "").strip()]
    assert not too_long and not undescribed
    by_name = {(spec.asset_key, spec.name): spec for spec in specs}
    rules = by_name[(AssetKey(["marts", "commune_year"]), "model_rules")]
    assert "commune_year.poverty_rate must lie in [0, 100]." in rules.description
    assert "must have one row per (review_year, unit_version, commune_code)" in rules.description
    tables = [spec for spec in specs if spec.name == "expectations"]
    assert AssetKey(["marts", "commune_year"]) in {spec.asset_key for spec in tables}


def test_the_build_leaves_out_exactly_the_rules_the_post_hooks_run():
    """The pipeline's `dbt build` excludes `IN_BUILD_SELECTION` (every `model_rules` test) and
    reports a check for each test of `rules_checked_in_build` (those attached to a model or a
    seed, whose post-hook runs them): the two must name the same tests, or a rule would go
    unchecked or a check unreported. Every such check is on its model's or seed's asset."""
    from orchestration.transform.assets import RULE_CHECKS, RULES_IN_BUILD, manifest

    selected = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] == "test"
        and (node.get("test_metadata") or {}).get("name") == "model_rules"
    }
    assert IN_BUILD_SELECTION == "test_name:model_rules"
    assert selected == set(RULES_IN_BUILD.values()) == set(RULE_CHECKS)
    assert len(selected) >= 35
    assert {node_id.split(".")[0] for node_id in RULES_IN_BUILD} == {"model", "seed"}
    for node_id, test_id in RULES_IN_BUILD.items():
        node = manifest["nodes"][node_id]
        key = RULE_CHECKS[test_id]
        assert key.name == "model_rules"
        assert key.asset_key == AssetKey([node["schema"], node.get("alias") or node["name"]])
        hooks = [hook["sql"].strip() for hook in node["config"]["post-hook"]]
        assert "{{ poverty_model_rules_in_build() }}" in hooks, node_id


def test_the_sensors_the_schedule_and_the_published_freshness_are_defined():
    assert {s.name for s in defs.sensors} == {"raw_files_sensor", "run_failure_alert_sensor"}
    assert [s.name for s in defs.schedules] == ["yearly_review_schedule"]
    published = defs.resolve_assets_def(AssetKey(["published", "published_warehouse"]))
    spec = next(iter(published.specs))
    assert spec.owners == ["team:provincial-data-office"]
    assert spec.freshness_policy.deadline_cron == "0 6 1 2 *"


def test_dbt_resource_knows_its_dbt_version_without_running_dbt() -> None:
    """The dbt resource skips dagster-dbt's `dbt --version` subprocess and in-process adapter
    (3 s a run); the version it assumes must be the one the dbt executable reports."""
    import re

    from orchestration.base.resources import WarehouseDbtCliResource, build_resources

    resource = build_resources()["dbt"]
    assert isinstance(resource, WarehouseDbtCliResource)
    printed = subprocess.run(
        [resource.dbt_executable, *resource.global_config_flags, "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"installed: {resource._cli_version}" in printed, printed
    assert re.search(r"installed: 1\.", printed)
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def _fresh_python(code: str) -> str:
    """Run ``code`` in a new interpreter (a process that has imported nothing yet), return its
    output."""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_loading_the_definitions_imports_no_dbt_core():
    """dbt runs in its own process: a process that loads the code location imports dagster-dbt
    without dbt-core (1 s of each command's start), and dbt stays importable afterwards."""
    printed = _fresh_python(
        "import sys\n"
        "import orchestration.definitions\n"
        "from dagster_dbt import compat\n"
        "print(sorted(m for m in sys.modules if m == 'dbt' or m.startswith('dbt.')))\n"
        "print(compat.DBT_PYTHON_VERSION)\n"
        "import dbt.version\n"
        "print(dbt.version.__version__)\n"
    )
    modules, version, importable = printed.splitlines()
    assert modules == "[]"
    assert version == "None"
    assert importable.startswith("1.")


def test_a_process_that_already_runs_dbt_gets_dagster_dbt_as_usual():
    """Where dbt is already imported (dbt run in-process), the hook stands aside: dagster-dbt
    imports dbt-core's own enums."""
    printed = _fresh_python(
        "import dbt.version\n"
        "import orchestration.definitions\n"
        "from dagster_dbt import compat\n"
        "print(compat.DBT_PYTHON_VERSION, compat.NodeStatus.__module__)\n"
    )
    assert printed.split() == [_dbt_core_version(), "dbt.artifacts.schemas.results"]


def _dbt_core_version() -> str:
    from importlib.metadata import version

    return version("dbt-core")


def test_dagster_dbts_stand_ins_know_every_status_and_node_type_dbt_reports():
    """Without dbt-core, dagster-dbt reads dbt's statuses with its own enums: each status dbt
    can report, and each node type of this project's manifest, must be one of theirs."""
    import dbt.contracts.results as results
    from dagster_dbt import compat

    from orchestration.transform.assets import manifest

    assert compat.DBT_PYTHON_VERSION is None  # the stand-ins, as in the command's process
    for stand_in, real in (
        (compat.NodeStatus, results.NodeStatus),
        (compat.TestStatus, results.TestStatus),
    ):
        assert {status.value for status in real} <= {status.value for status in stand_in}
    node_types = {node["resource_type"] for node in manifest["nodes"].values()}
    assert node_types <= {node_type.value for node_type in compat.NodeType}


def test_the_raw_files_are_in_the_lineage_upstream_of_the_ingest():
    graph = defs.resolve_asset_graph()
    for dataset, target in (
        ("survey", ["raw", "survey_households"]),
        ("commune_totals", ["raw", "commune_totals"]),
        ("difficult_areas", ["raw", "difficult_areas"]),
    ):
        files = AssetKey(["raw_files", dataset])
        assert files in graph.get(AssetKey(target)).parent_keys
        assert not graph.get(files).is_executable  # external: observed, never materialized
        assert graph.get(files).partitions_def is not None


def test_asset_descriptions_have_no_bare_placeholders_the_ui_would_drop():
    """`<warehouse>` is an unknown HTML tag to the UI's Markdown renderer: it vanishes."""
    import re

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        description = graph.get(key).description or ""
        outside_code = re.sub(r"`[^`]*`", "", description)
        assert not re.search(r"<\w+>", outside_code), (key, description)


def test_the_job_stores_no_values_and_refuses_any(tmp_path):
    """Assets hand their data over in the warehouse: the job's IO manager takes the ``None`` of
    an asset that returns nothing (as each dbt model's output is) without writing anything, and
    stops an asset that returns a value, or reads another's, with why."""
    from dagster import AssetIn, DagsterInstance, asset, materialize

    from orchestration.base.resources import NoValuesIOManager

    assert isinstance(defs.resources["io_manager"], NoValuesIOManager)

    @asset
    def returns_nothing() -> None:
        return None

    @asset
    def returns_a_frame() -> list[int]:
        return [1, 2, 3]

    @asset(ins={"upstream": AssetIn("returns_nothing")})
    def reads_a_value(upstream) -> None:
        return None

    instance = DagsterInstance.ephemeral(tempdir=str(tmp_path))
    resources = {"io_manager": NoValuesIOManager()}
    assert materialize([returns_nothing], resources=resources, instance=instance).success
    assert not any(tmp_path.rglob("returns_nothing"))
    for assets, wanted in (
        ([returns_a_frame], "returned a list"),
        ([returns_nothing, reads_a_value], "use deps=[...]"),
    ):
        result = materialize(assets, resources=resources, instance=instance, raise_on_error=False)
        assert not result.success
        failures = [e for e in result.all_events if e.is_step_failure]
        assert any(wanted in str(e.step_failure_data.error) for e in failures), wanted
