"""Resources keyed by role: the working warehouse (path, settings, run lock) and the dbt project.

``WarehouseResource`` is the one owner of the warehouse: its directory and files, DuckDB's
memory limit and progress bar on every connection (through
``orchestration.base.warehouse_connection``), and the run lock (``orchestration.base.run_lock``)
for every Dagster run that writes the warehouse, whichever instance launched it. The dbt resource
hands the same path and memory limit to the dbt subprocess in that subprocess's environment.

Connections are opened inside steps only (never at import time): the ``dagster dev`` code server
imports this module, and any open handle on the DuckDB file, even read-only, blocks the dbt
subprocess.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

import duckdb
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    InitResourceContext,
    InputContext,
    OutputContext,
    RetryRequested,
)
from dagster_dbt import DbtCliResource, DbtProject
from dagster_duckdb import DuckDBResource
from packaging.version import Version
from pydantic import PrivateAttr

from orchestration.base import run_lock
from orchestration.base.dbt_child import (
    WARM_FLAG,
    WarmDbt,
    start_warm_dbt,
    stop_warm_dbt,
    warm_dbt_name,
)
from orchestration.base.dbt_parse_state import parse_ahead
from orchestration.base.settings import (
    DBT_PROJECT_DIR,
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    Settings,
    duckdb_memory_limit,
    get_settings,
)
from orchestration.base.warehouse_connection import connect

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)

LOCK_WAIT_S = 600.0
"""How long a Dagster run waits for another run of the same warehouse directory to finish."""
LOCK_RETRIES = 3
LOCK_RETRY_WAIT_S = 30
"""A step that meets a lock on the warehouse file (a BI tool or a shell holding
``warehouse.duckdb`` open, dbt refused the file) is tried again this many times, this long apart."""
_LOCK_ERROR = re.compile(r"could not set lock|conflicting lock|is in use by", re.I)


def is_lock_error(error: BaseException) -> bool:
    """A transient lock on the warehouse, as DuckDB, dbt or the run lock word it."""
    return isinstance(error, run_lock.LockHeldError) or bool(_LOCK_ERROR.search(str(error)))


@contextlib.contextmanager
def retry_on_lock() -> Iterator[None]:
    """Turn a lock error inside a step into Dagster's retry of the step (``RetryRequested``):
    the retry policy for transient lock errors; any other error fails the step at once."""
    try:
        yield
    except Exception as error:
        if is_lock_error(error):
            raise RetryRequested(
                max_retries=LOCK_RETRIES, seconds_to_wait=LOCK_RETRY_WAIT_S
            ) from error
        raise


class WarehouseResource(DuckDBResource):
    """The working warehouse: where it is, how it is opened, and one run at a time.

    ``database`` is ``<warehouse_dir>/warehouse.duckdb`` unless given. Every connection gets the
    memory limit and no progress bar. A Dagster run takes the directory's run lock when its
    resources start (waiting up to ``lock_wait_s`` for another run, then failing with the
    holder named) and gives it back when they stop; in the command's process the command
    holds it already. Outside a run, each connection holds the lock while it is open.
    """

    raw_dir: str
    warehouse_dir: str
    database: str = ""  # derived from warehouse_dir when empty
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    lock_wait_s: float = LOCK_WAIT_S
    _run_holds: int = PrivateAttr(default=0)

    @property
    def settings(self) -> Settings:
        return Settings(raw_dir=Path(self.raw_dir), warehouse_dir=Path(self.warehouse_dir))

    @property
    def warehouse_path(self) -> Path:
        return Path(self.database) if self.database else self.settings.warehouse_path

    def setup_for_execution(self, context: InitResourceContext) -> None:
        # Sensors and schedules start resources too, without a run: they never lock.
        run = context.run
        if run is not None:
            run_lock.acquire(self.warehouse_dir, f"Dagster run {run.run_id}", self.lock_wait_s)
            self._run_holds += 1

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        while self._run_holds:
            run_lock.release(self.warehouse_dir)
            self._run_holds -= 1

    @contextlib.contextmanager
    def get_connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        with run_lock.hold(self.warehouse_dir, "a warehouse connection", self.lock_wait_s):
            con = connect(self.warehouse_path, read_only=read_only, memory_limit=self.memory_limit)
            try:
                yield con
            except Exception as error:
                for listener in list(WAREHOUSE_ERROR_LISTENERS):
                    listener(error)
                raise
            finally:
                con.close()


WAREHOUSE_ERROR_LISTENERS: list[Callable[[BaseException], None]] = []
"""Who wants to know the errors raised while a step used the warehouse (the command keeps the
first: on a full disk Dagster's own records may fail next, and the step's failure then never
reaches the event log)."""


INGEST_LISTENERS: list[Callable[[str, int, int, int, int], None]] = []
"""Who wants the ingest's per-file progress: ``(dataset, year, done, total, rows)`` (the
command's progress display registers itself here for the length of its run)."""


def file_progress(dataset: str) -> Callable[[int, int, int, int], None]:
    """The ingest's ``on_file(year, done, total, rows)`` callback for one dataset."""

    def on_file(year: int, done: int, total: int, rows: int) -> None:
        for listener in list(INGEST_LISTENERS):
            listener(dataset, year, done, total, rows)

    return on_file


class PipelinePaths(ConfigurableResource):
    """The same settings for steps, checks and sensors that only need paths (no connection, no
    lock: a sensor must not take the run lock). The run lock of a run comes with ``warehouse``,
    which every job's ingest steps require."""

    raw_dir: str
    warehouse_dir: str

    @property
    def settings(self) -> Settings:
        return Settings(raw_dir=Path(self.raw_dir), warehouse_dir=Path(self.warehouse_dir))


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource, started through ``orchestration.base.dbt_child``, minus two
    costs.

    dbt runs as ``python -m orchestration.base.dbt_child --warehouse-path P --memory-limit M ...``,
    which makes the dbt process die with its parent (Linux ``PR_SET_PDEATHSIG``) and gives it
    the warehouse path and memory limit in its own environment (``profiles.yml`` reads them).

    Before starting dbt, ``DbtCliResource.cli()`` (dagster-dbt 0.29) would also run
    ``dbt --version`` in a subprocess to tell dbt-core from the Fusion engine (the dbt used here
    is the dbt-core installed beside this interpreter, so its version is that package's), and
    load the project in-process for an adapter handle that only ``fetch_row_counts()`` /
    ``fetch_column_metadata()`` use; the dbt asset reads row counts and schemas itself, and that
    handle would be one more connection to the warehouse file.
    """

    warehouse_path: str = ""
    memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    _warm: WarmDbt | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        super().setup_for_execution(context)
        # Only a run builds (sensors and schedules start resources too). The run's dbt step
        # comes after its ingest: dbt imports itself meanwhile, on the core the run leaves idle.
        name = self.warm_name
        if name is not None and context.run is not None:
            ahead = None
            if self.warehouse_path:
                ahead = parse_ahead(
                    self.warehouse_path,
                    self.memory_limit,
                    project_dir=str(self.project_dir),
                    profiles_dir=str(self.profiles_dir or self.project_dir),
                )
            self._warm = start_warm_dbt(name, ahead)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        stop_warm_dbt(self._warm)
        self._warm = None

    @property
    def warm_name(self) -> str | None:
        """The warm dbt this resource's dbt child is pointed at (``--warm NAME``), if any."""
        flags = self.global_config_flags
        return next((flags[i + 1] for i, flag in enumerate(flags[:-1]) if flag == WARM_FLAG), None)

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_resource(
    settings: Settings, memory_limit: str | None = None, warm_dbt: str | None = None
) -> WarehouseDbtCliResource:
    """The dbt resource for one warehouse (also used to prepare the manifest).

    Its dbt child is pointed at a warm dbt (``orchestration.base.dbt_child``) that the resource
    starts when a run's resources start, whoever launched the run (the command, the sensor, the
    schedule, the UI), or adopts the one named ``warm_dbt`` that the command started before
    the run (``start_warm_dbt_early``). Outside a run nothing listens on that name, and the
    child starts dbt itself.
    """
    limit = memory_limit or duckdb_memory_limit()
    return WarehouseDbtCliResource(
        project_dir=dbt_project,
        profiles_dir=str(DBT_PROJECT_DIR),
        dbt_executable=sys.executable,
        global_config_flags=[
            "-m",
            "orchestration.base.dbt_child",
            WARM_FLAG,
            warm_dbt or warm_dbt_name(),
            "--warehouse-path",
            str(settings.warehouse_path),
            "--memory-limit",
            limit,
        ],
        warehouse_path=str(settings.warehouse_path),
        memory_limit=limit,
    )


class NoValuesIOManager(ConfigurableIOManager):
    """The job's IO manager: the assets hand their data over in the warehouse file, never as
    Python values, so there is nothing to store or load.

    dbt's assets yield ``None`` for each model; Dagster's default manager would pickle each
    ``None`` into a file and import its filesystem libraries in every run (0.15 s) for that.
    Any other value, or an asset reading another's value, is refused: it would be lost between
    processes.
    """

    def handle_output(self, context: OutputContext, obj: object) -> None:
        if obj is not None:
            raise TypeError(
                f"{context.asset_key if context.has_asset_key else context.name} returned a "
                f"{type(obj).__name__}: assets here write their data to the warehouse and "
                "return nothing (or a MaterializeResult)"
            )

    def load_input(self, context: InputContext) -> object:
        raise TypeError(
            "assets here read each other's data from the warehouse, not as inputs: use deps=[...]"
        )


def build_resources(
    settings: Settings | None = None, warm_dbt: str | None = None
) -> dict[str, object]:
    """The resources of the one code location, for one set of paths (``warm_dbt``: see
    ``dbt_resource``)."""
    settings = settings or get_settings()
    limit = duckdb_memory_limit()
    warehouse = WarehouseResource(
        database=str(settings.warehouse_path),
        raw_dir=str(settings.raw_dir),
        warehouse_dir=str(settings.warehouse_dir),
        memory_limit=limit,
    )
    paths = PipelinePaths(raw_dir=str(settings.raw_dir), warehouse_dir=str(settings.warehouse_dir))
    return {
        "warehouse": warehouse,
        "paths": paths,
        "dbt": dbt_resource(settings, limit, warm_dbt),
        "io_manager": NoValuesIOManager(),
    }
