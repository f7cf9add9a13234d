"""Start dbt as a child that dies with its parent, with the warehouse path in its environment.

The dbt resource runs ``python -m orchestration.base.dbt_child --warehouse-path P --memory-limit M
<dbt arguments>``. This module, before anything else:

- asks Linux to send it SIGKILL when its parent dies (``PR_SET_PDEATHSIG``, kept across
  ``exec``): a killed command or Dagster run never leaves a dbt process writing the warehouse
  after the run lock is gone; and exits at once if the parent is already gone;
- puts the warehouse path and DuckDB's memory limit in its own environment, where
  ``dbt_project/profiles.yml`` reads them, so the parent's environment is never written;
- works in the warehouse's directory and gives dbt the file's name, not its whole path: the
  path is part of dbt's profile, and a changed profile makes dbt parse the whole project again
  (2-3 s), so with the name alone one parse state serves every warehouse of that name (tests,
  benchmarks, each province's directory). dagster-dbt gives dbt the project, profiles, target
  and log folders as absolute paths, so nothing else depends on the working directory;

then replaces itself with the dbt beside this interpreter (``exec``: one process, dbt's pid).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1
ENV_OF_FLAG = {
    "--warehouse-path": "POVERTY_WAREHOUSE_PATH",
    "--memory-limit": "POVERTY_DUCKDB_MEMORY_LIMIT",
}


def die_with_parent() -> None:
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # A parent that died before the prctl sends nothing: we were adopted (by init or a
    # subreaper) and stop here.
    if parent == 1 or os.getppid() != parent:
        os._exit(137)


def gives_the_name(warehouse: Path) -> bool:
    """Whether dbt is given the file's name, working in its directory (else the path as given:
    a directory not made yet, as for ``dbt --version`` before any run)."""
    return warehouse.is_absolute() and warehouse.parent.is_dir()


def main(argv: list[str]) -> None:
    env = dict(os.environ)
    args = list(argv)
    while args and args[0] in ENV_OF_FLAG:
        env[ENV_OF_FLAG[args[0]]] = args[1]
        args = args[2:]
    warehouse = Path(env["POVERTY_WAREHOUSE_PATH"]) if "POVERTY_WAREHOUSE_PATH" in env else None
    if warehouse is not None and gives_the_name(warehouse):
        os.chdir(warehouse.parent)
        env["POVERTY_WAREHOUSE_PATH"] = warehouse.name
    die_with_parent()
    dbt = str(Path(sys.executable).with_name("dbt"))
    os.execve(dbt, [dbt, *args], env)


if __name__ == "__main__":
    main(sys.argv[1:])
