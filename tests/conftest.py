"""Shared fixtures. Generator fixtures are named ``sample_*``."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from orchestration.sample import SampleSummary, generate_sample
from orchestration.settings import DBT_PROJECT_DIR


def pytest_sessionstart(session) -> None:
    """Parse the dbt project before collection: the Dagster definitions load its manifest.

    ``make test`` parses first already; this keeps a bare ``pytest`` working on a fresh clone.
    Absolute paths, because dbt records seed paths as given.
    """
    if (DBT_PROJECT_DIR / "target" / "manifest.json").exists():
        return
    parse_target = Path(tempfile.gettempdir()) / "poverty-parse" / "warehouse.duckdb"
    env = {**os.environ, "POVERTY_WAREHOUSE_PATH": str(parse_target)}
    subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "parse",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        check=True,
        env=env,
    )


@pytest.fixture(scope="session")
def sample_tiny(tmp_path_factory) -> SampleSummary:
    """The messy tiny sample (seed 2025, 2021-2025), written once per test session.

    Read-only: copy ``sample_tiny.raw_dir`` before changing files. ``expected_mess`` lists every
    injected bad row and file.
    """
    return generate_sample(tmp_path_factory.mktemp("sample_tiny") / "raw", scale="tiny")
