"""The household suites by review year (``orchestration/gate/by_year.py``): a year whose inputs
did not change keeps its outcome, a year whose rows, model, seed or rule changed is validated
again, and what a build records is what a validation of every year records."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from built_warehouse import copy_warehouse

from orchestration.base.settings import EXPECTATIONS_DIR
from orchestration.gate.gx_duckdb import GXSetupError
from orchestration.gate.validation import GateResult, load_suites, run_gate

BY_YEAR = {(spec.suite, spec.asset) for spec in load_suites() if spec.by_review_year}


def _execute(path: Path, *statements: str) -> None:
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)


def _gate(path: Path, build_id: str, **kwargs) -> GateResult:
    return run_gate(path, build_id=build_id, run_id=f"r-{build_id}", data_docs_dir=None, **kwargs)


def _recorded(result: GateResult) -> list[tuple]:
    """What a build records of each expectation, less its build, run and time."""
    return sorted(
        (o.suite, o.expectation, o.table_name, o.success, o.observed, o.expected)
        + (json.dumps(o.offending_keys, default=str),)
        for o in result.results
    )


def _validated_in(path: Path) -> dict[tuple[str, str], dict[int, str]]:
    """(suite, asset) → review year → the build whose gate validated it (the kept outcomes)."""
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "select distinct suite, asset, review_year, build_id from audit.gate_year_outcomes"
        ).fetchall()
    kept: dict[tuple[str, str], dict[int, str]] = {}
    for suite, asset, year, build_id in rows:
        assert year not in kept.get((suite, asset), {}), "one build per asset and year"
        kept.setdefault((suite, asset), {})[year] = build_id
    return kept


def test_the_household_assets_are_validated_by_review_year() -> None:
    assert {
        ("staged_households", "stg_households"),
        ("staged_households", "int_households_classified"),
        ("warnings", "household_code_matches"),
    } == BY_YEAR


def test_a_year_added_is_the_only_one_validated_and_recorded_as_a_full_validation(
    tmp_path: Path, built_warehouse: Path
) -> None:
    path = copy_warehouse(built_warehouse, tmp_path / "kept")
    # The warehouse before review 2024 arrived: its rows set aside in a table no view reads.
    _execute(
        path,
        "create table main.review_2024 as "
        "select * from raw.survey_households where review_year = 2024",
        "delete from raw.survey_households where review_year = 2024",
    )
    _gate(path, "b-first")
    assert _validated_in(path) == {asset: {2022: "b-first", 2023: "b-first"} for asset in BY_YEAR}

    _execute(
        path,
        "insert into raw.survey_households select * from main.review_2024",
        "drop table main.review_2024",
    )
    added = _gate(path, "b-added")
    assert _validated_in(path) == {
        asset: {2022: "b-first", 2023: "b-first", 2024: "b-added"} for asset in BY_YEAR
    }
    # The codes found again compare 2024 with 2023: that rule reads both, and reports 2024 only.
    matched = next(o for o in added.results if o.expectation.startswith("commune_household_codes"))
    assert matched.success, matched.observed

    # The same warehouse validated whole, with no kept outcome: the same record.
    fresh = copy_warehouse(path, tmp_path / "fresh")
    _execute(fresh, "drop table audit.gate_year_outcomes")
    assert _recorded(added) == _recorded(_gate(fresh, "b-full"))


def test_a_row_changed_in_a_kept_year_is_validated_again(
    tmp_path: Path, built_warehouse: Path
) -> None:
    """A year is recognised by its rows' content, not by the load that wrote them: a row
    changed in place, as no ingest would, is still seen."""
    path = copy_warehouse(built_warehouse, tmp_path / "out")
    assert _gate(path, "b-clean").passed
    _execute(
        path,
        """update raw.survey_households set income_per_capita = -5
           where review_year = 2023 and household_code = '00694-002'""",
    )
    result = _gate(path, "b-changed")
    failure = {f.expectation: f for f in result.failures}["ingest_rule_invalid_income"]
    assert failure.observed == "1 offending row(s)"
    assert failure.offending_keys == [
        {"review_year": 2023, "household_code": "00694-002", "income_per_capita": -5}
    ]
    kept = _validated_in(path)
    for asset in BY_YEAR:
        years = {2022: "b-clean", 2023: "b-changed", 2024: "b-clean"}
        if asset == ("warnings", "household_code_matches"):
            years[2024] = "b-changed"  # 2024's codes are compared with 2023's
        assert kept[asset] == years, asset

    # Failed years keep their outcome too: the next build reports the same failure.
    again = _gate(path, "b-again")
    assert {f.expectation: f.offending_keys for f in again.failures} == {
        f.expectation: f.offending_keys for f in result.failures
    }
    assert _validated_in(path) == kept


def test_a_changed_seed_view_or_reference_unit_validates_every_year_that_reads_it(
    tmp_path: Path, built_warehouse: Path
) -> None:
    path = copy_warehouse(built_warehouse, tmp_path / "out")
    _gate(path, "b-one")
    # The classification reads the standards (a seed): its years, and only its, are validated.
    _execute(path, "update seeds.poverty_standards set legal_source = legal_source || ' '")
    _gate(path, "b-seed")
    kept = _validated_in(path)
    assert set(kept[("staged_households", "int_households_classified")].values()) == {"b-seed"}
    assert set(kept[("staged_households", "stg_households")].values()) == {"b-one"}
    # The staged households' rules read the reference units.
    _execute(
        path,
        "update reference.admin_units set commune_name = commune_name || ' ' "
        "where commune_code = '00694'",
    )
    _gate(path, "b-units")
    assert set(_validated_in(path)[("staged_households", "stg_households")].values()) == {"b-units"}
    # A view counts by its SQL: the classification redefined (the same rows, another query)
    # validates its years again; the staged households' rows did not change.
    with duckdb.connect(str(path)) as con:
        (sql,) = con.execute(
            "select sql from duckdb_views() where schema_name = 'intermediate' "
            "and view_name = 'int_households_classified'"
        ).fetchone()
        body = sql[sql.index(" AS ") + 4 :].rstrip().rstrip(";")
        con.execute(
            "create or replace view intermediate.int_households_classified as "
            f"select * from ({body})"
        )
    _gate(path, "b-view")
    kept = _validated_in(path)
    assert set(kept[("staged_households", "int_households_classified")].values()) == {"b-view"}
    assert set(kept[("staged_households", "stg_households")].values()) == {"b-units"}


def test_a_year_withdrawn_keeps_no_outcome(tmp_path: Path, built_warehouse: Path) -> None:
    path = copy_warehouse(built_warehouse, tmp_path / "out")
    _gate(path, "b-three")
    _execute(path, "delete from raw.survey_households where review_year = 2022")
    _gate(path, "b-two")
    kept = {asset: {2023: "b-three", 2024: "b-three"} for asset in BY_YEAR}
    # 2023's codes were compared with 2022's, which are gone: that year is validated again.
    kept[("warnings", "household_code_matches")][2023] = "b-two"
    assert _validated_in(path) == kept


def test_an_expectation_that_cannot_be_split_by_year_is_refused(tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    suites.mkdir()
    document = json.loads((EXPECTATIONS_DIR / "staged_households.json").read_text("utf-8"))
    stg = next(a for a in document["assets"] if a["asset"] == "stg_households")
    stg["expectations"].append(
        {
            "name": "mean_income_plausible",
            "severity": "warning",
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "income_per_capita", "min_value": 0},
            "description": "a mean is not the sum of each year's",
        }
    )
    (suites / "staged_households.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(GXSetupError, match="mean_income_plausible cannot be validated by review"):
        load_suites(suites)
