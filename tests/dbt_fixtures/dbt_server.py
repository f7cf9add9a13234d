"""One warm dbt per test process, forked for each of the tests' own dbt invocations.

The tests run dbt on their throwaway warehouses about 30 times (``warehouse.dbt``). Each dbt
process imports dbt and reads its kept parse before its first node: 3-4 s of every invocation,
against 1-10 s of work on these small warehouses. A run of the pipeline pays that once, in a
warm dbt that imports and parses while the run ingests (``orchestration/base/dbt_child.py``).
Here one process per test process does the same once, and then forks for each invocation:

- the server listens on an abstract socket, imports dbt and parses the project for warehouses
  named ``warehouse.duckdb`` (the pipeline's parse ahead, ``dbt_child._parse_ahead``);
- each invocation goes through the pipeline's own dbt child with ``--warm NAME``, which hands
  its arguments, environment, working directory and standard streams to the server; the server
  forks, and the fork becomes that invocation (``dbt_child.become_the_invocation``). Every
  invocation is still a process of its own, with dbt's state fresh, its own streams and exit
  status; it only starts where the import and the parse left off;
- the parse is taken only where dbt itself would have kept it (the same checks as the
  pipeline's: the variables, profile and environment of each invocation; the project's files
  are read once, when the server starts, so a model edited during a test session is seen by
  the next session); the manifest is written as a dbt that parsed writes it, since tests read
  it;
- when the server is gone, or refuses, the dbt child starts dbt itself, as before.

The server dies with its test process (``die_with_parent``), and each fork with the server or
with the dbt child that handed it the invocation.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from orchestration.base import dbt_child
from orchestration.base.dbt_parse_state import parse_ahead
from orchestration.base.settings import duckdb_memory_limit

# The name every test warehouse has, and so the one parsed ahead.
WAREHOUSE_NAME = "warehouse.duckdb"

_SERVER: tuple[subprocess.Popen, str] | None = None


def server_name() -> str | None:
    """The socket name of this process's dbt server, started at the first call; None where
    abstract sockets do not exist (not Linux): dbt then starts as usual."""
    global _SERVER
    if not sys.platform.startswith("linux"):
        return None
    if _SERVER is None or _SERVER[0].poll() is not None:
        name = dbt_child.warm_dbt_name()
        # The parse is made for a warehouse directory of its own, so that it opens nothing, and
        # kept in it with each invocation's copy: removed with it when the server stops.
        parse_dir = Path(tempfile.mkdtemp(prefix="poverty-dbt-server-"))
        (parse_dir / "parse").mkdir()
        ahead = parse_ahead(str(parse_dir / WAREHOUSE_NAME), duckdb_memory_limit())._replace(
            target=str(parse_dir / "parse")
        )
        process = start_server(name, ahead)
        _SERVER = (process, name)
        atexit.register(_stop, process, parse_dir)
    return _SERVER[1]


def start_server(name: str, ahead: dbt_child.ParseAhead) -> subprocess.Popen:
    """A server process listening on ``name`` that parses with ``ahead`` (``serve``)."""
    return subprocess.Popen(
        [sys.executable, __file__, dbt_child.SERVE_FLAG, name, ahead.__class__.__name__]
        + [str(value) for value in ahead],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen, parse_dir: Path) -> None:
    with contextlib.suppress(OSError):
        process.kill()
    process.wait()
    shutil.rmtree(parse_dir, ignore_errors=True)


def serve(name: str, ahead: dbt_child.ParseAhead) -> None:
    """Import dbt, parse ahead, then fork for every invocation handed over on ``name``."""
    dbt_child.die_with_parent()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind("\0" + name)
    listener.listen(8)
    cli = dbt_child.ready_to_serve(ahead)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped as they exit
    while True:
        connection, _ = listener.accept()
        if not dbt_child._is_a_sibling(connection):
            connection.close()
            continue
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            dbt_child.die_with_parent()  # a fork does not inherit the server's death signal
            _take_a_copy_of_the_parse()
            dbt_child.become_the_invocation(connection, _without_the_static_parser(cli))
            os._exit(1)  # nothing was handed over: the dbt child starts dbt itself
        connection.close()


def _without_the_static_parser(cli):
    """``cli`` with dbt's static parser off, for a fork. The static parser runs in a Rust thread
    pool (dbt_extractor's rayon pool) that the server starts when its own parse ahead uses it
    (a project edited since its kept parse state); a fork has none of those threads, and its
    own parse (an invocation the parse ahead does not fit, e.g. other ``--vars``) would wait for
    them forever. A fork that parses renders each model's Jinja instead, with the same result.
    Set after the invocation's environment replaced the server's, before dbt reads its flags."""

    def invocation() -> None:
        os.environ["DBT_STATIC_PARSER"] = "false"
        cli()

    return invocation


def _take_a_copy_of_the_parse() -> None:
    """Give this fork the parse made ahead in a folder of its own (the invocation that takes it
    moves its parse state out and removes the folder), and have it write the manifest at the
    end of its run, as every dbt here does (the pipeline's warm dbt writes none)."""
    import dbt.cli.requires as requires
    import dbt.task.runnable as runnable
    from dbt.parser.manifest import write_manifest

    parsed = dbt_child._PARSED
    if parsed is None:
        return
    copy = Path(tempfile.mkdtemp(prefix="invocation-", dir=parsed.target.parent))
    with contextlib.suppress(FileNotFoundError):
        shutil.copytree(parsed.target, copy, dirs_exist_ok=True)
    dbt_child._PARSED = parsed._replace(target=copy)

    def parse_or_take_the_one_ahead(*args):
        manifest = dbt_child._parse_or_take_the_one_ahead(*args)
        runnable.write_manifest = write_manifest
        return manifest

    requires.parse_manifest = parse_or_take_the_one_ahead


if __name__ == "__main__":
    _, flag, socket_name, _kind, *fields = sys.argv
    assert flag == dbt_child.SERVE_FLAG
    serve(socket_name, dbt_child.ParseAhead(*fields))
