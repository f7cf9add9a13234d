"""Row-balance checks on the raw assets: nothing read was lost or counted twice.

For every current file of the dataset in ``audit.source_files`` (status other than
``replaced``): rows_read = rows_loaded + rows_quarantined; rows_loaded equals the rows of that
file (same name and sha256) in the raw table; rows_quarantined equals its row-level quarantine
rows, or, for a file quarantined whole, stands behind its single file-level quarantine row. The
totals are reported as metadata. Blocking, so dbt never builds on an unbalanced load.
"""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, asset_check
from dagster_duckdb import DuckDBResource

from orchestration.lib.ingest import RAW_TABLES
from orchestration.settings import WAREHOUSE_POOL

_BALANCE_SQL = """
with files as (
    select review_year, file_name, sha256, status, rows_read, rows_loaded, rows_quarantined
    from audit.source_files
    where dataset = $dataset and status <> 'replaced'
),
loaded as (
    select source_file, source_sha256, count(*) as rows
    from {raw_table} group by all
),
quarantined as (
    select source_file, source_sha256,
           count(*) filter (where source_row is not null) as rows,
           count(*) filter (where source_row is null) as file_level_rows
    from audit.quarantine where dataset = $dataset group by all
)
select
    f.review_year, f.file_name, f.status, f.rows_read, f.rows_loaded, f.rows_quarantined,
    coalesce(l.rows, 0) as raw_rows,
    coalesce(q.rows, 0) as quarantine_rows,
    coalesce(q.file_level_rows, 0) as file_level_rows
from files f
left join loaded l on l.source_file = f.file_name and l.source_sha256 = f.sha256
left join quarantined q on q.source_file = f.file_name and q.source_sha256 = f.sha256
order by f.review_year, f.file_name
"""


def row_balance_problems(rows: list[tuple]) -> list[str]:
    """Human-readable problems for the rows of ``_BALANCE_SQL`` (empty when balanced)."""
    problems = []
    for year, name, status, read, loaded, quarantined, raw_rows, q_rows, file_rows in rows:
        where = f"{name} ({year}, {status})"
        if read != loaded + quarantined:
            problems.append(f"{where}: read {read} != loaded {loaded} + quarantined {quarantined}")
        if raw_rows != loaded:
            problems.append(f"{where}: audit says {loaded} loaded, raw table holds {raw_rows}")
        if status == "quarantined":
            if file_rows != 1 or q_rows != 0 or loaded != 0:
                problems.append(f"{where}: expected one file-level quarantine row and no rows")
        elif status == "duplicate":
            if read or raw_rows or q_rows or file_rows:
                problems.append(f"{where}: a duplicate file must not be read")
        elif q_rows != quarantined or file_rows:
            problems.append(
                f"{where}: audit says {quarantined} quarantined, quarantine holds {q_rows}"
            )
    return problems


def _row_balance(warehouse: DuckDBResource, dataset: str) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        rows = con.execute(
            _BALANCE_SQL.format(raw_table=RAW_TABLES[dataset]), {"dataset": dataset}
        ).fetchall()
    problems = row_balance_problems(rows)
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description=None if not problems else "; ".join(problems[:20]),
        metadata={
            "files_checked": len(rows),
            "rows_read": sum(r[3] for r in rows),
            "rows_loaded": sum(r[4] for r in rows),
            "rows_quarantined": sum(r[5] for r in rows),
            "problems": len(problems),
        },
    )


@asset_check(
    asset=AssetKey(["raw", "survey_households"]),
    name="survey_households_row_balance",
    description="Every survey row read is loaded or quarantined, per file and in total.",
    blocking=True,
    pool=WAREHOUSE_POOL,
)
def survey_households_row_balance(warehouse: DuckDBResource) -> AssetCheckResult:
    return _row_balance(warehouse, "survey")


@asset_check(
    asset=AssetKey(["raw", "commune_totals"]),
    name="commune_totals_row_balance",
    description="Every commune-totals row read is loaded or quarantined, per file and in total.",
    blocking=True,
    pool=WAREHOUSE_POOL,
)
def commune_totals_row_balance(warehouse: DuckDBResource) -> AssetCheckResult:
    return _row_balance(warehouse, "commune_totals")


@asset_check(
    asset=AssetKey(["raw", "difficult_areas"]),
    name="difficult_areas_row_balance",
    description="Every difficult-areas row read is loaded or quarantined, per file and in total.",
    blocking=True,
    pool=WAREHOUSE_POOL,
)
def difficult_areas_row_balance(warehouse: DuckDBResource) -> AssetCheckResult:
    return _row_balance(warehouse, "difficult_areas")


ingest_checks = [
    survey_households_row_balance,
    commune_totals_row_balance,
    difficult_areas_row_balance,
]
