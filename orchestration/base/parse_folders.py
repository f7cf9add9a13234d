"""The temporary folders a warm dbt parses the project in ahead of its build.

A run's resources remove their warm dbt's folder (1.7 MB) as they are torn down
(``orchestration/base/dbt_child.py``); a run killed before that (SIGKILL, a machine stopped)
cannot. Each folder's name therefore starts with the id of the process that made it, and each
new one is made after removing those whose process is gone: a folder is left behind only until
the next warm dbt starts on the machine. No Dagster, no dbt here.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PARSE_DIR_PREFIX = "poverty-warehouse-dbt-parse-"


def new_parse_dir() -> Path:
    """A new private folder in the temporary directory for a parse ahead, named after this
    process, once the folders of processes gone are removed (``remove_parse_dirs_left_behind``)."""
    remove_parse_dirs_left_behind()
    return Path(tempfile.mkdtemp(prefix=f"{PARSE_DIR_PREFIX}{os.getpid()}-"))


def remove_parse_dirs_left_behind() -> None:
    """Remove the parse-ahead folders whose process no longer exists.

    A folder whose process id was taken again by another process stays until that one is gone
    too; a folder named otherwise is never touched."""
    import psutil  # here: the dbt child imports this module on every invocation

    for folder in Path(tempfile.gettempdir()).glob(f"{PARSE_DIR_PREFIX}*"):
        owner = folder.name.removeprefix(PARSE_DIR_PREFIX).partition("-")[0]
        if owner.isdigit() and not psutil.pid_exists(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)
