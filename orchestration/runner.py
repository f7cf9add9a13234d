"""Running ``poverty_review_job`` for the command: checks, the run lock, the instance, the exit.

``run_review`` is what ``poverty-warehouse run`` does, in this order:

1. everything that can make the input unusable is checked before anything is written (exit 2):
   the raw directory and its layout, the review years, the personal-data key; then it waits
   for files still being copied to settle (``--settle-seconds``, as the raw-files sensor does);
2. the warehouse directory's run lock is taken for the whole run, the dbt subprocess included
   (exit 4 at once, naming the holder, when another run has it); files are created owner-only
   (``umask 077``) and the published files are made readable;
3. the dbt manifest is prepared when it is missing or older than the project (``dbt parse``);
4. the job runs in-process, recorded in the warehouse's Dagster instance (``OUT/dagster_home``,
   so ``make dev`` shows it) unless ``record=False``;
5. the exit: 0 published, 1 the quality gate blocked, 3 the pipeline failed, with its cause in
   one line (disk full, permission, lock wait).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestration.base import background, run_lock
from orchestration.base.dbt_child import start_warm_dbt_early, stop_unadopted_warm_dbt
from orchestration.base.dbt_parse_state import parse_ahead
from orchestration.base.settings import (
    DBT_MANIFEST_PATH,
    DBT_PROJECT_DIR,
    DBT_TARGET_DIR,
    Settings,
    duckdb_memory_limit,
)
from orchestration.instance import (
    HOST_TAG,
    PID_TAG,
    instance_for,
    register_review_years,
    release_dead_claims,
)
from orchestration.progress import Progress, print_summary, progress_logger

EXIT_PUBLISHED = 0
EXIT_GATE_BLOCKED = 1
EXIT_BAD_INPUT = 2
EXIT_PIPELINE_ERROR = 3
EXIT_LOCKED = 4

GATE_CHECK_NAME = "critical_expectations_pass"
# The per-table view of the same results in the UI (printed once, by the gate's own lines).
TABLE_CHECK_NAME = "expectations"
VALIDATION_ASSET = "audit/validation_results"
PUBLISHED_ASSET = "published/published_warehouse"
DBT_STEP = "warehouse_dbt_assets"
MANIFEST = DBT_MANIFEST_PATH
# What makes the manifest stale: the project's own files, not dbt's output folders.
_PROJECT_INPUTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests")


class UsageError(Exception):
    """Unusable input or arguments: exit 2 with the message, nothing written."""


class PipelineError(Exception):
    """The pipeline failed outside the job (the manifest, the instance): exit 3."""


@dataclass(frozen=True)
class RunOptions:
    years: tuple[int, int] | None = None
    record: bool = True
    settle_s: float | None = None
    """Seconds a file's size and mtime must stay unchanged before it is read (None: the
    ``POVERTY_SETTLE_SECONDS`` setting, 30 s by default)."""


# -- 1. The checks before anything is written ---------------------------------------------------


def check_input(settings: Settings, wanted: tuple[int, int] | None) -> list[int]:
    """The review years to run; :class:`UsageError` for anything unusable. Writes nothing."""
    if not settings.raw_dir.is_dir():
        raise UsageError(f"raw directory {settings.raw_dir} does not exist")
    found = _layout_years(settings.raw_dir)
    years = [y for y in found if wanted is None or wanted[0] <= y <= wanted[1]]
    if not years:
        where = f" within {wanted[0]}-{wanted[1]}" if wanted else ""
        raise UsageError(
            f"no review year found{where} under {settings.raw_dir} "
            "(expected survey/<year>/*.csv|*.xlsx, see data/raw/README.md)"
        )
    if settings.warehouse_dir.exists() and not settings.warehouse_dir.is_dir():
        raise UsageError(f"--warehouse-dir {settings.warehouse_dir} is not a directory")
    _check_pii_key()
    _check_read_limits()
    return years


def _layout_years(raw_dir: Path) -> list[int]:
    """The review years on disk, after the ingest's own layout check (exit 2 when it fails)."""
    from orchestration.ingest import RawLayoutError, validate_raw_dir

    try:
        return list(validate_raw_dir(raw_dir).years)
    except RawLayoutError as error:
        raise UsageError(str(error)) from error


def _check_read_limits() -> None:
    from orchestration.ingest import LimitError, ReadLimits

    try:
        ReadLimits.from_environment()
    except LimitError as error:
        raise UsageError(str(error)) from error


def _check_pii_key() -> None:
    from orchestration.base.pii import PiiKeyError, load_or_create_pii_key

    try:
        load_or_create_pii_key()
    except PiiKeyError as error:
        raise UsageError(f"personal-data key: {error}") from error


def wait_for_files(settings: Settings, years: list[int], settle_s: float | None) -> None:
    """Wait until every file of the run has settled (the raw-files sensor's rule), saying which
    files are awaited: a file still being copied is never read half-written."""
    from orchestration.ingest.raw_watch import settle_seconds, wait_until_settled

    try:
        seconds = settle_seconds() if settle_s is None else settle_s
    except ValueError as error:
        raise UsageError(str(error)) from error
    if seconds < 0:
        raise UsageError("--settle-seconds must be 0 or more")

    def tell(waiting) -> None:
        print(
            f"waiting for {len(waiting)} file(s) to settle (size and modification time unchanged "
            f"for {seconds:g} s): " + "; ".join(w.describe(seconds) for w in waiting[:5]),
            file=sys.stderr,
            flush=True,
        )

    if seconds > 0:
        wait_until_settled(settings.raw_dir, years, settle_s=seconds, on_wait=tell)


# -- 2. The lock and the permissions ------------------------------------------------------------

OWNER_ONLY = ("warehouse.duckdb", "warehouse.duckdb.wal", "builds", "logs", "dagster_home")
READABLE = ("published.duckdb", "published", "report")


def prepare_warehouse_dir(settings: Settings) -> None:
    """The warehouse directory itself stays reachable (the published files are for everyone);
    what holds household rows or run records is the owner's only."""
    out = settings.warehouse_dir
    if not out.exists():
        out.mkdir(parents=True)
        out.chmod(0o755)
    for name in OWNER_ONLY:
        path = out / name
        if name in ("builds", "logs", "dagster_home"):
            path.mkdir(exist_ok=True)
        if path.exists():
            _chmod_tree(path, 0o700, 0o600)


def open_published_files(settings: Settings) -> None:
    """Readable published outputs, whatever the umask they were written under."""
    for name in READABLE:
        path = settings.warehouse_dir / name
        if path.exists():
            _chmod_tree(path, 0o755, 0o644)


def _chmod_tree(path: Path, dir_mode: int, file_mode: int) -> None:
    if path.is_dir():
        path.chmod(dir_mode)
        for child in path.rglob("*"):
            if not child.is_symlink():
                child.chmod(dir_mode if child.is_dir() else file_mode)
    else:
        path.chmod(file_mode)


# -- 3. The dbt manifest ------------------------------------------------------------------------


def manifest_is_current(manifest: Path = MANIFEST) -> bool:
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    for name in _PROJECT_INPUTS:
        path = DBT_PROJECT_DIR / name
        candidates = path.rglob("*") if path.is_dir() else [path]
        if any(p.is_file() and p.stat().st_mtime > built for p in candidates):
            return False
    return True


def ensure_manifest(settings: Settings) -> bool:
    """``dbt parse`` when the manifest is missing or stale; True when it parsed. ``make
    manifest`` parses the same way (through the dbt child) and keeps its parse too.

    Several commands (on different warehouses) may start at once: the parse is serialised by a
    lock in dbt's target folder, and each looks again once it holds it. When the warehouse's
    directory exists, dbt parses for the file's name (``orchestration/base/dbt_child.py``), so
    the parse is kept as the first build's starting point
    (``orchestration/base/dbt_parse_state.py``): on a fresh clone the first build does not parse
    the project a second time.
    """
    if manifest_is_current():
        return False
    DBT_TARGET_DIR.mkdir(exist_ok=True)
    with run_lock.hold(DBT_TARGET_DIR, "dbt parse", timeout_s=300):
        if manifest_is_current():
            return False
        from orchestration.base.dbt_child import gives_the_name
        from orchestration.base.dbt_parse_state import keep_parse_state, parse_state
        from orchestration.base.resources import dbt_resource

        resource = dbt_resource(settings)
        by_name = gives_the_name(settings.warehouse_path)
        args = [
            resource.dbt_executable,
            *resource.global_config_flags,
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ]
        done = subprocess.run(args, capture_output=True, text=True, cwd=DBT_PROJECT_DIR)
        if done.returncode != 0:
            detail = (done.stdout + done.stderr).strip().splitlines()
            raise PipelineError(
                "dbt parse failed while preparing the manifest: "
                + (detail[-1] if detail else f"exit {done.returncode}")
            )
        if by_name:
            keep_parse_state(
                DBT_TARGET_DIR, parse_state(str(settings.warehouse_path), resource.memory_limit)
            )
    return True


# -- 4. What the run reads and warms up (its instance: orchestration/instance.py) -------------


def _raw_files(raw_dir: Path, years: list[int]) -> Iterator[tuple[str, int, list[Path]]]:
    """(dataset, year, the files the run reads) per dataset-year, links left out, from one
    listing of the directory."""
    from orchestration.ingest import DATASETS, validate_raw_dir

    layout = validate_raw_dir(raw_dir)
    for dataset in DATASETS:
        for year in years:
            files = [p for p in layout.read_paths(dataset, year) if not p.is_symlink()]
            yield dataset, year, files


def raw_file_count(raw_dir: Path, years: list[int]) -> int:
    """How many files the run reads (what the progress display counts down)."""
    return sum(len(files) for _, _, files in _raw_files(raw_dir, years))


def _warm_later_stages() -> None:
    """Import Great Expectations in a background thread while dbt builds.

    The gate imports GX lazily (2 s) so that the code server and every other command start
    without it. A run knows it will need it, and while the dbt subprocess works this process's
    interpreter only stores dbt's events; started earlier, the import competed for the
    interpreter with Dagster's own start-up and cost as much as it saved. A failure here is
    ignored: the gate imports it again and reports its own error.

    SQLAlchemy's ORM is imported here, on the run's thread, first: Great Expectations imports it,
    and the run's event storage, which stores dbt's events as they stream, failed on it half
    imported by the thread (``'_NoValueInList' object has no attribute '_sa_instance_state'``).
    Once it is imported, Great Expectations imports no other SQLAlchemy module.
    """
    import sqlalchemy.orm  # noqa: F401

    def warm() -> None:
        with contextlib.suppress(Exception):
            import orchestration.gate.gx_duckdb  # noqa: F401

    threading.Thread(target=warm, name="warm-later-stages", daemon=True).start()


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


# -- The run ------------------------------------------------------------------------------------


def run_review(settings: Settings, options: RunOptions, progress: Progress | None = None) -> int:
    """``poverty-warehouse run``: the exit status of the contract (0-4)."""
    years = check_input(settings, options.years)
    wait_for_files(settings, years, options.settle_s)
    with _umask(0o077):
        try:
            prepare_warehouse_dir(settings)
            run_lock.acquire(settings.warehouse_dir, "poverty-warehouse run")
        except run_lock.LockHeldError as held:
            print(f"poverty-warehouse: {busy_message(held)}", file=sys.stderr)
            return EXIT_LOCKED
        except OSError as error:
            return report_failure(f"cannot prepare {settings.warehouse_dir}", error)
        progress = progress or Progress()
        try:
            return _run_locked(settings, options, years, progress)
        except PipelineError as error:
            print(f"poverty-warehouse: {describe_cause(str(error))}", file=sys.stderr)
            return EXIT_PIPELINE_ERROR
        except Exception as error:  # a bug or the machine: exit 3, never 1 (the gate's)
            progress.close_bar()
            # A step failed first (a full disk under the warehouse) and the run then broke
            # while unwinding (Dagster's own records on the same full disk, so the step's
            # failure may not even have been recorded): the step's failure is the cause, the
            # later error only goes in brackets and with the traceback.
            if progress.failed_steps:
                step, message = progress.failed_steps[0]
                return _first_failure(progress, settings, error, step, message)
            first = _first_raised(progress.step_errors[0] if progress.step_errors else error)
            if first is not error and progress.running_step:
                message = f"{type(first).__name__}: {first}"
                return _first_failure(progress, settings, error, progress.running_step, message)
            return report_failure(
                f"the run failed ({publication(progress, settings)})", error, settings
            )
        finally:
            with contextlib.suppress(OSError):
                open_published_files(settings)
            run_lock.release(settings.warehouse_dir)


def _run_locked(
    settings: Settings, options: RunOptions, years: list[int], progress: Progress
) -> int:
    progress.line(
        f"poverty_review_job: review years {', '.join(map(str, years))} from {settings.raw_dir} "
        f"into {settings.warehouse_dir}"
    )
    if ensure_manifest(settings):
        progress.line("prepared dbt's manifest (dbt parse)")
    # dbt imports itself and parses the project on the second core while this process imports
    # Dagster; the run's dbt resource adopts it (orchestration/base/dbt_child.py).
    warm_dbt = start_warm_dbt_early(
        parse_ahead(str(settings.warehouse_path), duckdb_memory_limit())
    )
    try:
        return _run_job(settings, options, years, progress, warm_dbt)
    finally:
        stop_unadopted_warm_dbt(warm_dbt)


def _run_job(
    settings: Settings,
    options: RunOptions,
    years: list[int],
    progress: Progress,
    warm_dbt: str | None,
) -> int:
    from orchestration.base.partitions import review_year_partitions
    from orchestration.base.resources import (
        INGEST_LISTENERS,
        WAREHOUSE_ERROR_LISTENERS,
        build_resources,
    )
    from orchestration.definitions import POVERTY_REVIEW_JOB, build_definitions

    keys = [str(y) for y in years]
    instance = instance_for(settings, options.record)
    for run_id in release_dead_claims(instance):
        progress.line(f"released the warehouse pool slot held by dead run {run_id}")
    register_review_years(instance, review_year_partitions.name, keys)
    # The ingest records the raw_files observations itself, in every run whoever launched it.
    progress.expect_files(raw_file_count(settings.raw_dir, years))

    # Once dbt is building, not at its step's start: a dbt step that does not run dbt yields its
    # outputs at once, and the main thread's event storage then met SQLAlchemy's ORM half
    # imported by this thread (a circular import, "partially initialized module").
    progress.on_dbt_building.append(_warm_later_stages)
    definitions = build_definitions(build_resources(settings, warm_dbt))
    job = definitions.resolve_job_def(POVERTY_REVIEW_JOB).with_logger_defs(
        {"progress": progress_logger(progress)}
    )
    # dagster-dbt echoes dbt's whole text log on stdout (for the UI's compute logs); here it goes
    # to a file beside the warehouse, and the terminal keeps one line per stage.
    log_path = settings.logs_dir / f"run-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    INGEST_LISTENERS.append(progress.ingest_file)
    WAREHOUSE_ERROR_LISTENERS.append(progress.step_errors.append)
    try:
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
    finally:
        INGEST_LISTENERS.remove(progress.ingest_file)
        WAREHOUSE_ERROR_LISTENERS.remove(progress.step_errors.append)
        progress.close_bar()
        # Work a step left running (the gate's Data Docs when the publish did not wait for it).
        for message in background.finish():
            progress.line(f"warning: {message}")
    progress.line(f"run log: {log_path}")
    return _finish(result, progress, settings)


def _finish(result, progress: Progress, settings: Settings) -> int:
    if result.success:
        progress.line(f"run {result.run_id} succeeded")
        open_published_files(settings)
        print_summary(settings.published_path, settings.warehouse_path)
        return EXIT_PUBLISHED
    # Any failed data check blocks the publish: the Great Expectations gate, a dbt data test
    # (surfaced as an asset check; the dbt step then fails too) or the ingest's row balance. A
    # step that failed for another reason (a full disk, a bug) makes it exit 3 instead.
    if progress.failed_checks and not _failures_beyond_checks(progress):
        print("\nThe quality gate blocked publishing; the published warehouse is untouched.")
        _print_gate_failures(settings, progress)
        print(f"Last good publish: {settings.published_path}")
        return EXIT_GATE_BLOCKED
    step, message = progress.failed_steps[0] if progress.failed_steps else ("the run", "")
    print(
        f"poverty-warehouse: {step} failed: {describe_cause(message)}; "
        f"{publication(progress, settings)}",
        file=sys.stderr,
    )
    return EXIT_PIPELINE_ERROR


def publication(progress: Progress, settings: Settings) -> str:
    """Whether this run's build went live, judged by the published file itself."""
    from orchestration.publish.builds import live_build_id

    published = progress.materializations.get(PUBLISHED_ASSET, {}).get("build_id")
    build = published or progress.materializations.get(VALIDATION_ASSET, {}).get("build_id")
    if build and live_build_id(settings.warehouse_dir) == build:
        return f"build {build} WAS published to {settings.published_path}"
    return "nothing was published; the previous published files are untouched"


def _failures_beyond_checks(progress: Progress) -> list[str]:
    """The failed steps a failed check does not explain: not the dbt step (its tests), not a
    check's own step, not a step Dagster stopped because a blocking check failed (the raw
    assets' row balance, checked in their own steps)."""
    checks = {name for name, _, _ in progress.failed_checks}
    return [
        step
        for step, message in progress.failed_steps
        if step != DBT_STEP
        and not any(step.endswith(name) for name in checks)
        and not (checks and "DagsterAssetCheckFailedError" in message)
    ]


def _print_gate_failures(settings: Settings, progress: Progress) -> None:
    build_id = progress.materializations.get(VALIDATION_ASSET, {}).get("build_id")
    if build_id and any(name == GATE_CHECK_NAME for name, _, _ in progress.failed_checks):
        from orchestration.gate.results import failed_expectations, format_failures

        print(format_failures(failed_expectations(settings.warehouse_path, build_id)))
    for name, target, description in progress.failed_checks:
        if name not in (GATE_CHECK_NAME, TABLE_CHECK_NAME):
            print(
                f"- check {name} on {target} failed" + (f": {description}" if description else "")
            )


_CAUSES = (
    (re.compile(r"no space left|disk full|file too large|quota exceeded", re.I), "disk full"),
    (
        re.compile(r"permission denied|read-only file system|operation not permitted", re.I),
        "permission denied",
    ),
    (re.compile(r"is in use by|could not set lock", re.I), "lock wait timed out"),
    # SQLite's word for a write the disk refused (the Dagster records).
    (re.compile(r"disk i/o error", re.I), "disk full or failing"),
)
_ERRNO_CAUSES = {
    errno.ENOSPC: "disk full",
    errno.EFBIG: "disk full (file size limit)",
    errno.EDQUOT: "disk full (quota)",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "permission denied (read-only file system)",
}


def describe_cause(message: str) -> str:
    """One line: the kind of failure people can act on, then the error's own first line."""
    first = " ".join(message.strip().splitlines()[:1]) or "unknown error (see the run log)"
    for pattern, cause in _CAUSES:
        if pattern.search(message):
            return f"{cause}: {first}"
    return first


def busy_message(held: run_lock.LockHeldError) -> str:
    """What every command says when a run holds the warehouse directory (exit 4)."""
    return f"{held.lock_path.parent} is in use by {held.holder}; nothing was done"


def _cause(error: BaseException) -> str:
    cause = _ERRNO_CAUSES.get(getattr(error, "errno", None) or -1)
    if cause is not None:
        return f"{cause}: {error}"
    return describe_cause(f"{type(error).__name__}: {error}")


def _write_traceback(error: BaseException, settings: Settings | None) -> str:
    """`` (traceback: OUT/logs/failure-….log)`` when it could be written there, else ``""``."""
    if settings is None or not settings.warehouse_dir.is_dir():
        return ""
    path = settings.logs_dir / f"failure-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
    try:
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
    except OSError:
        return ""
    return f" (traceback: {path})"


def report_failure(what: str, error: BaseException, settings: Settings | None = None) -> int:
    """One line on stderr naming the cause; the traceback in ``OUT/logs`` when it can be written."""
    where = _write_traceback(error, settings)
    print(f"poverty-warehouse: {what}: {_cause(error)}{where}", file=sys.stderr)
    return EXIT_PIPELINE_ERROR


def _first_raised(error: BaseException) -> BaseException:
    """The first exception of the chain that ``error`` ends (its causes and contexts)."""
    seen = {id(error)}
    while True:
        earlier = error.__cause__ or error.__context__
        if earlier is None or id(earlier) in seen:
            return error
        seen.add(id(earlier))
        error = earlier


def _first_failure(
    progress: Progress, settings: Settings, error: BaseException, step: str, message: str
) -> int:
    """The first step that failed, as the last line; what broke later goes in brackets."""
    where = _write_traceback(error, settings)
    later = " ".join(_cause(error).splitlines()[:1])
    print(
        f"poverty-warehouse: {step} failed: {describe_cause(message)}; "
        f"{publication(progress, settings)} (then, while stopping: {later}{where})",
        file=sys.stderr,
    )
    return EXIT_PIPELINE_ERROR
