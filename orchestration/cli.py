"""``poverty-warehouse``: the command data engineers and the demo use.

``run`` executes the same ``poverty_review_job`` the Dagster UI shows, in-process, over every
review year found (one run, a partition range), with a live progress display. Exit status follows
``published-warehouse.md``: 0 published; 1 the quality gate (Great Expectations or a dbt data
test) blocked publishing; 2 unusable input or arguments. A failure that is neither (a bug, a full
disk) exits 3 so that it is never mistaken for bad data.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

EXIT_PUBLISHED = 0
EXIT_GATE_BLOCKED = 1
EXIT_BAD_INPUT = 2
EXIT_PIPELINE_ERROR = 3

GATE_CHECK_NAME = "critical_expectations_pass"
VALIDATION_ASSET = ("audit", "validation_results")


class UsageError(Exception):
    """Unusable input or arguments: exit 2 with the message, nothing written."""


def _parse_years(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    parts = text.replace(" ", "").split("-")
    try:
        if len(parts) == 1:
            start = end = int(parts[0])
        elif len(parts) == 2:
            start, end = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise UsageError(f"--years must look like 2023 or 2021-2025, got {text!r}") from None
    if start > end or not 2000 <= start <= 2100:
        raise UsageError(f"--years {text!r} is not a range of review years")
    return start, end


def _settings(raw_dir: str | None, warehouse_dir: str | None):
    from orchestration.settings import Settings, get_settings

    base = get_settings()
    return Settings(
        raw_dir=Path(raw_dir).expanduser().resolve() if raw_dir else base.raw_dir,
        warehouse_dir=Path(warehouse_dir).expanduser().resolve()
        if warehouse_dir
        else base.warehouse_dir,
    )


def _instance():
    """The Dagster instance the run is recorded in.

    With ``DAGSTER_HOME`` set (``make dev`` uses ``warehouse/dagster_home``), the run is
    recorded there and shows in the UI, and the instance's pool and run limits apply. Without it,
    an in-memory instance: recording every event in the SQLite instance costs a commit (an fsync)
    per event, about 10 s per run here, which the demo and the benchmarks need not pay.
    """
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()
    return DagsterInstance.ephemeral()


PID_TAG = "poverty-warehouse/pid"
HOST_TAG = "poverty-warehouse/host"


def _release_dead_claims(instance, pool: str) -> list[str]:
    """Free pool slots held by command-line runs whose process is gone.

    A run killed mid-way (Ctrl-C twice, OOM, a reboot) leaves its run ``STARTED`` and its slot in
    the ``duckdb_warehouse`` pool claimed; with no daemon to notice, the next run would wait for
    that slot forever. Only runs this command started on this host are judged, by their pid.
    """
    import psutil

    released = []
    info = instance.event_log_storage.get_concurrency_info(pool)
    holders = {slot.run_id for slot in info.claimed_slots} | {
        step.run_id for step in info.pending_steps
    }
    for run_id in holders:
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            pid = run.tags.get(PID_TAG)
            alive = pid is not None and psutil.pid_exists(int(pid))
            if run.tags.get(HOST_TAG) != socket.gethostname() or alive:
                continue
            instance.report_run_failed(run, "The poverty-warehouse process running it died.")
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        released.append(run_id)
    return released


def _register_review_years(instance, name: str, keys: list[str]) -> None:
    """Register the review years as dynamic partitions, kept in chronological order.

    The run covers a partition *range*, and a range follows the order partitions were added:
    a year folder that appears after later years (2020 after 2021-2025) would otherwise sit at
    the end and the range would select the wrong years. Re-registering changes no materialized
    data; only the order of the keys.
    """
    registered = list(instance.get_dynamic_partitions(name))
    missing = [k for k in keys if k not in registered]
    combined = registered + missing
    ordered = sorted(combined, key=int)
    if combined == ordered:
        if missing:
            instance.add_dynamic_partitions(name, missing)
        return
    for key in registered:
        instance.delete_dynamic_partition(name, key)
    instance.add_dynamic_partitions(name, ordered)


@dataclass
class Progress:
    """Prints one line per stage event while the job runs; keeps what the summary needs."""

    stream: object = field(default_factory=lambda: sys.stdout)
    started: float = field(default_factory=time.monotonic)
    failed_steps: list[tuple[str, str]] = field(default_factory=list)
    failed_checks: list[tuple[str, str, str]] = field(default_factory=list)
    materializations: dict[str, dict] = field(default_factory=dict)
    on_step_start: dict[str, Callable[[], None]] = field(default_factory=dict)
    _partitions: dict[str, list[str]] = field(default_factory=dict)

    def line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.stream, flush=True)

    def handle(self, event) -> None:
        kind = event.event_type_value
        if kind == "STEP_START":
            self.line(f"start   {event.step_key}")
            hook = self.on_step_start.pop(event.step_key, None)
            if hook is not None:
                hook()
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
            error = event.event_specific_data.error
            message = error.message.strip().splitlines()[0] if error else ""
            self.failed_steps.append((event.step_key, message))
            self.line(f"FAILED  {event.step_key}: {message}")
        elif kind == "STEP_SKIPPED":
            self.line(f"skipped {event.step_key}")

    def _built(self, key: str, partitions: list[str] | None = None) -> None:
        meta = self.materializations.get(key, {})
        detail = ", ".join(
            f"{k.removeprefix('dagster/')} {v:,}" if isinstance(v, int) else f"{k} {v}"
            for k, v in meta.items()
            if k in _SHOWN_METADATA
        )
        where = f" [{partitions[0]}-{partitions[-1]}]" if partitions else ""
        self.line(f"built   {key}{where}" + (f"  ({detail})" if detail else ""))


_SHOWN_METADATA = (
    "rows_read",
    "rows_loaded",
    "rows_quarantined",
    "dagster/row_count",
    "critical_failures",
    "warnings",
    "build_id",
    "published_path",
)


def _progress_logger(progress: Progress):
    from dagster import logger

    @logger(description="Feeds `poverty-warehouse run`'s progress display.")
    def progress_logger(_init_context):
        class Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                meta = getattr(record, "dagster_meta", None) or {}
                event = meta.get("dagster_event")
                if event is not None:
                    progress.handle(event)

        python_logger = logging.Logger("poverty_warehouse_progress", level=logging.DEBUG)
        python_logger.addHandler(Handler())
        return python_logger

    return progress_logger


def _warm_gate_imports() -> None:
    """Import Great Expectations in a background thread while dbt runs.

    The gate imports it lazily (2 s) so that the code server and every other command start
    without it. A run knows it will need it, and while the dbt subprocess works this process's
    interpreter is idle; started earlier, the import competed for the interpreter with Dagster's
    own start-up and cost as much as it saved. A failed import here is ignored: the gate imports
    again and reports the error itself.
    """

    def warm() -> None:
        with contextlib.suppress(Exception):
            import orchestration.lib.gx_duckdb  # noqa: F401

    threading.Thread(target=warm, name="warm-gate-imports", daemon=True).start()


def run(args: argparse.Namespace) -> int:
    from orchestration.lib.ingest import list_review_years

    settings = _settings(args.raw_dir, args.warehouse_dir)
    if not settings.raw_dir.is_dir():
        raise UsageError(f"raw directory {settings.raw_dir} does not exist")
    found = list_review_years(settings.raw_dir)
    wanted = _parse_years(args.years)
    years = [y for y in found if wanted is None or wanted[0] <= y <= wanted[1]]
    if not years:
        where = f" within {args.years}" if wanted else ""
        raise UsageError(
            f"no review year found{where} under {settings.raw_dir} "
            "(expected survey/<year>/*.csv|*.xlsx, see data/raw/README.md)"
        )
    if settings.warehouse_dir.exists() and not settings.warehouse_dir.is_dir():
        raise UsageError(f"--warehouse-dir {settings.warehouse_dir} is not a directory")
    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    settings.export_to_environment()

    from orchestration.definitions import POVERTY_REVIEW_JOB, build_definitions
    from orchestration.partitions import review_year_partitions
    from orchestration.resources import build_resources

    instance = _instance()
    from orchestration.settings import WAREHOUSE_POOL

    for run_id in _release_dead_claims(instance, WAREHOUSE_POOL):
        print(f"Released the warehouse pool slot held by dead run {run_id}.")
    keys = [str(y) for y in years]
    _register_review_years(instance, review_year_partitions.name, keys)

    progress = Progress(on_step_start={"warehouse_dbt_assets": _warm_gate_imports})
    progress.line(
        f"poverty_review_job: review years {', '.join(keys)} from {settings.raw_dir} "
        f"into {settings.warehouse_dir}"
    )
    definitions = build_definitions(build_resources(settings))
    job = definitions.resolve_job_def(POVERTY_REVIEW_JOB).with_logger_defs(
        {"progress": _progress_logger(progress)}
    )
    # dagster-dbt echoes dbt's whole text log on stdout (for the UI's compute logs); here it goes
    # to a file beside the warehouse, and the terminal keeps one line per stage.
    log_dir = settings.warehouse_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / f"run-{time.strftime('%Y%m%dT%H%M%S')}.log"
    with log_path.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(
            instance=instance,
            run_config={"loggers": {"progress": {}}},
            tags={
                "dagster/asset_partition_range_start": keys[0],
                "dagster/asset_partition_range_end": keys[-1],
                "source": "poverty-warehouse run",
                PID_TAG: str(os.getpid()),
                HOST_TAG: socket.gethostname(),
            },
            raise_on_error=False,
        )
    progress.line(f"dbt's log: {log_path}")
    return _finish(result, progress, settings)


def _finish(result, progress: Progress, settings) -> int:
    if result.success:
        progress.line(f"run {result.run_id} succeeded")
        _print_summary(settings, progress)
        return EXIT_PUBLISHED
    # Any failed data check blocks the publish: the Great Expectations gate, a dbt data test
    # (surfaced as an asset check) or the ingest's row balance.
    if progress.failed_checks:
        print("\nThe quality gate blocked publishing; the published warehouse is untouched.")
        _print_gate_failures(settings, progress)
        print(f"Last good publish: {settings.published_path}")
        return EXIT_GATE_BLOCKED
    print(f"\nRun {result.run_id} failed; nothing was published. Failed steps:", file=sys.stderr)
    for step, message in progress.failed_steps:
        print(f"  {step}: {message}", file=sys.stderr)
    return EXIT_PIPELINE_ERROR


def _print_gate_failures(settings, progress: Progress) -> None:
    validation = progress.materializations.get("/".join(VALIDATION_ASSET), {})
    build_id = validation.get("build_id")
    if build_id and any(name == GATE_CHECK_NAME for name, _, _ in progress.failed_checks):
        from orchestration.lib.quality_gate import failed_expectations, format_failures

        print(format_failures(failed_expectations(settings.warehouse_path, build_id)))
    for name, target, description in progress.failed_checks:
        if name != GATE_CHECK_NAME:
            print(
                f"- check {name} on {target} failed" + (f": {description}" if description else "")
            )


def _print_summary(settings, progress: Progress) -> None:
    import duckdb

    published = progress.materializations.get("published/published_warehouse", {})
    print(f"\nPublished warehouse (for BI tools, read-only): {settings.published_path}")
    print(f"Working warehouse (engineers, auditors):      {settings.warehouse_path}")
    if published.get("build_id"):
        print(f"Build: {published['build_id']}")
    if not settings.published_path.exists():
        return
    with duckdb.connect(str(settings.published_path), read_only=True) as con:
        rows = con.execute(
            """
            select review_year, unit_version, province_code, province_name, total_households,
                   poor_households, poverty_rate, near_poverty_rate, poverty_rate_change_pp
            from province_year order by province_code, review_year
            """
        ).fetchall()
    print("\nPoor-household rate by province and review year (%):")
    header = ("year", "units", "code", "province", "households", "poor", "poor %", "near %", "Δ pp")
    print("{:<5} {:<8} {:<4} {:<22} {:>11} {:>9} {:>7} {:>7} {:>6}".format(*header))
    for year, version, code, name, total, poor, rate, near, change in rows:
        print(
            f"{year:<5} {version:<8} {code:<4} {str(name)[:22]:<22} {total:>11,} {poor:>9,} "
            f"{_fmt(rate):>7} {_fmt(near):>7} {_fmt(change):>6}"
        )


def _fmt(value) -> str:
    return "" if value is None else f"{value:.2f}"


def generate_sample(args: argparse.Namespace) -> int:
    from orchestration.lib.sample import generate_sample as generate

    settings = _settings(args.raw_dir, None)
    survey_dir = settings.raw_dir / "survey"
    if args.if_empty and survey_dir.is_dir() and any(survey_dir.rglob("*.*")):
        print(f"{survey_dir} already holds survey files; not generating a sample.")
        return 0
    years = _parse_years(args.years) or (2021, 2025)
    started = time.monotonic()
    summary = generate(
        settings.raw_dir,
        scale=args.scale,
        seed=args.seed,
        years=tuple(range(years[0], years[1] + 1)),
        messy=not args.clean,
    )
    elapsed = time.monotonic() - started
    print(
        f"Synthetic review exports ({args.scale}, seed {args.seed}) written to "
        f"{settings.raw_dir}: {len(summary.files)} files in {elapsed:.1f}s"
    )
    return 0


def rollback(args: argparse.Namespace) -> int:
    from orchestration.lib.publish import rollback as restore

    settings = _settings(None, args.warehouse_dir)
    try:
        path = restore(settings.warehouse_dir, args.build_id)
    except (FileNotFoundError, KeyError, ValueError) as error:
        raise UsageError(str(error)) from error
    print(f"Restored build {args.build_id} as {path}")
    return 0


def builds(args: argparse.Namespace) -> int:
    from orchestration.lib.publish import list_builds

    settings = _settings(None, args.warehouse_dir)
    builds_kept = list_builds(settings.warehouse_dir)
    if not builds_kept:
        print(f"No published build is kept in {settings.warehouse_dir / 'builds'}.")
    for build in builds_kept:
        when = f"{build.modified_at:%Y-%m-%d %H:%M:%S} UTC"
        print(f"{build.build_id}  {when}  {build.size_bytes:>12,} bytes")
    return 0


def explain(args: argparse.Namespace) -> int:
    from orchestration.lib.explain import explain as explain_value

    settings = _settings(None, args.warehouse_dir)
    for path in (settings.warehouse_path, settings.published_path):
        if not path.exists():
            raise UsageError(f"{path} does not exist: run `poverty-warehouse run` first")
    if args.territory or args.target:
        from orchestration.lib.explain_targets import explain_target

        if not (args.territory and args.target):
            raise UsageError("--territory and --target go together, e.g. pre2025:02 and T1")
        try:
            explanation = explain_target(settings.published_path, args.territory, args.target)
        except ValueError as error:
            raise UsageError(str(error)) from error
        text = explanation.to_csv() if args.format == "csv" else explanation.to_text()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    if args.year is None or args.commune is None:
        raise UsageError("explain needs --year and --commune (or --territory and --target)")
    try:
        explanation = explain_value(
            settings.warehouse_path,
            settings.published_path,
            year=args.year,
            commune=args.commune,
            measure=args.measure,
            unit_version=args.unit_version,
        )
    except (KeyError, ValueError, LookupError) as error:
        raise UsageError(str(error)) from error
    text = explanation.to_csv() if args.format == "csv" else explanation.to_text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poverty-warehouse",
        description="Build, validate and publish the household poverty-review warehouse.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("run", help="ingest, build, validate and publish every review year")
    p.add_argument("--raw-dir", help="review exports (default data/raw or $POVERTY_RAW_DIR)")
    p.add_argument("--warehouse-dir", help="output directory (default warehouse)")
    p.add_argument("--years", help="review years to ingest, e.g. 2023 or 2021-2025 (default all)")
    p.set_defaults(handler=run)

    p = commands.add_parser("generate-sample", help="write synthetic review exports")
    p.add_argument("--raw-dir", help="where to write (default data/raw)")
    p.add_argument(
        "--scale",
        default="demo",
        help="tiny, demo, province, national or stress (default demo)",
    )
    p.add_argument("--seed", type=int, default=2025)
    p.add_argument("--years", help="review years, e.g. 2021-2025 (default 2021-2025)")
    p.add_argument("--clean", action="store_true", help="no deliberate mess (bad rows, formats)")
    p.add_argument("--if-empty", action="store_true", help="only when no survey file exists")
    p.set_defaults(handler=generate_sample)

    p = commands.add_parser("rollback", help="restore an earlier published build")
    p.add_argument("build_id")
    p.add_argument("--warehouse-dir")
    p.set_defaults(handler=rollback)

    p = commands.add_parser("builds", help="list the published builds kept for rollback")
    p.add_argument("--warehouse-dir")
    p.set_defaults(handler=builds)

    p = commands.add_parser("explain", help="trace a published number to its source rows")
    p.add_argument("--year", type=int)
    p.add_argument("--commune", help="commune code (leading zeros optional)")
    p.add_argument("--territory", help="a plan target's territory, e.g. pre2025:02 or 2025:08")
    p.add_argument("--target", help="a plan target, e.g. T1 (with --territory)")
    p.add_argument("--measure", default="poor_households")
    p.add_argument("--unit-version", choices=("pre2025", "2025"))
    p.add_argument("--format", choices=("text", "csv"), default="text")
    p.add_argument("--warehouse-dir")
    p.set_defaults(handler=explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"poverty-warehouse: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def entry_point() -> NoReturn:
    """The ``poverty-warehouse`` command: :func:`main`, then a quick exit.

    After a run this process holds some 4,500 modules (Dagster, dbt, Great Expectations, pandas)
    and tearing them down took 1.3-1.5 s of every command once all its output was written
    (measured on the tiny sample). So the exit handlers run and the output is flushed here, and
    the process then ends without that teardown. Every step has already closed its connections
    and files; an exception still ends the process the usual way, with its traceback.
    ``python -m orchestration.cli`` exits the usual way, so that profilers (pyinstrument, py-spy)
    still write their report.
    """
    code = main()
    try:
        atexit._run_exitfuncs()  # logging.shutdown, temporary directories, Dagster's own
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
