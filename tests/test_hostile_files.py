"""Hostile and unlucky files (issue 26): workbook bombs, long cells, empty files, a file
overwritten while it is read, commands during a run or against a foreign build, a full disk.

Every fixture file is generated here (no binary blob in git). Two real runs of the command on
the tiny sample are shared by the module: one as generated, one with the hostile corpus added to
its 2023 survey folder and foreign files in ``builds/``. The corpus must be quarantined with its
reasons and change no published number; the peak memory of both runs is measured. The reading
rules themselves are tested on ``ingest_dataset`` directly, which is cheaper.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
import xlsxwriter
from fixtures.raw_exports import SURVEY_HEADERS, YEAR, valid_row

from orchestration.base.headers import match_headers
from orchestration.ingest import ReadLimits, ingest_dataset
from orchestration.ingest.limits import InputTooLarge, LimitError, check_sheet
from orchestration.runner import EXIT_BAD_INPUT, EXIT_LOCKED, EXIT_PIPELINE_ERROR, EXIT_PUBLISHED

REPO = Path(__file__).parents[1]
PII_KEY = "00" * 32
KEY = bytes.fromhex(PII_KEY)
# The padded workbook unpacks to 40 MiB here, over this run's lowered limit of 24 MiB (the
# default, 1 GiB, refuses the 2 GB workbook of the issue the same way, from the zip directory).
PADDED_BYTES = 40 << 20
RUN_ENV = {"POVERTY_MAX_XLSX_BYTES": str(24 << 20)}
LONG = "x" * 10_000

# A run of the command that records its own peak resident memory and its children's (dbt).
MEASURED_RUN = """
import resource, sys
from orchestration.cli import main

code = main(sys.argv[2:])
peaks = [resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
                                                       resource.RUSAGE_CHILDREN)]
open(sys.argv[1], "w").write(" ".join(map(str, peaks)))
sys.exit(code)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return {**env, "POVERTY_PII_KEY": PII_KEY, **extra}


def _command(*args: str, env: dict[str, str] | None = None, script: str | None = None):
    """The command in a fresh process, as people run it; ``script`` wraps ``main``."""
    prefix = (
        [sys.executable, "-c", script] if script else [sys.executable, "-m", "orchestration.cli"]
    )
    return subprocess.run(
        [*prefix, *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        cwd=REPO,
        timeout=900,
    )


# -- The corpus ----------------------------------------------------------------------------------

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
    'package/2006/content-types"><Default Extension="rels" ContentType="application/'
    'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType='
    '"application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName='
    '"/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/'
    'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships"><sheets><sheet name="DS" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.'
    'org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
    'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/></Relationships>'
)


def _column(number: int) -> str:
    letters = ""
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _header_row() -> str:
    cells = "".join(
        f'<c r="{_column(i + 1)}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for i, name in enumerate(SURVEY_HEADERS)
    )
    return f'<row r="1">{cells}</row>'


def write_raw_workbook(path: Path, dimension: str, rows: str, padding: int = 0) -> None:
    """A workbook written part by part, as a hostile tool could: the sheet's XML is streamed into
    the archive, so a padded sheet never sits in this process's memory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _ROOT_RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
                b'openxmlformats.org/spreadsheetml/2006/main">'
                + f'<dimension ref="{dimension}"/><sheetData>'.encode()
            )
            block = b" " * (1 << 20)
            for _ in range(padding // len(block)):
                sheet.write(block)
            sheet.write(rows.encode() + b"</sheetData></worksheet>")


def bomb_far_cell(path: Path, ref: str) -> None:
    """A header row and one cell at ``ref``: 2.5 KB that a dense reader expands to the range."""
    write_raw_workbook(
        path,
        f"A1:{ref}",
        _header_row()
        + f'<row r="{ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}"><c r="{ref}"><v>1</v></c></row>',
    )


def bomb_padded(path: Path, padding: int = PADDED_BYTES) -> None:
    """A small workbook whose sheet XML is padded with whitespace (compresses ~1000:1)."""
    write_raw_workbook(path, "A1:AB1", _header_row(), padding)


def _loaded_line(raw_dir: Path, plain_out: Path) -> tuple[list[str], list[str]]:
    """The header and a row of one of the sample's 2023 survey CSVs that the plain run loaded."""
    first = sorted((raw_dir / "survey" / "2023").glob("huyen_*.csv"))[0]
    with duckdb.connect(str(plain_out / "warehouse.duckdb"), read_only=True) as con:
        (row_number,) = con.execute(
            "select min(source_row) from raw.survey_households where source_file = ?",
            [f"survey/2023/{first.name}"],
        ).fetchone()
    with first.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    return lines[0], lines[row_number - 1]


def long_cell_files(raw_dir: Path, plain_out: Path) -> None:
    """A CSV and a workbook each holding one new household whose village cell is 10,000
    characters long: loaded, it would change the numbers; quarantined, it must not."""
    folder = raw_dir / "survey" / "2023"
    header, row = _loaded_line(raw_dir, plain_out)
    positions = match_headers(header, "survey").positions
    for number, suffix in ((1, "csv"), (2, "xlsx")):
        cells = list(row)
        cells[positions["household_code"]] = f"HOSTILE-{number}"
        cells[positions["village"]] = LONG
        path = folder / f"o_dai.{suffix}"
        if suffix == "csv":
            with path.open("w", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerows([header, cells])
        else:
            workbook = xlsxwriter.Workbook(str(path))
            sheet = workbook.add_worksheet()
            sheet.write_row(0, 0, header)
            sheet.write_row(1, 0, cells)
            workbook.close()


# File → (its status, its quarantine reason); whole-file reasons have no row number.
CORPUS = {
    "survey/2023/bom_xfd.xlsx": ("quarantined", "sheet_too_large"),
    "survey/2023/bom_ad.xlsx": ("quarantined", "sheet_too_large"),
    "survey/2023/bom_dem.xlsx": ("quarantined", "archive_too_large"),
    "survey/2023/rong.csv": ("quarantined", "empty_file"),
    "survey/2023/khong_tieu_de.csv": ("quarantined", "empty_file"),
    "survey/2023/o_dai.csv": ("loaded", "cell_too_long"),
    "survey/2023/o_dai.xlsx": ("loaded", "cell_too_long"),
}
FOREIGN_BUILDS = ("20990101T000000Z-khac", "hong")


def write_corpus(raw_dir: Path, plain_out: Path) -> None:
    folder = raw_dir / "survey" / "2023"
    bomb_far_cell(folder / "bom_xfd.xlsx", "XFD1048576")
    bomb_far_cell(folder / "bom_ad.xlsx", "AD1048576")
    bomb_padded(folder / "bom_dem.xlsx")
    (folder / "rong.csv").write_bytes(b"")
    (folder / "khong_tieu_de.csv").write_text("\n" + ",".join(["x"] * 5) + "\n", encoding="utf-8")
    long_cell_files(raw_dir, plain_out)


def write_foreign_builds(out: Path) -> None:
    """Another DuckDB file and garbage, named like builds, in ``builds/`` before the run."""
    builds = out / "builds"
    builds.mkdir(parents=True)
    with duckdb.connect(str(builds / f"{FOREIGN_BUILDS[0]}.duckdb")) as con:
        con.execute("create table households as select 1 as household_code")
    (builds / f"{FOREIGN_BUILDS[1]}.duckdb").write_bytes(b"not a database\n" * 100)


def _measured_run(raw: Path, out: Path, extra_env: dict[str, str]):
    peaks = out.parent / f"{out.name}.peak"
    done = _command(
        peaks.as_posix(),
        "run",
        "--raw-dir",
        str(raw),
        "--warehouse-dir",
        str(out),
        "--no-record",
        env=_env(**extra_env),
        script=MEASURED_RUN,
    )
    own, children = (int(v) for v in peaks.read_text().split())
    return done, max(own, children)


@pytest.fixture(scope="module")
def runs(sample_tiny, tmp_path_factory):
    """The tiny sample run as generated, and again with the corpus and foreign builds."""
    root = tmp_path_factory.mktemp("hostile")
    plain_out = root / "plain"
    plain, plain_peak = _measured_run(sample_tiny.raw_dir, plain_out, RUN_ENV)
    assert plain.returncode == EXIT_PUBLISHED, plain.stdout + plain.stderr
    raw = root / "raw"
    shutil.copytree(sample_tiny.raw_dir, raw)
    write_corpus(raw, plain_out)
    out = root / "out"
    write_foreign_builds(out)
    hostile, hostile_peak = _measured_run(raw, out, RUN_ENV)
    return SimpleNamespace(
        plain_out=plain_out,
        plain_peak_kb=plain_peak,
        raw=raw,
        out=out,
        done=hostile,
        peak_kb=hostile_peak,
    )


def _quarantine(out: Path) -> set[tuple]:
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        return {
            (name, row is None, tuple(reasons))
            for name, row, reasons in con.execute(
                "select source_file, source_row, reasons from audit.quarantine"
            ).fetchall()
        }


def test_the_corpus_is_quarantined_with_its_reasons_and_the_run_exits_0(runs):
    assert runs.done.returncode == EXIT_PUBLISHED, runs.done.stdout + runs.done.stderr
    added = _quarantine(runs.out) - _quarantine(runs.plain_out)
    assert added == {
        (name, status == "quarantined", (reason,)) for name, (status, reason) in CORPUS.items()
    }
    with duckdb.connect(str(runs.out / "published.duckdb"), read_only=True) as con:
        files = {
            name: (status, quarantined)
            for name, status, quarantined in con.execute(
                "select file_name, status, rows_quarantined from source_files"
            ).fetchall()
        }
    for name, (status, _) in CORPUS.items():
        assert files[name][0] == status, name
    assert files["survey/2023/o_dai.csv"][1] == 1
    # Each is named on the terminal among the files not loaded in full.
    for name in CORPUS:
        assert name in runs.done.stdout, name
    assert "Traceback" not in runs.done.stderr


def test_the_corpus_changes_no_published_number(runs):
    with duckdb.connect() as con:
        con.execute(f"attach '{runs.plain_out / 'published.duckdb'}' as a (read_only)")
        con.execute(f"attach '{runs.out / 'published.duckdb'}' as b (read_only)")
        for table in ("province_year", "commune_year", "territory_year", "target_progress"):
            for left, right in (("a", "b"), ("b", "a")):
                differing = con.execute(
                    f"select count(*) from (select * from {left}.{table} "
                    f"except all select * from {right}.{table})"
                ).fetchone()[0]
                assert differing == 0, (table, left)
        assert con.execute("select count(*) from b.province_year").fetchone()[0] > 0


def test_the_corpus_costs_no_memory(runs):
    """Refused before they are read, the bombs leave the peak where the plain run had it (the
    cell at AD1048576 alone took an earlier version past 1.3 GB). The figures are printed for
    docs/performance.md; the bound here is loose, as a shared machine's peaks vary."""
    print(f"peak RSS: plain run {runs.plain_peak_kb:,} KB, with the corpus {runs.peak_kb:,} KB")
    assert runs.peak_kb <= 1.25 * runs.plain_peak_kb


def test_the_warnings_print_their_counts_and_keys(runs):
    lines = runs.done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Warnings ("))
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line)
    named = [line for line in block if not line.startswith("    ")]
    assert named and all("offending row(s)" in line for line in named)
    assert len([line for line in block if line.startswith("    offending keys: ")]) == len(named)


# -- Foreign files in builds/ --------------------------------------------------------------------


def test_foreign_builds_are_never_listed_pruned_or_served(runs, tmp_path):
    builds = runs.out / "builds"
    for name in FOREIGN_BUILDS:
        assert (builds / f"{name}.duckdb").exists(), name
    listed = _command("builds", "--warehouse-dir", str(runs.out))
    assert listed.returncode == 0, listed.stderr
    for name in FOREIGN_BUILDS:
        assert f"builds/{name}.duckdb is not a published build" in listed.stdout
    out = tmp_path / "out"
    shutil.copytree(runs.out, out)
    live = (out / "published.duckdb").read_bytes()
    for name in FOREIGN_BUILDS:
        refused = _command("rollback", name, "--warehouse-dir", str(out))
        assert refused.returncode == EXIT_BAD_INPUT, refused.stderr
        assert refused.stderr.count("\n") == 1 and "not a published build" in refused.stderr
        assert "Traceback" not in refused.stderr + refused.stdout
    assert (out / "published.duckdb").read_bytes() == live
    explained = _command("explain", *_explain_arguments(out), "--warehouse-dir", str(out))
    assert explained.returncode == 0, explained.stderr


# -- Every command while a run writes ------------------------------------------------------------

HOLD_AS_A_RUN = """
import sys, time
import duckdb
from orchestration.base import run_lock

out = sys.argv[1]
with run_lock.hold(out, "poverty-warehouse run"):
    # A step of the run holds the working warehouse open for writing.
    con = duckdb.connect(out + "/warehouse.duckdb")
    print("holding", flush=True)
    time.sleep(120)
"""


def _explain_arguments(out: Path) -> list[str]:
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        year, commune = con.execute(
            "select review_year, commune_code from commune_year "
            "where reporting_status = 'reported' order by all limit 1"
        ).fetchone()
    return ["--year", str(year), "--commune", commune]


def test_every_command_answers_in_one_line_while_a_run_writes(runs, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(runs.out, out)
    live = (out / "published.duckdb").read_bytes()
    kept = [p.stem for p in (out / "builds").glob("*.duckdb") if p.stem not in FOREIGN_BUILDS]
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AS_A_RUN, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        warehouse = ["--warehouse-dir", str(out)]
        busy = {
            "run": ["run", "--raw-dir", str(runs.raw), *warehouse],
            "explain": ["explain", *_explain_arguments(out), *warehouse],
            "rollback": ["rollback", kept[0], *warehouse],
        }
        for name, args in busy.items():
            done = _command(*args)
            assert done.returncode == EXIT_LOCKED, (name, done.stdout, done.stderr)
            assert done.stderr.count("\n") == 1, (name, done.stderr)
            assert f"{out} is in use by pid {holder.pid}" in done.stderr, (name, done.stderr)
            assert "nothing was done" in done.stderr
        # What the published file answers is answered.
        answered = {
            "builds": ["builds", *warehouse],
            "explain --territory": [
                "explain",
                "--territory",
                "pre2025:02",
                "--target",
                "T1",
                *warehouse,
            ],
            "generate-sample": ["generate-sample", "--scale", "tiny", "--raw-dir", str(tmp_path)],
        }
        for name, args in answered.items():
            done = _command(*args)
            assert done.returncode == 0, (name, done.stdout, done.stderr)
    finally:
        holder.kill()
        holder.wait()
    assert (out / "published.duckdb").read_bytes() == live


def test_any_other_failure_is_one_line_with_the_traceback_in_the_logs(runs, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(runs.out, out)
    (out / "warehouse.duckdb").write_bytes(b"damaged\n" * 1000)
    done = _command("explain", *_explain_arguments(out), "--warehouse-dir", str(out))
    assert done.returncode == EXIT_PIPELINE_ERROR, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "explain failed" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    logged = sorted((out / "logs").glob("failure-*.log"))
    assert logged and "Traceback" in logged[-1].read_text()
    assert str(logged[-1]) in done.stderr


# -- The first cause first -----------------------------------------------------------------------

FULL_DISK_AT_INGEST = """
import resource, signal, sys
import orchestration.ingest as ingest

real = ingest.write_year
# A write past the limit below fails with EFBIG instead of killing the process (set here: only
# the main thread may set a signal's handler, and the ingest writes years on a pool's threads).
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

def write_year_on_a_full_disk(*args, **kwargs):
    # The disk fills up as the ingest writes the warehouse. No small file system can be mounted
    # without privileges here, so the process's file-size limit stands in for it: from now on
    # every write that grows a file fails (EFBIG, "File too large"), the warehouse's first,
    # then the Dagster records' as the run unwinds, as on a full disk. Nothing else is faked.
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
    return real(*args, **kwargs)

ingest.write_year = write_year_on_a_full_disk
from orchestration.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_full_disk_names_the_first_failure_last(sample_tiny, tmp_path):
    out = tmp_path / "out"
    done = _command(
        "run",
        "--raw-dir",
        str(sample_tiny.raw_dir),
        "--warehouse-dir",
        str(out),
        script=FULL_DISK_AT_INGEST,
    )
    assert done.returncode == EXIT_PIPELINE_ERROR, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("poverty-warehouse: raw__"), done.stderr
    head = last.split(" (then, while stopping")[0]
    assert "disk full" in head and "File too large" in head, last
    assert "nothing was published" in head
    assert not (out / "published.duckdb").exists()


# -- The reading rules, on ingest_dataset directly -----------------------------------------------


def _write_csv(path: Path, rows: list[dict[str, object]]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(SURVEY_HEADERS)] + [
        ",".join(str(row.get(h, "")) for h in SURVEY_HEADERS) for row in rows
    ]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    return data


def _households(first: int, count: int, **overrides: object) -> list[dict[str, object]]:
    return [valid_row(f"H{n:04d}", n, **overrides) for n in range(first, first + count)]


def _ingest(con, raw: Path, limits: ReadLimits | None = None):
    return ingest_dataset(
        con, raw, "survey", YEAR, run_id="run", pii_key=KEY, limits=limits or ReadLimits()
    )


def _files(con) -> dict[str, tuple]:
    return {
        name: (status, sha, loaded, quarantined)
        for name, status, sha, loaded, quarantined in con.execute(
            """
            select file_name, status, sha256, rows_loaded, rows_quarantined
            from audit.source_files where status not in ('replaced', 'removed')
            """
        ).fetchall()
    }


def _overwrite_keeping_size_and_mtime(path: Path, data: bytes) -> None:
    before = path.stat()
    assert len(data) == before.st_size
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_a_file_overwritten_after_the_runs_observation_is_recorded_by_the_bytes_loaded(
    tmp_path, con
):
    """The raw-files sensor hashes the raw files before the job; an office then overwrites one
    (same size, same mtime). The ingest must record the bytes it loads."""
    from orchestration.ingest.raw_watch import look

    raw = tmp_path / "raw"
    path = raw / "survey" / str(YEAR) / "xa.csv"
    old = _write_csv(path, _households(1, 3, **{"Số nhân khẩu": "4"}))
    look(raw, settle_s=0)
    new = _write_csv(tmp_path / "new.csv", _households(1, 3, **{"Số nhân khẩu": "5"}))
    _overwrite_keeping_size_and_mtime(path, new)
    assert old != new
    _ingest(con, raw)
    status, sha, loaded, _ = _files(con)["survey/2023/xa.csv"]
    assert (status, loaded) == ("loaded", 3)
    assert sha == hashlib.sha256(new).hexdigest()
    sizes = con.execute("select distinct household_size from raw.survey_households").fetchall()
    assert sizes == [(5,)]


def test_a_file_overwritten_while_it_is_read_is_quarantined_not_recorded_wrong(
    tmp_path, con, monkeypatch
):
    import orchestration.ingest as ingest

    raw = tmp_path / "raw"
    path = raw / "survey" / str(YEAR) / "xa.csv"
    old = _write_csv(path, _households(1, 3, **{"Số nhân khẩu": "4"}))
    _write_csv(raw / "survey" / str(YEAR) / "xb.csv", _households(10, 2))
    new = _write_csv(tmp_path / "new.csv", _households(1, 3, **{"Số nhân khẩu": "5"}))
    real = ingest.stage_csv_fast

    def read_then_overwrite(con, group, *args, **kwargs):
        failed = real(con, group, *args, **kwargs)
        if any(state.path == path for state in group):
            _overwrite_keeping_size_and_mtime(path, new)
        return failed

    monkeypatch.setattr(ingest, "stage_csv_fast", read_then_overwrite)
    _ingest(con, raw)
    files = _files(con)
    status, sha, loaded, quarantined = files["survey/2023/xa.csv"]
    assert (status, loaded, quarantined) == ("quarantined", 0, 3)
    assert sha == hashlib.sha256(old).hexdigest()
    assert files["survey/2023/xb.csv"][0] == "loaded"
    (reasons, detail) = con.execute(
        "select reasons, raw_record from audit.quarantine where source_file = 'survey/2023/xa.csv'"
    ).fetchone()
    assert reasons == ["changed_during_read"]
    assert json.loads(detail)["sha256_after"] == hashlib.sha256(new).hexdigest()
    codes = con.execute("select household_code from raw.survey_households order by 1").fetchall()
    assert codes == [("H0010",), ("H0011",)]


def test_a_cell_over_the_limit_quarantines_its_row_and_is_not_stored_whole(tmp_path, con):
    raw = tmp_path / "raw"
    rows = _households(1, 3)
    rows[1]["Thôn/Tổ"] = "Thôn " + "ư" * 5_000
    _write_csv(raw / "survey" / str(YEAR) / "xa.csv", rows)
    _ingest(con, raw)
    assert _files(con)["survey/2023/xa.csv"][2:] == (2, 1)
    reasons, record = con.execute(
        "select reasons, raw_record from audit.quarantine where source_row = 3"
    ).fetchone()
    assert reasons == ["cell_too_long"]
    village = json.loads(record)["Thôn/Tổ"]
    assert len(village) < 300 and village.endswith("(5005 characters)")
    # Characters, not bytes: 4,096 two-byte letters are within the limit.
    con.execute("delete from audit.source_files")
    rows[1]["Thôn/Tổ"] = "ư" * 4_096
    _write_csv(raw / "survey" / str(YEAR) / "xa.csv", rows)
    _ingest(con, raw)
    assert _files(con)["survey/2023/xa.csv"][2:] == (3, 0)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "0 bytes"), (b"\n\nH1,2023\n", "first line")],
)
def test_an_empty_or_header_less_csv_is_empty_file(tmp_path, con, content, message):
    raw = tmp_path / "raw"
    path = raw / "survey" / str(YEAR) / "rong.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    _ingest(con, raw)
    status, *_ = _files(con)["survey/2023/rong.csv"]
    assert status == "quarantined"
    reasons, detail = con.execute("select reasons, raw_record from audit.quarantine").fetchone()
    assert reasons == ["empty_file"] and message in json.loads(detail)["error"]


def test_a_sheet_is_judged_by_its_declared_and_its_actual_extent(tmp_path):
    limits = ReadLimits(max_sheet_rows=1_000, max_sheet_columns=40, max_sheet_cells=30_000)
    cases = {
        # A declared dimension over the limit, the cells within it.
        "declared": ("A1:AB5000", _header_row(), "5,000 rows"),
        # A small declared dimension, a cell far beyond it.
        "actual": (
            "A1:AB1",
            _header_row() + '<row r="900"><c r="BA900"><v>1</v></c></row>',
            "53 columns",
        ),
        # Cells without a reference take the next column: counted, not trusted away.
        "unplaced": ("A1", "<row>" + "<c><v>1</v></c>" * 45 + "</row>", "45 columns"),
    }
    for name, (dimension, rows, expected) in cases.items():
        path = tmp_path / f"{name}.xlsx"
        write_raw_workbook(path, dimension, rows)
        with zipfile.ZipFile(path) as archive, pytest.raises(InputTooLarge) as raised:
            check_sheet(archive, "xl/worksheets/sheet1.xml", "DS", limits)
        assert raised.value.reason == "sheet_too_large" and expected in raised.value.message
    path = tmp_path / "fits.xlsx"
    write_raw_workbook(
        path, "A1:AB900", _header_row() + '<row r="900"><c r="AB900"><v>1</v></c></row>'
    )
    with zipfile.ZipFile(path) as archive:
        check_sheet(archive, "xl/worksheets/sheet1.xml", "DS", limits)


def test_a_workbook_starting_far_from_a1_keeps_its_sheet_row_numbers(tmp_path, con):
    """Only the used cells are read: row numbers and title lines still count from row 1."""
    raw = tmp_path / "raw"
    path = raw / "survey" / str(YEAR) / "xa.xlsx"
    path.parent.mkdir(parents=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet()
    rows = _households(1, 2)
    rows[1]["Số nhân khẩu"] = "0"
    sheet.write_row(4, 2, SURVEY_HEADERS)
    for offset, row in enumerate(rows, start=5):
        sheet.write_row(offset, 2, [row.get(h, "") for h in SURVEY_HEADERS])
    workbook.close()
    _ingest(con, raw)
    lines, titles, loaded, quarantined = con.execute(
        "select lines, title_lines, rows_loaded, rows_quarantined from audit.source_files"
    ).fetchone()
    assert (lines, titles, loaded, quarantined) == (7, 5, 1, 1)
    assert con.execute("select source_row from audit.quarantine").fetchall() == [(7,)]


def test_limits_come_from_the_environment_and_reject_nonsense(monkeypatch):
    assert ReadLimits.from_environment({}) == ReadLimits()
    limits = ReadLimits.from_environment({"POVERTY_MAX_SHEET_ROWS": "50_000"})
    assert limits.max_sheet_rows == 50_000
    for bad in ("0", "-3", "lots"):
        with pytest.raises(LimitError, match="POVERTY_MAX_CELL_CHARS"):
            ReadLimits.from_environment({"POVERTY_MAX_CELL_CHARS": bad})
    monkeypatch.setenv("POVERTY_MAX_SHEET_CELLS", "many")
    from orchestration.runner import UsageError, _check_read_limits

    with pytest.raises(UsageError):
        _check_read_limits()


# -- source_files in the published file ----------------------------------------------------------


def test_published_source_files_lists_each_file_once_in_its_latest_state(runs, tmp_path):
    """A file removed and restored twice: four more rows of history in audit, one row in the
    published source_files (the file as it is now)."""
    from orchestration.publish.builds import live_build_id
    from orchestration.publish.publish import _write_published, mart_models

    out = tmp_path / "out"
    shutil.copytree(runs.out, out)
    raw = tmp_path / "raw"
    shutil.copytree(runs.raw, raw)
    name = "survey/2023/o_dai.csv"
    kept = (raw / name).read_bytes()
    warehouse = out / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        for _ in range(2):
            (raw / name).unlink()
            ingest_dataset(con, raw, "survey", 2023, run_id="gone", pii_key=KEY)
            (raw / name).write_bytes(kept)
            ingest_dataset(con, raw, "survey", 2023, run_id="back", pii_key=KEY)
        history = con.execute(
            "select status from audit.source_files where file_name = ? order by first_seen_at",
            [name],
        ).fetchall()
    assert [s for (s,) in history].count("removed") == 2 and history[-1] == ("loaded",)
    target = tmp_path / "published.duckdb"
    _write_published(
        target,
        warehouse,
        build_id=live_build_id(out),
        code_version_text="test",
        built_at=datetime.now(UTC),
        models=mart_models(),
    )
    with duckdb.connect(str(target), read_only=True) as con:
        assert (
            con.execute(
                "select count(*) from (select file_name from source_files group by all "
                "having count(*) > 1)"
            ).fetchone()[0]
            == 0
        )
        assert con.execute(
            "select status from source_files where file_name = ?", [name]
        ).fetchall() == [("loaded",)]
