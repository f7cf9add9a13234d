"""The quality gate on good and broken warehouses, and its blocking check in a real Dagster run."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pytest
from built_warehouse import copy_warehouse
from dagster import DagsterEventType, materialize

from orchestration.base.build_record import build_id_for_run, code_version
from orchestration.base.resources import build_resources
from orchestration.base.settings import DBT_MANIFEST_PATH, REPO_ROOT, Settings
from orchestration.gate.assets import GATED_ASSET_KEYS, validation_results
from orchestration.gate.checks import critical_expectations_pass
from orchestration.gate.gx_duckdb import GXSetupError
from orchestration.gate.results import failed_expectations, format_failures
from orchestration.gate.validation import (
    CRITICAL,
    UNEXPECTED_ROWS,
    WARNING,
    gated_tables,
    load_suites,
    run_gate,
)
from orchestration.publish.assets import published_warehouse
from orchestration.publish.publish import publish

ASSESSED_ABOVE_TOTAL = """
    update marts.commune_year set total_households = assessed_households - 1
    where review_year = 2024 and commune_code = '00700'
"""

# The classification is a view over the staged households: to break its rows (not its input),
# a test turns it into a table of its own rows, breaks that, and points the view at it.
CLASSIFIED_AS_TABLE = (
    "create table intermediate.classified_rows as "
    "select * from intermediate.int_households_classified",
    "create or replace view intermediate.int_households_classified as "
    "select * from intermediate.classified_rows",
)


@pytest.fixture
def warehouse(tmp_path: Path, built_warehouse: Path) -> Path:
    return copy_warehouse(built_warehouse, tmp_path / "out")


def _execute(path: Path, *statements: str) -> None:
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)


def test_suites_mark_every_expectation_critical_or_warning() -> None:
    assets = load_suites()
    severities = {e.severity for a in assets for e in a.expectations}
    assert severities == {CRITICAL, WARNING}
    tables = {a.table for a in assets}
    assert "staging.stg_review_exports__households" in tables
    assert "intermediate.int_households_classified" in tables
    assert {f"marts.{t}" for t in ("commune_year", "district_year", "province_year")} <= tables


def test_the_gate_asset_depends_on_the_tables_the_suites_read() -> None:
    # One list: a table added to a suite is a dependency of the gate asset with no second edit.
    assert [".".join(key.path) for key in GATED_ASSET_KEYS] == gated_tables(
        schemas=("staging", "intermediate", "marts")
    )
    assert "marts.commune_year" in gated_tables()
    assert "audit.source_files" in gated_tables()
    assert "audit.source_files" not in gated_tables(schemas=("marts",))


# The GX expectation types that restate a dbt generic test, by the dbt test's name.
_SAME_RULE_AS_DBT = {
    "expect_column_values_to_not_be_null": "not_null",
    "expect_column_values_to_be_in_set": "accepted_values",
    "expect_column_values_to_be_between": "accepted_range",
    "expect_column_values_to_be_unique": "unique",
    "expect_compound_columns_to_be_unique": "unique_combination_of_columns",
}


# The ingest's rules re-checked by the gate (generated expectations), as the dbt test each
# would be.
_INGEST_RULE_AS_DBT = {
    "missing_household_code": "not_null",
    "duplicate_household": "unique_combination_of_columns",
    "invalid_commune_code": "relationships_by_columns",
    "invalid_area_type": "accepted_values",
    "invalid_head_sex": "accepted_values",
    "invalid_reported_class": "accepted_values",
}


def _dbt_rules(manifest: dict) -> set[tuple[str, str, frozenset[str]]]:
    """(model, generic test, columns) of every generic data test in dbt's manifest."""
    rules = set()
    for node in manifest["nodes"].values():
        metadata = node.get("test_metadata")
        if node["resource_type"] != "test" or not metadata:
            continue
        kwargs = metadata.get("kwargs") or {}
        model = (node.get("attached_node") or node["depends_on"]["nodes"][0]).split(".")[-1]
        # A model's row-level rules are one test, listing each kind's columns.
        if metadata["name"] == "model_rules":
            if kwargs.get("key"):
                rules.add((model, "unique_combination_of_columns", frozenset(kwargs["key"])))
            for kind, columns in (
                ("not_null", kwargs.get("not_null") or ()),
                ("accepted_values", kwargs.get("accepted_values") or {}),
                ("accepted_range", kwargs.get("ranges") or {}),
            ):
                for column in columns:
                    rules.add((model, kind, frozenset([column])))
            continue
        columns = (
            kwargs.get("combination_of_columns")
            or list(kwargs.get("columns") or {})  # relationships_by_columns: child → parent
            or [kwargs.get("column_name")]
        )
        rules.add((model, metadata["name"], frozenset(c for c in columns if c)))
    return rules


# The classification view selects every staged household column unchanged (`households.*`): a
# rule on one of those columns is the same rule on either relation.
_PASSED_THROUGH = {"stg_review_exports__households": ("int_households_classified",)}


def test_no_rule_is_owned_by_both_dbt_and_the_gate() -> None:
    """Keys, not-null, accepted values and ranges the models guarantee are dbt tests; the data
    quality that decides publishing is the gate's. A rule with two owners drifts, and the dbt
    copy stops the build before the gate can report it: every expectation of a kind dbt also has
    is compared with the manifest's tests on the same table and columns, and on a view that
    passes the table's columns through unchanged (the classification view's commune and
    household code are the staged ones: the gate's ingest rules own them)."""
    manifest = json.loads(DBT_MANIFEST_PATH.read_text(encoding="utf-8"))
    dbt_rules = _dbt_rules(manifest)
    assert (
        "commune_year",
        "unique_combination_of_columns",
        frozenset(["review_year", "unit_version", "commune_code"]),
    ) in dbt_rules  # the manifest is read as intended
    assert ("commune_year", "not_null", frozenset(["review_year"])) in dbt_rules
    assert ("province_year", "accepted_range", frozenset(["poverty_rate"])) in dbt_rules
    both = []
    compared = 0
    columns_of = {
        node["name"]: set(node.get("columns") or {})
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    for staged, views in _PASSED_THROUGH.items():
        for view in views:
            assert columns_of[staged] <= columns_of[view], view
    for asset in load_suites():
        model = asset.table.split(".")[-1]
        models = (model, *_PASSED_THROUGH.get(model, ()))
        for expectation in asset.expectations:
            reason = expectation.name.removeprefix("ingest_rule_")
            kind = _SAME_RULE_AS_DBT.get(expectation.type) or _INGEST_RULE_AS_DBT.get(reason)
            if kind is None:
                continue
            compared += 1
            columns = expectation.kwargs.get("column_list") or [
                expectation.kwargs.get("column") or expectation.column
            ]
            if reason == "duplicate_household":
                columns = ["review_year", "household_code"]
            if reason == "invalid_commune_code":
                columns = ["unit_version", "commune_code"]
            for owner in models:
                if (owner, kind, frozenset(columns)) in dbt_rules:
                    both.append(f"{owner}: {expectation.name} ({kind} {columns})")
    assert compared >= 5
    assert both == [], both


_COLUMN_RULES = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
}


def test_each_ingest_rule_has_one_owner_and_every_reason_is_accounted_for() -> None:
    """The ingest owns its quarantine rules; the gate re-checks them only through expectations
    generated from the ingest's list (ingest_rule_<reason>). Every expectation type of the suites
    is looked at: on the staged households no hand-written expectation guards a column a
    quarantine rule owns, except an upper bound the ingest does not apply. Every reason the
    survey quarantine gives is re-checked once or named as leaving nothing to check, and is
    documented in docs/architecture.md."""
    from orchestration.base.postconditions import NO_POSTCONDITION, SURVEY_POSTCONDITIONS
    from orchestration.ingest.rules import _judge_survey_sql

    given = _judge_survey_sql(2024) + _judge_survey_sql(2025)
    reasons = set(re.findall(r"then '([a-z_]+)'", given))
    assert {"invalid_income", "duplicate_household", "year_mismatch"} <= reasons
    rechecked = [rule.reason for rule in SURVEY_POSTCONDITIONS]
    assert len(rechecked) == len(set(rechecked))
    assert set(rechecked).isdisjoint(NO_POSTCONDITION)
    assert set(rechecked) | set(NO_POSTCONDITION) == reasons
    documented = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert [r for r in sorted(reasons) if f"`{r}`" not in documented] == []

    guarded = {c for rule in SURVEY_POSTCONDITIONS for c in rule.column.split(", ")}
    staged = "staging.stg_review_exports__households"
    types, generated, restated = set(), [], []
    for asset in load_suites():
        for expectation in asset.expectations:
            types.add(expectation.type)
            if expectation.name.startswith("ingest_rule_"):
                assert asset.table == staged and expectation.severity == CRITICAL
                generated.append(expectation.name.removeprefix("ingest_rule_"))
                continue
            # A warning's threshold (e.g. household codes found again) is no quarantine rule.
            if (
                asset.table != staged
                or expectation.column not in guarded
                or expectation.severity == WARNING
            ):
                continue
            bounded_above_only = (
                expectation.type == "expect_column_values_to_be_between"
                and "min_value" not in expectation.kwargs
            )
            if not bounded_above_only:
                restated.append(expectation.name)
    assert restated == []
    assert generated == rechecked
    # A new expectation type must be classified here before the suites may use it.
    assert types <= _COLUMN_RULES | {"expect_column_values_to_be_between", UNEXPECTED_ROWS}
    assert {"expect_column_values_to_be_between", UNEXPECTED_ROWS} <= types


def test_clean_build_passes_and_records_every_result(warehouse: Path) -> None:
    docs = warehouse.parent / "data_docs"
    result = run_gate(warehouse, build_id="b-clean", run_id="r-clean", data_docs_dir=docs)
    assert result.passed, format_failures(result.results)
    assert not result.warnings, format_failures(result.results)
    expected_count = sum(len(a.expectations) for a in load_suites())
    assert result.expectations_evaluated == expected_count
    assert result.data_docs_index is not None and result.data_docs_index.is_file()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute(
            "select count(*), bool_and(success) from audit.validation_results where build_id = ?",
            ["b-clean"],
        ).fetchone()
    assert stored == (expected_count, True)
    assert failed_expectations(warehouse, "b-clean") == []
    assert build_id_for_run(warehouse, "r-clean") == "b-clean"


def _record_dbt_build(warehouse: Path, run_id: str) -> None:
    """The record the dbt step leaves once it has built the whole project (build_inputs.py)."""
    from orchestration.base.build_inputs import (
        build_inputs_digest,
        manifest_sources,
        record_build,
    )

    sources = manifest_sources(json.loads(DBT_MANIFEST_PATH.read_text(encoding="utf-8")))
    with duckdb.connect(str(warehouse)) as con:
        inputs = build_inputs_digest(con, REPO_ROOT / "dbt_project", sources)
        assert inputs is not None
        record_build(con, inputs, run_id, [])


def _stored(warehouse: Path, build_id: str) -> list[tuple]:
    """A build's recorded outcomes, without the build and run they are recorded under."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select * exclude (build_id, run_id) from audit.validation_results "
            "where build_id = ? order by all",
            [build_id],
        ).fetchall()


def test_a_gate_whose_inputs_did_not_change_keeps_the_last_validations_outcomes(
    warehouse: Path, tmp_path: Path
) -> None:
    """The same dbt build (its inputs still the same), suites and code: the new build keeps the
    outcomes of the last validation, a failure and its keys included, each with the time it
    was validated. Changed suites, changed raw rows or no dbt build record: validated again."""
    _execute(warehouse, ASSESSED_ABOVE_TOTAL)
    _record_dbt_build(warehouse, "r-dbt")
    first = run_gate(warehouse, build_id="b1", run_id="r1", data_docs_dir=None)
    assert first.carried_over_from is None and not first.passed
    second = run_gate(warehouse, build_id="b2", run_id="r2", data_docs_dir=None)
    assert second.carried_over_from == "b1"
    assert not second.passed
    assert [f.offending_keys for f in second.failures] == [f.offending_keys for f in first.failures]
    assert {(o.build_id, o.run_id) for o in second.results} == {("b2", "r2")}
    assert _stored(warehouse, "b2") == _stored(warehouse, "b1")
    # The same build's gate again (a step retried): still the first validation's outcomes.
    again = run_gate(warehouse, build_id="b2", run_id="r2", data_docs_dir=None)
    assert again.carried_over_from == "b1" and _stored(warehouse, "b2") == _stored(warehouse, "b1")
    assert [f.expectation for f in failed_expectations(warehouse, "b2")] == [
        f.expectation for f in failed_expectations(warehouse, "b1")
    ]

    # Other suites: one warning fewer, validated with them.
    suites = tmp_path / "expectations"
    shutil.copytree(REPO_ROOT / "expectations", suites)
    warnings = json.loads((suites / "warnings.json").read_text(encoding="utf-8"))
    warnings["assets"][0]["expectations"] = warnings["assets"][0]["expectations"][1:]
    (suites / "warnings.json").write_text(json.dumps(warnings), encoding="utf-8")
    fewer = run_gate(
        warehouse, build_id="b3", run_id="r3", data_docs_dir=None, expectations_dir=suites
    )
    assert fewer.carried_over_from is None
    assert fewer.expectations_evaluated == first.expectations_evaluated - 1
    # The raw rows changed since dbt's build (an ingest without dbt): the staged views differ.
    _execute(
        warehouse,
        "delete from raw.survey_households where household_code = "
        "(select min(household_code) from raw.survey_households)",
    )
    assert (
        run_gate(warehouse, build_id="b4", run_id="r4", data_docs_dir=None).carried_over_from
        is None
    )
    # Another dbt build: validated, then kept.
    _record_dbt_build(warehouse, "r-dbt-2")
    assert (
        run_gate(warehouse, build_id="b5", run_id="r5", data_docs_dir=None).carried_over_from
        is None
    )
    assert (
        run_gate(warehouse, build_id="b6", run_id="r6", data_docs_dir=None).carried_over_from
        == "b5"
    )
    # Without dbt's manifest, the sources the digest takes are unknown: validated.
    from orchestration.base.settings import EXPECTATIONS_DIR
    from orchestration.gate.carry_over import gate_inputs_digest

    with duckdb.connect(str(warehouse)) as con:
        assert gate_inputs_digest(con, EXPECTATIONS_DIR) is not None
        assert gate_inputs_digest(con, EXPECTATIONS_DIR, manifest_path=tmp_path / "none") is None
    # No dbt build recorded (a build started, or the record deleted): validated.
    _execute(warehouse, "delete from audit.dbt_builds")
    assert (
        run_gate(warehouse, build_id="b7", run_id="r7", data_docs_dir=None).carried_over_from
        is None
    )


def test_critical_failure_blocks_and_is_reported(warehouse: Path) -> None:
    _execute(warehouse, ASSESSED_ABOVE_TOTAL)
    result = run_gate(warehouse, build_id="b-bad", run_id="r-bad", data_docs_dir=None)
    assert not result.passed
    failed = {f.expectation for f in result.failures}
    # The sums of communes are dbt's to assert (tests/assert_*_sum_of_communes.sql): one owner.
    assert failed == {"commune_assessed_not_above_total"}
    report = format_failures(result.failures)
    assert "marts / commune_assessed_not_above_total on marts.commune_year" in report
    assert "assessed_households <= total_households" in report
    assert '"commune_code": "00700"' in report
    stored = failed_expectations(warehouse, "b-bad", severity=CRITICAL)
    assert {f.expectation for f in stored} == failed
    offending = next(f for f in stored if f.expectation == "commune_assessed_not_above_total")
    assert offending.offending_keys[0]["commune_code"] == "00700"


def test_staged_household_defects_are_caught_with_their_keys(warehouse: Path) -> None:
    # The staged households are a view of the raw table: the defects go into its rows.
    _execute(
        warehouse,
        """update raw.survey_households set income_per_capita = -5
           where review_year = 2023 and household_code = '00694-002'""",
        """update raw.survey_households set commune_code = '99999'
           where review_year = 2022 and household_code = '00700-001'""",
        """insert into raw.survey_households
           select * from raw.survey_households
           where review_year = 2024 and household_code = '00703-003'""",
        # Not a quarantine rule of the ingest: the gate's own value rule.
        """update raw.survey_households set income_per_capita = 2000000000
           where review_year = 2024 and household_code = '01291-020'""",
    )
    result = run_gate(warehouse, build_id="b-stg", run_id="r-stg", data_docs_dir=None)
    by_name = {f.expectation: f for f in result.failures}
    # The ingest's rules, re-checked by the expectations generated from its list.
    assert {
        "income_within_plausible_range",
        "ingest_rule_invalid_income",
        "ingest_rule_invalid_commune_code",
        "ingest_rule_duplicate_household",
    } <= set(by_name)
    income = by_name["income_within_plausible_range"]
    assert income.observed.startswith("1 of ")
    assert income.offending_keys == [
        {"review_year": 2024, "household_code": "01291-020", "income_per_capita": 2000000000}
    ]
    assert by_name["ingest_rule_invalid_income"].offending_keys == [
        {"review_year": 2023, "household_code": "00694-002", "income_per_capita": -5}
    ]
    assert by_name["ingest_rule_invalid_commune_code"].offending_keys[0]["commune_code"] == "99999"
    duplicate = by_name["ingest_rule_duplicate_household"].offending_keys
    assert duplicate == [
        {"review_year": 2024, "household_code": "00703-003", "rows_for_household": 2}
    ]


def test_a_missing_mark_of_the_standard_blocks(warehouse: Path) -> None:
    _execute(
        warehouse,
        """update raw.survey_households set d_water = null
           where review_year = 2024 and household_code = '00703-003'""",
    )
    result = run_gate(warehouse, build_id="b-mark", run_id="r-mark", data_docs_dir=None)
    failure = next(f for f in result.failures if f.expectation == "deprivation_marks_present")
    assert failure.offending_keys[0]["household_code"] == "00703-003"


def test_a_lost_doubled_or_unclassified_household_is_caught(warehouse: Path) -> None:
    """The classification is a view in the real warehouse; a change to it that drops households
    (an inner join) or doubles them (overlapping standards), or a review year no standard
    covers, must still fail the gate."""
    _execute(
        warehouse,
        *CLASSIFIED_AS_TABLE,
        """delete from intermediate.classified_rows
           where review_year = 2022 and household_code = '00700-001'""",
        """insert into intermediate.classified_rows
           select * from intermediate.classified_rows
           where review_year = 2024 and household_code = '00703-003'""",
        # As if no seed row covered the household's review year.
        """update intermediate.classified_rows
           set standard_id = NULL, computed_class = NULL
           where review_year = 2023 and household_code = '00694-002'""",
    )
    result = run_gate(warehouse, build_id="b-cls", run_id="r-cls", data_docs_dir=None)
    uncovered = {"standard_applied", "computed_class_present"}
    assert uncovered <= {f.expectation for f in result.failures}
    for failure in (f for f in result.failures if f.expectation in uncovered):
        assert failure.severity == CRITICAL
        assert failure.offending_keys[0]["household_code"] == "00694-002"
    failure = next(
        f for f in result.failures if f.expectation == "one_classified_row_per_staged_household"
    )
    assert failure.severity == CRITICAL
    counts = {key["review_year"]: key for key in failure.offending_keys}
    assert set(counts) == {2022, 2024}
    assert counts[2022]["rows_classified"] == counts[2022]["rows_staged"] - 1
    assert counts[2024]["rows_classified"] == counts[2024]["rows_staged"] + 1


def test_offending_keys_are_the_first_rows_in_sorted_order(warehouse: Path, tmp_path: Path) -> None:
    """A rule's rows are sorted before its first keys are kept, so every build of the same data
    reports the same keys, whatever order the rule's query (here a descending one) yields."""
    suites = tmp_path / "suites"
    suites.mkdir()
    rule = {
        "name": "households_of_2024",
        "severity": WARNING,
        "type": "unexpected_rows_expectation",
        "column": "household_code",
        "query": [
            "select review_year, household_code from {batch}",
            "where review_year = 2024 order by household_code desc",
        ],
        "description": "every household of 2024, as offending rows",
    }
    asset = {
        "asset": "households",
        "table": "staging.stg_review_exports__households",
        "key_columns": ["review_year", "household_code"],
        "expectations": [rule],
    }
    (suites / "order.json").write_text(
        json.dumps({"suite": "order", "description": "", "assets": [asset]}), encoding="utf-8"
    )
    result = run_gate(
        warehouse, build_id="b-order", run_id="r-order", data_docs_dir=None, expectations_dir=suites
    )
    (outcome,) = result.results
    with duckdb.connect(str(warehouse), read_only=True) as con:
        first = con.execute(
            "select household_code from staging.stg_review_exports__households "
            "where review_year = 2024 order by household_code limit 5"
        ).fetchall()
    assert len(first) == 5
    assert [key["household_code"] for key in outcome.offending_keys] == [code for (code,) in first]


def test_a_rule_past_the_rows_gx_fetches_gets_its_exact_count_in_one_or_two_runs(
    warehouse: Path, tmp_path: Path
) -> None:
    """GX fetches at most 200 of a rule's rows. Past that, a plain rule is counted by a second
    run of its query; a rule flagged ``count_in_query`` (an aggregating query, whose second run
    would cost as much as the first) returns its count in the same run, outside its keys."""
    import sqlalchemy as sa

    with duckdb.connect(str(warehouse), read_only=True) as con:
        (households,) = con.execute(
            "select count(*) from staging.stg_review_exports__households"
        ).fetchone()
    assert households > 200, "the fixture must have more rows than GX fetches"

    def rule(name: str, marker: str, **flags: object) -> dict:
        return {
            "name": name,
            "severity": WARNING,
            "type": "unexpected_rows_expectation",
            "column": "household_code",
            "query": [
                "select review_year, household_code from {batch}",
                f"where '{marker}' = '{marker}'",
            ],
            "description": "every household, as offending rows",
            **flags,
        }

    suites = tmp_path / "suites"
    suites.mkdir()
    asset = {
        "asset": "households",
        "table": "staging.stg_review_exports__households",
        "key_columns": ["review_year", "household_code"],
        "expectations": [
            rule("plain", "plain-rule"),
            rule("counted", "counted-rule", count_in_query=True),
        ],
    }
    (suites / "count.json").write_text(
        json.dumps({"suite": "count", "description": "", "assets": [asset]}), encoding="utf-8"
    )
    executed: list[str] = []

    def record(conn, cursor, statement, *args) -> None:
        executed.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", record)
    try:
        result = run_gate(
            warehouse,
            build_id="b-count",
            run_id="r-count",
            data_docs_dir=None,
            expectations_dir=suites,
        )
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", record)
    outcomes = {outcome.expectation: outcome for outcome in result.results}
    for name in ("plain", "counted"):
        assert outcomes[name].observed == f"{households:,} offending row(s)", name
        assert [set(key) for key in outcomes[name].offending_keys] == [
            {"review_year", "household_code"}
        ] * 5, name
    assert outcomes["plain"].offending_keys == outcomes["counted"].offending_keys
    assert sum("plain-rule" in statement for statement in executed) == 2, executed
    assert sum("counted-rule" in statement for statement in executed) == 1, executed


def test_warnings_do_not_block(warehouse: Path) -> None:
    _execute(
        warehouse,
        """update marts.commune_year set poverty_rate_change_pp = -22.5
           where review_year = 2024 and commune_code = '00694'""",
        """update marts.commune_year set classification_mismatches = assessed_households
           where review_year = 2023 and commune_code = '00703'""",
        *(
            f"""update marts.{table} set total_households = total_households * 2
                where review_year = 2024 and province_code = '02'"""
            for table in ("commune_year", "district_year", "province_year")
        ),
        "insert into audit.quarantine select * from audit.quarantine where review_year = 2023",
        "insert into audit.quarantine select * from audit.quarantine where review_year = 2023",
        # A whole file quarantined, and the commune it would have reported.
        """insert into audit.source_files (review_year, dataset, file_name, sha256, size_bytes,
               rows_read, rows_loaded, rows_quarantined, status, status_reason, run_id,
               first_seen_at, last_seen_at, lines, title_lines, blank_lines)
           values (2024, 'survey', 'survey/2024/huyen_2.csv', 'sha-q', 10, 0, 0, 0,
               'quarantined', 'not_utf8', 'fixture', now(), now(), 1, 0, 0)""",
        """update marts.commune_year set reporting_status = 'not_reported',
               assessed_households = null, poor_households = null, poverty_rate = null
           where review_year = 2024 and commune_code = '00706'""",
        """update marts.commune_year set reporting_status = 'no_totals', poverty_rate = null
           where review_year = 2023 and commune_code = '01291'""",
        """update marts.commune_year set unreported_class = 3
           where review_year = 2023 and commune_code = '00700'""",
        # Commune 00694's poor households of 2023 are all missing from 2024.
        """update intermediate.int_households_previously_poor_placed set is_reassessed = false
           where review_year = 2024 and commune_code = '00694'""",
        # Commune 01294 loses most of its household codes between 2022 and 2023 (the staged
        # households are a view of the raw table).
        """update raw.survey_households
           set household_code = household_code || '-renumbered'
           where review_year = 2023 and commune_code = '01294' and source_row % 4 <> 0""",
        """update marts.province_year set reappeared_poor = newly_poor + 1
           where review_year = 2024 and province_code = '04'""",
    )
    result = run_gate(warehouse, build_id="b-warn", run_id="r-warn", data_docs_dir=None)
    assert result.passed, format_failures(result.failures)
    warnings = {w.expectation: w for w in result.warnings}
    assert set(warnings) == {
        "commune_poverty_rate_moved_over_15_points",
        "commune_classification_mismatches_over_5_percent",
        "province_total_households_changed_over_10_percent",
        "review_year_quarantine_over_1_percent",
        "whole_files_quarantined",
        "communes_not_reported",
        "communes_without_totals",
        "commune_unreported_class_over_5_percent",
        "commune_poor_not_reassessed_over_5_percent",
        "commune_household_codes_matched_below_80_percent",
        "province_returned_and_reappeared_above_newly_poor",
    }
    # Each names its offending communes (or files), as validation_summary publishes them.
    assert (
        warnings["whole_files_quarantined"].offending_keys[0]["file_name"]
        == "survey/2024/huyen_2.csv"
    )
    assert warnings["communes_not_reported"].offending_keys == [
        {
            "review_year": 2024,
            "unit_version": "pre2025",
            "commune_code": "00706",
            "reporting_status": "not_reported",
        }
    ]
    assert (
        warnings["commune_poor_not_reassessed_over_5_percent"].offending_keys[0]["commune_code"]
        == "00694"
    )
    matched = warnings["commune_household_codes_matched_below_80_percent"].offending_keys
    # 2022 -> 2023 and, the renumbered codes being gone again, 2023 -> 2024.
    assert sorted((k["review_year"], k["commune_code"]) for k in matched) == [
        (2023, "01294"),
        (2024, "01294"),
    ]
    assert (
        warnings["province_returned_and_reappeared_above_newly_poor"].offending_keys[0][
            "province_code"
        ]
        == "04"
    )


@pytest.mark.parametrize(
    "breakage",
    [
        ("drop table marts.province_year",),
        ("alter table marts.commune_year drop column reporting_status",),
        ("drop table reference.admin_units",),
        # Read through the gate's snapshot of the classified view (snapshot_columns).
        (
            *CLASSIFIED_AS_TABLE,
            "alter table intermediate.classified_rows drop column deprivation_count",
        ),
    ],
)
def test_broken_setup_raises_instead_of_failing_as_bad_data(
    warehouse: Path, breakage: tuple[str, ...]
) -> None:
    _execute(warehouse, *breakage)
    with pytest.raises(GXSetupError):
        run_gate(warehouse, build_id="b-broken", run_id="r-broken", data_docs_dir=None)


def _materialize(warehouse_dir: Path):
    return materialize(
        [validation_results, published_warehouse, critical_expectations_pass],
        resources={
            "warehouse": build_resources(
                Settings(raw_dir=warehouse_dir / "raw", warehouse_dir=warehouse_dir)
            )["warehouse"]
        },
        raise_on_error=False,
    )


def _publish_first_build(warehouse: Path) -> Path:
    run_gate(warehouse, build_id="b-first", run_id="r-first", data_docs_dir=None)
    published = warehouse.parent / "published.duckdb"
    publish(
        warehouse,
        published,
        build_id="b-first",
        run_id="r-first",
        code_version=code_version(),
    )
    return published


def test_dagster_blocking_check_skips_publish_and_keeps_the_file(warehouse: Path) -> None:
    published = _publish_first_build(warehouse)
    before = published.read_bytes()
    _execute(warehouse, ASSESSED_ABOVE_TOTAL)

    result = _materialize(warehouse.parent)

    assert not result.success
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("critical_expectations_pass", False)]
    assert "commune_assessed_not_above_total" in checks[0].metadata["failures"].value
    publish_step_events = {
        e.event_type for e in result.all_events if e.step_key == "published__published_warehouse"
    }
    assert DagsterEventType.STEP_START not in publish_step_events  # skipped: never started
    materialized = {tuple(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert ("published", "published_warehouse") not in materialized
    assert ("audit", "validation_results") in materialized
    assert published.read_bytes() == before
    with duckdb.connect(str(warehouse), read_only=True) as con:
        blocked = con.execute(
            "select validation_passed, published_at from audit.builds where run_id = ?",
            [result.run_id],
        ).fetchall()
    assert blocked == [(False, None)]


def test_dagster_clean_run_publishes(warehouse: Path) -> None:
    result = _materialize(warehouse.parent)
    assert result.success
    metadata = result.asset_materializations_for_node("published__published_warehouse")[0].metadata
    build_id = metadata["build_id"].value
    published = warehouse.parent / "published.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        assert con.execute("select build_id from build_info").fetchone() == (build_id,)
    gate = result.asset_materializations_for_node("audit__validation_results")[0].metadata
    assert gate["build_id"].value == build_id
    assert gate["critical_failures"].value == 0
    assert (warehouse.parent / "data_docs" / "index.html").is_file()
    assert json.loads(json.dumps(gate["passed"].value)) is True
    # One record per build: created by the gate, completed by the publish.
    with duckdb.connect(str(warehouse), read_only=True) as con:
        records = con.execute(
            "select validation_passed, published_at is not null, kept_path is not null "
            "from audit.builds where build_id = ?",
            [build_id],
        ).fetchall()
    assert records == [(True, True, True)]
