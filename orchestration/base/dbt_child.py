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

**A dbt started warm.** Importing dbt takes 1.4 s of every dbt process, and a run's dbt starts only
after the ingest. The dbt resource therefore starts ``python -m orchestration.base.dbt_child --serve
NAME`` when a run's resources start (``start_warm_dbt``): a process that dies with the run, listens
on the Linux abstract socket ``NAME`` and imports dbt while the run ingests (on the core the run
leaves idle); ``poverty-warehouse run`` starts it before it even imports Dagster
(``start_warm_dbt_early``) and the run's resource adopts it. The resource passes ``--warm NAME`` to
its dbt child, which then hands its arguments, environment, working directory and standard streams
(``SCM_RIGHTS``) to the warm process, which becomes that dbt invocation, and waits for its exit
status (sent once dbt's database is closed and the streams are given back, so the run need not wait
for this process's teardown). The child relays SIGINT and SIGTERM to it (dagster-dbt's way of
stopping dbt), and the warm dbt exits at once if the child dies (its end of the socket closes). Each
end checks the other's credentials first (``SO_PEERCRED``: the same user, started by the same run),
since an abstract socket has no file permissions. A child that comes before the warm process has
bound its socket (a loaded machine can start the run's dbt child first) waits for it while that
process is alive. A warm process serves one invocation: any other (none in a run today), and every
dbt when no warm process answers, is started as before.

**The project parsed ahead.** The resource also tells the warm dbt the project, the profile's
inputs and the kept parse (``ParseAhead``): after its import, it parses the project as the
build will, and the build takes that parse instead of reading, checking and writing its own,
if dbt's own criteria say it fits the invocation (``_parse_ahead``); else dbt parses as usual.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import NamedTuple

from orchestration.base.collector import collect_less_often
from orchestration.base.parse_folders import new_parse_dir

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
    # A parent that died before the prctl sends nothing: adopted (by init or a subreaper), stop.
    if parent == 1 or os.getppid() != parent:
        os._exit(137)


def gives_the_name(warehouse: Path) -> bool:
    """Whether dbt is given the file's name, working in its directory (else the path as given:
    a directory not made yet, as for ``dbt --version`` before any run)."""
    return warehouse.is_absolute() and warehouse.parent.is_dir()


def stoppable() -> None:
    """Let SIGINT and SIGTERM through, as dagster-dbt stops dbt with them: a signal mask and
    ignored signals are inherited across ``exec``, so a process started from a thread that
    blocks them (multiprocessing's helpers block them while they start processes) would
    otherwise run a dbt that nothing but SIGKILL stops."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def main(argv: list[str]) -> None:
    stoppable()
    if argv[:1] == [SERVE_FLAG]:
        ahead = ParseAhead(**json.loads(argv[3])) if argv[2:3] == [AHEAD_FLAG] else None
        serve(argv[1], ahead)
        return
    env = dict(os.environ)
    args = list(argv)
    warm = None
    while args and args[0] in (*ENV_OF_FLAG, WARM_FLAG):
        if args[0] == WARM_FLAG:
            warm = args[1]
        else:
            env[ENV_OF_FLAG[args[0]]] = args[1]
        args = args[2:]
    warehouse = Path(env["POVERTY_WAREHOUSE_PATH"]) if "POVERTY_WAREHOUSE_PATH" in env else None
    if warehouse is not None and gives_the_name(warehouse):
        os.chdir(warehouse.parent)
        env["POVERTY_WAREHOUSE_PATH"] = warehouse.name
    die_with_parent()
    dbt = str(Path(sys.executable).with_name("dbt"))
    if warm is not None:
        status = _run_warm(warm, [dbt, *args], env)
        if status is not None:
            os._exit(status)
    os.execve(dbt, [dbt, *args], env)


# -- A dbt started warm ----------------------------------------------------------------------

SERVE_FLAG = "--serve"
WARM_FLAG = "--warm"
AHEAD_FLAG = "--parse-ahead"
# What the warm dbt exits with when the child that handed it the invocation is gone.
_ORPHANED = 137
# How long a child waits for a warm dbt that is alive but has not bound its socket yet.
_BIND_WAIT = 30.0


class WarmDbt(NamedTuple):
    """A warm dbt: its process, its child's ``--warm NAME``, the folder it parses ahead in."""

    process: subprocess.Popen
    name: str
    parse_dir: Path | None = None


class ParseAhead(NamedTuple):
    """What a warm dbt parses the project with while it waits (see ``_parse_ahead``)."""

    project_dir: str
    profiles_dir: str
    # The warehouse file (its directory must exist) and DuckDB's memory limit: the profile.
    warehouse_path: str
    memory_limit: str
    # The kept parse it starts from (orchestration/base/dbt_parse_state.py), if it exists.
    state: str
    # Where it parses: a private folder its starter makes and removes (else one of its own).
    target: str = ""


def warm_dbt_name() -> str:
    """A new name for a warm dbt's socket, unique to this process and call."""
    return f"poverty-warehouse-dbt-{os.getpid()}-{uuid.uuid4().hex[:12]}"


# Warm dbts started before the run that will use them (``start_warm_dbt_early``), by name.
_STARTED_EARLY: dict[str, WarmDbt] = {}


def start_warm_dbt_early(ahead: ParseAhead | None = None) -> str | None:
    """Start the warm dbt of a run this process is about to launch, before Dagster is imported;
    its name, for the run's dbt resource, which then adopts this process (``start_warm_dbt``
    with the name) rather than start one when the run's resources start.

    The command (``poverty-warehouse run``) starts it as soon as it holds the warehouse: the
    import and the parse ahead then run on the second core while this process imports Dagster
    and the definitions, and are done before a small run's dbt step, which would otherwise
    wait for them. ``stop_unadopted_warm_dbt`` ends it if no run adopted it.
    """
    warm = start_warm_dbt(ahead=ahead)
    if warm is None:
        return None
    _STARTED_EARLY[warm.name] = warm
    return warm.name


def stop_unadopted_warm_dbt(name: str | None) -> None:
    """Stop the warm dbt ``start_warm_dbt_early`` started, unless a run adopted it."""
    if name is not None:
        stop_warm_dbt(_STARTED_EARLY.pop(name, None))


def start_warm_dbt(name: str | None = None, ahead: ParseAhead | None = None) -> WarmDbt | None:
    """Start a warm dbt for this process's next dbt invocation, listening on ``name`` (a new
    one when not given) and parsing the project ``ahead`` while it waits, or None where
    abstract sockets do not exist (not Linux). The one started early under ``name``, if still
    alive, is adopted instead."""
    if not sys.platform.startswith("linux"):
        return None
    early = _STARTED_EARLY.pop(name, None) if name is not None else None
    if early is not None:
        if early.process.poll() is None:
            return early
        stop_warm_dbt(early)
    name = name or warm_dbt_name()
    parse_dir, parse = None, []
    if ahead is not None:
        parse_dir = new_parse_dir()
        parse = [AHEAD_FLAG, json.dumps(ahead._replace(target=str(parse_dir))._asdict())]
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestration.base.dbt_child", SERVE_FLAG, name, *parse],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Signals reach it only through the child that uses it (relayed) or as its parent's
        # death: a Ctrl-C in the terminal is the run's to handle, once.
        start_new_session=True,
    )
    return WarmDbt(process, name, parse_dir)


def stop_warm_dbt(warm: WarmDbt | None) -> None:
    """Stop a warm dbt never used (a used one exited with its invocation); remove its parse."""
    if warm is None:
        return
    with contextlib.suppress(OSError):
        warm.process.kill()
    warm.process.wait()
    if warm.parse_dir is not None:
        shutil.rmtree(warm.parse_dir, ignore_errors=True)


def serve(name: str, ahead: ParseAhead | None = None) -> None:
    """The warm dbt: import dbt (and parse the project ``ahead``), then become the first
    invocation handed over on ``name``."""
    die_with_parent()
    collect_less_often()  # before dbt's import (orchestration/base/collector.py)
    # Listening before dbt is imported: a child that comes early waits for the import (it gets
    # this process's id once dbt is here; if the import fails, it starts dbt itself).
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind("\0" + name)
    listener.listen(1)
    cli = ready_to_serve(ahead)
    while True:
        connection, _ = listener.accept()
        if _is_a_sibling(connection):
            break
        connection.close()
    listener.close()
    become_the_invocation(connection, cli)


def ready_to_serve(ahead: ParseAhead | None):
    """Import dbt, warm it up and parse ``ahead`` (see ``serve``); dbt's ``cli``."""
    from dbt.cli.main import cli  # the 1.4 s this process exists to spend early

    with contextlib.suppress(Exception):  # a head start only: dbt does it again if need be
        _warm_up_dbt()
    # multiprocessing's resource tracker (dbt's locks start it) inherits the standard streams of
    # its start: now /dev/null, not the pipe dagster-dbt reads to its end (_release_the_streams).
    with contextlib.suppress(Exception):
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    if ahead is not None and gives_the_name(Path(ahead.warehouse_path)):
        # The profile reads these from the environment, as in the invocation (see main).
        own = dict(os.environ)
        os.environ[ENV_OF_FLAG["--warehouse-path"]] = Path(ahead.warehouse_path).name
        os.environ[ENV_OF_FLAG["--memory-limit"]] = ahead.memory_limit
        try:
            with contextlib.suppress(Exception):  # a head start only: dbt parses if need be
                _parse_ahead(ahead)
        finally:
            os.environ.clear()
            os.environ.update(own)
    return cli


def become_the_invocation(connection: socket.socket, cli) -> None:
    """Become the invocation handed over on ``connection`` and exit with its status; return
    only when nothing was handed over (the child then starts dbt itself)."""
    message, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    if not message or len(fds) != 3:  # the child could not hand it over: it starts dbt itself
        return
    request = json.loads(message)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = request["argv"]
    connection.send(str(os.getpid()).encode())
    finished = threading.Event()
    threading.Thread(target=_exit_when_closed, args=(connection, finished), daemon=True).start()
    code = 1
    try:
        cli()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        finished.set()
        _release_the_streams(request["env"].get(ENV_OF_FLAG["--warehouse-path"]))
        with contextlib.suppress(OSError):
            connection.send(str(code).encode())
    # A normal exit, as dbt's own: its multiprocessing resources are released, not leaked.
    sys.exit(code)


class _Parsed(NamedTuple):
    manifest: object  # dbt's Manifest
    target: Path  # where that parse was made: its partial_parse.msgpack
    profile_env: dict[str, str]


_PARSED: _Parsed | None = None


def _parse_ahead(ahead: ParseAhead) -> None:
    """Parse the project as the run's build will, while the run ingests, and have that build
    use this parse instead of its own (reading and checking the kept parse and writing the
    manifest: half a second of every build, before its first node).

    dbt parses from the kept parse into a folder of its own (``dbt parse``, no artifacts but
    the parse state). The build's invocation then gets this manifest only if dbt would have
    kept it: its own state check (``ManifestStateCheck``: the variables, profile and target,
    the project files and the environment variables the project and profile read, the dbt
    version) equals this parse's, and every environment variable the models read still has
    the value it was parsed with (``_parse_or_take_the_one_ahead``). Otherwise dbt parses as
    usual. The project files themselves are not read again: within a run they do not change.
    """
    global _PARSED
    import dbt.cli.requires as requires
    from dbt.cli.main import dbtRunner

    warehouse = Path(ahead.warehouse_path)
    target = Path(ahead.target) if ahead.target else new_parse_dir()
    with contextlib.suppress(FileNotFoundError):
        shutil.copyfile(ahead.state, target / "partial_parse.msgpack")
    here = os.getcwd()
    os.chdir(warehouse.parent)
    try:
        result = dbtRunner().invoke(
            [
                "parse",
                "--project-dir",
                ahead.project_dir,
                "--profiles-dir",
                ahead.profiles_dir,
                "--target-path",
                str(target),
                "--log-path",
                str(target),
                "--log-level-file",
                "none",
                "--no-write-json",
                "--quiet",
            ]
        )
    finally:
        os.chdir(here)
    if not result.success or result.result is None:
        return
    profile_env = {
        key: os.environ.get(key, "")
        for key in (ENV_OF_FLAG["--warehouse-path"], ENV_OF_FLAG["--memory-limit"])
    }
    _PARSED = _Parsed(result.result, target, profile_env)
    requires.parse_manifest = _parse_or_take_the_one_ahead


def _parse_or_take_the_one_ahead(
    runtime_config, write_perf_info, write, write_json, active_integrations
):
    """``dbt.parser.manifest.parse_manifest`` for the invocation (see ``_parse_ahead``): the
    manifest parsed ahead, set up on the adapter as dbt sets up a manifest it is given, when it
    fits this invocation; else dbt's own parse."""
    global _PARSED
    from dbt.parser.manifest import parse_manifest

    parsed, _PARSED = _PARSED, None
    if parsed is None or not _fits(parsed, runtime_config):
        if parsed is not None:
            shutil.rmtree(parsed.target, ignore_errors=True)
        return parse_manifest(
            runtime_config, write_perf_info, write, write_json, active_integrations
        )
    from dbt.adapters.factory import get_adapter, register_adapter
    from dbt.context.providers import generate_runtime_macro_context
    from dbt.context.query_header import generate_query_header_context
    from dbt.mp_context import get_mp_context

    register_adapter(runtime_config, get_mp_context())
    adapter = get_adapter(runtime_config)
    adapter.set_macro_context_generator(generate_runtime_macro_context)
    for integration in active_integrations:
        adapter.add_catalog_integration(integration)
    adapter.set_macro_resolver(parsed.manifest)
    adapter.connections.set_query_header(
        generate_query_header_context(adapter.config, parsed.manifest)
    )
    # The parse state this manifest came from, where the build's caller keeps it from (a
    # parse that started from none, or from an older one, wrote a new one).
    state = parsed.target / "partial_parse.msgpack"
    if state.exists():
        target = Path(runtime_config.project_target_path)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(state, target / state.name)
    shutil.rmtree(parsed.target, ignore_errors=True)
    # No manifest.json: dbt writes it when it parses and again at a build's end (0.2-0.3 s of
    # JSON on the run's path, between the last node and the end of dbt's output). A run reads
    # only its build's run_results.json; the definitions load dbt_project/target/manifest.json
    # (`make manifest`). This process serves this one invocation, then exits.
    import dbt.task.runnable as runnable

    runnable.write_manifest = _manifest_not_written
    return parsed.manifest


def _manifest_not_written(manifest, target_path) -> None:
    """``dbt.parser.manifest.write_manifest`` for a build that took the parse made ahead."""


def _fits(parsed: _Parsed, runtime_config) -> bool:
    """Whether dbt would have used ``parsed`` for an invocation with ``runtime_config`` and
    this process's environment (the invocation's)."""
    from types import SimpleNamespace

    from dbt.constants import DEFAULT_ENV_PLACEHOLDER
    from dbt.parser.manifest import ManifestLoader
    from dbt.version import __version__ as dbt_version

    manifest = parsed.manifest
    if any(os.environ.get(key, "") != value for key, value in parsed.profile_env.items()):
        return False
    # As dbt's partial parse compares them: a variable read with a default and still unset was
    # recorded as the placeholder.
    for key, value in manifest.env_vars.items():
        if os.environ.get(key, DEFAULT_ENV_PLACEHOLDER) != value:
            return False
    # dbt's state check reads only the loader's two projects attributes (a whole loader would
    # read the kept parse again), compared as ManifestLoader.is_partial_parsable compares them.
    projects = SimpleNamespace(
        root_project=runtime_config, all_projects=runtime_config.load_dependencies()
    )
    now, then = ManifestLoader.build_manifest_state_check(projects), manifest.state_check
    return (
        manifest.metadata.dbt_version == dbt_version
        and now.vars_hash == then.vars_hash
        and now.profile_hash == then.profile_hash
        and now.project_env_vars_hash == then.project_env_vars_hash
        and now.project_hashes == then.project_hashes
    )


def _warm_up_dbt() -> None:
    """What every build then does before its first node whatever its arguments: import the
    build task and the DuckDB adapter, and make the JSON schemas dbt validates the project, its
    flags and the profile's credentials against (built once per class, then cached): 0.4 s."""
    import dbt.task.build  # noqa: F401
    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from dbt.contracts.project import Project, ProjectFlags

    for schema in (Project, ProjectFlags, DuckDBCredentials):
        schema.json_schema()


def _release_the_streams(warehouse: str | None) -> None:
    """Let the run go on while this process exits: close dbt's database on ``warehouse`` (the
    invocation's path, relative to its working directory) now, then give back the invocation's
    standard streams.

    dagster-dbt reads dbt's output until every process holding the pipe has closed it, and
    dbt-duckdb closes its database only when the interpreter exits, after a teardown of a few
    tenths of a second (dbt's modules, thread pools, the resource tracker). The database is
    closed here first, and the streams are given back (``/dev/null`` in their place) only once
    no descriptor of this process still refers to the warehouse file: a run never opens the file
    while this process holds it. When it still does, the streams stay until the exit, as
    before."""
    with contextlib.suppress(Exception):
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager

        DuckDBConnectionManager.close_all_connections()
    if not warehouse or _holds_the_file(Path(warehouse).resolve()):
        return
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    os.close(devnull)


def _holds_the_file(path: Path) -> bool:
    """Whether a descriptor of this process refers to ``path`` or a file beside it that starts
    with its name (DuckDB's ``.wal``); True when that cannot be told."""
    try:
        descriptors = os.listdir("/proc/self/fd")
    except OSError:
        return True
    for descriptor in descriptors:
        try:
            target = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:
            continue
        if target.startswith(str(path)):
            return True
    return False


def _exit_when_closed(connection: socket.socket, finished: threading.Event) -> None:
    """The child that handed over the invocation is gone (killed) before dbt finished: stop at
    once, as an exec'ed dbt would have died with it."""
    with contextlib.suppress(OSError):
        while connection.recv(64):
            pass
    if not finished.is_set():
        os._exit(_ORPHANED)


def _is_a_sibling(connection: socket.socket) -> bool:
    """Whether the process at the other end runs as this user and was started by this process's
    parent (the run). An abstract socket has no file permissions and its name is visible to
    every local user (``/proc/net/unix``), so each end checks the other before anything is
    handed over: the environment may hold the personal-data key."""
    pid, uid, _ = struct.unpack(
        "3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    )
    return uid == os.getuid() and _parent_pid(pid) == os.getppid()


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # "pid (command) state ppid ...": the command may hold spaces and parentheses.
    return int(stat.rsplit(")", 1)[1].split()[1])


def _connect_when_bound(connection: socket.socket, name: str) -> None:
    """Connect to the warm dbt ``name``. The run starts it before this child, but on a loaded
    machine its interpreter may not have bound the socket yet: while a sibling started as that
    warm dbt is alive, wait for it (at most ``_BIND_WAIT`` seconds), rather than start a second
    dbt beside it. With no such process, the refusal stands at once."""
    deadline = time.monotonic() + _BIND_WAIT
    while True:
        try:
            connection.connect("\0" + name)
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline or not _warm_dbt_is_starting(name):
                raise
            time.sleep(0.01)


def _warm_dbt_is_starting(name: str) -> bool:
    """Whether a process started by this process's parent as the warm dbt ``name`` is alive."""
    wanted = f"\0{SERVE_FLAG}\0{name}\0".encode()
    parent = os.getppid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # A zombie's command line is empty: a warm dbt that exited matches nothing.
        if wanted in command + b"\0" and _parent_pid(int(entry.name)) == parent:
            return True
    return False


def _run_warm(name: str, argv: list[str], env: dict[str, str]) -> int | None:
    """Hand the invocation to the warm dbt ``name``, relay stop signals and return its exit
    status; None when it could not be handed over (no warm dbt alive to listen; a
    closed standard stream; an environment too large for one message): dbt is started here."""
    request = json.dumps({"argv": argv, "env": env, "cwd": os.getcwd()}).encode()
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        _connect_when_bound(connection, name)
        if not _is_a_sibling(connection):
            raise ConnectionRefusedError("not the warm dbt this process's parent started")
        socket.send_fds(connection, [request], [0, 1, 2])
        # Its process id, sent before dbt starts: without it, nothing ran and dbt starts here.
        answer = connection.recv(64)
    except OSError:
        answer = b""
    if not answer:
        connection.close()
        return None
    pid = int(answer)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, _frame: os.kill(pid, received))
    status = connection.recv(64)
    # No status: the warm dbt died without one (killed); dbt failed.
    return int(status) if status else 1


if __name__ == "__main__":
    main(sys.argv[1:])
