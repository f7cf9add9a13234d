"""The tests' own warm dbt (``tests/dbt_fixtures/dbt_server.py``), where it differs from the
pipeline's: it forks once per invocation."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from dbt_fixtures import dbt_server

from orchestration.base import dbt_child
from orchestration.base.dbt_parse_state import parse_ahead
from orchestration.base.settings import DBT_PROJECT_DIR, duckdb_memory_limit

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the server listens on an abstract socket"
)


def test_a_fork_parses_after_the_server_parsed_the_project_from_nothing(tmp_path):
    """With no kept parse (a project edited since the last session), the server's parse ahead
    runs dbt's static parser, whose Rust thread pool a fork does not inherit: an invocation the
    parse ahead does not fit (other variables) then parses in the fork, which waited forever for
    that pool and hung the test session. It now parses without the static parser."""
    warehouse = tmp_path / dbt_server.WAREHOUSE_NAME
    (tmp_path / "parse").mkdir()
    ahead = parse_ahead(str(warehouse), duckdb_memory_limit())._replace(
        state=str(tmp_path / "no-kept-parse.msgpack"), target=str(tmp_path / "parse")
    )
    name = dbt_child.warm_dbt_name()
    server = dbt_server.start_server(name, ahead)
    env = dict(os.environ, DBT_TARGET_PATH=str(tmp_path / "target"))
    env["DBT_LOG_PATH"] = str(tmp_path / "logs")
    try:
        invocation = subprocess.run(
            [sys.executable, "-m", "orchestration.base.dbt_child", dbt_child.WARM_FLAG, name]
            + ["--warehouse-path", str(warehouse), "parse", "--vars", "{years_to_build: [2024]}"]
            + ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert server.poll() is None  # the server served it: it is still there
    finally:
        server.kill()
        server.wait()
    assert invocation.returncode == 0, invocation.stdout + invocation.stderr
    assert (tmp_path / "target" / "manifest.json").is_file()
