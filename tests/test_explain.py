"""explain(): a published number traced to exactly the source rows that make it up."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest
from built_warehouse import TOTAL_HOUSEHOLDS, copy_warehouse

from orchestration.base.settings import DBT_MANIFEST_PATH
from orchestration.gate.validation import run_gate
from orchestration.publish.publish import publish
from orchestration.serve.explain import ExplainError, explain, measures, neutralise_cell


@pytest.fixture(scope="module")
def published_warehouse(
    tmp_path_factory: pytest.TempPathFactory, built_warehouse: Path
) -> tuple[Path, Path]:
    warehouse = copy_warehouse(built_warehouse, tmp_path_factory.mktemp("explain"))
    run_gate(warehouse, build_id="b1", run_id="r1", data_docs_dir=None)
    published = warehouse.parent / "published.duckdb"
    publish(warehouse, published, build_id="b1", run_id="r1", code_version="test")
    return warehouse, published


def _published_cells(published: Path) -> list[tuple[int, str]]:
    with duckdb.connect(str(published), read_only=True) as con:
        return con.execute(
            "select review_year, commune_code from commune_year order by all"
        ).fetchall()


@pytest.mark.parametrize("measure", [m for m, spec in measures().items() if not spec.is_rate])
def test_rows_listed_equal_the_published_value(
    published_warehouse: tuple[Path, Path], measure: str
) -> None:
    warehouse, published = published_warehouse
    total = 0
    for year, commune in _published_cells(published):
        explanation = explain(warehouse, published, year=year, commune=commune, measure=measure)
        if explanation.published_value is None:  # flows are unknown in the first review year
            assert year == 2022 and measures()[measure].is_flow
            assert explanation.rows == [] and explanation.matches
            assert "NULL (not known" in explanation.to_text()
            continue
        assert explanation.rows_total == explanation.published_value, (year, commune)
        assert explanation.matches
        total += explanation.published_value
    # Every household of this fixture is assessed every year, so none reappears after an
    # absence: the hand-worked pipeline test explains a reappearance.
    if measure != "reappeared_poor":
        assert total > 0, f"the fixture never exercises {measure}"


def test_text_and_csv_show_the_value_rule_and_source_rows(
    published_warehouse: tuple[Path, Path],
) -> None:
    warehouse, published = published_warehouse
    explanation = explain(warehouse, published, year=2024, commune="700")
    assert explanation.commune_code == "00700"
    assert explanation.unit_version == "pre2025"
    assert explanation.standard_id == "ND07_2021"
    assert {row["area_type"] for row in explanation.standard} == {"rural", "urban"}
    text = explanation.to_text()
    assert f"published value: {explanation.published_value}" in text
    assert "income <= L and >= 3 of 12 deprivations" in text
    first = explanation.rows[0]
    assert f"{first['source_file']} row {first['source_row']}" in text
    rows = list(csv.DictReader(io.StringIO(explanation.to_csv())))
    assert len(rows) == explanation.published_value == 6  # households 0-2 and 4-6 in 2024
    assert {r["computed_class"] for r in rows} == {"poor"}
    assert set(rows[0]) >= {"source_file", "source_row", "reported_class", "deprivation_count"}


def test_mismatches_show_computed_and_reported_classes(
    published_warehouse: tuple[Path, Path],
) -> None:
    warehouse, published = published_warehouse
    explanation = explain(
        warehouse, published, year=2024, commune="00694", measure="classification_mismatches"
    )
    assert explanation.published_value == 1
    (row,) = explanation.rows
    assert row["household_code"] == "00694-029"  # not poor, reported poor
    assert (row["computed_class"], row["reported_class"]) == ("not_poor", "poor")


def test_unknown_measure_or_commune_is_a_clear_error(
    published_warehouse: tuple[Path, Path],
) -> None:
    warehouse, published = published_warehouse
    with pytest.raises(ExplainError, match="poverty_rate"):
        explain(warehouse, published, year=2024, commune="1", measure="poverty_gap")
    with pytest.raises(ExplainError, match="no row"):
        explain(warehouse, published, year=2024, commune="99999")
    with pytest.raises(ExplainError, match="5 digits"):
        explain(warehouse, published, year=2024, commune="12a")


def test_a_rate_shows_its_numerator_and_denominator(
    published_warehouse: tuple[Path, Path],
) -> None:
    warehouse, published = published_warehouse
    explanation = explain(warehouse, published, year=2024, commune="700", measure="poverty_rate")
    assert explanation.numerator == len(explanation.rows) == 6
    # 30 assessed + 3 not assessed in the fixture's totals
    assert explanation.denominator == TOTAL_HOUSEHOLDS == 33
    assert explanation.published_value == pytest.approx(100 * 6 / 33)
    text = explanation.to_text()
    assert "= 100 x poor_households 6 / total_households 33" in text


def test_each_row_names_the_indicators_it_lacks_from_its_standard(
    published_warehouse: tuple[Path, Path],
) -> None:
    warehouse, published = published_warehouse
    explanation = explain(warehouse, published, year=2024, commune="700")
    assert len(explanation.indicators) == 12
    assert "3 of 12" in explanation.rule
    names = {i["indicator_name_vi"] for i in explanation.indicators}
    for row in explanation.rows:
        assert len(row["deprived_in"].split("; ")) == row["deprivation_count"] >= 3
        assert set(row["deprived_in"].split("; ")) <= names
    # Household 4 lacks 3 + 4 % 4 = 3 indicators, the 5th to 7th of the export's order.
    h4 = next(r for r in explanation.rows if r["household_code"] == "00700-004")
    assert h4["deprived_in"].split("; ") == [
        "Trình độ giáo dục của người lớn",
        "Tình trạng đi học của trẻ em",
        "Chất lượng nhà ở",
    ]


def test_a_flow_lists_the_earlier_reviews_that_decided_it(
    published_warehouse: tuple[Path, Path],
) -> None:
    warehouse, published = published_warehouse
    # Household 0 of each commune is poor (2022), middle (2023), poor (2024); 00694's is the
    # first row of its district's file.
    explanation = explain(
        warehouse, published, year=2024, commune="694", measure="returned_to_poverty"
    )
    (returned,) = explanation.rows
    assert returned["household_code"] == "00694-000"
    assert returned["earlier_reviews"].startswith("2022 poor (survey/2022/huyen_024.csv row 2)")
    assert "; 2023 " in returned["earlier_reviews"]
    assert "earlier reviews: 2022 poor" in explanation.to_text()


@pytest.mark.parametrize(
    ("cell", "neutralised"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("2024/survey.csv", "2024/survey.csv"),
        (17, 17),
        (None, None),
    ],
)
def test_csv_cells_cannot_run_as_formulas(cell, neutralised) -> None:
    assert neutralise_cell(cell) == neutralised


def test_csv_output_neutralises_a_formula_in_a_file_name(
    published_warehouse: tuple[Path, Path], tmp_path: Path
) -> None:
    warehouse, published = published_warehouse
    copy = tmp_path / "warehouse.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    with duckdb.connect(str(copy)) as con:
        # The classification is a view of the raw rows, whose lineage it carries.
        con.execute(
            "update raw.survey_households set source_file = '=cmd|calc!A1' "
            "where review_year = 2024 and commune_code = '00700'"
        )
    rows = list(
        csv.DictReader(io.StringIO(explain(copy, published, year=2024, commune="700").to_csv()))
    )
    assert rows and {r["source_file"] for r in rows} == {"'=cmd|calc!A1"}


def test_the_measures_are_the_mart_yaml_meta_that_dbt_docs_shows() -> None:
    """One definition: the ``meta.explain`` of commune_year's columns, which dbt's manifest (and
    so dbt docs) carries too, and every one names a column of the mart."""
    manifest = json.loads(DBT_MANIFEST_PATH.read_text(encoding="utf-8"))
    (node,) = (
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["name"] == "commune_year"
    )
    in_docs = {
        column: spec["meta"]["explain"]
        for column, spec in node["columns"].items()
        if "explain" in (spec.get("meta") or {})
    }
    offered = measures()
    assert set(in_docs) == set(offered) and len(offered) >= 20
    for name, measure in offered.items():
        assert in_docs[name] == {
            key: value
            for key in ("rows", "sums", "numerator", "denominator")
            if (value := getattr(measure, key)) is not None
        }
        if measure.is_rate:
            assert {measure.numerator, measure.denominator} <= set(node["columns"])
            assert not offered[measure.numerator].is_rate
