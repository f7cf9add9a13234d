"""Paths and the one environment switch, resolved from the repository root.

Every path the pipeline touches comes from here, so the Dagster resources, the dbt profile
(through ``POVERTY_WAREHOUSE_PATH``) and the command line agree on one warehouse file.

Environment variables (all optional):

- ``POVERTY_RAW_DIR``: where the review exports arrive (default ``data/raw``).
- ``POVERTY_WAREHOUSE_DIR``: where ``warehouse.duckdb`` and ``published.duckdb`` live
  (default ``warehouse``).
- ``POVERTY_DUCKDB_MEMORY_LIMIT``: DuckDB's memory limit for the ingest and dbt connections
  (default ``5GB``; past it DuckDB spills to disk instead of taking up to 80% of RAM).
- ``POVERTY_PII_KEY``: hex key for the keyed hash of citizen id numbers; when unset, a key file is
  created once with owner-only permissions under ``$XDG_CONFIG_HOME/poverty-warehouse/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DEFAULT_DUCKDB_MEMORY_LIMIT = "5GB"
WAREHOUSE_POOL = "duckdb_warehouse"
"""Dagster concurrency pool held by every step that opens the working warehouse (limit 1)."""


def _resolve(value: str | os.PathLike[str]) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse_dir: Path

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse_dir / "warehouse.duckdb"

    @property
    def published_path(self) -> Path:
        return self.warehouse_dir / "published.duckdb"

    @property
    def data_docs_dir(self) -> Path:
        return self.warehouse_dir / "data_docs"

    def export_to_environment(self) -> None:
        """Make the settings visible to subprocesses (dbt reads the warehouse path from here)."""
        os.environ["POVERTY_RAW_DIR"] = str(self.raw_dir)
        os.environ["POVERTY_WAREHOUSE_DIR"] = str(self.warehouse_dir)
        os.environ["POVERTY_WAREHOUSE_PATH"] = str(self.warehouse_path)


def duckdb_memory_limit() -> str:
    """The memory limit of the warehouse's DuckDB connections (the dbt profile reads the same)."""
    return os.environ.get("POVERTY_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT


def get_settings() -> Settings:
    """Settings from the environment, relative paths taken from the repository root."""
    raw = os.environ.get("POVERTY_RAW_DIR") or str(REPO_ROOT / "data" / "raw")
    out = os.environ.get("POVERTY_WAREHOUSE_DIR") or str(REPO_ROOT / "warehouse")
    settings = Settings(raw_dir=_resolve(raw), warehouse_dir=_resolve(out))
    # The warehouse directory is the one knob: the dbt profile's path is always derived from it.
    os.environ["POVERTY_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    return settings
