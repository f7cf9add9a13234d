"""What the command prints: the ingest's progress (bar or plain lines) and the closing summary."""

from __future__ import annotations

import io
from types import SimpleNamespace

import duckdb

from orchestration.progress import Progress, print_summary
from orchestration.transform.node_log import DBT_NODE_LOG_PREFIX, DBT_NOT_RUN


def test_plain_lines_when_the_output_is_not_a_terminal():
    out = io.StringIO()
    progress = Progress(stream=out)
    progress.expect_files(3)
    progress.ingest_file("survey", 2023, 1, 2, 120)
    progress.ingest_file("survey", 2023, 2, 2, 80)
    progress.handle_log(f"{DBT_NODE_LOG_PREFIX}marts/commune_year built")
    progress.handle_log("some other log line")
    lines = out.getvalue().splitlines()
    assert progress.bar is False
    assert "ingest  survey 2023: file 2/2, 2/3 files and 200 rows in all" in lines[1]
    assert lines[2].endswith("dbt     marts/commune_year built")
    assert len(lines) == 3


def test_what_waits_for_dbt_to_build_runs_once_at_its_first_node_and_never_when_it_does_not():
    """The command warms the gate's imports while dbt builds (``runner._warm_later_stages``): at
    the first node dbt reports, once; a dbt step that did not run dbt must not start it, as its
    outputs follow at once on the thread the warming would race."""
    calls = []
    progress = Progress(stream=io.StringIO())
    progress.on_dbt_building.append(lambda: calls.append("warm"))
    progress.handle_log(f"{DBT_NODE_LOG_PREFIX}{DBT_NOT_RUN}its inputs are those of run x")
    assert calls == []
    progress.handle_log(f"{DBT_NODE_LOG_PREFIX}seeds/plans built")
    progress.handle_log(f"{DBT_NODE_LOG_PREFIX}marts/commune_year built")
    assert calls == ["warm"]


def test_a_bar_on_a_terminal_with_lines_above_it():
    out = io.StringIO()
    progress = Progress(stream=out, bar=True)
    progress.expect_files(2)
    progress.ingest_file("commune_totals", 2021, 1, 1, 330)
    progress.ingest_file("survey", 2021, 1, 1, 95)
    progress.handle(SimpleNamespace(event_type_value="STEP_START", step_key="warehouse_dbt"))
    text = out.getvalue()
    assert "ingest survey 2021" in text and "2/2" in text and "425 rows" in text
    assert text.rstrip().endswith("start   warehouse_dbt")


def _published(path):
    with duckdb.connect(str(path)) as con:
        con.execute("create table build_info as select 'b1' as build_id")
        con.execute(
            "create table source_files as select * from (values "
            "(2023, 'survey/2023/a.csv', 'loaded', null, 10, 9, 1),"
            "(2023, 'survey/2023/b.xlsx', 'quarantined', 'hidden_sheet_only', 5, 0, 5),"
            "(2023, 'survey/2023/c.csv', 'loaded', null, 7, 7, 0)) "
            "t(review_year, file_name, status, status_reason, rows_read, rows_loaded, "
            "rows_quarantined)"
        )
        con.execute(
            "create table commune_year as select * from (values "
            "(2023, '00001', 'reported'), (2023, '00004', 'not_reported')) "
            "t(review_year, commune_code, reporting_status)"
        )
        con.execute(
            "create table validation_summary as select * from (values "
            "('files_loaded_whole', 'warning', 'source_files', false, 1),"
            "('rates_in_range', 'critical', 'commune_year', true, 0)) "
            "t(expectation, severity, table_name, success, offending_rows)"
        )
        con.execute(
            "create table target_progress as select * from (values "
            "('P1', 'T1', 'on_track', 'Giảm tỷ lệ hộ nghèo', 'Reduce the poverty rate', 2023, "
            "1.5, 1.0, 'ahead of the required pace'),"
            "('P1', 'T1', 'off_track', 'Giảm tỷ lệ hộ nghèo', 'Reduce the poverty rate', 2022, "
            "0.5, 1.0, null)) "
            "t(plan_id, target_id, status, description_vi, description, review_year, actual, "
            "required, note)"
        )


def test_the_summary_names_what_a_data_engineer_must_act_on(tmp_path):
    published = tmp_path / "published.duckdb"
    _published(published)
    out = io.StringIO()
    print_summary(published, tmp_path / "warehouse.duckdb", out)
    text = out.getvalue()
    assert "Build: b1" in text
    assert "survey/2023/a.csv: loaded; 9 of 10 rows loaded, 1 quarantined" in text
    assert "survey/2023/b.xlsx: quarantined (hidden_sheet_only)" in text
    assert "c.csv" not in text
    assert "2023: 1 (00004)" in text
    assert "files_loaded_whole on source_files: 1 offending row(s)" in text
    assert "rates_in_range" not in text
    assert "T1: on_track in 2023 actual 1.50, required 1.00" in text
    assert "Giảm tỷ lệ hộ nghèo / Reduce the poverty rate" in text
    assert "off_track" not in text  # the latest review year only


def test_the_summary_skips_what_an_older_build_lacks(tmp_path):
    published = tmp_path / "published.duckdb"
    with duckdb.connect(str(published)) as con:
        con.execute("create table build_info as select 'old' as build_id")
        con.execute("create table target_progress as select 'T1' as target_id")
    out = io.StringIO()
    print_summary(published, tmp_path / "warehouse.duckdb", out)
    assert "Build: old" in out.getvalue()
    assert "Plan targets" not in out.getvalue()


def test_a_failed_step_is_told_by_its_innermost_cause():
    import sys

    from dagster._utils.error import serializable_error_info_from_exc_info

    from orchestration.progress import root_cause

    try:
        try:
            raise OSError(27, "File too large")
        except OSError as error:
            raise RuntimeError('Error occurred while executing op "raw__survey":\nmore') from error
    except RuntimeError:
        info = serializable_error_info_from_exc_info(sys.exc_info())
    assert root_cause(info) == "OSError: [Errno 27] File too large"
