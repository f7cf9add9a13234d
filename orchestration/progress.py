"""What ``poverty-warehouse run`` shows while the job runs, and the summary it ends with.

On a terminal the ingest draws a bar (``rich``): files and rows done of the total; everything
else, and every line when the output is not a terminal (a log, CI), is one plain line with the
elapsed time. dbt nodes are printed as dbt finishes them (the dbt asset logs each one as it
streams). The summary reads the published file only (``published.duckdb``), each table and column
by name, so that it prints what BI tools will see and skips what an older build lacks.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from orchestration.base.warehouse_connection import connect
from orchestration.publish.completeness import (
    communes_not_reported,
    files_not_loaded,
    quarantine_reasons,
)
from orchestration.transform.node_log import DBT_NODE_LOG_PREFIX, DBT_NOT_RUN

_SHOWN_METADATA = (
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "dagster/row_count",
    "critical_failures",
    "warnings",
    "build_id",
    "published_path",
    # The review years the ingest kept as they were (files and rules unchanged); only when any.
    "review_years_unchanged",
    # The build whose gate outcomes this one kept (nothing the gate reads changed); only then.
    "carried_over_from_build",
)


@dataclass
class Progress:
    """Prints the run's events as they happen; keeps what the summary and the exit code need."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    started: float = field(default_factory=time.monotonic)
    bar: bool | None = None
    failed_steps: list[tuple[str, str]] = field(default_factory=list)
    failed_checks: list[tuple[str, str, str]] = field(default_factory=list)
    materializations: dict[str, dict] = field(default_factory=dict)
    on_dbt_building: list[Callable[[], None]] = field(default_factory=list)
    """Called once, at the first node dbt reports built or failed: dbt is at work (a dbt step
    whose inputs did not change runs no dbt, and reports no node)."""
    step_errors: list[BaseException] = field(default_factory=list)
    running_step: str | None = None
    _partitions: dict[str, list[str]] = field(default_factory=dict)
    _ingest: Any = None
    _files_total: int = 0
    _files_done: int = 0
    _rows_done: int = 0

    def __post_init__(self) -> None:
        if self.bar is None:
            self.bar = bool(getattr(self.stream, "isatty", lambda: False)())

    # Output -------------------------------------------------------------------------------

    def line(self, text: str) -> None:
        stamped = f"[{time.monotonic() - self.started:6.1f}s] {text}"
        if self._ingest is not None:
            self._ingest.console.print(stamped, markup=False, highlight=False)
        else:
            print(stamped, file=self.stream, flush=True)

    # The ingest's per-file progress -------------------------------------------------------

    def expect_files(self, total: int) -> None:
        """The number of files the ingest will read (known before the run starts)."""
        self._files_total = total

    def ingest_file(self, dataset: str, year: int, done: int, total: int, rows: int) -> None:
        """One file of ``dataset``/``year`` read: ``done`` of ``total``, ``rows`` rows in it."""
        self._files_done += 1
        self._rows_done += rows
        overall = max(self._files_total, self._files_done)
        text = (
            f"ingest  {dataset} {year}: file {done}/{total}, "
            f"{self._files_done}/{overall} files and {self._rows_done:,} rows in all"
        )
        if not self.bar:
            self.line(text)
            return
        if self._ingest is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._ingest = Bar(
                TextColumn("ingest {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("files, {task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._ingest.start()
            self._task = self._ingest.add_task(dataset, total=overall, rows=0)
        self._ingest.update(
            self._task,
            description=f"{dataset} {year}",
            completed=self._files_done,
            total=overall,
            rows=self._rows_done,
        )

    def close_bar(self) -> None:
        if self._ingest is not None:
            self._ingest.stop()
            self._ingest = None

    # Dagster events -------------------------------------------------------------------------

    def handle_log(self, message: str) -> None:
        if message.startswith(DBT_NODE_LOG_PREFIX):
            text = message.removeprefix(DBT_NODE_LOG_PREFIX)
            self.line("dbt     " + text)
            if not text.startswith(DBT_NOT_RUN):
                while self.on_dbt_building:
                    self.on_dbt_building.pop(0)()

    def handle(self, event) -> None:
        kind = event.event_type_value
        if kind == "STEP_START":
            if not event.step_key.startswith("raw__"):
                self.close_bar()
            self.running_step = event.step_key
            self.line(f"start   {event.step_key}")
        elif kind == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            key = "/".join(mat.asset_key.path)
            self.materializations[key] = {
                k: getattr(v, "value", v) for k, v in mat.metadata.items()
            }
            if mat.partition:
                # A single-run backfill materializes every partition with the same metadata:
                # one line per asset when the step ends, not one per review year.
                self._partitions.setdefault(key, []).append(mat.partition)
            else:
                self._built(key)
        elif kind == "STEP_SUCCESS":
            for key in list(self._partitions):
                self._built(key, sorted(self._partitions.pop(key)))
        elif kind == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                severity = getattr(evaluation.severity, "value", evaluation.severity)
                target = "/".join(evaluation.asset_key.path)
                self.failed_checks.append(
                    (evaluation.check_name, target, evaluation.description or "")
                )
                self.line(f"CHECK FAILED  {evaluation.check_name} ({severity}) on {target}")
        elif kind == "STEP_FAILURE":
            self.close_bar()
            message = root_cause(event.event_specific_data.error)
            self.failed_steps.append((event.step_key, message))
            self.line(f"FAILED  {event.step_key}: {message}")
        elif kind == "STEP_SKIPPED":
            self.line(f"skipped {event.step_key}")

    def _built(self, key: str, partitions: list[str] | None = None) -> None:
        meta = self.materializations.get(key, {})
        detail = ", ".join(
            f"{k.removeprefix('dagster/')} {v:,}" if isinstance(v, int) else f"{k} {v}"
            for k, v in ((k, meta[k]) for k in _SHOWN_METADATA if k in meta)
            if v != ""
        )
        where = f" [{partitions[0]}-{partitions[-1]}]" if partitions else ""
        self.line(f"built   {key}{where}" + (f"  ({detail})" if detail else ""))


def root_cause(error) -> str:
    """The first line of the innermost error of a Dagster error chain (``Error occurred while
    executing op`` wraps what actually failed: a full disk, a lock, a bug)."""
    message = ""
    while error is not None:
        lines = (error.message or "").strip().splitlines()
        if lines:
            message = lines[0]
        error = error.cause or error.context
    return message


def progress_logger(progress: Progress):
    """A Dagster logger that feeds ``progress`` with the run's events and the dbt node lines."""
    from dagster import logger

    @logger(description="Feeds `poverty-warehouse run`'s progress display.")
    def feed(_init_context):
        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                meta = getattr(record, "dagster_meta", None) or {}
                event = meta.get("dagster_event")
                if event is not None:
                    progress.handle(event)
                else:
                    progress.handle_log(str(meta.get("orig_message") or ""))

        python_logger = logging.Logger("poverty_warehouse_progress", level=logging.DEBUG)
        python_logger.addHandler(Handler())
        return python_logger

    return feed


# The closing summary ------------------------------------------------------------------------


def _columns(con, table: str) -> set[str]:
    return {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'main' and table_name = ?",
            [table],
        ).fetchall()
    }


def _fmt(value) -> str:
    return "" if value is None else f"{value:.2f}"


def print_summary(published_path: Path, warehouse_path: Path, out: TextIO = sys.stdout) -> None:
    """The published numbers and what a data engineer must act on, from the published file."""
    print(f"\nPublished warehouse (for BI tools, read-only): {published_path}", file=out)
    print(f"Working warehouse (engineers, auditors):      {warehouse_path}", file=out)
    if not published_path.exists():
        return
    report = published_path.parent / "report" / "index.html"
    if report.exists():
        print(f"Plan report (open in a browser):              {report}", file=out)
        print(
            f"Parquet files and manifest.json:              {report.parent.parent / 'published'}",
            file=out,
        )
    con = connect(published_path, read_only=True)
    try:
        for section in (_build, _changes, _rates):
            section(con, out)
        _files_not_loaded(con, out, warehouse_path)
        for section in (_not_reported, _warnings, _targets):
            section(con, out)
    finally:
        con.close()


def _build(con, out: TextIO) -> None:
    if "build_id" in _columns(con, "build_info"):
        row = con.execute("select build_id from build_info").fetchone()
        if row:
            print(f"Build: {row[0]}", file=out)


def _changes(con, out: TextIO) -> None:
    """What changed since the previous publish, in a few lines (publish_changes)."""
    from orchestration.publish.publish_changes import summary_lines

    for line in summary_lines(con):
        print(line, file=out)


def _rates(con, out: TextIO) -> None:
    wanted = [
        "review_year",
        "unit_version",
        "province_code",
        "province_name",
        "total_households",
        "poor_households",
        "poverty_rate",
        "near_poverty_rate",
        "poverty_rate_change_pp",
    ]
    if not set(wanted) <= _columns(con, "province_year"):
        return
    rows = con.execute(
        f"select {', '.join(wanted)} from province_year order by province_code, review_year"
    ).fetchall()
    print("\nPoor-household rate by province and review year (%):", file=out)
    header = ("year", "units", "code", "province", "households", "poor", "poor %", "near %", "Δ pp")
    print("{:<5} {:<8} {:<4} {:<22} {:>11} {:>9} {:>7} {:>7} {:>6}".format(*header), file=out)
    for year, version, code, name, total, poor, rate, near, change in rows:
        print(
            f"{year:<5} {version:<8} {code:<4} {str(name)[:22]:<22} {_count(total):>11} "
            f"{_count(poor):>9} {_fmt(rate):>7} {_fmt(near):>7} {_fmt(change):>6}",
            file=out,
        )
    _unverified_standards(con, out)


def _unverified_standards(con, out: TextIO) -> None:
    """Name the review years whose figures rest on a standard not checked against its legal
    text (province_year.standard_verified false), so that nobody reads them as confirmed."""
    if not {"standard_id", "standard_verified"} <= _columns(con, "province_year"):
        return
    rows = con.execute(
        """
        select standard_id, min(review_year), max(review_year)
        from province_year
        where not standard_verified
        group by standard_id
        order by standard_id
        """
    ).fetchall()
    for standard_id, first, last in rows:
        years = str(first) if first == last else f"{first}-{last}"
        print(
            f"Reviews {years} rest on {standard_id}, a standard not verified against its legal "
            "text (chuẩn nghèo chưa đối chiếu văn bản): its indicator list is provisional.",
            file=out,
        )


def _count(value) -> str:
    return "" if value is None else f"{value:,.0f}"


def _files_not_loaded(con, out: TextIO, warehouse_path: Path | None = None) -> None:
    """Every file a data engineer must look at (the report lists the same ones)."""
    rows = files_not_loaded(con)
    if not rows:
        return
    reasons = quarantine_reasons(warehouse_path)
    print(f"\nFiles not loaded in full ({len(rows)}):", file=out)
    for row in rows:
        name, why = row["file_name"], row["status_reason"]
        counts = (
            f"{row['rows_loaded']:,} of {row['rows_read']:,} rows loaded, "
            f"{row['rows_quarantined']:,} quarantined"
        )
        if reasons.get(name):
            counts += f" ({reasons[name]})"
        print(
            f"  {row['review_year']} {name}: {row['status']}"
            + (f" ({why})" if why else "")
            + f"; {counts}",
            file=out,
        )


def _not_reported(con, out: TextIO) -> None:
    by_year: dict[int, list[str]] = {}
    for row in communes_not_reported(con):
        by_year.setdefault(row["review_year"], []).append(row["commune_code"])
    if not by_year:
        return
    print("\nCommunes not reported (no loaded survey row; NULL counts and rates):", file=out)
    for year, codes in by_year.items():
        shown = ", ".join(codes)
        shown = shown if len(shown) <= 200 else shown[:200] + ", …"
        print(f"  {year}: {len(codes)} ({shown})", file=out)


def _warnings(con, out: TextIO) -> None:
    """Each warning with its count of offending rows and the first of their keys."""
    columns = _columns(con, "validation_summary")
    if not {"expectation", "severity", "success"} <= columns:
        return
    count = "offending_rows" if "offending_rows" in columns else "null"
    table = "table_name" if "table_name" in columns else "null"
    keys = "sample_keys" if "sample_keys" in columns else "null"
    rows = con.execute(
        f"""
        select expectation, {table}, {count}, {keys} from validation_summary
        where severity = 'warning' and not success order by expectation
        """
    ).fetchall()
    if not rows:
        return
    print(f"\nWarnings ({len(rows)}; published anyway):", file=out)
    for name, target, offending, sample in rows:
        where = f" on {target}" if target else ""
        rows_text = f": {offending:,} offending row(s)" if offending is not None else ""
        print(f"  {name}{where}{rows_text}", file=out)
        shown = _sample_keys(sample)
        if shown:
            print(f"    offending keys: {shown}", file=out)


def _sample_keys(sample, limit: int = 3) -> str:
    """The first keys of a warning's JSON sample, one per ``;`` (``…`` when there are more)."""
    try:
        keys = json.loads(sample) if isinstance(sample, str) else list(sample or [])
    except (TypeError, ValueError):
        return ""
    text = [
        " ".join(f"{name}={value}" for name, value in k.items()) if isinstance(k, dict) else str(k)
        for k in keys
    ]
    shown = [t if len(t) <= 160 else t[:159] + "…" for t in text[:limit]]
    return "; ".join(shown) + ("; …" if len(text) > limit else "")


def _targets(con, out: TextIO) -> None:
    """Each plan's targets on each of its territories, at the latest review evaluated."""
    columns = _columns(con, "target_progress")
    if not {"plan_id", "target_id", "status", "review_year"} <= columns:
        return
    territory = "territory" if "territory" in columns else "null::varchar as territory"
    rows = con.execute(
        f"""
        select plan_id, {territory}, target_id, status, description_vi, description, review_year,
            actual, required, note
        from target_progress
        qualify row_number() over (
            partition by plan_id, territory, target_id order by review_year desc
        ) = 1
        order by plan_id, territory, length(target_id), target_id
        """
    ).fetchall()
    if not rows:
        return
    print("\nPlan targets (mục tiêu kế hoạch), latest review evaluated:", file=out)
    plan = None
    for plan_id, territory, target_id, status, vi, en, year, actual, required, note in rows:
        if (plan_id, territory) != plan:
            plan = (plan_id, territory)
            print(f"  {plan_id}" + (f" on {territory}" if territory else ""), file=out)
        names = " / ".join(str(t) for t in (vi, en) if t)
        values = ""
        if actual is not None or required is not None:
            values = f" actual {_fmt(actual)}, required {_fmt(required)}"
        print(f"    {target_id}: {status} in {year}{values} — {names}", file=out)
        if note:
            print(f"      {note}", file=out)
