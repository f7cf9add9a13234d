"""Resources keyed by role: the working warehouse, the dbt project, the pipeline's paths.

Connections are opened inside steps only (never at import time): the ``dagster dev`` code server
imports this module, and any open handle on the DuckDB file, even read-only, blocks the dbt
subprocess.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource, DbtProject
from dagster_duckdb import DuckDBResource
from packaging.version import Version

from orchestration.settings import DBT_PROJECT_DIR, Settings, duckdb_memory_limit, get_settings

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class WarehouseDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt resource without two start-up costs this project does not use.

    Before starting dbt, ``DbtCliResource.cli()`` (dagster-dbt 0.29) paid about 3 s of every run,
    measured with pyinstrument on the tiny sample:

    - ``_cli_version`` runs ``dbt --version`` in a subprocess (1.2 s) to tell dbt-core from the
      Fusion engine. The dbt used here is the dbt-core installed beside this interpreter, so its
      version is that package's.
    - ``_initialize_dbt_core_adapter`` loads the project and its macros in-process (1.8 s) for a
      read-only adapter handle that only ``fetch_row_counts()`` / ``fetch_column_metadata()``
      use. The dbt asset reads row counts and schemas itself after the build
      (``orchestration/assets/dbt.py``), and that handle would be one more connection to the
      warehouse file.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


class PipelinePaths(ConfigurableResource):
    """Where the exports arrive and where the warehouse files are written."""

    raw_dir: str
    warehouse_dir: str

    @property
    def settings(self) -> Settings:
        return Settings(raw_dir=Path(self.raw_dir), warehouse_dir=Path(self.warehouse_dir))


def build_resources(settings: Settings | None = None) -> dict[str, object]:
    """The resources of the one code location, for one set of paths."""
    settings = settings or get_settings()
    settings.export_to_environment()
    return {
        "paths": PipelinePaths(
            raw_dir=str(settings.raw_dir), warehouse_dir=str(settings.warehouse_dir)
        ),
        # DuckDB 2.0 refuses `enable_progress_bar` as a connection option: steps turn it off
        # per connection instead. Without a memory limit, ingesting every household of the
        # country in one review year peaked at 19.7 GB; with it DuckDB spills to disk.
        "warehouse": DuckDBResource(
            database=str(settings.warehouse_path),
            connection_config={"memory_limit": duckdb_memory_limit()},
        ),
        # The dbt beside this interpreter, so the command works without the venv on PATH.
        "dbt": WarehouseDbtCliResource(
            project_dir=dbt_project,
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=str(Path(sys.executable).with_name("dbt")),
        ),
    }
