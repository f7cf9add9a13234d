"""The whole pipeline through the command line: sample → ingest → dbt → gate → publish.

These run the real ``poverty_review_job`` in-process (real Dagster, dbt, DuckDB and Great
Expectations) on the tiny synthetic sample, in temporary directories.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import shutil
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.base.headers import SURVEY_HEADERS, normalise_header
from orchestration.cli import EXIT_BAD_INPUT, EXIT_GATE_BLOCKED, EXIT_PUBLISHED, main
from orchestration.progress import print_summary
from orchestration.publish.builds import list_builds
from orchestration.sample import generate_sample

# published-warehouse.md, version 2: the tables BI tools read and their columns.
CONTRACT = {
    "commune_year": (
        "review_year unit_version province_code province_name district_code district_name "
        "commune_code commune_name standard_id reporting_status is_extremely_difficult "
        "difficult_villages total_villages total_households total_population "
        "assessed_households poor_households poor_people near_poor_households near_poor_people "
        "middle_households poverty_rate near_poverty_rate multidimensional_poverty_rate "
        "poverty_rate_change_pp poor_ethnic_minority poor_meritorious_family "
        "poor_social_protection poor_no_labour_capacity poor_female_headed exited_poverty "
        "newly_poor returned_to_poverty reappeared_poor poor_not_reassessed poor_moved_in "
        "poor_moved_out near_poor_to_poor poor_to_near_poor exited_near_poverty newly_near_poor "
        "recently_exited_poverty history_reviews classification_mismatches unreported_class"
    ),
    "district_year": (
        "review_year district_code communes_total communes_reported households_covered_percent "
        "extremely_difficult_communes"
    ),
    "province_year": (
        "review_year unit_version province_code poverty_rate poor_not_reassessed communes_total "
        "communes_reported households_covered_percent extremely_difficult_communes "
        "poor_households_extremely_difficult total_households_extremely_difficult "
        "poverty_rate_extremely_difficult mpi_headcount_ratio mpi_intensity mpi_m0"
    ),
    "territory_year": (
        "territory territory_unit_version province_code province_name review_year "
        "review_unit_version method total_households assessed_households poor_households "
        "near_poor_households poor_people near_poor_people poverty_rate near_poverty_rate "
        "poverty_rate_change_pp communes_reported communes_total households_covered_percent"
    ),
    "commune_year_group": (
        "review_year unit_version commune_code group_code group_name_vi assessed_households "
        "poor_households near_poor_households poor_people near_poor_people exited_poverty "
        "newly_poor returned_to_poverty"
    ),
    "province_year_group": (
        "review_year unit_version province_code group_code group_name_vi poor_households "
        "near_poor_households"
    ),
    "commune_year_deprivation": (
        "review_year unit_version commune_code standard_id service_code service_name_vi "
        "indicator_code indicator_name_vi poor_households deprived_poor_households access_rate "
        "near_poor_households deprived_near_poor_households near_poor_access_rate"
    ),
    "province_year_deprivation": (
        "review_year unit_version province_code indicator_code access_rate near_poor_access_rate "
        "mpi_contribution_percent"
    ),
    "plans": "plan_id name territory period_start period_end baseline_year legal_source",
    "target_progress": (
        "plan_id target_id description description_vi period_start period_end review_year "
        "baseline_year baseline_value actual required status note method"
    ),
    "build_info": (
        "build_id built_at code_version standards rows_read rows_loaded rows_quarantined "
        "files_quarantined communes_not_reported previous_build_id"
    ),
    "source_files": (
        "review_year dataset file_name sha256 size_bytes lines rows_read rows_loaded "
        "rows_quarantined status status_reason"
    ),
    "validation_summary": (
        "suite expectation severity table_name column_name success offending_rows sample_keys"
    ),
    # version 3
    "review_summary": (
        "review_year unit_version area_level area_code area_name_vi total_households poor_start "
        "poor_exited poor_newly poor_returned poor_moved_in poor_moved_out poor_not_reassessed "
        "poor_end poverty_rate_end near_poor_start near_poor_end poor_end_ethnic_minority "
        "near_poor_end_ethnic_minority"
    ),
    "publish_changes": "change_kind table_name key column_name previous_value value",
}


@pytest.fixture(scope="module")
def sample_raw_dir(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("raw")
    generate_sample(raw, scale="tiny", seed=7)
    return raw


@pytest.fixture(autouse=True)
def in_memory_instance(monkeypatch):
    """Runs use an in-memory Dagster instance (no DAGSTER_HOME) and a fixed test PII key."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("POVERTY_PII_KEY", "00" * 32)


@pytest.fixture(scope="module")
def recorded_run(sample_raw_dir, tmp_path_factory):
    """One full run on the tiny sample, shared by the read-only assertions below, with every
    ``duckdb.connect`` it makes seen (who called it, and with which settings) and a memory limit
    other than the default."""
    seen: list[dict] = []
    real_connect = duckdb.connect

    def spy(*args, **kwargs):
        database = kwargs.get("database", args[0] if args else ":memory:")
        caller = sys._getframe(1)  # the calling frame alone: inspect.stack() reads every source
        seen.append(
            {
                "database": str(database),
                "config": dict(kwargs.get("config") or {}),
                "caller": caller.f_globals.get("__name__", "?"),
                "where": f"{caller.f_code.co_filename}:{caller.f_lineno}",
            }
        )
        return real_connect(*args, **kwargs)

    out = tmp_path_factory.mktemp("warehouse")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duckdb, "connect", spy)
        patch.delenv("DAGSTER_HOME", raising=False)
        patch.setenv("POVERTY_PII_KEY", "00" * 32)
        patch.setenv("POVERTY_DUCKDB_MEMORY_LIMIT", "3GB")
        code = main(["run", "--raw-dir", str(sample_raw_dir), "--warehouse-dir", str(out)])
    return code, out, seen


@pytest.fixture(scope="module")
def published_run(recorded_run):
    code, out, _ = recorded_run
    return code, out


def test_every_connection_of_a_run_gets_the_warehouse_settings(recorded_run):
    """Every DuckDB file a whole run opens (the ingest, dbt's metadata, the gate, the publish,
    the summary) is opened through ``orchestration.base.warehouse_connection.connect``, or by
    duckdb-engine for Great Expectations, and with the memory limit of the settings."""
    code, _, seen = recorded_run
    assert code == EXIT_PUBLISHED
    files = [c for c in seen if c["database"] not in (":memory:", "", ":default:")]
    assert {Path(c["database"]).name for c in files} >= {"warehouse.duckdb", "published.duckdb"}
    for connection in files:
        assert connection["caller"] in (
            "orchestration.base.warehouse_connection",
            "duckdb_engine",  # Great Expectations, with the memory limit in its connect_args
        ), connection
        assert connection["config"].get("memory_limit") == "3GB", connection


def _last_runs_check_evaluations(out: Path) -> list:
    """The asset check evaluations of the last run recorded in ``out``'s Dagster home."""
    from dagster import DagsterEventType, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    with DagsterInstance.from_ref(InstanceRef.from_dir(str(out / "dagster_home"))) as instance:
        (run,) = instance.get_runs(limit=1)
        return [
            entry.dagster_event.event_specific_data
            for entry in instance.all_logs(
                run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
            )
        ]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_run_publishes_every_contract_table(published_run):
    code, out = published_run
    assert code == EXIT_PUBLISHED
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        have: dict[str, set[str]] = {}
        for table, column in con.execute(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'main'"
        ).fetchall():
            have.setdefault(table, set()).add(column)
        for table, columns in CONTRACT.items():
            assert table in have, f"published.duckdb lacks {table}"
            assert set(columns.split()) <= have[table], set(columns.split()) - have[table]
        uncommented = con.execute(
            "select table_name || '.' || column_name from duckdb_columns() "
            "where schema_name = 'main' and not internal and coalesce(comment, '') = '' order by 1"
        ).fetchall()
        assert uncommented == [], "published columns without a COMMENT (describe them in YAML)"
        years = [
            r[0]
            for r in con.execute(
                "select distinct review_year from commune_year order by 1"
            ).fetchall()
        ]
        assert years == [2021, 2022, 2023, 2024, 2025]
        versions = dict(
            con.execute("select distinct review_year, unit_version from commune_year").fetchall()
        )
        assert versions[2024] == "pre2025" and versions[2025] == "2025"


def test_every_dbt_check_is_evaluated_once_and_passes_in_a_published_run(published_run):
    """The models' `model_rules` tests run in their models' post-hooks, not as dbt nodes: the run
    still records one passed evaluation of each, beside those of the tests dbt ran itself."""
    from orchestration.transform.assets import RULE_CHECKS, warehouse_dbt_assets

    _, out = published_run
    evaluations = _last_runs_check_evaluations(out)
    dbt_checks = set(warehouse_dbt_assets.check_keys)
    evaluated = [e.asset_check_key for e in evaluations if e.asset_check_key in dbt_checks]
    assert sorted(evaluated, key=str) == sorted(dbt_checks, key=str)
    assert all(e.passed for e in evaluations if e.asset_check_key in dbt_checks)
    in_build = {
        e.asset_check_key
        for e in evaluations
        if e.metadata.get("run_by") is not None and e.asset_check_key in dbt_checks
    }
    assert in_build == set(RULE_CHECKS.values())


def test_the_gates_data_docs_are_rendered_by_the_end_of_the_run(published_run):
    """The gate renders its Data Docs while the run publishes; the run waits for them."""
    _, out = published_run
    index = out / "data_docs" / "index.html"
    assert index.is_file()
    pages = list((out / "data_docs" / "validations").rglob("*.html"))
    assert pages
    assert "marts.commune_year" in index.read_text(encoding="utf-8")


def test_published_rates_are_recomputed_from_counts(published_run):
    _, out = published_run
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        worst = con.execute(
            """
            select max(abs(p.poverty_rate - 100.0 * c.poor / c.total))
            from province_year p
            join (
                select review_year, unit_version, province_code,
                       sum(poor_households) as poor, sum(total_households) as total
                -- contract v2: over the reported communes with totals only
                from commune_year where reporting_status = 'reported' group by all
            ) c using (review_year, unit_version, province_code)
            """
        ).fetchone()[0]
    assert worst < 1e-9


# How each template target is measured (poverty-rules "Plans and their targets"), for the hand
# recomputation below: T1/T6 on the territory's rate; a fall in percent starts at 0 in the
# baseline review; a count or share starts at its baseline value. Bounds keep a projection within
# what the value can take.
FALL_OF_THE_TERRITORY_RATE = {"T1", "T6"}
LEVELS = {
    # target: (comparison, starts at 0 in the baseline review, lowest, highest)
    "T3": ("=", False, 0.0, None),
    "T4": (">=", True, 0.0, 100.0),
    "T5": (">", True, None, 100.0),
    "T8": ("=", False, 0.0, None),
    "T9": (">", True, None, 100.0),
    "T10": (">=", False, 0.0, 100.0),
}


def _within(value: float, lowest: float | None, highest: float | None) -> float:
    if lowest is not None and value < lowest:
        return lowest
    if highest is not None and value > highest:
        return highest
    return value


def _meets(value: float, comparison: str, required: float) -> bool:
    return {">=": value >= required - 1e-9, ">": value > required + 1e-9}.get(
        comparison, abs(value - required) <= 1e-9
    )


def test_pace_projection_and_status_recomputed_from_the_published_series(published_run):
    """Every target's pace, projection and status, worked out again in plain arithmetic from the
    published series (territory_year for the rate targets, the targets' own values by review for
    the levels), as a reader with the definitions and a calculator would."""
    _, out = published_run
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        rates = {
            (territory, year): (rate, standard)
            for territory, year, rate, standard in con.execute(
                "select territory, review_year, poverty_rate, standard_id from territory_year"
            ).fetchall()
        }
        cursor = con.execute("select * from target_progress")
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    by_target: dict[tuple, dict[int, dict]] = {}
    for row in rows:
        key = (row["plan_id"], row["territory"], row["target_id"])
        by_target.setdefault(key, {})[row["review_year"]] = row
    checked = on_the_line = 0
    for (_, territory, target), years in by_target.items():
        for year, row in years.items():
            base, end, required = row["baseline_year"], row["period_end"], row["required"]
            left = end - year
            if target in FALL_OF_THE_TERRITORY_RATE:
                falls = [
                    rates[(territory, y - 1)][0] - rates[(territory, y)][0]
                    for y in range(base + 1, year + 1)
                    if (territory, y - 1) in rates
                    and (territory, y) in rates
                    and rates[(territory, y - 1)][1] == rates[(territory, y)][1]
                ]
                if not falls:
                    assert row["actual"] is None and row["status"] == "not_measurable", row
                    continue
                mean, count = sum(falls) / len(falls), len(falls)
                assert row["actual"] == pytest.approx(mean, abs=1e-6)
                assert row["pace_so_far"] == pytest.approx(mean, abs=1e-6)
                assert row["projected_value"] == pytest.approx(mean, abs=1e-6)
                if left > 0:
                    need = (required * (count + left) - mean * count) / left
                    low = (mean * count + min(falls) * left) / (count + left)
                    high = (mean * count + max(falls) * left) / (count + left)
                    assert row["required_pace"] == pytest.approx(need, abs=1e-6)
                    assert row["projected_low"] == pytest.approx(low, abs=1e-6)
                    assert row["projected_high"] == pytest.approx(high, abs=1e-6)
                else:
                    assert row["required_pace"] is None
                met = _meets(mean, ">=", required)
                verdict = (
                    ("achieved" if met else "missed")
                    if left <= 0
                    else ("on_track" if met else "off_track")
                )
            elif target in LEVELS:
                comparison, from_zero, lowest, highest = LEVELS[target]
                value = row["actual"]
                if value is None:
                    continue
                start = 0.0 if from_zero else row["baseline_value"]
                if year == base:
                    assert row["pace_so_far"] is None
                    verdict = "on_track" if left > 0 else None
                else:
                    pace = (value - start) / (year - base)
                    line = start + (required - start) * (year - base) / (end - base)
                    projected = _within(value + pace * left, lowest, highest)
                    assert row["pace_so_far"] == pytest.approx(pace, abs=1e-6)
                    assert row["projected_value"] == pytest.approx(projected, abs=1e-6)
                    if left > 0:
                        assert row["required_pace"] == pytest.approx(
                            (required - value) / left, abs=1e-6
                        )
                    # The yearly changes seen, where every review since the baseline is in.
                    values = {base: start} | {y: r["actual"] for y, r in years.items()}
                    known = [y for y in range(base, year + 1) if values.get(y) is not None]
                    steps = [values[y] - values[y - 1] for y in known if y - 1 in known]
                    if len(steps) == year - base:
                        ends = [_within(value + s * left, lowest, highest) for s in steps]
                        assert row["projected_low"] == pytest.approx(min(ends), abs=1e-6)
                        assert row["projected_high"] == pytest.approx(max(ends), abs=1e-6)
                    if comparison == "=" and required < start:
                        ahead = value <= line + 1e-9
                    elif comparison == "=" and required == start:
                        ahead = abs(value - required) <= 1e-9
                    else:
                        ahead = _meets(value, ">=" if comparison == "=" else comparison, line)
                    on_the_line += abs(value - line) < 1e-9
                    if left <= 0:
                        verdict = "achieved" if _meets(value, comparison, required) else "missed"
                    else:
                        verdict = "on_track" if ahead else "off_track"
                    assert row["projected_status"] == (
                        "achieved" if _meets(projected, comparison, required) else "missed"
                    ), row
            else:
                continue
            # A provisional status hides the verdict (coverage or households not reviewed again).
            if verdict is not None and row["status"] != "provisional":
                assert row["status"] == verdict, (territory, target, year, row["note"])
            checked += 1
    assert checked >= 20, checked


def test_source_files_account_for_every_row_read(published_run, sample_raw_dir):
    _, out = published_run
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        read, loaded, quarantined = con.execute(
            "select rows_read, rows_loaded, rows_quarantined from build_info"
        ).fetchone()
        statuses = {
            r[0] for r in con.execute("select distinct status from source_files").fetchall()
        }
    assert read == loaded + quarantined
    assert quarantined > 0, "the messy sample holds bad rows that must be quarantined"
    assert {"loaded", "duplicate", "quarantined"} <= statuses


def test_run_on_unchanged_input_reproduces_the_published_numbers(
    published_run, sample_raw_dir, tmp_path, capsys
):
    """Re-run in a copy of the published directory: same numbers, and nothing changed."""
    _, first = published_run
    second = tmp_path / "again"
    shutil.copytree(first, second, ignore=shutil.ignore_patterns("dagster_home"))
    capsys.readouterr()
    assert main(["run", "--raw-dir", str(sample_raw_dir), "--warehouse-dir", str(second)]) == 0
    terminal = capsys.readouterr().out
    years = ", ".join(
        str(y) for y in sorted(int(p.name) for p in (sample_raw_dir / "survey").iterdir())
    )
    for dataset in ("survey_households", "commune_totals", "difficult_areas"):
        built = next(line for line in terminal.splitlines() if f"built   raw/{dataset}" in line)
        assert f"review_years_unchanged {years})" in built, built
    query = "select * from commune_year order by review_year, unit_version, commune_code"
    with (
        duckdb.connect(str(first / "published.duckdb"), read_only=True) as a,
        duckdb.connect(str(second / "published.duckdb"), read_only=True) as b,
    ):
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
        first_build = a.execute("select build_id from build_info").fetchone()[0]
        second_build = b.execute("select build_id from build_info").fetchone()[0]
        assert b.execute("select count(*) from publish_changes").fetchone()[0] == 0
        assert b.execute("select previous_build_id from build_info").fetchone()[0] == first_build
    manifest = json.loads((second / "published" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["previous_build_id"] == first_build
    assert f"No change since the previous publish (build {first_build})." in _summary(second)
    assert main(["diff", "--warehouse-dir", str(second)]) == 0
    assert capsys.readouterr().out.startswith(f"No change from build {first_build} to build ")
    # Nothing was read again: every year keeps the rows of the run that loaded them; dbt's
    # inputs are those of the first run's build, so dbt did not run and its checks carry over.
    loads = "select distinct run_id from audit.ingested_years"
    built = "select run_id, inputs_sha256 from audit.dbt_builds"
    with duckdb.connect(str(first / "warehouse.duckdb"), read_only=True) as a:
        first_loads = a.execute(loads).fetchall()
        ((first_run, inputs),) = a.execute(built).fetchall()
    with duckdb.connect(str(second / "warehouse.duckdb"), read_only=True) as b:
        assert b.execute(loads).fetchall() == first_loads
        rows = b.execute("select distinct run_id from raw.survey_households").fetchall()
        assert b.execute(built).fetchall() == [(first_run, inputs)]
    assert len(first_loads) == 1 and rows == first_loads
    (not_run,) = [line for line in terminal.splitlines() if "] dbt     " in line]
    assert f"not run: its inputs are those of the build of run {first_run}" in not_run
    log = sorted((second / "logs").glob("run-*.log"))[-1].read_text(encoding="utf-8")
    assert "review years to build in" not in log
    from orchestration.transform.assets import warehouse_dbt_assets

    dbt_checks = set(warehouse_dbt_assets.check_keys)
    carried = [e for e in _last_runs_check_evaluations(second) if e.asset_check_key in dbt_checks]
    assert sorted((e.asset_check_key for e in carried), key=str) == sorted(dbt_checks, key=str)
    assert all(e.passed for e in carried)
    assert {e.metadata["carried_over_from_run"].value for e in carried} == {first_run}
    # Nor did the gate validate again: the same dbt build, suites and code, so the new build
    # keeps the first build's outcomes, each with the time it was validated.
    (gate,) = [line for line in terminal.splitlines() if "built   audit/validation_results" in line]
    assert f"carried_over_from_build {first_build}" in gate, gate
    outcomes = (
        "select * exclude (build_id, run_id) from audit.validation_results "
        "where build_id = ? order by all"
    )
    with duckdb.connect(str(second / "warehouse.duckdb"), read_only=True) as b:
        kept = b.execute(outcomes, [second_build]).fetchall()
        assert kept and kept == b.execute(outcomes, [first_build]).fetchall()


def _summary(out: Path) -> str:
    """The run's closing summary as the terminal shows it (written to the stdout of import time,
    which pytest's capture does not replace)."""
    buffer = io.StringIO()
    print_summary(out / "published.duckdb", out / "warehouse.duckdb", out=buffer)
    return buffer.getvalue()


def _correct_one_commune(raw_dir: Path, review_year: int) -> tuple[str, str]:
    """Re-send one commune's survey file with one poor household corrected to not poor (its
    approved class and its income alike); the commune code and the file's name."""
    from orchestration.base.headers import SURVEY_HEADERS, normalise_header

    for path in sorted((raw_dir / "survey" / str(review_year)).glob("*.csv")):
        data = path.read_bytes()
        bom = data.startswith(b"\xef\xbb\xbf")
        text = data[3:].decode("utf-8") if bom else data.decode("utf-8")
        eol = "\r\n" if "\r\n" in text else "\n"
        lines = text.split(eol)
        header = [SURVEY_HEADERS.get(normalise_header(h)) for h in lines[0].split(",")]
        if not {"household_code", "reported_class", "income_per_capita"} <= set(header):
            continue  # a file the ingest quarantines whole
        at = {name: i for i, name in enumerate(header) if name}
        for i, line in enumerate(lines[1:], start=1):
            cells = line.split(",")
            income = cells[at["income_per_capita"]] if len(cells) == len(header) else ""
            if cells[at["reported_class"]] == "Hộ nghèo" and income.isdigit():
                cells[at["reported_class"]] = "Hộ không nghèo"
                cells[at["income_per_capita"]] = "9000000"
                lines[i] = ",".join(cells)
                out = eol.join(lines).encode("utf-8")
                path.write_bytes(b"\xef\xbb\xbf" + out if bom else out)
                name = path.relative_to(raw_dir).as_posix()
                return cells[at["commune_code"]].strip().zfill(5), name
    raise AssertionError(f"no plain poor household row in the {review_year} survey files")


def _values(path: Path, table: str, key: list[str], columns: list[str]) -> dict:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(f"select {', '.join(key + columns)} from {table}").fetchall()
    return {
        (tuple(row[: len(key)]), column): value
        for row in rows
        for column, value in zip(columns, row[len(key) :], strict=True)
    }


def test_a_corrected_resend_lists_each_changed_figure_and_verdict(
    published_run, sample_raw_dir, tmp_path, capsys
):
    """After a corrected re-send of one commune's file, publish_changes names every commune_year
    value and target verdict that differs between the two builds, and `diff` prints them."""
    _, first = published_run
    out, raw = tmp_path / "out", tmp_path / "raw"
    shutil.copytree(first, out, ignore=shutil.ignore_patterns("dagster_home"))
    shutil.copytree(sample_raw_dir, raw)
    commune, resent = _correct_one_commune(raw, 2024)
    capsys.readouterr()
    assert main(["run", "--raw-dir", str(raw), "--warehouse-dir", str(out)]) == EXIT_PUBLISHED
    capsys.readouterr()

    before, after = first / "published.duckdb", out / "published.duckdb"
    with duckdb.connect(str(after), read_only=True) as con:
        changes = con.execute(
            "select change_kind, table_name, key, column_name, previous_value, value "
            "from publish_changes"
        ).fetchall()
        compared = [
            name
            for (name,) in con.execute(
                "select column_name from duckdb_columns() where table_name = 'commune_year' "
                "and column_name not in ('review_year', 'unit_version', 'commune_code')"
            ).fetchall()
        ]
    key = ["review_year", "unit_version", "commune_code"]
    old, new = (_values(p, "commune_year", key, compared) for p in (before, after))
    expected = {pair for pair in old.keys() & new.keys() if old[pair] != new[pair]}
    listed = {
        (tuple(json.loads(k).values()), c)
        for kind, _, k, c, _, _ in changes
        if kind == "commune_count"
    }
    assert expected and listed == expected
    assert (2024, "pre2025", commune) in {k for k, _ in listed}
    assert ((2024, "pre2025", commune), "poor_households") in listed
    target_key = ["plan_id", "territory", "target_id", "review_year"]
    old, new = (_values(p, "target_progress", target_key, ["status"]) for p in (before, after))
    verdicts = {k for k, _ in old if old[(k, "status")] != new.get((k, "status"))}
    assert verdicts == {
        tuple(json.loads(k).values()) for kind, _, k, _, _, _ in changes if kind == "target_status"
    }
    files = {
        (json.loads(k)["file_name"], c) for kind, _, k, c, _, _ in changes if kind == "source_file"
    }
    assert (resent, "sha256") in files and {f for f, _ in files} == {resent}
    summary = _summary(out)
    assert "Changed since build" in summary and "commune figures" in summary

    assert main(["diff", "--warehouse-dir", str(out), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(changes)
    builds = [b.build_id for b in list_builds(out)]
    assert main(["diff", builds[1], builds[0], "--warehouse-dir", str(out), "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(changes) + 1
    assert main(["diff", "--warehouse-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"commune_year 2024 pre2025 {commune} poor_households:" in text


def test_gate_failure_exits_1_and_keeps_the_last_publish(
    published_run, sample_raw_dir, tmp_path, capsys
):
    """A commune with fewer resident households than assessed ones is a critical failure."""
    _, published = published_run
    out = tmp_path / "warehouse"
    shutil.copytree(published, out, ignore=shutil.ignore_patterns("dagster_home"))
    before = _sha256(out / "published.duckdb")

    broken = tmp_path / "raw"
    shutil.copytree(sample_raw_dir, broken)
    totals = broken / "commune_totals" / "2023.csv"
    lines = totals.read_text(encoding="utf-8-sig").splitlines()
    header = [h.strip() for h in lines[0].split(",")]
    households, commune = header.index("Tổng số hộ"), header.index("Mã xã")
    # A row the ingest loaded (the sample quarantines a few totals rows on purpose): a commune
    # the published build counts as reported in 2023.
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        reported = {
            code
            for (code,) in con.execute(
                "select commune_code from commune_year where review_year = 2023 "
                "and reporting_status = 'reported' and assessed_households > 1"
            ).fetchall()
        }
    row = next(
        i for i, line in enumerate(lines[1:], 1) if line.split(",")[commune].zfill(5) in reported
    )
    fields = lines[row].split(",")
    fields[households] = "1"
    if "Tổng số hộ DTTS" in header:  # more ethnic-minority households than 1 would quarantine it
        fields[header.index("Tổng số hộ DTTS")] = ""
    lines[row] = ",".join(fields)
    totals.write_text("\n".join(lines) + "\n", encoding="utf-8")

    code = main(["run", "--raw-dir", str(broken), "--warehouse-dir", str(out)])
    printed = capsys.readouterr().out
    assert code == EXIT_GATE_BLOCKED
    assert "assessed" in printed.lower()
    assert _sha256(out / "published.duckdb") == before
    # The terminal names the rule in words, the column, and the offending row: its key and value.
    code_5 = fields[commune].zfill(5)
    assert "poverty_rate must lie in [0, 100]" in printed
    (line,) = [
        x
        for x in printed.splitlines()
        if x.startswith("commune_year.poverty_rate must lie in [0, 100]: ")
    ]
    assert re.fullmatch(
        rf"commune_year\.poverty_rate must lie in \[0, 100\]: 1 offending row\(s\): "
        rf"review_year 2023, unit_version pre2025, commune_code {code_5}: "
        r"poverty_rate = [0-9.]+",
        line,
    ), line
    assert float(line.rsplit("= ", 1)[1]) > 100

    # The UI says where: the failed dbt test on the table, named and described by its rule.
    evaluations = _last_runs_check_evaluations(out)
    failed = [(e.check_name, "/".join(e.asset_key.path)) for e in evaluations if not e.passed]
    assert failed == [("model_rules", "marts/commune_year")]
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    (spec,) = [
        graph.get_check_spec(key)
        for key in graph.asset_check_keys
        if key.name == "model_rules" and key.asset_key.path[-1] == "commune_year"
    ]
    assert "commune_year.poverty_rate must lie in [0, 100]." in spec.description


def test_a_run_the_gate_stops_names_the_rule_the_column_and_the_rows(
    published_run, sample_raw_dir, tmp_path, capsys
):
    """A household of 150 persons passes the ingest and dbt's models (their structural tests
    hold) and is stopped by the gate's value rule; the terminal names the expectation, its rule
    in words, the column and the household's key with the value."""
    _, published = published_run
    out = tmp_path / "warehouse"
    shutil.copytree(published, out, ignore=shutil.ignore_patterns("dagster_home"))
    before = _sha256(out / "published.duckdb")
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        source_file, source_row, household, commune_code = con.execute(
            "select source_file, source_row, household_code, commune_code "
            "from raw.survey_households where review_year = 2024 and source_file like '%.csv' "
            "order by source_file, source_row limit 1"
        ).fetchone()
    broken = tmp_path / "raw"
    shutil.copytree(sample_raw_dir, broken)
    path = broken / source_file
    raw = path.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8"
    rows = list(csv.reader(io.StringIO(raw.decode(encoding), newline="")))
    kinds = [SURVEY_HEADERS.get(normalise_header(cell)) for cell in rows[0]]
    row = rows[source_row - 1]
    assert row[kinds.index("commune_code")].zfill(5) == commune_code
    row[kinds.index("household_size")] = "150"
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\n").writerows(rows)
    path.write_bytes(text.getvalue().encode(encoding))

    code = main(["run", "--raw-dir", str(broken), "--warehouse-dir", str(out)])
    printed = capsys.readouterr().out
    assert code == EXIT_GATE_BLOCKED
    assert _sha256(out / "published.duckdb") == before
    lines = printed.splitlines()
    start = next(
        i for i, x in enumerate(lines) if "household_size_plausible on" in x and "[critical]" in x
    )
    assert "stg_review_exports__households.household_size" in lines[start]
    assert lines[start + 1].startswith("    expected: household size is at most 100 persons")
    assert lines[start + 2].startswith("    observed: 1 of ")
    assert lines[start + 3] == (
        "    offending keys: "
        + json.dumps({"review_year": 2024, "household_code": household, "household_size": 150})
    )


def test_an_unbalanced_load_stops_the_run_in_its_ingest_step_with_exit_1(
    sample_raw_dir, tmp_path, capsys, monkeypatch
):
    """The raw assets' row balance is a blocking check of their own step: a load whose lines do
    not balance stops the run there (dbt never starts), exits 1 as a blocked gate does, and
    names the check, the file and the problem."""
    from orchestration.ingest import checks

    balance = checks.row_balance_problems

    def unbalanced(rows):
        problems = balance(rows)
        if rows and str(rows[0][1]).startswith("survey/"):
            problems.append(f"{rows[0][1]}: injected imbalance")
        return problems

    monkeypatch.setattr(checks, "row_balance_problems", unbalanced)
    code = main(["run", "--raw-dir", str(sample_raw_dir), "--warehouse-dir", str(tmp_path)])
    printed = capsys.readouterr().out
    assert code == EXIT_GATE_BLOCKED
    assert "- check survey_households_row_balance on raw/survey_households failed: " in printed
    assert "injected imbalance" in printed
    assert "warehouse_dbt_assets" not in printed
    assert not (tmp_path / "published.duckdb").exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--raw-dir", "/nonexistent/raw"], "does not exist"),
        (["--years", "2030-2031"], "no review year found"),
        (["--years", "twenty"], "--years"),
    ],
)
def test_unusable_input_exits_2_and_writes_nothing(
    arguments, message, sample_raw_dir, tmp_path, capsys
):
    out = tmp_path / "out"
    args = ["run", "--warehouse-dir", str(out)]
    if "--raw-dir" not in arguments:
        args += ["--raw-dir", str(sample_raw_dir)]
    assert main(args + arguments) == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err
    assert not (out / "published.duckdb").exists()


def _rounded(values) -> list:
    return [None if v is None else round(v, 9) for v in values]


def test_review_summary_and_the_province_workbooks_agree(published_run):
    """Every area level is summarised; each province workbook opens with openpyxl, lists the
    province by district (by commune from 2025) and its total row equals review_summary's."""
    import openpyxl

    from orchestration.publish.forms import COLUMNS, HEADER_ROWS

    _, out = published_run
    manifest = json.loads((out / "published" / "manifest.json").read_text(encoding="utf-8"))
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        levels = dict(
            con.execute("select area_level, count(*) from review_summary group by 1").fetchall()
        )
        build_id = con.execute("select build_id from build_info").fetchone()[0]
        native = con.execute(
            "select territory, review_year from territory_year "
            "where territory_unit_version = review_unit_version order by 1, 2"
        ).fetchall()
        assert set(levels) == {"commune", "district", "province", "territory"}
        assert [(f["territory"], f["review_year"]) for f in manifest["forms"]] == native
        for entry in manifest["forms"]:
            territory, year = entry["territory"], entry["review_year"]
            level = "district" if year <= 2024 else "commune"
            names = ", ".join(name for name, _, _ in COLUMNS[2:])
            total = con.execute(
                f"select {names} from review_summary where review_year = ? "
                "and area_level = 'territory' and area_code = ?",
                [year, territory],
            ).fetchone()
            parts = con.execute(
                "select count(*), sum(poor_end), sum(total_households) from review_summary "
                "where review_year = ? and area_level = ? and province_code = ? "
                "and unit_version = ?",
                [year, level, territory.split(":")[1], territory.split(":")[0]],
            ).fetchone()
            path = out / "published" / entry["file"]
            sheet = openpyxl.load_workbook(path, read_only=False).active
            assert build_id in sheet.cell(3, 1).value
            assert sheet.freeze_panes == "D6"
            at = 1 + [name for name, _, _ in COLUMNS].index("poor_end")  # after the row number
            assert sheet.cell(HEADER_ROWS, at + 1).value == "Hộ nghèo cuối kỳ"
            rows = list(sheet.iter_rows(min_row=HEADER_ROWS + 1, values_only=True))
            assert len(rows) == parts[0] + 1 == entry["rows"]
            assert rows[-1][2] == "Toàn tỉnh"
            # Excel keeps 15 significant digits of a rate.
            assert _rounded(rows[-1][3:]) == _rounded(total)
            assert sum(r[at] or 0 for r in rows[:-1]) == parts[1] == rows[-1][at]
            assert sheet.cell(HEADER_ROWS + 1, 4).number_format == "#,##0"
            assert sheet.cell(HEADER_ROWS + 1, 13).number_format == "0.00"


def test_parquet_files_describe_themselves_and_are_sorted_by_key(published_run):
    import pyarrow.parquet as pq

    _, out = published_run
    with duckdb.connect(str(out / "published.duckdb"), read_only=True) as con:
        comments = dict(
            con.execute(
                "select table_name || '.' || column_name, comment from duckdb_columns() "
                "where schema_name = 'main'"
            ).fetchall()
        )
        table_comment = con.execute(
            "select comment from duckdb_tables() where table_name = 'commune_year'"
        ).fetchone()[0]
    for path in (out / "published").glob("*.parquet"):
        schema = pq.read_schema(path)
        for field in schema:
            assert field.metadata[b"description"].decode() == comments[f"{path.stem}.{field.name}"]
    schema = pq.read_schema(out / "published" / "commune_year.parquet")
    assert schema.metadata[b"description"].decode() == table_comment
    assert json.loads(schema.metadata[b"sorted_by"]) == [
        "review_year",
        "unit_version",
        "commune_code",
    ]
    keys = [
        (r["review_year"], r["unit_version"], r["commune_code"])
        for r in pq.read_table(
            out / "published" / "commune_year.parquet",
            columns=["review_year", "unit_version", "commune_code"],
        ).to_pylist()
    ]
    assert keys == sorted(keys)
