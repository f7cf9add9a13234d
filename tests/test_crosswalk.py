"""The 2025 crosswalk checked and corrected, on real dbt builds of small warehouses.

The reference tables are the real unit package's (the whole country's ~10,600 links); the raw
reviews are the hand-worked Hà Giang communes of ``tests/dbt_fixtures/sample.py`` (untouched by
any correction) plus a few households of the two Xã Hòa Bình that the package gives one another's
successors: Kim Thành's (10798, Hải Dương) and Vĩnh Bảo's (11890, Hải Phòng), both listed as
divided into Xã Hà Nam (10843), Xã Kim Thành (10804) and Xã Nguyễn Bỉnh Khiêm (11911).
"""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal

import duckdb
import pytest
import yaml
from dbt_fixtures.sample import year_2024, year_2025
from dbt_fixtures.warehouse import create_warehouse, dbt, household, replace_year

from orchestration.base.admin_units import FAR_LINK_KM, coordinate_corrections, corrected_mapping
from orchestration.base.settings import DBT_PROJECT_DIR

KIM_THANH_HOA_BINH = ("30", "293", "10798")
VINH_BAO_HOA_BINH = ("31", "316", "11890")
LIEN_MAC = ("30", "294", "10843")
HA_NAM = ("31", None, "10843")
NGUYEN_BINH_KHIEM = ("31", None, "11911")
# As the pipeline builds: dbt's unit tests (which do not read the warehouse) run in
# tests/test_dbt_models.py.
NO_UNIT_TESTS = ["--exclude-resource-type", "unit_test"]
# The models the crosswalk feeds.
SELECT = [
    "--select",
    "+territory_year",
    "+crosswalk_links",
    "--indirect-selection",
    "cautious",
    *NO_UNIT_TESTS,
]


def _load(path) -> None:
    create_warehouse(path)
    y2024, y2025 = year_2024(), year_2025()
    y2024["households"] += [
        household(2024, KIM_THANH_HOA_BINH, "K1", 1_000_000, 3),
        household(2024, KIM_THANH_HOA_BINH, "K2", 5_000_000),
        household(2024, VINH_BAO_HOA_BINH, "V1", 1_000_000, 3),
        household(2024, LIEN_MAC, "L1", 5_000_000),
    ]
    y2024["commune_totals"] += [("10798", 90, 360), ("11890", 60, 240), ("10843", 30, 120)]
    y2025["households"] += [
        household(2025, HA_NAM, "N1", 1_000_000, 3),
        household(2025, NGUYEN_BINH_KHIEM, "N2", 1_000_000, 3),
    ]
    y2025["commune_totals"] += [("10843", 100, 400), ("11911", 80, 320)]
    replace_year(path, 2024, **y2024)
    replace_year(path, 2025, **y2025)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """The same reviews built twice: on the package's mapping as given, and corrected."""
    root = tmp_path_factory.mktemp("crosswalk")
    as_given, corrected = (
        root / "as_given" / "warehouse.duckdb",
        root / "corrected" / "warehouse.duckdb",
    )
    as_given.parent.mkdir()
    corrected.parent.mkdir()
    _load(as_given)
    shutil.copy(as_given, corrected)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POVERTY_CROSSWALK_CORRECTIONS", "ignore")
        dbt(["build", *SELECT], as_given)
    dbt(["build", *SELECT], corrected)
    return as_given, corrected


def query(path, sql: str) -> list[dict]:
    with duckdb.connect(str(path), read_only=True) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def hoa_binh_weights(path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {
        (r["old_commune_code"], r["new_commune_code"]): (r["forward_weight"], r["backward_weight"])
        for r in query(
            path,
            "select * from intermediate.int_communes_crosswalked "
            "where old_commune_code in ('10798', '11890')",
        )
    }


def test_the_hoa_binh_pair_goes_each_to_its_own_successors(builds):
    """Before: both Hòa Bình go a third each to all three communes. After: Kim Thành's goes half
    each to Hà Nam and Kim Thành (4.0 and 5.5 km away), Vĩnh Bảo's wholly to Nguyễn Bỉnh Khiêm
    (0.5 km); its links to the other two (30.2 and 24.8 km) and Kim Thành's to Nguyễn Bỉnh Khiêm
    (30.8 km) are removed."""
    as_given, corrected = builds
    third = Decimal("0.333333333333333333")
    # Backward, with 2024 totals Kim Thành's 90, Vĩnh Bảo's 60, Liên Mạc 30 (the other
    # predecessors have no total): Hà Nam ← 30 x 1 (Liên Mạc), 30 (K), 20 (V) of 80;
    # Kim Thành ← 30 (K), 20 (V) of 50; Nguyễn Bỉnh Khiêm ← 30 (K), 20 (V) of 50.
    assert hoa_binh_weights(as_given) == {
        ("10798", "10843"): (third, Decimal("0.375")),
        ("10798", "10804"): (third, Decimal("0.6")),
        ("10798", "11911"): (third, Decimal("0.6")),
        ("11890", "10843"): (third, Decimal("0.25")),
        ("11890", "10804"): (third, Decimal("0.4")),
        ("11890", "11911"): (third, Decimal("0.4")),
    }
    # After: Hà Nam ← 30 (Liên Mạc), 45 (K) of 75; Kim Thành ← 45 (K) alone; Nguyễn Bỉnh
    # Khiêm ← 60 (V) alone.
    assert hoa_binh_weights(corrected) == {
        ("10798", "10843"): (Decimal("0.5"), Decimal("0.6")),
        ("10798", "10804"): (Decimal("0.5"), Decimal("1")),
        ("11890", "11911"): (Decimal("1"), Decimal("1")),
    }
    links = {
        (r["old_commune_code"], r["new_commune_code"]): r
        for r in query(
            corrected,
            "select * from marts.crosswalk_links where old_commune_code in ('10798', '11890')",
        )
    }
    removed = links[("11890", "10843")]
    assert (removed["in_crosswalk"], removed["correction_action"], removed["correction_basis"]) == (
        False,
        "remove",
        "coordinates",
    )
    assert removed["package_status"] == "suspect"
    assert removed["forward_weight"] is None
    assert set(removed["package_reasons"].split(", ")) == {
        "far",
        "name_collision",
        "cross_province",
    }
    kept = links[("11890", "11911")]
    assert (kept["package_status"], kept["status"], kept["reasons"]) == ("suspect", "ok", None)
    assert kept["package_reasons"] == "name_collision"


def test_the_series_moves_only_where_a_corrected_link_is_involved(builds):
    """Hà Giang's territories use no corrected link: every figure of theirs is the same in both
    builds. Hải Dương's and Hải Phòng's use the Hòa Bình links, and their 2025 figures move."""
    as_given, corrected = builds
    sql = "select * from marts.territory_year order by territory, review_year"
    before = {(r["territory"], r["review_year"]): r for r in query(as_given, sql)}
    after = {(r["territory"], r["review_year"]): r for r in query(corrected, sql)}
    assert before.keys() == after.keys()
    untouched = [key for key in before if key[0] in ("pre2025:02", "2025:08")]
    assert len(untouched) == 4
    for key in untouched:
        assert before[key] == after[key], key
    # Vĩnh Bảo's Hòa Bình now lies wholly in Nguyễn Bỉnh Khiêm: Hải Phòng's old territory holds
    # all of that commune's 2025 households (80) and none of Hà Nam's.
    assert before[("pre2025:31", 2025)]["total_households"] != pytest.approx(80.0)
    assert after[("pre2025:31", 2025)]["total_households"] == pytest.approx(80.0)


def test_a_planted_far_link_is_flagged(builds, tmp_path):
    """A link the package never had, from Hà Giang's Xã Lũng Cú to a commune of Cà Mau, is
    flagged far (and cross-province) while the real links around it stay ok."""
    _, corrected = builds
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(corrected, path)
    with duckdb.connect(str(path)) as con:
        ca_mau = con.execute(
            "select commune_code from reference.admin_units "
            "where unit_version = '2025' and province_code = '96' order by commune_code limit 1"
        ).fetchone()[0]
        con.execute(
            "insert into reference.admin_unit_mapping values ('00715', ?, true, false, null)",
            [ca_mau],
        )
    dbt(
        ["build", "--select", "+crosswalk_links", "--indirect-selection", "cautious"]
        + NO_UNIT_TESTS,
        path,
    )
    rows = {
        r["new_commune_code"]: r
        for r in query(path, "select * from marts.crosswalk_links where old_commune_code = '00715'")
    }
    planted = rows.pop(ca_mau)
    assert planted["distance_km"] > 1000
    assert planted["status"] == "suspect"
    assert "far" in planted["reasons"].split(", ")
    assert planted["forward_weight"] == Decimal("0.5")
    assert [r["status"] for r in rows.values()] == ["ok"]


def test_every_link_of_the_country_is_listed_and_the_crosswalk_tests_hold(builds):
    """Every package link is a row; corrections leave no name collision they resolved, and the
    crosswalk's own tests (weights sum to 1 both ways, totals preserved) ran in the build."""
    _, corrected = builds
    [counts] = query(
        corrected,
        """
        select
            (select count(*) from reference.admin_unit_mapping) as package_links,
            count(*) filter (where in_package) as listed,
            count(*) filter (where package_status = 'suspect') as suspect_before,
            count(*) filter (where in_crosswalk and status = 'suspect') as suspect_after
        from marts.crosswalk_links
        """,
    )
    assert counts["listed"] == counts["package_links"] > 10_000
    assert 0 < counts["suspect_after"] < counts["suspect_before"]
    removed = {(c.old_commune_code, c.new_commune_code) for c in coordinate_corrections()}
    used = query(
        corrected,
        "select old_commune_code, new_commune_code from marts.crosswalk_links where in_crosswalk",
    )
    assert not removed & {(r["old_commune_code"], r["new_commune_code"]) for r in used}


def test_the_seed_ships_what_the_coordinates_give():
    """The seed's `coordinates` rows are exactly the removals the package's centroids justify."""
    with (DBT_PROJECT_DIR / "seeds" / "crosswalk_corrections.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    from_coordinates = {
        (r["old_commune_code"], r["new_commune_code"], r["action"])
        for r in rows
        if r["basis"] == "coordinates"
    }
    assert from_coordinates == {
        (c.old_commune_code, c.new_commune_code, "remove") for c in coordinate_corrections()
    }
    assert {("10798", "11911"), ("11890", "10843"), ("11890", "10804")} <= {
        (old, new) for old, new, _ in from_coordinates
    }
    # The derivation and the dbt checks use one threshold.
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    assert project["vars"]["crosswalk_far_link_km"] == FAR_LINK_KM


def test_the_sample_places_households_by_the_corrected_crosswalk(builds):
    """The sample generator reads the same seed: its mapping is the crosswalk dbt builds, so the
    demo's Bắc Kạn commune Xã Yên Thịnh (02044) is divided between its own successor and the
    stand-in Xã Yên Lập of Tuyên Quang (02317), a 2025 commune of two old provinces."""
    from orchestration.sample.communes import CROSSWALK_CORRECTIONS, SCALES, build_communes

    _, corrected = builds
    mapping = corrected_mapping(CROSSWALK_CORRECTIONS)
    used = query(
        corrected,
        "select old_commune_code, new_commune_code from intermediate.int_communes_crosswalked",
    )
    assert set(
        zip(
            mapping.column("old_commune_code").to_pylist(),
            mapping.column("new_commune_code").to_pylist(),
            strict=True,
        )
    ) == {(r["old_commune_code"], r["new_commune_code"]) for r in used}

    communes, new, _ = build_communes(SCALES["demo"], (2024, 2025), 2025)
    position = list(communes.code).index("02044")
    successors = {str(new.code[i]) for i in communes.successors[position]}
    assert successors == {"02044", "02317"}
    assert {new.province[i] for i in communes.successors[position]} == {"19", "08"}


def test_explain_names_the_corrected_links_a_territory_rests_on(builds, tmp_path):
    """On the corrected build, Hải Phòng's old territory rests on the removal of its Xã Hòa
    Bình's links to Hà Nam and Kim Thành; Hà Giang's on none."""
    from orchestration.serve.explain_crosswalk import explain_territory_crosswalk

    _, corrected = builds
    published = tmp_path / "published.duckdb"
    with duckdb.connect(str(published)) as con:
        con.execute(f"attach '{corrected}' as wh (read_only)")
        for table in ("crosswalk_links", "territory_year"):
            con.execute(f"create table {table} as select * from wh.marts.{table}")
    explanation = explain_territory_crosswalk(published, "pre2025:31")
    assert explanation.measured_years == [2025]
    assert {(r["old_commune_code"], r["new_commune_code"]) for r in explanation.corrected} >= {
        ("11890", "10843"),
        ("11890", "10804"),
    }
    text = explanation.to_text()
    assert (
        "11890 Xã Hòa Bình (Huyện Vĩnh Bảo, 31) → 10843 Xã Hà Nam (31), 30.2 km: not used "
        "(the package lists it: suspect, far, name_collision, cross_province); corrected: remove "
        "(coordinates: Derived from the package's own centroids, not from a resolution"
    ) in text
    quiet = explain_territory_crosswalk(published, "pre2025:02")
    assert quiet.links == []
    assert "none of them is suspect or corrected" in quiet.to_text()
    with pytest.raises(ValueError, match="not of the form"):
        explain_territory_crosswalk(published, "02")
