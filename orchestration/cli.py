"""``poverty-warehouse``: the command data engineers and the demo use (arguments and output).

``run`` executes the same ``poverty_review_job`` the Dagster UI shows, in-process, over every
review year found (``orchestration/runner.py``: checks, run lock, exit status;
``orchestration/instance.py``: the Dagster instance), with a live progress display
(``orchestration/progress.py``). The other commands list and restore the kept builds, explain a
published number and write a synthetic sample.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from typing import NoReturn

import duckdb

from orchestration.base import run_lock
from orchestration.base.collector import collect_less_often
from orchestration.base.settings import get_settings
from orchestration.instance import (
    HOST_TAG,
    PID_TAG,
    register_review_years,
    release_dead_claims,
)
from orchestration.runner import (
    EXIT_BAD_INPUT,
    EXIT_GATE_BLOCKED,
    EXIT_LOCKED,
    EXIT_PIPELINE_ERROR,
    EXIT_PUBLISHED,
    RunOptions,
    UsageError,
    busy_message,
    report_failure,
    run_review,
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_GATE_BLOCKED",
    "EXIT_LOCKED",
    "EXIT_PIPELINE_ERROR",
    "EXIT_PUBLISHED",
    "HOST_TAG",
    "PID_TAG",
    "UsageError",
    "entry_point",
    "main",
]

# Kept for callers of the earlier names.
_release_dead_claims = release_dead_claims
_register_review_years = register_review_years

EXIT_CODES = """\
exit status of `run`:
  0  published (warnings, if any, are named in the summary and in validation_summary)
  1  the quality gate blocked publishing (each failed expectation is named; the previous
     published files are untouched)
  2  unusable input or arguments, found before anything is written (no review year, a
     malformed folder or file name, a year no poverty standard covers, a personal-data key
     that is missing, too short or readable by others)
  3  the pipeline failed (a bug, a full disk, a permission): the cause in one line, and
     whether the new build was published
  4  another run holds this warehouse directory (OUT/.lock names it); nothing was done

the other commands exit 0 when done, 2 for unusable arguments (a build id that is not kept, a
commune with no published row), 3 for any other failure (one line naming the cause, the
traceback under OUT/logs/) and 4, with run's message, while a run writes the warehouse and the
answer needs it (explain of a commune's rows, rollback); builds and explain --territory read the
published file, which a run replaces whole, and answer during a run.
"""

ENVIRONMENT = """\
environment:
  POVERTY_RAW_DIR, POVERTY_WAREHOUSE_DIR   defaults of --raw-dir and --warehouse-dir
  POVERTY_DUCKDB_MEMORY_LIMIT              DuckDB's memory limit (default 2.5GB)
  POVERTY_PII_KEY                          hex key for the personal-data hash
  DAGSTER_HOME                             record runs in this Dagster instance instead of
                                           OUT/dagster_home
relative paths are taken from the current directory.
"""


def _version() -> str:
    try:
        return installed_version("poverty-warehouse")
    except PackageNotFoundError:  # run from a source tree without installing
        return "unknown"


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


def run(args: argparse.Namespace) -> int:
    settings = get_settings(args.raw_dir, args.warehouse_dir)
    options = RunOptions(
        years=_parse_years(args.years), record=not args.no_record, settle_s=args.settle_seconds
    )
    return run_review(settings, options)


def generate_sample(args: argparse.Namespace) -> int:
    from orchestration.sample import NoStandardError
    from orchestration.sample import generate_sample as generate

    settings = get_settings(args.raw_dir, None)
    survey_dir = settings.raw_dir / "survey"
    if args.if_empty and survey_dir.is_dir() and any(survey_dir.rglob("*.*")):
        print(f"{survey_dir} already holds survey files; not generating a sample.")
        return 0
    years = _parse_years(args.years)
    started = time.monotonic()
    try:
        summary = generate(
            settings.raw_dir,
            scale=args.scale,
            seed=args.seed,
            years=tuple(range(years[0], years[1] + 1)) if years else None,
            messy=not args.clean,
        )
    except NoStandardError as error:
        raise UsageError(str(error)) from error
    elapsed = time.monotonic() - started
    print(
        f"Synthetic review exports ({args.scale}, seed {args.seed}) written to "
        f"{settings.raw_dir}: {len(summary.files)} files in {elapsed:.1f}s"
    )
    return 0


def _not_busy(settings) -> None:
    """``LockHeldError`` (exit 4, run's message) while another process holds the run lock."""
    holder = run_lock.held_by_another(settings.warehouse_dir)
    if holder is not None:
        raise run_lock.LockHeldError(run_lock.lock_path(settings.warehouse_dir), holder, 0.0)


def rollback(args: argparse.Namespace) -> int:
    from orchestration.publish.rollback import rollback as restore

    settings = get_settings(None, args.warehouse_dir)
    if not settings.warehouse_dir.is_dir():
        raise UsageError(f"{settings.warehouse_dir} does not exist: nothing to roll back")
    # A rollback replaces the published files as a publish does: one at a time, so it takes the
    # run lock (exit 4 while a run holds it).
    try:
        with run_lock.hold(settings.warehouse_dir, "poverty-warehouse rollback"):
            path = restore(settings.warehouse_dir, args.build_id)
    except (FileNotFoundError, KeyError, ValueError) as error:
        raise UsageError(str(error)) from error
    print(f"Restored build {args.build_id} as {path}")
    return 0


def builds(args: argparse.Namespace) -> int:
    """Reads ``builds/`` and the published file only, which a run replaces whole (renamed in):
    it answers during a run."""
    from orchestration.publish.builds import foreign_builds, list_builds, live_build_id

    settings = get_settings(None, args.warehouse_dir)
    builds_kept = list_builds(settings.warehouse_dir)
    if not builds_kept:
        print(f"No published build is kept in {settings.builds_dir}.")
    live = live_build_id(settings.warehouse_dir)
    for build in builds_kept:
        when = f"{build.modified_at:%Y-%m-%d %H:%M:%S} UTC"
        mark = "  (live: published.duckdb)" if build.build_id == live else ""
        print(f"{build.build_id}  {when}  {build.size_bytes:>12,} bytes{mark}")
    if live and all(build.build_id != live for build in builds_kept):
        print(f"published.duckdb serves build {live}, which is not kept for rollback.")
    for build, problem in foreign_builds(settings.warehouse_dir):
        print(f"builds/{build.path.name} is not a published build ({problem}); never served")
    return 0


def diff(args: argparse.Namespace) -> int:
    """What changed between two kept builds (default: the live one against the one before)."""
    from orchestration.publish.builds import list_builds, live_build_id
    from orchestration.publish.publish_changes import diff_builds, format_changes, previous_build_id

    settings = get_settings(None, args.warehouse_dir)
    kept = {build.build_id: build.path for build in list_builds(settings.warehouse_dir)}
    listed = ", ".join(kept) or "none"
    newer = args.build_b or live_build_id(settings.warehouse_dir)
    if newer is None or newer not in kept:
        raise UsageError(f"{newer or 'no live build'}: not a kept build id (kept: {listed})")
    older = args.build_a
    if older is None:
        older = previous_build_id(kept[newer])
        if older not in kept:
            # The build it was compared with is no longer kept: the next older kept one.
            ids = list(kept)
            older = ids[ids.index(newer) + 1] if ids.index(newer) + 1 < len(ids) else None
        if older is None:
            raise UsageError(f"build {newer} has no earlier kept build to compare with")
    if older not in kept:
        raise UsageError(f"{older!r} is not a kept build id (kept: {listed})")
    rows = diff_builds(kept[older], kept[newer])
    if args.format != "text":
        text = format_changes(rows, args.format)
    elif rows:
        text = f"Changes from build {older} to build {newer} ({len(rows)}):\n"
        text += format_changes(rows)
    else:
        text = f"No change from build {older} to build {newer}."
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def explain(args: argparse.Namespace) -> int:
    from orchestration.serve.explain import explain as explain_value

    settings = get_settings(None, args.warehouse_dir)
    for path in (settings.warehouse_path, settings.published_path):
        if not path.exists():
            raise UsageError(f"{path} does not exist: run `poverty-warehouse run` first")
    if args.territory or args.target:
        from orchestration.serve.explain_crosswalk import explain_territory_crosswalk
        from orchestration.serve.explain_targets import explain_target

        if not args.territory:
            raise UsageError("--target needs --territory, e.g. pre2025:02 and T1")
        try:
            crosswalk = explain_territory_crosswalk(settings.published_path, args.territory)
            explanation = (
                explain_target(settings.published_path, args.territory, args.target)
                if args.target
                else None
            )
        except ValueError as error:
            raise UsageError(str(error)) from error
        if explanation is None:
            text = crosswalk.to_text()
        elif args.format == "csv":
            text = explanation.to_csv()
        else:
            text = explanation.to_text().rstrip("\n") + "\n" + crosswalk.to_text()
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    if args.year is None or args.commune is None:
        raise UsageError("explain needs --year and --commune (or --territory, with --target)")
    # The household rows are in the working warehouse, which a run rewrites step by step.
    _not_busy(settings)
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
    except duckdb.IOException as error:
        # A run took the warehouse between the look above and the open.
        if "lock" not in str(error).lower():
            raise
        path = run_lock.lock_path(settings.warehouse_dir)
        raise run_lock.LockHeldError(path, run_lock.holder_of(path), 0.0) from error
    text = explanation.to_csv() if args.format == "csv" else explanation.to_text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _measures() -> list[str]:
    from orchestration.serve.explain import measures

    return list(measures())


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Epilogs as written (the defaults are in each flag's help)."""


_MEASURES_EPILOG = "measures: (read from commune_year's YAML when this help is printed)"


class _ExplainFormatter(_Formatter):
    """``explain``'s epilog lists the measures, read only when its help is printed: reading
    them (the explain module and commune_year's YAML, about 0.1 s) is not every command's
    start-up."""

    def add_text(self, text: str | None) -> None:
        if text == _MEASURES_EPILOG:
            text = "measures: " + ", ".join(_measures())
        super().add_text(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poverty-warehouse",
        description="Build, validate and publish the household poverty-review warehouse.",
        epilog=EXIT_CODES + "\n" + ENVIRONMENT,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    warehouse_help = "warehouse directory (default $POVERTY_WAREHOUSE_DIR or warehouse)"

    p = commands.add_parser(
        "run",
        help="ingest, build, validate and publish every review year",
        description=(
            "Ingest every review year found under the raw directory, rebuild the warehouse with "
            "dbt, validate it with Great Expectations and, when the gate passes, publish "
            "OUT/published.duckdb. One run at a time per warehouse directory."
        ),
        epilog=EXIT_CODES,
        formatter_class=_Formatter,
    )
    p.add_argument(
        "--raw-dir", help="review exports (default $POVERTY_RAW_DIR or data/raw)", default=None
    )
    p.add_argument("--warehouse-dir", help=warehouse_help + " (OUT)", default=None)
    p.add_argument(
        "--years", help="review years to ingest, e.g. 2023 or 2021-2025 (default all found)"
    )
    p.add_argument(
        "--no-record",
        action="store_true",
        help="do not record the run in OUT/dagster_home for the Dagster UI (a little faster)",
    )
    p.add_argument(
        "--settle-seconds",
        type=float,
        default=None,
        metavar="S",
        help=(
            "read a file only once its size and modification time have not changed for S "
            "seconds, waiting for files still being copied (default $POVERTY_SETTLE_SECONDS or "
            "30; 0 reads at once)"
        ),
    )
    p.set_defaults(handler=run)

    p = commands.add_parser(
        "generate-sample", help="write synthetic review exports", formatter_class=_Formatter
    )
    p.add_argument("--raw-dir", help="where to write (default $POVERTY_RAW_DIR or data/raw)")
    p.add_argument(
        "--scale",
        default="demo",
        choices=("tiny", "demo", "province", "national", "stress"),
        help="how many communes and households (default demo)",
    )
    p.add_argument(
        "--seed", type=int, default=2025, help="random seed: same seed, same files (default 2025)"
    )
    p.add_argument(
        "--years",
        help="review years, e.g. 2019-2027 (default 2021-2027 for demo, else 2021-2025)",
    )
    p.add_argument("--clean", action="store_true", help="no deliberate mess (bad rows, formats)")
    p.add_argument(
        "--if-empty", action="store_true", help="do nothing when survey files already exist"
    )
    p.set_defaults(handler=generate_sample)

    p = commands.add_parser(
        "rollback",
        help="serve an earlier published build again",
        description="Copy a kept build over published.duckdb (atomically). `builds` lists them.",
        formatter_class=_Formatter,
    )
    p.add_argument("build_id", help="a build id as `builds` lists it")
    p.add_argument("--warehouse-dir", help=warehouse_help)
    p.set_defaults(handler=rollback)

    p = commands.add_parser(
        "builds",
        help="list the published builds kept for rollback, marking the live one",
        formatter_class=_Formatter,
    )
    p.add_argument("--warehouse-dir", help=warehouse_help)
    p.set_defaults(handler=builds)

    p = commands.add_parser(
        "diff",
        help="what changed between two published builds",
        description=(
            "List what changed from BUILD_A to BUILD_B, both kept builds as `builds` lists them: "
            "input files, commune figures (every commune_year value), target verdicts and table "
            "sizes, as publish_changes stores them for each publish. Default: the live build "
            "against the one before it; with BUILD_A only, BUILD_A against the live build."
        ),
        formatter_class=_Formatter,
    )
    p.add_argument("build_a", nargs="?", help="the older build (default: the one before BUILD_B)")
    p.add_argument("build_b", nargs="?", help="the newer build (default: the live one)")
    p.add_argument(
        "--format",
        choices=("text", "csv", "json"),
        default="text",
        help="text for people, csv or json for tools (default text)",
    )
    p.add_argument("--warehouse-dir", help=warehouse_help)
    p.set_defaults(handler=diff)

    p = commands.add_parser(
        "explain",
        help="trace a published number to its source rows",
        description=(
            "Print a commune's published value of a measure, the poverty standard's rule "
            "applied, and every household row counted in it with its file and row number; or, "
            "with --territory and --target, the series a plan target used year by year and the "
            "arithmetic of its actual value and status; with --territory, the suspect or "
            "corrected crosswalk links the territory's figures across 2025 rest on."
        ),
        epilog=_MEASURES_EPILOG,
        formatter_class=_ExplainFormatter,
    )
    p.add_argument("--year", type=int, help="review year, e.g. 2024 (with --commune)")
    p.add_argument("--commune", help="commune code, leading zeros optional (with --year)")
    p.add_argument(
        "--territory",
        help="a territory, e.g. pre2025:02 or 2025:08: its crosswalk links (and --target's series)",
    )
    p.add_argument("--target", help="a plan target, e.g. T1 (with --territory)")
    p.add_argument(
        "--measure",
        default="poor_households",
        metavar="MEASURE",
        help="a count or rate column of commune_year, listed below (default poor_households)",
    )
    p.add_argument(
        "--unit-version",
        choices=("pre2025", "2025"),
        help="administrative units of the commune code (default: those of the review year)",
    )
    p.add_argument(
        "--format",
        choices=("text", "csv"),
        default="text",
        help="text for people, csv for a spreadsheet (default text)",
    )
    p.add_argument("--warehouse-dir", help=warehouse_help)
    p.set_defaults(handler=explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Every command answers in one line when it fails: 2 unusable arguments, 4 a run holds the
    warehouse, 3 anything else (the traceback under ``OUT/logs/``)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except UsageError as error:
        print(f"poverty-warehouse: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except run_lock.LockHeldError as held:
        print(f"poverty-warehouse: {busy_message(held)}", file=sys.stderr)
        return EXIT_LOCKED
    except Exception as error:
        settings = get_settings(None, getattr(args, "warehouse_dir", None))
        return report_failure(f"{args.command} failed", error, settings)


def entry_point() -> NoReturn:
    """The ``poverty-warehouse`` command: :func:`main`, then a quick exit.

    After a run this process holds some 4,500 modules (Dagster, dbt, Great Expectations, pandas),
    and tearing them down takes longer than anything left to do once all output is written. So
    the exit handlers run and the output is flushed here, and the process then ends without that
    teardown. Every step has already closed its connections and files; an exception still ends
    the process the usual way, with its traceback. ``python -m orchestration.cli`` exits the
    usual way, so that profilers (pyinstrument, py-spy) still write their report.

    Both set the garbage collector for a process that imports a lot first
    (``orchestration/base/collector.py``).
    """
    collect_less_often()
    code = main()
    try:
        atexit._run_exitfuncs()  # logging.shutdown, temporary directories, Dagster's own
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    os._exit(code)


if __name__ == "__main__":
    collect_less_often()
    sys.exit(main())
