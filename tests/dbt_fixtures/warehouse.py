"""Build a throwaway working warehouse with raw.* tables as docs/architecture.md defines them.

The rows are synthetic and small enough to work every expected figure out by hand. Household rows
are written through :func:`household`, which fills the columns a test does not care about.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from dbt_fixtures.dbt_server import server_name
from orchestration.base import dbt_child
from orchestration.base.admin_units import load_admin_units, unit_version_for_year
from orchestration.base.dbt_parse_state import keep_parse_state, parse_state, use_parse_state
from orchestration.base.headers import DEPRIVATION_COLUMNS
from orchestration.base.settings import DBT_PROJECT_DIR, REPO_ROOT, duckdb_memory_limit
from orchestration.ingest import RAW_TABLES, REGISTRY, ensure_schemas
from orchestration.ingest.registry import LINEAGE_COLUMNS as REGISTRY_LINEAGE

# The raw tables and their column lists come from the ingest's dataset registry
# (orchestration.ingest.registry), so these tests build dbt on exactly the schema the ingest
# writes.
DEPRIVATIONS = DEPRIVATION_COLUMNS
QD59_LAST_YEAR = 2020
"""Last review year under Decision 59/2015 (poverty_standards seed)."""
LINEAGE_COLUMNS = tuple(name for name, _ in REGISTRY_LINEAGE)


def _value_columns(dataset: str) -> tuple[str, ...]:
    """The raw table's columns before its lineage, in table order."""
    return tuple(name for name, _ in REGISTRY[dataset].raw_columns()[: -len(REGISTRY_LINEAGE)])


SURVEY_COLUMNS = _value_columns("survey")


def household(
    review_year: int,
    commune: tuple[str, str | None, str],
    code: str,
    income: int,
    deprivations: int = 0,
    *,
    area_type: str = "rural",
    ethnicity: str = "Kinh",
    head_sex: str = "male",
    meritorious: bool = False,
    social_protection: bool = False,
    no_labour_capacity: bool = False,
    reported_class: str | None = None,
    deprived_in: Sequence[str] | None = None,
) -> dict[str, object]:
    """One survey row; ``commune`` is (province_code, district_code, commune_code).

    The household is deprived in its first ``deprivations`` indicators, or in ``deprived_in``.
    ``d_health_access`` (access to health services) is an indicator of Decision 59/2015 only:
    marked in reviews up to 2020, NULL afterwards, as in the exports.
    """
    province_code, district_code, commune_code = commune
    marked = set(deprived_in) if deprived_in is not None else set(DEPRIVATIONS[:deprivations])
    row: dict[str, object] = {
        "review_year": review_year,
        "unit_version": unit_version_for_year(review_year),
        "province_code": province_code,
        "district_code": district_code,
        "commune_code": commune_code,
        "commune_name": None,
        "village": "Thôn 1",
        "household_code": code,
        "head_id_hash": f"hash-{code}",
        "head_sex": head_sex,
        "ethnicity": ethnicity,
        "household_size": 4,
        "area_type": area_type,
        "income_per_capita": income,
        "is_meritorious_family": meritorious,
        "is_social_protection": social_protection,
        "is_no_labour_capacity": no_labour_capacity,
        "reported_class": reported_class,
    }
    row.update({name: name in marked for name in DEPRIVATIONS})
    row["d_health_access"] = "d_health_access" in marked if review_year <= QD59_LAST_YEAR else None
    return row


def create_warehouse(path: Path) -> None:
    """Create the reference tables (the real unit lists) and empty raw tables, with the
    ingest's own DDL."""
    with duckdb.connect(str(path)) as con:
        load_admin_units(con)
        ensure_schemas(con)


def _insert(dataset: str) -> str:
    columns = (*_value_columns(dataset), *LINEAGE_COLUMNS)
    return (
        f"insert into {RAW_TABLES[dataset]} ({', '.join(columns)}) "
        f"values ({', '.join('?' * len(columns))})"
    )


def replace_year(
    path: Path,
    review_year: int,
    households: Iterable[dict[str, object]],
    commune_totals: Iterable[tuple[str, int, int]],
    difficult_areas: Iterable[tuple[str, bool, int, int]] = (),
    run_id: str | None = None,
) -> None:
    """Replace one review year in raw.*, as the ingest does (one transaction per year)."""
    run_id = run_id or f"run-{review_year}-{datetime.now().timestamp()}"
    loaded_at = datetime.now()
    version = unit_version_for_year(review_year)
    lineage = (f"{review_year}.csv", None, None, "sha", run_id, loaded_at)
    with duckdb.connect(str(path)) as con:
        con.execute("begin transaction")
        for table in RAW_TABLES.values():
            con.execute(f"delete from {table} where review_year = ?", [review_year])
        survey_rows = [
            tuple(row.get(name) for name in SURVEY_COLUMNS)
            + (f"{review_year}.csv", None, index + 2)
            + lineage[3:]
            for index, row in enumerate(households)
        ]
        if survey_rows:
            columns = ", ".join((*SURVEY_COLUMNS, *LINEAGE_COLUMNS))
            placeholders = ", ".join("?" * len(survey_rows[0]))
            con.executemany(
                f"insert into raw.survey_households ({columns}) values ({placeholders})",
                survey_rows,
            )
        for code, total_households, total_population in commune_totals:
            # Optional columns (the ethnic-minority total) are left empty.
            given = {
                "review_year": review_year,
                "unit_version": version,
                "commune_code": code,
                "total_households": total_households,
                "total_population": total_population,
            }
            con.execute(
                _insert("commune_totals"),
                [given.get(name) for name in _value_columns("commune_totals")] + [*lineage],
            )
        for code, is_difficult, difficult_villages, total_villages in difficult_areas:
            con.execute(
                _insert("difficult_areas"),
                [
                    review_year,
                    version,
                    code,
                    is_difficult,
                    difficult_villages,
                    total_villages,
                    *lineage,
                ],
            )
        con.execute("commit")


def dbt(args: Sequence[str], warehouse_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the real dbt CLI against ``warehouse_path``; raise with dbt's output on failure.

    Artifacts go beside the warehouse file, never into ``dbt_project/target``: that folder holds
    the manifest the Dagster definitions load, which dbt rewrites in place (a test worker
    loading the definitions meanwhile would read it half written).
    dbt runs through the pipeline's dbt child (``orchestration/base/dbt_child.py``): in the
    warehouse's directory, given the file's name, so it starts from the parse kept for that name
    (``orchestration/base/dbt_parse_state.py``) and the tests' many throwaway warehouses share
    one parse instead of each paying a full one.
    """
    env, target = dict(os.environ), warehouse_path.parent / "dbt_target"
    target.mkdir(parents=True, exist_ok=True)
    env["DBT_TARGET_PATH"] = str(target)
    env["DBT_LOG_PATH"] = str(warehouse_path.parent / "dbt_logs")
    state = parse_state(warehouse_path.name, duckdb_memory_limit())
    use_parse_state(state, target)
    name = server_name()
    warm = [dbt_child.WARM_FLAG, name] if name else []
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.base.dbt_child", *warm]
        + ["--warehouse-path", str(warehouse_path.resolve()), *args]
        + ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    keep_parse_state(target, state)
    if result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
