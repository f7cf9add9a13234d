"""``poverty-warehouse run`` as people and schedulers meet it: its exits, its lock, its kills.

Real runs of the installed command on the tiny sample, in temporary directories: two commands on
one warehouse directory, SIGKILL at each stage, a full disk (a file-size limit, which needs no
privileges) during the ingest and after the publish's rename, a missing dbt manifest, and the
permissions and Dagster records a run leaves.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import duckdb
import psutil
import pytest

from orchestration.base import run_lock
from orchestration.base.admin_units import admin_unit_tables
from orchestration.base.headers import SURVEY_HEADERS, normalise_header
from orchestration.base.settings import get_settings
from orchestration.cli import main
from orchestration.runner import (
    EXIT_BAD_INPUT,
    EXIT_LOCKED,
    EXIT_PIPELINE_ERROR,
    EXIT_PUBLISHED,
    MANIFEST,
    ensure_manifest,
)

REPO = Path(__file__).parents[1]
COMMAND = str(Path(sys.executable).with_name("poverty-warehouse"))
PII_KEY = "00" * 32


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return {**env, "POVERTY_PII_KEY": PII_KEY, **extra}


def _start(raw: Path, out: Path, *extra: str, preexec=None) -> subprocess.Popen:
    return subprocess.Popen(
        [COMMAND, "run", "--raw-dir", str(raw), "--warehouse-dir", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
        preexec_fn=preexec,
    )


def _wait_for_line(process: subprocess.Popen, marker: str, timeout: float = 600) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    pytest.fail(f"never saw {marker!r}; output:\n{''.join(lines)}")


def _build_id(published: Path) -> str:
    with duckdb.connect(str(published), read_only=True) as con:
        (build_id,) = con.execute("select build_id from build_info").fetchone()
        assert con.execute("select count(*) from province_year").fetchone()[0] > 0
    return build_id


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _project_copy(tmp_path: Path) -> Path:
    """The project's code, suites and dbt project without dbt's target folder (the repository's
    own manifest and parse states stay in place for the tests running beside this one)."""
    project = tmp_path / "project"
    for part in ("orchestration", "expectations"):
        shutil.copytree(REPO / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        REPO / "dbt_project",
        project / "dbt_project",
        ignore=shutil.ignore_patterns("target", "logs", "warehouse_dbt_assets-*"),
    )
    return project


@pytest.fixture(scope="module")
def published(sample_tiny, tmp_path_factory):
    """One recorded run of the installed command on the tiny sample (read-only for the tests
    below), as it goes right after installation: on a copy of the project without dbt's manifest
    (``_project_copy``). A second command on the same warehouse directory starts while it runs.
    """
    root = tmp_path_factory.mktemp("published")
    project = _project_copy(root)
    assert not (project / "dbt_project" / "target" / "manifest.json").exists()
    out = root / "out"
    command = [COMMAND, "run", "--raw-dir", str(sample_tiny.raw_dir), "--warehouse-dir", str(out)]
    env = _env(PYTHONPATH=str(project))
    first = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=project
    )
    try:
        lines = _wait_for_line(first, "start   reference__admin_units")
        second = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=project, timeout=300
        )
    finally:
        stdout, stderr = first.communicate(timeout=900)
    done = subprocess.CompletedProcess(
        first.args, first.returncode, "".join(lines) + stdout, stderr
    )
    assert done.returncode == EXIT_PUBLISHED, done.stdout + done.stderr
    return SimpleNamespace(out=out, done=done, project=project, first_pid=first.pid, second=second)


# -- Exit 2: nothing written ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: (raw / "survey" / "20x3").mkdir(), "20x3"),
        (lambda raw: (raw / "survey" / "2023 ").mkdir(), "2023 "),
        (lambda raw: (raw / "commune_totals" / "2023-fixed.csv").write_text("x"), "2023-fixed"),
        (
            lambda raw: shutil.copytree(raw / "survey" / "2021", raw / "survey" / "1999"),
            "no poverty standard",
        ),
    ],
)
def test_a_malformed_raw_layout_exits_2_before_writing(
    damage, message, sample_tiny, tmp_path, monkeypatch, capsys
):
    raw = tmp_path / "raw"
    shutil.copytree(sample_tiny.raw_dir, raw)
    damage(raw)
    out = tmp_path / "out"
    monkeypatch.setenv("POVERTY_PII_KEY", PII_KEY)
    assert main(["run", "--raw-dir", str(raw), "--warehouse-dir", str(out)]) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("key", ["", "abcd", "not hex"])
def test_an_unusable_personal_data_key_exits_2_before_writing(
    key, sample_tiny, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("POVERTY_PII_KEY", key or "00")
    out = tmp_path / "out"
    args = ["run", "--raw-dir", str(sample_tiny.raw_dir), "--warehouse-dir", str(out)]
    assert main(args) == EXIT_BAD_INPUT
    assert "personal-data key" in capsys.readouterr().err
    assert not out.exists()


# -- Exit 0: what a published run leaves -------------------------------------------------------


def test_the_working_files_are_the_owners_and_the_published_ones_readable(published):
    out = published.out

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(out / "warehouse.duckdb") == 0o600
    for folder in ("builds", "logs", "dagster_home"):
        assert mode(out / folder) == 0o700, folder
        for inside in (out / folder).rglob("*"):
            assert not mode(inside) & 0o077, inside
    assert mode(out) & 0o005 == 0o005
    assert mode(out / "published.duckdb") & 0o444 == 0o444


def test_the_run_is_recorded_for_the_dagster_ui_with_the_raw_files(published):
    from dagster import AssetKey, DagsterInstance, DagsterRunStatus
    from dagster._core.instance.ref import InstanceRef

    out = published.out
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(out / "dagster_home"))) as instance:
        runs = instance.get_runs()
        assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS]
        publish = instance.get_latest_materialization_event(
            AssetKey(["published", "published_warehouse"])
        )
        assert publish is not None
        live = _build_id(out / "published.duckdb")
        assert publish.asset_materialization.metadata["build_id"].value == live
        observed = instance.fetch_observations(AssetKey(["raw_files", "survey"]), limit=10)
        records = observed.records
        assert {r.partition_key for r in records} == {"2021", "2022", "2023", "2024", "2025"}
        metadata = records[0].asset_observation.metadata
        assert metadata["files"].value > 0 and len(metadata["sha256"].value) == 64


def test_builds_marks_the_live_build(published, capsys):
    out = published.out
    assert main(["builds", "--warehouse-dir", str(out)]) == 0
    live = _build_id(out / "published.duckdb")
    marked = [line for line in capsys.readouterr().out.splitlines() if "live" in line]
    assert len(marked) == 1 and marked[0].startswith(live)


def test_the_summary_names_the_files_not_loaded_in_full(published):
    done = published.done
    assert "Files not loaded in full" in done.stdout
    assert "quarantined" in done.stdout


def test_help_documents_every_flag_the_exit_codes_and_the_measures(capsys):
    from orchestration.cli import _parser
    from orchestration.serve.explain import measures

    parser = _parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings}"
    for code in range(5):
        assert f"\n  {code}  " in parser.epilog
    explain_help = subparsers["explain"].format_help()
    assert all(measure in explain_help for measure in measures())
    # Read for explain's help only, not at every command's start (a fresh interpreter).
    built = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from orchestration.cli import _parser; _parser(); "
            "print('orchestration.serve.explain' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert built.stdout.split() == ["False"]
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("poverty-warehouse ")


# -- Exit 4: one run at a time ------------------------------------------------------------------


def test_a_second_command_on_the_same_warehouse_exits_4_naming_the_first(published):
    """The second command of ``published``, started once the first was running."""
    second = published.second
    assert second.returncode == EXIT_LOCKED, second.stdout + second.stderr
    message = second.stderr
    assert f"pid {published.first_pid}" in message and "since 20" in message
    assert "nothing was done" in message


# -- SIGKILL at every stage ---------------------------------------------------------------------


def _dbt_started(process: subprocess.Popen) -> list[psutil.Process]:
    """The run's processes once its dbt build has started: the dbt child dagster-dbt started,
    and the warm dbt it hands the build to (started with the run)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        children = psutil.Process(process.pid).children(recursive=True)
        if any("build" in child.cmdline() for child in children):
            return children
        time.sleep(0.1)
    pytest.fail("dbt never started")


def _wait_for_warm_dbt_in(
    run: subprocess.Popen, children: list[psutil.Process], warehouse_dir: Path
) -> None:
    """The build runs in the warm dbt the run started: it works in the warehouse's directory
    once the dbt child has handed it the invocation."""
    # The run's own child: a warm dbt's forks carry its command line until their `exec`.
    warm = [c for c in children if c.ppid() == run.pid and "--serve" in c.cmdline()]
    assert len(warm) == 1, [child.cmdline() for child in children]
    deadline = time.monotonic() + 60
    while warm[0].cwd() != str(warehouse_dir):
        assert time.monotonic() < deadline, "the build was not handed to the warm dbt"
        time.sleep(0.05)


STAGES = {
    "ingest": "start   raw__survey_households",
    "dbt": "start   warehouse_dbt_assets",
    "gate": "start   audit__validation_results",
    "publish": "start   published__published_warehouse",
}


def test_sigkill_at_any_stage_leaves_a_complete_build_no_orphan_and_no_lock(
    published, sample_tiny, tmp_path
):
    source = published.out
    out = tmp_path / "out"
    shutil.copytree(source, out, symlinks=True)
    old = _build_id(out / "published.duckdb")
    for stage, marker in STAGES.items():
        if stage == "dbt":
            # The exports are those of `published`, so dbt's inputs are those of its build, which
            # would not run again: forgetting it, as docs/operations.md says, makes dbt build.
            with duckdb.connect(str(out / "warehouse.duckdb")) as con:
                con.execute("delete from audit.dbt_builds")
        process = _start(sample_tiny.raw_dir, out)
        _wait_for_line(process, marker)
        if stage == "dbt":
            children = _dbt_started(process)
            _wait_for_warm_dbt_in(process, children, out)
        else:
            children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGKILL)
        process.wait()
        gone, alive = psutil.wait_procs(children, timeout=15)
        assert not alive, f"{stage}: orphans {[p.cmdline() for p in alive]}"
        # The published file opens and holds a whole build: the old one, or a new one that was
        # kept for rollback before its rename.
        current = _build_id(out / "published.duckdb")
        assert current == old or (out / "builds" / f"{current}.duckdb").exists(), stage
        with run_lock.hold(out, f"the test, after a kill during {stage}"):
            pass
        if stage == "dbt":
            # A build killed halfway leaves no record: the next run builds again.
            with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
                assert con.execute("select count(*) from audit.dbt_builds").fetchone() == (0,)
    after = subprocess.run(
        [COMMAND, "run", "--raw-dir", str(sample_tiny.raw_dir), "--warehouse-dir", str(out)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        timeout=900,
    )
    assert after.returncode == EXIT_PUBLISHED, after.stdout + after.stderr
    assert _build_id(out / "published.duckdb") != old


# -- Exit 3: a full disk -------------------------------------------------------------------------


def _file_size_limit(limit_bytes: int):
    def apply() -> None:
        # Without SIGXFSZ ignored, the kernel kills the writer; ignored, the write fails EFBIG.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


def test_a_full_disk_during_the_ingest_exits_3_naming_the_cause(sample_tiny, tmp_path):
    # The manifest is current, so the first file the run writes is the warehouse's.
    ensure_manifest(get_settings(raw_dir=tmp_path, warehouse_dir=tmp_path / "parse"))
    out = tmp_path / "out"
    process = _start(
        sample_tiny.raw_dir, out, "--no-record", preexec=_file_size_limit(3 * 1024 * 1024)
    )
    stdout, stderr = process.communicate(timeout=900)
    assert process.returncode == EXIT_PIPELINE_ERROR, stdout + stderr
    message = [line for line in stderr.splitlines() if line.startswith("poverty-warehouse:")]
    assert len(message) == 1, stderr
    assert "disk full" in message[0] and "nothing was published" in message[0]
    assert "Traceback" not in stderr
    assert not (out / "published.duckdb").exists()
    with run_lock.hold(out, "the test"):
        pass


AFTER_RENAME = """
import os, resource, signal, sys
from orchestration.cli import main

real_replace = os.replace

def replace(source, destination, *args, **kwargs):
    real_replace(source, destination, *args, **kwargs)
    if str(destination).endswith("published.duckdb"):
        # The disk fills up the moment the new build is live: every later write fails.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))

os.replace = replace
sys.exit(main(sys.argv[1:]))
"""


def test_a_full_disk_after_the_rename_exits_3_saying_it_was_published(
    published, sample_tiny, tmp_path
):
    source = published.out
    out = tmp_path / "out"
    shutil.copytree(source, out, symlinks=True)
    old = _build_id(out / "published.duckdb")
    done = subprocess.run(
        [sys.executable, "-c", AFTER_RENAME, "run", "--raw-dir", str(sample_tiny.raw_dir)]
        + ["--warehouse-dir", str(out)],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
        timeout=900,
    )
    assert done.returncode == EXIT_PIPELINE_ERROR, done.stdout + done.stderr
    message = [line for line in done.stderr.splitlines() if line.startswith("poverty-warehouse:")]
    assert len(message) == 1, done.stderr
    new = _build_id(out / "published.duckdb")
    assert new != old
    assert "disk full" in message[0] and f"build {new} WAS published" in message[0]


# -- Right after installation --------------------------------------------------------------------


def test_the_command_prepares_a_missing_dbt_manifest(published):
    """``published`` ran on a copy of the project without dbt's manifest."""
    assert "prepared dbt's manifest" in published.done.stdout
    assert (published.project / "dbt_project" / "target" / "manifest.json").exists()
    assert MANIFEST.exists()


def test_the_manifests_parse_is_kept_for_the_first_build_on_that_warehouse_name(tmp_path):
    """Preparing the manifest (the command's way) parses for the warehouse file's name and keeps
    that parse, with the project's absolute path, as the first build's starting point (the
    missing-manifest run, ``published``, then builds without parsing again)."""
    from dbt.contracts.graph.manifest import Manifest

    project = _project_copy(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    prepare = (
        "import sys; from orchestration.base.settings import get_settings; "
        "from orchestration.runner import ensure_manifest; "
        "ensure_manifest(get_settings(warehouse_dir=sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", prepare, str(out)],
        capture_output=True,
        text=True,
        env=_env(PYTHONPATH=str(project)),
        cwd=project,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (project / "dbt_project" / "target" / "manifest.json").exists()
    (state,) = (project / "dbt_project" / "target" / "parse-state").iterdir()
    nodes = Manifest.from_msgpack(state.read_bytes()).nodes.values()
    seeds = [node for node in nodes if node.resource_type == "seed"]
    assert seeds and {seed.root_path for seed in seeds} == {str(project / "dbt_project")}
    # The state is the one a build on `out/warehouse.duckdb` looks for.
    check = (
        "import sys; from orchestration.base.dbt_parse_state import parse_state; "
        "from orchestration.base.settings import duckdb_memory_limit; "
        "print(parse_state(sys.argv[1], duckdb_memory_limit()))"
    )
    looked_for = subprocess.run(
        [sys.executable, "-c", check, str(out / "warehouse.duckdb")],
        capture_output=True,
        text=True,
        env=_env(PYTHONPATH=str(project)),
        cwd=project,
        check=True,
    ).stdout.strip()
    assert Path(looked_for) == state


# -- Personal data: none in clear in anything a run leaves -------------------------------------

_WORD = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d{9,12}")


def _input_personal_data(raw_dir: Path) -> tuple[set[str], set[str]]:
    """Every head's name and id number in the survey exports, read under any header variant."""
    from python_calamine import CalamineWorkbook

    names: set[str] = set()
    ids: set[str] = set()

    def take(header: list[str], rows) -> None:
        kinds = [SURVEY_HEADERS.get(normalise_header(cell)) for cell in header]
        for row in rows:
            for kind, cell in zip(kinds, row, strict=False):
                text = str(cell).strip() if cell is not None else ""
                if kind == "head_name" and len(text) > 3:
                    names.add(text.strip('"'))
                elif kind == "head_id_number" and text:
                    ids.add(text.split(".")[0].zfill(12))

    for path in sorted((raw_dir / "survey").rglob("*")):
        if path.suffix == ".csv":
            lines = path.read_text(encoding="utf-8-sig", errors="replace").splitlines()
            take(next(csv.reader(lines[:1])), (next(csv.reader([line]), []) for line in lines[1:]))
        elif path.suffix == ".xlsx":
            workbook = CalamineWorkbook.from_path(str(path))
            for sheet in workbook.sheet_names:
                rows = workbook.get_sheet_by_name(sheet).to_python()
                at = next((i for i, r in enumerate(rows) if "Mã hộ" in map(str, r)), None)
                if at is not None:
                    take([str(c) for c in rows[at]], rows[at + 1 :])
    return names, ids


def _found_in_text(text: str, names: set[str], ids: set[str], sizes: set[int]) -> set[str]:
    found = set(_DIGITS.findall(text)) & ids
    words = _WORD.findall(text)
    for size in sizes:
        found |= {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)} & names
    return found


def test_no_personal_data_in_clear_in_any_output_of_a_run(published, sample_tiny):
    """Every name and id number of the input, the variant headers' included, is searched for in
    every file the run left (the DuckDB files table by table, the rest as text): none is there."""
    out = published.out
    assert any(m["kind"] == "pii_header_variants" for m in sample_tiny.structural_mess())
    names, ids = _input_personal_data(sample_tiny.raw_dir)
    assert len(names) > 100 and len(ids) > 100
    sizes = {len(name.split()) for name in names}
    # A head's name that is also part of an official place name ("Xã Đinh Văn Lâm Hà") is found
    # in the reference units for that reason alone: such names are left out of the search.
    units = admin_unit_tables().units
    places = "\n".join(
        str(value)
        for column in ("province_name", "district_name", "commune_name")
        for value in units.column(column).to_pylist()
        if value
    )
    names -= _found_in_text(places, names, set(), sizes)
    leaks: dict[str, set[str]] = {}
    files = [p for p in out.rglob("*") if p.is_file() and not p.is_symlink()]
    for project in (REPO, published.project):
        files += [p for p in (project / "dbt_project" / "target").glob("*.json")]
    assert any(p.suffix == ".duckdb" for p in files) and any(
        "dagster_home" in str(p) for p in files
    )
    for path in files:
        if path.suffix == ".duckdb":
            with duckdb.connect(str(path), read_only=True) as con:
                columns = con.execute(
                    "select schema_name, table_name, column_name from duckdb_columns() "
                    "where not internal and data_type in ('VARCHAR', 'JSON', 'VARCHAR[]')"
                ).fetchall()
                text = "\n".join(
                    str(value)
                    for schema, table, column in columns
                    for (value,) in con.execute(
                        f'select distinct "{column}" from "{schema}"."{table}"'
                    ).fetchall()
                )
        else:
            text = path.read_bytes().decode("utf-8", errors="ignore")
        found = _found_in_text(text, names, ids, sizes)
        if found:
            leaks[str(path.relative_to(out) if path.is_relative_to(out) else path)] = found
    assert leaks == {}
