"""The warehouse resource owns the path, the connection settings and the run lock.

- ``orchestration.base.warehouse_connection.connect`` gives each connection the memory limit and
  no progress bar, and Great Expectations' duckdb-engine connections get both too (that every
  connection of a whole run is opened one of these two ways is checked on the end-to-end run,
  ``tests/test_end_to_end.py``);
- no module but the settings and the resource reads a path from the environment;
- the run lock is exclusive across processes, re-entrant within one, released when its holder
  dies, and names its holder.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest
from dagster import DagsterInstance, asset, materialize

from orchestration.base import run_lock
from orchestration.base.resources import WarehouseResource, build_resources
from orchestration.base.settings import Settings, get_settings
from orchestration.base.warehouse_connection import connect

REPO = Path(__file__).parents[1]
PII_KEY = "00" * 32


def test_connect_applies_the_memory_limit_and_turns_the_progress_bar_off(tmp_path):
    for read_only in (False, True):
        con = connect(tmp_path / "w.duckdb", read_only=read_only, memory_limit="1GB")
        try:
            limit, bar = con.execute(
                "select current_setting('memory_limit'), current_setting('enable_progress_bar')"
            ).fetchone()
        finally:
            con.close()
        assert bar is False
        assert limit.replace(" ", "") in ("1GB", "953.6MiB", "953.6MB"), limit


def test_great_expectations_connections_turn_the_progress_bar_off(tmp_path, monkeypatch):
    """duckdb-engine opens the gate's connection; the engine's connect hook turns the bar off and
    the connect arguments carry the memory limit. Read from the gate's own connection."""
    import sqlalchemy as sa

    from orchestration.gate.gx_duckdb import duckdb_data_context

    monkeypatch.setenv("POVERTY_DUCKDB_MEMORY_LIMIT", "1GB")
    database = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(database)).close()
    real_connect = duckdb.connect

    def interactive_connect(*args, **kwargs):
        # As on a terminal, where DuckDB draws the bar by default (under pytest it does not).
        con = real_connect(*args, **kwargs)
        con.execute("set enable_progress_bar = true")
        return con

    monkeypatch.setattr(duckdb, "connect", interactive_connect)
    settings = sa.text(
        "select current_setting('memory_limit'), current_setting('enable_progress_bar')"
    )
    with (
        duckdb_data_context(database) as (_context, datasource),
        datasource.get_execution_engine().get_connection() as connection,
    ):
        limit, bar = connection.execute(settings).one()
    assert bar is False
    assert limit.replace(" ", "") in ("1GB", "953.6MiB", "953.6MB"), limit


# Variables that name a place on disk. Only the settings read them (the resource gets them from
# the settings), and dbt_child only *writes* them, into the dbt process's own environment.
_PATH_VARIABLES = re.compile(r"POVERTY_\w*(DIR|PATH)\b|DAGSTER_HOME")
_ENV_READ = re.compile(r"os\.environ\b|os\.getenv\(|environ\.get\(")
_ENV_WRITE = re.compile(r"os\.environ\[[^\]]+\]\s*=(?!=)|os\.environ\.(update|setdefault)\(")
_ALLOWED = {"orchestration/base/settings.py", "orchestration/base/resources.py"}
# The warm dbt becomes the invocation handed to it, environment included (what execve does for
# the dbt it starts), and parses ahead with the invocation's profile: the one module that writes
# an environment, and only the dbt process's own.
_WRITES_ITS_OWN = {
    "orchestration/base/dbt_child.py": ("def ready_to_serve(", "def become_the_invocation(")
}


def test_no_module_but_the_settings_reads_a_path_from_the_environment():
    offenders = []
    for path in sorted((REPO / "orchestration").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        if relative in _ALLOWED:
            continue
        function = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("def "):
                function = line
            if _ENV_READ.search(line) and _PATH_VARIABLES.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
            own = function is not None and function.startswith(
                _WRITES_ITS_OWN.get(relative, ("~",))
            )
            if _ENV_WRITE.search(line) and not own:
                offenders.append(f"{relative}:{number}: writes the environment: {line.strip()}")
    assert offenders == []


def test_settings_read_the_environment_without_writing_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POVERTY_WAREHOUSE_PATH", raising=False)
    monkeypatch.setenv("POVERTY_WAREHOUSE_DIR", "relative/out")
    before = dict(os.environ)
    settings = get_settings(raw_dir="data/raw")
    assert dict(os.environ) == before
    # Relative paths are taken from the current directory, as the docstring says.
    assert settings.warehouse_dir == tmp_path / "relative" / "out"
    assert settings.raw_dir == tmp_path / "data" / "raw"


# -- The run lock ---------------------------------------------------------------------------


def _holder(directory: Path) -> subprocess.Popen:
    """Another process holding ``directory``'s lock until killed."""
    script = (
        "import sys, time\n"
        "from orchestration.base import run_lock\n"
        f"run_lock.acquire({str(directory)!r}, 'a test holder')\n"
        "print('held', flush=True)\n"
        "time.sleep(300)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert process.stdout.readline().strip() == "held"
    return process


def test_the_lock_names_its_holder_and_goes_with_it(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(run_lock.LockHeldError) as held:
            run_lock.acquire(tmp_path)
        assert f"pid {holder.pid}" in str(held.value)
        assert "since 20" in str(held.value) and "a test holder" in str(held.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # SIGKILL leaves nothing locked: the kernel drops the lock with its holder.
    with run_lock.hold(tmp_path, "after the holder died"):
        assert f"pid {os.getpid()}" in (tmp_path / ".lock").read_text()


def test_the_lock_waits_when_asked_and_is_reentrant_in_one_process(tmp_path):
    holder = _holder(tmp_path)
    started = time.monotonic()
    try:
        with pytest.raises(run_lock.LockHeldError) as held:
            run_lock.acquire(tmp_path, timeout_s=1.0)
        assert time.monotonic() - started >= 1.0
        assert "waited" in str(held.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock.hold(tmp_path), run_lock.hold(tmp_path, "again, same process"):
        assert run_lock.is_held_here(tmp_path)
    assert not run_lock.is_held_here(tmp_path)


def test_a_dagster_run_takes_the_lock_through_the_resource(tmp_path):
    """A run on any instance holds the warehouse directory's lock while its steps run."""
    settings = Settings(raw_dir=tmp_path / "raw", warehouse_dir=tmp_path / "out")
    seen = {}

    @asset
    def probe(warehouse: WarehouseResource) -> None:
        seen["held"] = run_lock.is_held_here(settings.warehouse_dir)
        with warehouse.get_connection() as con:
            seen["bar"] = con.execute("select current_setting('enable_progress_bar')").fetchone()

    resources = build_resources(settings)
    instance = DagsterInstance.ephemeral()
    assert materialize(
        [probe], resources={"warehouse": resources["warehouse"]}, instance=instance
    ).success
    assert seen == {"held": True, "bar": (False,)}
    seen.clear()
    assert not run_lock.is_held_here(settings.warehouse_dir)

    holder = _holder(settings.warehouse_dir)
    try:
        waiting = WarehouseResource(
            database=str(settings.warehouse_path),
            raw_dir=str(settings.raw_dir),
            warehouse_dir=str(settings.warehouse_dir),
            lock_wait_s=0.5,
        )
        result = materialize(
            [probe], resources={"warehouse": waiting}, instance=instance, raise_on_error=False
        )
        assert not result.success
        assert seen == {}  # the step never ran
        messages = " ".join(str(event.event_specific_data) for event in result.all_events)
        assert f"pid {holder.pid}" in messages, messages
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


def test_the_dbt_child_dies_with_its_parent(tmp_path):
    """``orchestration.base.dbt_child`` asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG)."""
    import psutil

    # The parent starts the child (a stand-in for dbt: `dbt_child` execs dbt, here the prctl
    # and the environment are what is tested) and is then killed.
    child_script = (
        "import os, sys, time\n"
        "from orchestration.base.dbt_child import die_with_parent\n"
        "die_with_parent()\n"
        "print(os.getpid(), flush=True)\n"
        "time.sleep(300)\n"
    )
    parent_script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {child_script!r}])\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    child_pid = int(parent.stdout.readline())
    assert psutil.pid_exists(child_pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(child_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    else:
        os.kill(child_pid, signal.SIGKILL)
        pytest.fail("the child outlived its parent")


# -- A dbt started warm (orchestration.base.dbt_child.start_warm_dbt) ---------------------------


def _listening(name: str, timeout: float = 60) -> None:
    """Wait until the warm dbt has imported dbt and listens on its abstract socket."""
    deadline = time.monotonic() + timeout
    while "@" + name not in Path("/proc/net/unix").read_text():
        if time.monotonic() > deadline:
            pytest.fail(f"the warm dbt never listened on {name}")
        time.sleep(0.05)


def _dbt_child(
    warm: str, warehouse: Path, *dbt_args: str, project: bool = True, **popen
) -> subprocess.Popen:
    in_project = ("--project-dir", str(REPO / "dbt_project")) if project else ()
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestration.base.dbt_child",
            "--warm",
            warm,
            "--warehouse-path",
            str(warehouse),
            "--memory-limit",
            "1GB",
            *dbt_args,
            *in_project,
            *(
                ()
                if "--profiles-dir" in dbt_args
                else ("--profiles-dir", str(REPO / "dbt_project"))
            ),
        ],
        cwd=REPO,
        text=True,
        **popen,
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_a_warm_dbt_becomes_the_invocation_handed_to_it(tmp_path):
    """The dbt child hands its invocation to the warm dbt: its arguments, its environment (the
    warehouse path and memory limit it sets), its working directory (the warehouse's) and its
    standard streams; the exit status comes back; the warm dbt serves that one and exits."""
    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    warm = start_warm_dbt()
    assert warm is not None
    process, name = warm.process, warm.name
    try:
        _listening(name)
        child = _dbt_child(name, tmp_path / "w.duckdb", "debug", stdout=subprocess.PIPE)
        output, _ = child.communicate(timeout=120)
        assert child.returncode == 0, output
        assert "Connection test: [OK connection ok]" in output
        assert "path: w.duckdb" in output and "'memory_limit': '1GB'" in output
        assert (tmp_path / "w.duckdb").exists()  # dbt worked in the warehouse's directory
        assert process.wait(timeout=30) == 0  # it was the warm process that ran it
        # A dbt that fails hands back its failure: dbt's status for an unknown command.
        second = start_warm_dbt()
        try:
            _listening(second.name)
            failed = _dbt_child(second.name, tmp_path / "w.duckdb", "no-such-command")
            assert failed.wait(timeout=120) == 2
            assert second.process.wait(timeout=30) == 2
        finally:
            stop_warm_dbt(second)
    finally:
        stop_warm_dbt(warm)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_the_run_adopts_the_warm_dbt_the_command_started_before_it(tmp_path):
    """``poverty-warehouse run`` starts the warm dbt before it imports Dagster; the run's dbt
    resource, given its name, points its dbt child at it and adopts that process when the run's
    resources start (no second warm dbt), and it serves the run's dbt. One no run adopted is
    stopped by the command."""
    from orchestration.base import dbt_child
    from orchestration.base.resources import dbt_resource

    name = dbt_child.start_warm_dbt_early()
    assert name is not None
    early = dbt_child._STARTED_EARLY[name]
    settings = Settings(raw_dir=tmp_path / "raw", warehouse_dir=tmp_path)
    resource = dbt_resource(settings, "1GB", name)
    assert resource.warm_name == name
    adopted = dbt_child.start_warm_dbt(resource.warm_name)
    try:
        assert adopted is early and name not in dbt_child._STARTED_EARLY
        dbt_child.stop_unadopted_warm_dbt(name)  # adopted: the command leaves it alone
        assert adopted.process.poll() is None
        _listening(name)
        child = _dbt_child(name, tmp_path / "w.duckdb", "debug", stdout=subprocess.PIPE)
        output, _ = child.communicate(timeout=120)
        assert child.returncode == 0, output
        assert adopted.process.wait(timeout=30) == 0  # the early process ran it
    finally:
        dbt_child.stop_warm_dbt(adopted)

    unused = dbt_child.start_warm_dbt_early()
    process = dbt_child._STARTED_EARLY[unused].process
    dbt_child.stop_unadopted_warm_dbt(unused)
    assert process.poll() is not None and unused not in dbt_child._STARTED_EARLY


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_when_a_warm_dbts_output_ends_the_warehouse_is_free(tmp_path):
    """The warm dbt gives the invocation's streams back before its interpreter's teardown, so
    the run reads dbt's output to its end without waiting for that exit; by then dbt's database
    is closed, so the run can open the warehouse at once."""
    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    path = tmp_path / "w.duckdb"
    warm = start_warm_dbt()
    try:
        _listening(warm.name)
        child = _dbt_child(
            warm.name, path, "show", "--inline", "select 42 as answer", stdout=subprocess.PIPE
        )
        output, _ = child.communicate(timeout=120)
        assert child.returncode == 0, output
        assert "42" in output
        with duckdb.connect(str(path)) as con:  # a writer: no lock left behind
            con.execute("create table written_after_dbt as select 1 as x")
        assert warm.process.wait(timeout=30) == 0  # the warm dbt ran it
    finally:
        stop_warm_dbt(warm)


def _ahead(tmp_path: Path, state: Path):
    from orchestration.base.dbt_child import ParseAhead

    project = str(REPO / "dbt_project")
    return ParseAhead(project, project, str(tmp_path / "w.duckdb"), "1GB", str(state))


def _listed_by_a_warm_dbt_that_parsed_ahead(
    tmp_path: Path, *args: str, env=None, state: Path | None = None
) -> str:
    """``dbt ls`` (debug log) through a warm dbt that parsed the project ahead, from the kept
    parse ``state`` (none by default), which the invocation's target folder also holds, as a
    build's does; the output, once the warm dbt has exited 0."""
    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    tmp_path.mkdir(exist_ok=True)
    if state is not None:
        (tmp_path / "target").mkdir()
        shutil.copyfile(state, tmp_path / "target" / state.name)
    warm = start_warm_dbt(ahead=_ahead(tmp_path, state or tmp_path / "no-kept-parse.msgpack"))
    try:
        _listening(warm.name)
        child = _dbt_child(
            warm.name,
            tmp_path / "w.duckdb",
            "--debug",
            "ls",
            "--resource-type",
            "model",
            "--target-path",
            str(tmp_path / "target"),
            *args,
            stdout=subprocess.PIPE,
            env=env,
        )
        output, _ = child.communicate(timeout=180)
        assert child.returncode == 0, output
        assert warm.process.wait(timeout=30) == 0  # the warm dbt ran it
    finally:
        stop_warm_dbt(warm)
    assert not warm.parse_dir.exists()  # nothing of the parse made ahead is left
    assert "poverty_warehouse.marts.commune_year" in output
    return output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_a_warm_dbt_stopped_before_it_served_leaves_no_parse_behind(tmp_path):
    """A run that ends before its dbt step (a bad file, a full disk) stops its warm dbt unused;
    the folder that warm dbt parsed ahead in goes with it, made private by the process that
    started it (the warm dbt, killed, cannot remove it itself)."""
    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    warm = start_warm_dbt(ahead=_ahead(tmp_path, tmp_path / "no-kept-parse.msgpack"))
    try:
        assert warm.parse_dir is not None and warm.parse_dir.stat().st_mode & 0o077 == 0
        # Named after the process that made it, for a later run to tell whether it was left.
        assert warm.parse_dir.name.startswith(f"poverty-warehouse-dbt-parse-{os.getpid()}-")
        parsed = warm.parse_dir / "partial_parse.msgpack"
        deadline = time.monotonic() + 180
        while not parsed.exists():  # dbt writes it when its parse is done
            assert warm.process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        stop_warm_dbt(warm)
    assert not warm.parse_dir.exists()


def test_a_parse_left_by_a_killed_run_goes_when_the_next_parse_folder_is_made(
    tmp_path, monkeypatch
):
    """A run killed before its resources are torn down (SIGKILL) cannot remove its warm dbt's
    parse folder; the next one made on the machine removes it. The folder of a process still
    running, and any folder named otherwise, stay."""
    import tempfile

    from orchestration.base.parse_folders import new_parse_dir

    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal\n"
            "from orchestration.base.parse_folders import new_parse_dir\n"
            "print(new_parse_dir(), flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    left = Path(killed.stdout.strip())
    assert left.parent == tmp_path and left.is_dir()
    (left / "partial_parse.msgpack").write_bytes(b"parsed")
    other = tmp_path / "poverty-warehouse-dbt-parse-kept"
    other.mkdir()

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine = new_parse_dir()
    assert not left.exists()
    assert mine.is_dir() and other.is_dir()
    assert new_parse_dir() != mine and mine.is_dir()  # this process is alive


# What dbt logs when it parses: whether it can start from a kept parse ("Unable to do partial
# parsing because ...", "Partial parsing enabled ...").
_PARSED_HERE = "partial parsing"


@pytest.fixture(scope="module")
def parsed_ahead_in_full(tmp_path_factory) -> tuple[str, Path]:
    """``dbt ls`` through a warm dbt that parsed ahead from no kept parse (a full parse): its
    output, and the parse state it left in its target folder, which the tests below start their
    own warm dbts from (a partial parse, as a run's warm dbt does once the project was built)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("abstract sockets are Linux's")
    root = tmp_path_factory.mktemp("parsed_ahead")
    output = _listed_by_a_warm_dbt_that_parsed_ahead(root)
    return output, root / "target" / "partial_parse.msgpack"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_a_warm_dbt_hands_its_invocation_the_parse_it_made_ahead(parsed_ahead_in_full):
    """While the run ingests, the warm dbt parses the project as the build will; the build then
    starts from that parse instead of making its own, and its target folder gets the parse state
    to keep (here a full parse: there was none to start from)."""
    output, state = parsed_ahead_in_full
    assert _PARSED_HERE not in output.lower()
    assert state.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_a_build_that_took_the_parse_ahead_writes_no_manifest_but_its_run_results(
    tmp_path, parsed_ahead_in_full
):
    """A run reads only run_results.json of its build's artifacts: the warm dbt's build skips the
    manifest.json dbt writes after its last node. A dbt started cold still writes it."""
    from dbt_fixtures.warehouse import dbt

    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    seed = ("seed", "--select", "plans")
    warm = start_warm_dbt(ahead=_ahead(tmp_path, parsed_ahead_in_full[1]))
    try:
        _listening(warm.name)
        target = tmp_path / "target"
        child = _dbt_child(
            warm.name,
            tmp_path / "w.duckdb",
            *seed,
            "--target-path",
            str(target),
            stdout=subprocess.PIPE,
        )
        output, _ = child.communicate(timeout=180)
        assert child.returncode == 0, output
        assert warm.process.wait(timeout=30) == 0  # the warm dbt ran it
    finally:
        stop_warm_dbt(warm)
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    assert [r["status"] for r in results["results"]] == ["success"]
    assert not (target / "manifest.json").exists()
    assert (target / "partial_parse.msgpack").exists()

    cold = tmp_path / "cold" / "w.duckdb"
    cold.parent.mkdir()
    dbt(list(seed), cold)
    assert (cold.parent / "dbt_target" / "manifest.json").exists()
    assert (cold.parent / "dbt_target" / "run_results.json").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_an_invocation_the_parse_ahead_does_not_fit_parses_for_itself(
    tmp_path, parsed_ahead_in_full
):
    """dbt's own criteria decide: other variables (its state check), or another value of an
    environment variable a model reads, and the invocation parses as usual (from the kept parse
    in its target folder: in full for other variables, only the model reading the variable for
    the other)."""
    _, state = parsed_ahead_in_full
    other_vars = _listed_by_a_warm_dbt_that_parsed_ahead(
        tmp_path / "vars", "--vars", '{"years_to_build": [2024]}', state=state
    )
    assert _PARSED_HERE in other_vars.lower()
    env = {**os.environ, "POVERTY_CROSSWALK_CORRECTIONS": "ignore"}
    other_env = _listed_by_a_warm_dbt_that_parsed_ahead(tmp_path / "env", env=env, state=state)
    assert _PARSED_HERE in other_env.lower()


def test_the_warm_dbt_keeps_the_streams_while_it_holds_the_warehouse(tmp_path):
    """The streams are given back only once no descriptor of the process refers to the
    warehouse file: with the database still open they stay (and what is printed still reaches
    the reader); once it is closed, they go."""
    script = (
        "import sys, duckdb\n"
        "from orchestration.base.dbt_child import _release_the_streams\n"
        "con = duckdb.connect('w.duckdb')\n"
        "con.execute('create table t as select 1 as x')\n"
        "_release_the_streams('w.duckdb')\n"
        "print('while open', flush=True)\n"
        "con.close()\n"
        "_release_the_streams('w.duckdb')\n"
        "print('after close', flush=True)\n"
        "sys.stderr.write('after close, on stderr\\n')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "while open\n"
    assert done.stderr == ""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_a_child_that_comes_before_the_warm_dbt_listens_waits_for_it(tmp_path):
    """On a loaded machine the run's dbt child can start before the warm dbt's interpreter has
    bound its socket: the child waits for the warm dbt (alive, not yet listening), which then
    runs the invocation, rather than starting a second dbt beside it."""
    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    for _ in range(5):  # stopped before it bound its socket (Python takes ~30 ms to get there)
        warm = start_warm_dbt()
        os.kill(warm.process.pid, signal.SIGSTOP)
        time.sleep(0.2)
        if "@" + warm.name not in Path("/proc/net/unix").read_text():
            break
        stop_warm_dbt(warm)
    else:
        pytest.fail("the warm dbt bound its socket before it could be stopped, five times")
    try:
        child = _dbt_child(warm.name, tmp_path / "w.duckdb", "debug", stdout=subprocess.PIPE)
        time.sleep(1.5)
        assert child.poll() is None  # waiting, not running a dbt of its own
        assert "dbt_child" in " ".join(psutil.Process(child.pid).cmdline())
        os.kill(warm.process.pid, signal.SIGCONT)
        output, _ = child.communicate(timeout=120)
        assert child.returncode == 0, output
        assert "Connection test: [OK connection ok]" in output
        assert warm.process.wait(timeout=30) == 0  # the warm dbt ran the child's invocation
    finally:
        with contextlib.suppress(OSError):
            os.kill(warm.process.pid, signal.SIGCONT)
        stop_warm_dbt(warm)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_a_warm_dbt_serves_only_a_process_its_own_parent_started(tmp_path):
    """An abstract socket has no file permissions and its name is public (/proc/net/unix): the
    warm dbt hangs up on any other process, without running what it was sent, and still serves
    the run's dbt child afterwards."""
    import json
    import socket

    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    warm = start_warm_dbt()
    process, name = warm.process, warm.name
    try:
        _listening(name)
        # This test process started the warm dbt: it is its parent, not a sibling.
        stranger = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        stranger.connect("\0" + name)
        request = {
            "argv": ["dbt", "debug", "--profiles-dir", str(REPO / "dbt_project")],
            "env": {**os.environ, "POVERTY_WAREHOUSE_PATH": "stranger.duckdb"},
            "cwd": str(tmp_path),
        }
        socket.send_fds(stranger, [json.dumps(request).encode()], [0, 1, 2])
        stranger.settimeout(60)
        try:
            answer = stranger.recv(64)
        except ConnectionResetError:  # closed with the request unread
            answer = b""
        assert answer == b""  # hung up: no process id, nothing run
        stranger.close()
        assert process.poll() is None
        child = _dbt_child(name, tmp_path / "w.duckdb", "debug", stdout=subprocess.PIPE)
        output, _ = child.communicate(timeout=120)
        assert child.returncode == 0, output
        assert process.wait(timeout=30) == 0  # the warm dbt ran the child's invocation
        assert not (tmp_path / "stranger.duckdb").exists()
    finally:
        stop_warm_dbt(warm)


def test_with_no_warm_dbt_listening_the_child_starts_dbt_itself(tmp_path):
    child = _dbt_child("nobody-listens", tmp_path / "w.duckdb", "debug", stdout=subprocess.PIPE)
    output, _ = child.communicate(timeout=120)
    assert child.returncode == 0, output
    assert "Connection test: [OK connection ok]" in output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
def test_a_child_that_cannot_hand_its_invocation_over_starts_dbt_itself(tmp_path):
    """A closed standard input cannot be handed over: the child starts dbt itself, and the
    warm dbt, handed nothing, exits."""
    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    warm = start_warm_dbt()
    try:
        _listening(warm.name)
        child = _dbt_child(
            warm.name,
            tmp_path / "w.duckdb",
            "debug",
            stdout=subprocess.PIPE,
            preexec_fn=lambda: os.close(0),
        )
        output, _ = child.communicate(timeout=120)
        assert child.returncode == 0, output
        assert "Connection test: [OK connection ok]" in output
        assert warm.process.wait(timeout=30) == 0
    finally:
        stop_warm_dbt(warm)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract sockets are Linux's")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_a_warm_dbt_stops_with_the_child_that_handed_it_the_invocation(tmp_path, signum):
    """dagster-dbt stops dbt by signalling the process it started (the child): the child relays
    SIGINT and SIGTERM to the warm dbt, and a warm dbt whose child was killed stops at once.
    Both are started here with SIGINT and SIGTERM blocked, as a process started from a thread
    that blocks them inherits them blocked: each lets them through again."""
    import psutil

    from orchestration.base.dbt_child import start_warm_dbt, stop_warm_dbt

    stop_signals = {signal.SIGINT, signal.SIGTERM}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        warm = start_warm_dbt()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    process, name = warm.process, warm.name
    try:
        _listening(name)
        # `dbt init` outside a project (and with a profiles folder of its own) waits for a
        # project name on its standard input: a dbt invocation that runs until it is stopped.
        (tmp_path / "profiles").mkdir()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        try:
            child = _dbt_child(
                name,
                tmp_path / "w.duckdb",
                "init",
                "--profiles-dir",
                str(tmp_path / "profiles"),
                project=False,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        deadline = time.monotonic() + 60
        while psutil.Process(process.pid).cwd() != str(tmp_path):
            assert time.monotonic() < deadline, "the warm dbt was never handed the invocation"
            time.sleep(0.05)
        time.sleep(1)  # into dbt's prompt
        assert process.poll() is None and child.poll() is None
        child.send_signal(signum)
        assert process.wait(timeout=30) != 0
        assert child.wait(timeout=30) != 0
    finally:
        stop_warm_dbt(warm)


def test_the_warm_dbt_warm_up_matches_the_installed_dbt():
    """The warm dbt's head start (the build task, the adapter, the schemas dbt validates
    against) is skipped silently if it breaks, so a dbt upgrade that moved them fails here."""
    from orchestration.base.dbt_child import _warm_up_dbt

    _warm_up_dbt()
