"""Row-balance checks on the raw assets: every line of every file is accounted for.

For every current file of the dataset in ``audit.source_files`` (status ``loaded``,
``quarantined`` or ``duplicate``):

- lines = title_lines + blank_lines + rows_read, where ``lines`` was counted from the file's
  bytes (a CSV) or its sheet (an XLSX) independently of the parser;
- rows_read = rows_loaded + rows_quarantined;
- rows_loaded equals the rows of that file (same name and sha256) in the raw table, and
  rows_quarantined its row-level quarantine rows, or, for a file quarantined whole, stands behind
  its single file-level quarantine row; a duplicate file reads nothing.

Files ``ignored`` (symbolic links, other file types) are never read; ``removed`` and ``replaced``
rows are history and must have no rows left in the raw table. One check per dataset of the
ingest registry, blocking, so dbt never builds on an unbalanced load. Each is a check of its
raw asset's own step (``row_balance_spec`` in the asset's ``check_specs``), evaluated once the
step has written its years: a step of its own cost each run 60-80 ms of Dagster's step start and
end, three times, for a query of a few milliseconds.
"""

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from orchestration.ingest.registry import Dataset

_BALANCE_SQL = """
with files as (
    select review_year, file_name, sha256, status, lines, title_lines, blank_lines, rows_read,
           rows_loaded, rows_quarantined
    from audit.source_files
    where dataset = $dataset and status not in ('replaced', 'removed', 'ignored')
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
    coalesce(q.file_level_rows, 0) as file_level_rows,
    coalesce(f.lines, 0), coalesce(f.title_lines, 0), coalesce(f.blank_lines, 0)
from files f
left join loaded l on l.source_file = f.file_name and l.source_sha256 = f.sha256
left join quarantined q on q.source_file = f.file_name and q.source_sha256 = f.sha256
order by f.review_year, f.file_name
"""

# Rows still in the raw table whose file is no longer current (removed or replaced).
_STALE_SQL = """
select r.source_file, count(*)
from {raw_table} r
anti join audit.source_files f
    on f.dataset = $dataset and f.file_name = r.source_file and f.sha256 = r.source_sha256
    and f.status in ('loaded', 'quarantined')
group by all order by all
"""


def row_balance_problems(rows: list[tuple]) -> list[str]:
    """Human-readable problems for the rows of ``_BALANCE_SQL`` (empty when balanced)."""
    problems = []
    for row in rows:
        year, name, status, read, loaded, quarantined, raw_rows, q_rows, file_rows = row[:9]
        lines, title_lines, blank_lines = row[9:12]
        where = f"{name} ({year}, {status})"
        if status == "duplicate":
            if read or raw_rows or q_rows or file_rows:
                problems.append(f"{where}: a duplicate file must not be read")
            continue
        if lines != title_lines + blank_lines + read:
            problems.append(
                f"{where}: {lines} lines != {title_lines} title + {blank_lines} blank + {read} read"
            )
        if read != loaded + quarantined:
            problems.append(f"{where}: read {read} != loaded {loaded} + quarantined {quarantined}")
        if raw_rows != loaded:
            problems.append(f"{where}: audit says {loaded} loaded, raw table holds {raw_rows}")
        if status == "quarantined":
            if file_rows != 1 or q_rows != 0 or loaded != 0:
                problems.append(f"{where}: expected one file-level quarantine row and no rows")
        elif q_rows != quarantined or file_rows:
            problems.append(
                f"{where}: audit says {quarantined} quarantined, quarantine holds {q_rows}"
            )
    return problems


def row_balance_spec(dataset: Dataset) -> AssetCheckSpec:
    """The blocking row-balance check of one dataset's raw asset."""
    return AssetCheckSpec(
        name=f"{dataset.raw_table.split('.', 1)[1]}_row_balance",
        asset=AssetKey(dataset.raw_table.split(".")),
        description=(
            f"Every line of every {dataset.name} file is a title, blank or read line, and every "
            "row read is loaded or quarantined, per file and in total."
        ),
        blocking=True,
    )


def row_balance(con: duckdb.DuckDBPyConnection, dataset: Dataset) -> AssetCheckResult:
    """The row-balance check's result on the warehouse as ``con`` sees it now (the raw asset's
    own connection, once its years are committed: opening DuckDB again costs ~15 ms)."""
    spec = row_balance_spec(dataset)
    params = {"dataset": dataset.name}
    rows = con.execute(_BALANCE_SQL.format(raw_table=dataset.raw_table), params).fetchall()
    stale = con.execute(_STALE_SQL.format(raw_table=dataset.raw_table), params).fetchall()
    problems = row_balance_problems(rows) + [
        f"{name}: {count} row(s) in {dataset.raw_table} from a file no longer current"
        for name, count in stale
    ]
    return AssetCheckResult(
        asset_key=spec.asset_key,
        check_name=spec.name,
        passed=not problems,
        severity=AssetCheckSeverity.ERROR,
        description=None if not problems else "; ".join(problems[:20]),
        metadata={
            "files_checked": len(rows),
            "lines": sum(r[9] for r in rows),
            "rows_read": sum(r[3] for r in rows),
            "rows_loaded": sum(r[4] for r in rows),
            "rows_quarantined": sum(r[5] for r in rows),
            "problems": len(problems),
        },
    )
