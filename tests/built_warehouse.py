"""A clean small province's review exports, built into a working warehouse by the real ingest
and the real dbt project, once per test session (``conftest.built_warehouse``).

The gate, publish, explain and Data Docs tests run on it: what they check is the marts dbt
builds, never a copy of them. A test that needs a broken warehouse copies the file and breaks
the copy with SQL; a test that only reads it shares the session's file.

Six real pre-2025 communes (reference admin units), reviews 2022-2024, every commune reported
with totals, no household missing from a review, every class stable enough that no warning of
``expectations/warnings.json`` fires:

| commune | province / district | area |
|---|---|---|
| 00694 Phường Nguyễn Trãi | 02 / 024 | urban (L 2,000,000) |
| 00700 Xã Ngọc Đường | 02 / 024 | rural (L 1,500,000) |
| 00703 Xã Kim Thạch | 02 / 030 | rural |
| 00706 Xã Phú Linh | 02 / 030 | rural |
| 01291 Xã Đức Hạnh | 04 / 042 | rural, extremely difficult (ĐBKK) |
| 01294 Xã Lý Bôn | 04 / 042 | rural |

Each commune has 30 households ``<commune>-000`` … ``-029`` (4 people each) and a total of 33
households (132 people), so a rate is ``100 x count / 33``. Classes by household number ``h``
(L the line, middle line 1.5 L; poor = income <= L and >= 3 deprivations):

| h | 2022 | 2023 | 2024 |
|---|---|---|---|
| 0 | poor | middle: exited | poor: returned |
| 1 | middle | middle | poor: newly poor |
| 2 | near-poor | near-poor | poor: newly poor, near-poor to poor |
| 3 | poor | near-poor: exited, poor to near-poor | near-poor |
| 4, 5, 6 | poor | poor | poor |
| 7 | near-poor | near-poor | middle: exited near-poverty |
| 8, 9 | near-poor | near-poor | near-poor |
| 10 | middle | near-poor: newly near-poor | near-poor |
| 11-19 | middle | middle | middle |
| 20-29 | not poor | not poor | not poor |

So each commune has 5 poor households in 2022, 3 in 2023 and 6 in 2024. Household 4 is
Tày, with social protection; 5 is female-headed, without labour capacity; 6 is a meritorious
family. Household 29 of 00694 reports itself poor in 2024 (one classification mismatch), and
household 28 of 00703 leaves its class empty in 2023 (one unreported class). Each review year's
first survey file has one more row whose income is not a number (quarantined):
181 rows read, 180 loaded, 1 quarantined per year.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from dbt_fixtures.warehouse import dbt
from fixtures.raw_exports import SURVEY_HEADERS
from hand_worked_fixture import (
    COMMUNE_TOTALS_HEADERS,
    DEPRIVATION_HEADERS,
    DIFFICULT_AREAS_HEADERS,
    Commune,
    Household,
    _survey_row,
    _write_csv,
)

from orchestration.base.admin_units import load_admin_units
from orchestration.ingest import REGISTRY, ingest_dataset

NGUYEN_TRAI = Commune("02", "024", "00694", "Phường Nguyễn Trãi")
NGOC_DUONG = Commune("02", "024", "00700", "Xã Ngọc Đường")
KIM_THACH = Commune("02", "030", "00703", "Xã Kim Thạch")
PHU_LINH = Commune("02", "030", "00706", "Xã Phú Linh")
DUC_HANH = Commune("04", "042", "01291", "Xã Đức Hạnh")
LY_BON = Commune("04", "042", "01294", "Xã Lý Bôn")
COMMUNES = (NGUYEN_TRAI, NGOC_DUONG, KIM_THACH, PHU_LINH, DUC_HANH, LY_BON)
URBAN = frozenset({NGUYEN_TRAI.commune_code})
EXTREMELY_DIFFICULT = frozenset({DUC_HANH.commune_code})
YEARS = (2022, 2023, 2024)
HOUSEHOLDS_PER_COMMUNE = 30
TOTAL_HOUSEHOLDS = 33
"""Every commune's total households: 30 assessed and 3 not assessed."""
PEOPLE_PER_HOUSEHOLD = 4
MISMATCH = (2024, NGUYEN_TRAI.commune_code, 29)
UNREPORTED = (2023, KIM_THACH.commune_code, 28)
ROWS_READ_PER_YEAR = len(COMMUNES) * HOUSEHOLDS_PER_COMMUNE + 1
PII_KEY = bytes(32)

_INDICATORS = tuple(DEPRIVATION_HEADERS)
_STABLE = {**dict.fromkeys((4, 5, 6), "poor"), **dict.fromkeys((8, 9), "near_poor")}
_CHANGING = {
    0: ("poor", "middle", "poor"),
    1: ("middle", "middle", "poor"),
    2: ("near_poor", "near_poor", "poor"),
    3: ("poor", "near_poor", "near_poor"),
    7: ("near_poor", "near_poor", "middle"),
    10: ("middle", "near_poor", "near_poor"),
}


def household_class(h: int, year: int) -> str:
    """The class household ``h`` must get in ``year`` (the table of the module docstring)."""
    if h in _CHANGING:
        return _CHANGING[h][YEARS.index(year)]
    return _STABLE.get(h, "middle" if h < 20 else "not_poor")


def household_code(commune: Commune, h: int) -> str:
    return f"{commune.commune_code}-{h:03d}"


def _household(commune: Commune, h: int, year: int) -> Household:
    line = 2_000_000 if commune.commune_code in URBAN else 1_500_000
    klass = household_class(h, year)
    # poor: on or under the line with 3-6 deprivations; near-poor: under it with 0-2; middle:
    # over it and under the middle line; not poor: over the middle line.
    income, deprived = {
        "poor": (line - 10_000 * h, 3 + h % 4),
        "near_poor": (line - 5_000 * h, h % 3),
        "middle": (line + 10_000 * (h + 1), h % 5),
        "not_poor": (2 * line + 10_000 * h, h % 3),
    }[klass]
    reported = klass
    if (year, commune.commune_code, h) == MISMATCH:
        reported = "poor"
    return Household(
        household_code(commune, h),
        commune,
        income,
        " ".join(_INDICATORS[(h + j) % len(_INDICATORS)] for j in range(deprived)),
        reported,
        area="Thành thị" if commune.commune_code in URBAN else "Nông thôn",
        sex="Nữ" if h == 5 else "Nam",
        ethnicity="Tày" if h == 4 else "Kinh",
        meritorious=h == 6,
        social_protection=h == 4,
        no_labour_capacity=h == 5,
        size=PEOPLE_PER_HOUSEHOLD,
    )


def write_raw_exports(raw_dir: Path) -> Path:
    """The three review years in the input contract's layout, one survey file per district."""
    class_column = SURVEY_HEADERS.index("Kết quả phân loại")
    for year in YEARS:
        by_file: dict[str, list[list[object]]] = {}
        for index, commune in enumerate(COMMUNES):
            for h in range(HOUSEHOLDS_PER_COMMUNE):
                row = _survey_row(year, index * 100 + h, _household(commune, h, year))
                if (year, commune.commune_code, h) == UNREPORTED:
                    row[class_column] = ""
                by_file.setdefault(f"huyen_{commune.district_code}.csv", []).append(row)
        first = next(iter(by_file))
        bad = _survey_row(year, 999, _household(COMMUNES[0], 0, year))
        bad[SURVEY_HEADERS.index("Mã hộ")] = f"{COMMUNES[0].commune_code}-bad"
        bad[SURVEY_HEADERS.index("Thu nhập BQ (đồng/người/tháng)")] = "không rõ"
        by_file[first].append(bad)
        for name, rows in by_file.items():
            _write_csv(raw_dir / "survey" / str(year) / name, SURVEY_HEADERS, rows)
        _write_csv(
            raw_dir / "commune_totals" / f"{year}.csv",
            COMMUNE_TOTALS_HEADERS,
            [
                [year, c.commune_code, TOTAL_HOUSEHOLDS, TOTAL_HOUSEHOLDS * PEOPLE_PER_HOUSEHOLD]
                for c in COMMUNES
            ],
        )
        _write_csv(
            raw_dir / "difficult_areas" / f"{year}.csv",
            DIFFICULT_AREAS_HEADERS,
            [
                [year, c.commune_code, "x" if c.commune_code in EXTREMELY_DIFFICULT else "", 1, 5]
                for c in COMMUNES
            ],
        )
    return raw_dir


def build_warehouse(raw_dir: Path, warehouse_path: Path) -> Path:
    """Ingest ``raw_dir`` with the production ingest, then ``dbt build`` the real project."""
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse_path)) as con:
        load_admin_units(con)
        for year in YEARS:
            for dataset in REGISTRY:
                ingest_dataset(
                    con, raw_dir, dataset, year, run_id=f"ingest-{year}", pii_key=PII_KEY
                )
    # The seeds and models of the production build (orchestration/transform/assets.py). dbt's data
    # and unit tests are left out here: tests/test_dbt_models.py and the pipeline tests run them
    # on their own builds, and these tests are about what the gate and the publish make of the
    # built marts.
    dbt(["build", "--exclude-resource-type", "test", "unit_test"], warehouse_path)
    shutil.rmtree(warehouse_path.parent / "dbt_target", ignore_errors=True)
    shutil.rmtree(warehouse_path.parent / "dbt_logs", ignore_errors=True)
    return warehouse_path


def copy_warehouse(built: Path, directory: Path) -> Path:
    """A writable copy of the built warehouse in ``directory`` (which then holds the publish)."""
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / "warehouse.duckdb"
    copy.write_bytes(built.read_bytes())
    return copy
