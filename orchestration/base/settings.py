"""The pipeline's settings: where the exports are, where the warehouse goes, and DuckDB's memory.

Relative paths resolve from the **current directory** of the process that reads them (the
command's ``--raw-dir data/raw``, ``POVERTY_RAW_DIR=data/raw`` and the defaults alike), as a
user of any command-line tool expects; ``make`` runs from the repository root, so its defaults
land in the repository.

This module and the warehouse resource (``orchestration/base/resources.py``) are the only readers of
the environment for paths; nothing here writes it. The dbt subprocess gets the warehouse path
in its own environment from the dbt resource, not through this process's.

Environment variables (all optional):

- ``POVERTY_RAW_DIR``: where the review exports arrive (default ``data/raw``).
- ``POVERTY_WAREHOUSE_DIR``: where ``warehouse.duckdb``, ``published.duckdb`` and the run's
  logs, builds and Dagster records live (default ``warehouse``).
- ``POVERTY_DUCKDB_MEMORY_LIMIT``: DuckDB's memory limit on every warehouse connection, the dbt
  build's included (default ``2.5GB``; past it DuckDB spills to disk instead of taking up to 80 %
  of the machine's memory; with it a whole country's run peaks at about 3.4 GB in all).
- ``DAGSTER_HOME``: a Dagster instance where ``poverty-warehouse run`` records its runs instead
  of the warehouse's own (``OUT/dagster_home``).
- ``POVERTY_MAX_SHEET_ROWS``, ``POVERTY_MAX_SHEET_COLUMNS``, ``POVERTY_MAX_SHEET_CELLS``,
  ``POVERTY_MAX_XLSX_BYTES``, ``POVERTY_MAX_CELL_CHARS``: how large an input may be before it is
  quarantined (read by ``orchestration.ingest.limits``; defaults in ``docs/input-format.md``).
- ``POVERTY_PII_KEY``: hex key for the keyed hash of citizen id numbers (see
  ``orchestration/base/pii.py`` for the key file used when it is unset).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_TARGET_DIR = DBT_PROJECT_DIR / "target"
"""dbt's target folder: the manifest, the kept parse states, each build's own folder."""
REFERENCE_CACHE_DIR = REPO_ROOT / ".cache" / "reference"
"""Reference tables derived from installed packages, kept between runs (not versioned)."""
DBT_MANIFEST_PATH = DBT_TARGET_DIR / "manifest.json"
"""dbt's manifest (``make manifest``): the models, their keys and descriptions."""
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DEFAULT_RAW_DIR = "data/raw"
DEFAULT_WAREHOUSE_DIR = "warehouse"
DEFAULT_DUCKDB_MEMORY_LIMIT = "2.5GB"
WAREHOUSE_POOL = "duckdb_warehouse"
"""Dagster concurrency pool held by every step that opens the working warehouse (limit 1)."""
WAREHOUSE_PATH_ENV = "POVERTY_WAREHOUSE_PATH"
"""The variable the dbt profile reads; set in the dbt subprocess's environment only."""


def resolve_path(value: str | os.PathLike[str]) -> Path:
    """An absolute path: ``~`` expanded, a relative path taken from the current directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse_dir: Path
    dagster_home_dir: Path | None = None
    """Another Dagster instance to record runs in (``DAGSTER_HOME``), else ``OUT/dagster_home``."""

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse_dir / "warehouse.duckdb"

    @property
    def published_path(self) -> Path:
        return self.warehouse_dir / "published.duckdb"

    @property
    def data_docs_dir(self) -> Path:
        return self.warehouse_dir / "data_docs"

    @property
    def logs_dir(self) -> Path:
        return self.warehouse_dir / "logs"

    @property
    def builds_dir(self) -> Path:
        return self.warehouse_dir / "builds"

    @property
    def dagster_home(self) -> Path:
        """Where the command records its runs for the Dagster UI (``make dev`` reads it)."""
        return self.dagster_home_dir or self.warehouse_dir / "dagster_home"


def duckdb_memory_limit() -> str:
    """The memory limit of every warehouse connection (the dbt profile gets the same)."""
    return os.environ.get("POVERTY_DUCKDB_MEMORY_LIMIT") or DEFAULT_DUCKDB_MEMORY_LIMIT


def get_settings(
    raw_dir: str | os.PathLike[str] | None = None,
    warehouse_dir: str | os.PathLike[str] | None = None,
) -> Settings:
    """Settings from the arguments, else the environment, else the defaults; relative paths
    taken from the current directory. Reads the environment, never writes it."""
    raw = raw_dir or os.environ.get("POVERTY_RAW_DIR") or DEFAULT_RAW_DIR
    out = warehouse_dir or os.environ.get("POVERTY_WAREHOUSE_DIR") or DEFAULT_WAREHOUSE_DIR
    home = os.environ.get("DAGSTER_HOME")
    return Settings(
        raw_dir=resolve_path(raw),
        warehouse_dir=resolve_path(out),
        dagster_home_dir=resolve_path(home) if home else None,
    )
