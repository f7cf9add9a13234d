"""A small hand-written set of review exports (2023, 2024, 2025) for the hand-worked e2e test.

Units (national statistics office codes, checked in the test against
``orchestration.base.admin_units.admin_unit_tables()``):

pre2025, province 02 Hà Giang                     → 2025, province 08 Tuyên Quang
  00694 Phường Nguyễn Trãi, district 024 (urban)  → 00694 Phường Hà Giang 1
  00703 Xã Kim Thạch,       district 030          → 00706 Xã Phú Linh
  00706 Xã Phú Linh,        district 030          → 00706 Xã Phú Linh
  00715 Xã Lũng Cú,         district 026, ĐBKK    → 00715 Xã Lũng Cú (ĐBKK)
  00718 Xã Má Lé,           district 026, no assessed household → 00715 Xã Lũng Cú

Households (k = deprivations; rural line 1,500,000 / middle 2,250,000; urban 2,000,000 /
3,000,000) and the class each one must get:

code  commune(pre/2025)  2023                     2024                      2025
H01   00694/00694 urban  2,000,000 k3 poor        2,600,000 k3 middle       1,900,000 k4 poor
H02   00694/00694 urban  2,000,001 k5 middle*P    same, middle              same, middle
H03   00694/00694 urban  1,800,000 k2 near        same, near                same, near (empty)
H16   00694/00694 urban  (absent)                 1,950,000 k3 poor         same, poor
H04   00703/00706 Tày ♀  1,500,000 k3 poor        1,400,000 k3 poor         same, poor
H05   00703/00706 merit  1,500,000 k2 near        same, near                same, near
H06   00703/00706        2,250,000 k0 middle      same                      same
H07   00703/00706        2,250,001 k0 not_poor*   same                      same
H08   00703/00706 merit  1,000,000 k4 poor        1,700,000 k4 middle       same, middle
H20   00703/00706        1,200,000 k3 poor        (absent)                  (absent)
H09   00706/00706 Dao    1,200,000 k6 poor        (absent)                  1,300,000 k4 poor
H10   00706/00706 ♀      1,600,000 k5 middle      1,450,000 k3 poor         2,100,000 k3 middle
H11   00706/00706 ♀ sp   900,000 k3 poor          same, poor                (absent)
H18   00706/00706        1,450,000 k3 poor        2,300,000 k0 not_poor     same
H12   00715/00715 Mông   700,000 k7 poor          same                      same
H13   00715/00715 Mông ♀ 1,100,000 k3 poor        2,000,000 k3 middle       2,400,000 k0 not_poor*
H14   00715/00715 Mông   1,400,000 k1 near        1,400,000 k4 poor*N       same, poor
H15   00715/00715 Mông ♀ 1,300,000 k2 near        same                      2,000,000 k0 middle
H17   --/00715 Mông      (absent)                 (absent)                  1,500,000 k3 poor
H19   00718/00715 Mông   (absent)                 1,200,000 k1 near         (absent)

Má Lé (00718) has no survey row in 2023 (not reported) and no totals row in 2024 (no_totals).
Flows this covers: H01 returns in 2025 after a recorded exit (returned); H09 is poor again in
2025 after its absence from 2024 (reappeared); H14 falls from near-poor into poverty in 2025;
H15 leaves near-poverty in 2025; H01, H02, H08, H13 and H18 are recent exits.

(* = the reported (approved) class differs from the class by rule; the approved class is the
official one: H02 2023 is approved poor (*P) against the rule, H14 2024 approved near-poor (*N)
although poor by rule, H07 2023 and H13 2025 approved middle although not poor by rule. H03 2025
has an empty approved class: its class by rule stands in and it counts in unreported_class.)

Official classes therefore differ from the table where marked: H02 is poor in 2023 (so it exits
poverty in 2024), H14 is near-poor in 2024 (so it is newly poor, from near-poverty, in 2025), H07
(2023) and H13 (2025) are middle. H20 is poor in 2023 and never reviewed again: it is not
reassessed in 2024, and review 2025 still has not seen it (with H11, two poor households not
reviewed again by 2025, which turn T1's verdict on the 2021-2025 plan from achieved to missed).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

# The contract's headers, written out once for every test fixture (deliberately not taken from
# the production header map, so a mistake there cannot hide in the fixtures too).
from fixtures.raw_exports import SURVEY_HEADERS

COMMUNE_TOTALS_HEADERS = ["Năm", "Mã xã", "Tổng số hộ", "Tổng số nhân khẩu"]
# The optional ethnic-minority households column, written in the 2025 totals file only.
ETHNIC_MINORITY_HEADER = "Tổng số hộ DTTS"
DIFFICULT_AREAS_HEADERS = ["Năm", "Mã xã", "Xã ĐBKK", "Số thôn ĐBKK", "Tổng số thôn"]

# Short names of the 12 deprivation indicators → their column in the export.
DEPRIVATION_HEADERS = {
    "employment": "TH việc làm",
    "dependents": "TH người phụ thuộc",
    "nutrition": "TH dinh dưỡng",
    "health_insurance": "TH bảo hiểm y tế",
    "adult_education": "TH trình độ giáo dục người lớn",
    "child_schooling": "TH tình trạng đi học trẻ em",
    "housing_quality": "TH chất lượng nhà ở",
    "housing_area": "TH diện tích nhà ở",
    "water": "TH nguồn nước sinh hoạt",
    "sanitation": "TH nhà tiêu hợp vệ sinh",
    "telecom": "TH dịch vụ viễn thông",
    "information_assets": "TH phương tiện tiếp cận thông tin",
}
REPORTED = {
    "poor": "Hộ nghèo",
    "near_poor": "Hộ cận nghèo",
    "middle": "Hộ có mức sống trung bình",
    "not_poor": "Hộ không nghèo",
    "": "",  # an empty approved class: the class by rule stands in
}


@dataclass(frozen=True)
class Commune:
    province_code: str
    district_code: str  # empty from 2025
    commune_code: str
    name: str


# pre2025 units (reviews 2023 and 2024), province 02 Hà Giang.
NGUYEN_TRAI = Commune("02", "024", "00694", "Phường Nguyễn Trãi")
KIM_THACH = Commune("02", "030", "00703", "Xã Kim Thạch")
PHU_LINH = Commune("02", "030", "00706", "Xã Phú Linh")
LUNG_CU = Commune("02", "026", "00715", "Xã Lũng Cú")
MA_LE = Commune("02", "026", "00718", "Xã Má Lé")
# 2025 units (review 2025), province 08 Tuyên Quang, no districts.
HA_GIANG_1_2025 = Commune("08", "", "00694", "Phường Hà Giang 1")
PHU_LINH_2025 = Commune("08", "", "00706", "Xã Phú Linh")
LUNG_CU_2025 = Commune("08", "", "00715", "Xã Lũng Cú")

PRE2025_COMMUNES = (NGUYEN_TRAI, KIM_THACH, PHU_LINH, LUNG_CU, MA_LE)
COMMUNES_2025 = (HA_GIANG_1_2025, PHU_LINH_2025, LUNG_CU_2025)
# old pre2025 commune → its (default) 2025 commune, as the mapping must say.
EXPECTED_MAPPING = {
    "00694": "00694",
    "00703": "00706",
    "00706": "00706",
    "00715": "00715",
    "00718": "00715",
}


@dataclass(frozen=True)
class Household:
    code: str
    commune: Commune
    income: int
    deprived: str = ""  # space-separated short names of DEPRIVATION_HEADERS
    reported: str = "poor"
    area: str = "Nông thôn"
    sex: str = "Nam"
    ethnicity: str = "Kinh"
    meritorious: bool = False
    social_protection: bool = False
    no_labour_capacity: bool = False
    size: int = 4


def _hh(code: str, commune: Commune, income: int, deprived: str, reported: str, **kw) -> Household:
    return Household(code, commune, income, deprived, reported, **kw)


URBAN = {"area": "Thành thị"}
H01_DEP = "employment housing_quality sanitation"
H02_DEP = "employment dependents nutrition health_insurance water"
H04_DEP = "water sanitation health_insurance"
H08_DEP = "water sanitation housing_quality employment"
H11_DEP = "employment dependents health_insurance"
H12_DEP = "water sanitation housing_quality housing_area nutrition adult_education telecom"
H16_DEP = "water telecom information_assets"


def households(year: int) -> list[Household]:
    """The survey rows of one review year (see the module docstring)."""
    if year == 2023:
        nt, kt, pl, lc = NGUYEN_TRAI, KIM_THACH, PHU_LINH, LUNG_CU
        return [
            # Urban line exactly, k3 → poor.
            _hh("H01", nt, 2_000_000, H01_DEP, "poor", **URBAN),
            # One đồng above the urban line → middle by rule; approved poor (the official class).
            _hh("H02", nt, 2_000_001, H02_DEP, "poor", **URBAN),
            _hh("H03", nt, 1_800_000, "water sanitation", "near_poor", sex="Nữ", **URBAN),
            # Rural line exactly: k3 → poor, k2 → near-poor.
            _hh("H04", kt, 1_500_000, H04_DEP, "poor", sex="Nữ", ethnicity="Tày"),
            _hh("H05", kt, 1_500_000, "water housing_area", "near_poor", meritorious=True),
            # Middle band upper edge: 2,250,000 middle, 2,250,001 not poor (reported middle).
            _hh("H06", kt, 2_250_000, "", "middle"),
            _hh("H07", kt, 2_250_001, "", "middle"),
            _hh("H08", kt, 1_000_000, H08_DEP, "poor", meritorious=True),
            # Poor, and never reviewed again (absent from 2024 and 2025).
            _hh("H20", kt, 1_200_000, "water sanitation telecom", "poor"),
            _hh(
                "H09",
                pl,
                1_200_000,
                "water sanitation housing_quality housing_area nutrition information_assets",
                "poor",
                ethnicity="Dao",
            ),
            # Above the line with 5 deprivations → middle, approved middle.
            _hh(
                "H10",
                pl,
                1_600_000,
                "water sanitation housing_quality housing_area telecom",
                "middle",
                sex="Nữ",
            ),
            _hh(
                "H11",
                pl,
                900_000,
                H11_DEP,
                "poor",
                sex="Nữ",
                social_protection=True,
                no_labour_capacity=True,
            ),
            _hh("H18", pl, 1_450_000, "adult_education child_schooling telecom", "poor"),
            _hh("H12", lc, 700_000, H12_DEP, "poor", ethnicity="Mông"),
            _hh(
                "H13",
                lc,
                1_100_000,
                "water housing_quality sanitation",
                "poor",
                sex="Nữ",
                ethnicity="Mông",
            ),
            _hh("H14", lc, 1_400_000, "water", "near_poor", ethnicity="Mông"),
            _hh("H15", lc, 1_300_000, "water sanitation", "near_poor", sex="Nữ", ethnicity="Mông"),
        ]
    if year == 2024:
        nt, kt, pl, lc = NGUYEN_TRAI, KIM_THACH, PHU_LINH, LUNG_CU
        return [
            _hh("H01", nt, 2_600_000, H01_DEP, "middle", **URBAN),
            _hh("H02", nt, 2_000_001, H02_DEP, "middle", **URBAN),
            _hh("H03", nt, 1_800_000, "water sanitation", "near_poor", sex="Nữ", **URBAN),
            _hh("H16", nt, 1_950_000, H16_DEP, "poor", sex="Nữ", **URBAN),
            _hh("H04", kt, 1_400_000, H04_DEP, "poor", sex="Nữ", ethnicity="Tày"),
            _hh("H05", kt, 1_500_000, "water housing_area", "near_poor", meritorious=True),
            _hh("H06", kt, 2_250_000, "", "middle"),
            _hh("H07", kt, 2_250_001, "", "not_poor"),
            _hh("H08", kt, 1_700_000, H08_DEP, "middle", meritorious=True),
            # H09 is absent from the 2024 export.
            _hh(
                "H10",
                pl,
                1_450_000,
                "water sanitation housing_quality",
                "poor",
                sex="Nữ",
            ),
            _hh(
                "H11",
                pl,
                900_000,
                H11_DEP,
                "poor",
                sex="Nữ",
                social_protection=True,
                no_labour_capacity=True,
            ),
            _hh("H18", pl, 2_300_000, "", "not_poor"),
            _hh("H12", lc, 700_000, H12_DEP, "poor", ethnicity="Mông"),
            _hh(
                "H13",
                lc,
                2_000_000,
                "water housing_quality sanitation",
                "middle",
                sex="Nữ",
                ethnicity="Mông",
            ),
            # Poor by rule, approved near-poor: near-poor is the official class.
            _hh(
                "H14",
                lc,
                1_400_000,
                "water sanitation housing_quality nutrition",
                "near_poor",
                ethnicity="Mông",
            ),
            _hh("H15", lc, 1_300_000, "water sanitation", "near_poor", sex="Nữ", ethnicity="Mông"),
            # Má Lé reports its first household in 2024 but sends no totals row (no_totals).
            _hh("H19", MA_LE, 1_200_000, "water", "near_poor", ethnicity="Mông"),
        ]
    if year == 2025:
        hg, pl, lc = HA_GIANG_1_2025, PHU_LINH_2025, LUNG_CU_2025
        return [
            _hh("H01", hg, 1_900_000, H01_DEP + " water", "poor", **URBAN),
            _hh("H02", hg, 2_000_001, H02_DEP, "middle", **URBAN),
            # Empty approved class: near-poor by rule stands in (unreported_class).
            _hh("H03", hg, 1_800_000, "water sanitation", "", sex="Nữ", **URBAN),
            _hh("H16", hg, 1_950_000, H16_DEP, "poor", sex="Nữ", **URBAN),
            _hh("H04", pl, 1_400_000, H04_DEP, "poor", sex="Nữ", ethnicity="Tày"),
            _hh("H05", pl, 1_500_000, "water housing_area", "near_poor", meritorious=True),
            _hh("H06", pl, 2_250_000, "", "middle"),
            _hh("H07", pl, 2_250_001, "", "not_poor"),
            _hh("H08", pl, 1_700_000, H08_DEP, "middle", meritorious=True),
            _hh(
                "H09",
                pl,
                1_300_000,
                "water sanitation housing_quality housing_area",
                "poor",
                ethnicity="Dao",
            ),
            _hh("H10", pl, 2_100_000, "water sanitation housing_quality", "middle", sex="Nữ"),
            # H11 is absent from the 2025 export.
            _hh("H18", pl, 2_300_000, "", "not_poor"),
            _hh("H12", lc, 700_000, H12_DEP, "poor", ethnicity="Mông"),
            # Not poor by rule, approved middle: middle is the official class.
            _hh("H13", lc, 2_400_000, "", "middle", sex="Nữ", ethnicity="Mông"),
            _hh(
                "H14",
                lc,
                1_400_000,
                "water sanitation housing_quality nutrition",
                "poor",
                ethnicity="Mông",
            ),
            # Leaves near-poverty: rural 2,000,000 ≤ 2,250,000 with k0 → middle.
            _hh("H15", lc, 2_000_000, "", "middle", sex="Nữ", ethnicity="Mông"),
            _hh(
                "H17",
                lc,
                1_500_000,
                "water sanitation adult_education",
                "poor",
                ethnicity="Mông",
            ),
        ]
    raise ValueError(year)


# (commune, total_households, total_population) per review year.
COMMUNE_TOTALS = {
    2023: [(NGUYEN_TRAI, 50), (KIM_THACH, 40), (PHU_LINH, 60), (LUNG_CU, 30), (MA_LE, 20)],
    # Má Lé's 2024 totals row is missing: its households are counted, its rates are NULL.
    2024: [(NGUYEN_TRAI, 50), (KIM_THACH, 40), (PHU_LINH, 60), (LUNG_CU, 30)],
    2025: [(HA_GIANG_1_2025, 120), (PHU_LINH_2025, 150), (LUNG_CU_2025, 70)],
}
# Ethnic-minority households (Tổng số hộ DTTS) in the 2025 totals: Phú Linh and Lũng Cú give
# them, Phường Hà Giang 1 leaves the cell empty (its ethnic-minority rate is NULL).
ETHNIC_MINORITY_TOTALS_2025 = {"00694": None, "00706": 40, "00715": 70}
# (commune, extremely difficult, difficult villages, total villages) per review year.
DIFFICULT_AREAS = {
    2023: [(LUNG_CU, True, 5, 8), (MA_LE, False, 1, 6)],
    2024: [(LUNG_CU, True, 3, 8), (MA_LE, False, 0, 6)],
    2025: [(LUNG_CU_2025, True, 2, 12)],
}


def _write_csv(path: Path, headers: list[str], rows: list[list[object]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))


def _survey_row(year: int, number: int, h: Household) -> list[object]:
    deprived = set(h.deprived.split())
    unknown = deprived - DEPRIVATION_HEADERS.keys()
    if unknown:
        raise ValueError(f"{h.code}: unknown indicators {unknown}")
    marks = {
        header: ("x" if name in deprived else "") for name, header in DEPRIVATION_HEADERS.items()
    }
    cells = {
        "Năm rà soát": year,
        "Mã tỉnh": h.commune.province_code,
        "Mã huyện": h.commune.district_code,
        "Mã xã": h.commune.commune_code,
        "Tên xã": h.commune.name,
        "Thôn/Tổ": "Thôn 1",
        "Mã hộ": h.code,
        "Họ tên chủ hộ": f"Chủ Hộ Giả Định {number:03d}",
        "Số định danh chủ hộ": f"0020{number:08d}",
        "Giới tính chủ hộ": h.sex,
        "Dân tộc": h.ethnicity,
        "Số nhân khẩu": h.size,
        "Khu vực": h.area,
        "Thu nhập BQ (đồng/người/tháng)": h.income,
        **marks,
        "Hộ người có công": "x" if h.meritorious else "",
        "Hộ bảo trợ xã hội": "x" if h.social_protection else "",
        "Hộ không có khả năng lao động": "x" if h.no_labour_capacity else "",
        "Kết quả phân loại": REPORTED[h.reported],
    }
    return [cells[header] for header in SURVEY_HEADERS]


def write_raw_exports(raw_dir: Path) -> Path:
    """Write the three years in the input contract's layout; one survey file per (old) district
    before 2025 and per commune from 2025, as offices send them."""
    for year in (2023, 2024, 2025):
        by_file: dict[str, list[list[object]]] = {}
        for h in households(year):
            c = h.commune
            name = f"huyen_{c.district_code}.csv" if c.district_code else f"xa_{c.commune_code}.csv"
            number = int(h.code[1:])
            by_file.setdefault(name, []).append(_survey_row(year, number, h))
        for name, rows in by_file.items():
            _write_csv(raw_dir / "survey" / str(year) / name, SURVEY_HEADERS, rows)
        if year == 2025:
            _write_csv(
                raw_dir / "commune_totals" / f"{year}.csv",
                [*COMMUNE_TOTALS_HEADERS, ETHNIC_MINORITY_HEADER],
                [
                    [year, c.commune_code, total, 4 * total]
                    + [ETHNIC_MINORITY_TOTALS_2025[c.commune_code] or ""]
                    for c, total in COMMUNE_TOTALS[year]
                ],
            )
        else:
            _write_csv(
                raw_dir / "commune_totals" / f"{year}.csv",
                COMMUNE_TOTALS_HEADERS,
                [[year, c.commune_code, total, 4 * total] for c, total in COMMUNE_TOTALS[year]],
            )
        _write_csv(
            raw_dir / "difficult_areas" / f"{year}.csv",
            DIFFICULT_AREAS_HEADERS,
            [
                [year, c.commune_code, "x" if extreme else "", villages, total]
                for c, extreme, villages, total in DIFFICULT_AREAS[year]
            ],
        )
    return raw_dir


# Decision 59/2015 reviews (2019, 2020), for the QD59 end-to-end test. Lines: rural L 700,000,
# U 1,000,000; urban L 900,000, U 1,300,000. The export carries `TH tiếp cận dịch vụ y tế`;
# the Decree 07 columns are written too (Q03 is marked in three of them: they must not count).
QD59_HEALTH_ACCESS_HEADER = "TH tiếp cận dịch vụ y tế"
QD59_HOUSEHOLDS = {
    2019: [
        _hh("Q01", LUNG_CU, 650_000, "", "poor"),
        _hh("Q02", LUNG_CU, 800_000, "health_access water sanitation", "poor"),
        _hh("Q03", LUNG_CU, 800_000, "employment dependents nutrition water", "near_poor"),
        # U < 1,200,000 ≤ M (1,500,000): the middle living standard of Decision 59 (Art. 2).
        _hh("Q04", LUNG_CU, 1_200_000, "", "middle"),
        _hh("Q05", NGUYEN_TRAI, 1_300_000, "water sanitation telecom", "poor", **URBAN),
    ],
    2020: [
        _hh("Q01", LUNG_CU, 1_100_000, "", "middle"),
        _hh("Q02", LUNG_CU, 800_000, "health_access water", "near_poor"),
        _hh("Q03", LUNG_CU, 650_000, "", "poor"),
        _hh("Q06", LUNG_CU, 900_000, "health_access health_insurance water", "poor"),
        _hh("Q07", NGUYEN_TRAI, 2_000_000, "", "not_poor", **URBAN),
    ],
}


def write_qd59_exports(raw_dir: Path) -> Path:
    """Write reviews 2019 and 2020 (Decision 59/2015) in the input contract's layout."""
    headers = [*SURVEY_HEADERS, QD59_HEALTH_ACCESS_HEADER]
    for year, rows in QD59_HOUSEHOLDS.items():
        by_file: dict[str, list[list[object]]] = {}
        for h in rows:
            health_access = "health_access" in h.deprived.split()
            plain = Household(
                h.code,
                h.commune,
                h.income,
                " ".join(d for d in h.deprived.split() if d != "health_access"),
                h.reported,
                area=h.area,
            )
            row = _survey_row(year, 100 + int(h.code[1:]), plain)
            by_file.setdefault(f"huyen_{h.commune.district_code}.csv", []).append(
                [*row, "x" if health_access else ""]
            )
        for name, file_rows in by_file.items():
            _write_csv(raw_dir / "survey" / str(year) / name, headers, file_rows)
        _write_csv(
            raw_dir / "commune_totals" / f"{year}.csv",
            COMMUNE_TOTALS_HEADERS,
            [
                [year, c.commune_code, total, 4 * total]
                for c, total in ((LUNG_CU, 30), (NGUYEN_TRAI, 50))
            ],
        )
    return raw_dir
