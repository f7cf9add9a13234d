"""The statistical simulation behind the synthetic sample: communes, households, their classes.

How the numbers are made (all vectorised, one loop per province or commune):

- Every commune gets a resident household count and a poor rate for 2022 from its province's
  level (``_PROVINCES``, rough published-like figures) and its type (wards far below remote
  communes). Rates fall each year, faster in proportion where poverty is already low, which is
  how the national rate drops much faster than Hà Giang's.
- Households carry a persistent latent standing ``u ~ N(0, 1)``; each year
  ``s = ρ·u + √(1-ρ²)·ε`` and the income is ``L·exp(σ·(s − z))`` where ``z`` is the commune-year's
  low-income quantile: a household is below the line exactly when ``s ≤ z``, so rates are
  calibrated while households exit, fall back and newly fall into poverty naturally. Only the
  low tail of ``u`` (the households a review could ever screen in) is simulated, drawn from the
  truncated normal; the ``stress`` scale adds the rest for its one full-export year.
- Among low-income households the deprivation count (≥ 3 → poor, Decree 07) follows a second
  persistent latent, so the same households tend to stay poor rather than near-poor.
- The survey lists assessed households only: poor and near-poor, most of the middle band and a
  few screened-in households above it. ``commune_totals`` holds every resident household.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.lib.admin_units import admin_unit_tables
from orchestration.lib.headers import DEPRIVATION_COLUMNS, QD59_HEALTH_ACCESS
from orchestration.settings import DBT_PROJECT_DIR

CLASS_LABELS = ("Hộ nghèo", "Hộ cận nghèo", "Hộ có mức sống trung bình", "Hộ không nghèo")
POOR, NEAR_POOR, MIDDLE, NOT_POOR = range(4)
DEMO_PROVINCES = ("02", "08")
HEALTH_ACCESS = QD59_HEALTH_ACCESS[0]
MARK_COLUMNS = (*DEPRIVATION_COLUMNS, HEALTH_ACCESS)
"""Every deprivation mark the simulation draws: the 12 of Decree 07, then QD59's health access."""

_SEEDS = DBT_PROJECT_DIR / "seeds"
# Incomes are drawn on the scale of the Decree 07 lines, the standard of the published figures
# the rates are calibrated to; each review year is then classified with its own standard's lines,
# so a new standard moves the rates the way a new line does (up under Decree 351's higher lines,
# down under Decision 59's lower ones).
_INCOME_SCALE_STANDARD = "ND07_2021"


# --------------------------------------------------------------------------------------------
# Poverty standards, read from the dbt seeds (the rule as data, with its legal source)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lines:
    """A standard's lines for one area type (VND per person per month); None where it has none."""

    income: int
    upper: int | None
    middle: int | None


@dataclass(frozen=True)
class Standard:
    """A poverty standard as the seeds state it: its rule, lines by area and indicator set."""

    standard_id: str
    rule_type: str  # ``income_and_deprivation`` (Decree 07, 351) or ``qd59_upper_band``
    first_review_year: int
    last_review_year: int
    rural: Lines
    urban: Lines
    indicators: tuple[str, ...]

    def lines(self, urban: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(L, U, M) per household; U and M are None where the standard has no such line."""

        def pick(field: str) -> np.ndarray | None:
            rural, urban_value = getattr(self.rural, field), getattr(self.urban, field)
            if rural is None or urban_value is None:
                return None
            return np.where(urban, urban_value, rural)

        return pick("income"), pick("upper"), pick("middle")


def _optional_int(text: str) -> int | None:
    return int(text) if text.strip() else None


@cache
def poverty_standards() -> tuple[Standard, ...]:
    """Every standard of the seed ``poverty_standards``, with its indicator set.

    The indicator set comes from the seed ``standard_indicators`` where the project has it;
    otherwise from the input contract: the 12 marks of Decree 07, or Decision 59's 10 (health
    access instead of employment, dependants and nutrition) for a standard counting 10.
    """
    with (_SEEDS / "poverty_standards.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    indicators: dict[str, list[str]] = {}
    indicator_seed = _SEEDS / "standard_indicators.csv"
    if indicator_seed.exists():
        with indicator_seed.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                indicators.setdefault(row["standard_id"], []).append(row["indicator_code"])
    qd59 = (HEALTH_ACCESS, *DEPRIVATION_COLUMNS[3:])
    standards = []
    for standard_id in dict.fromkeys(row["standard_id"] for row in rows):
        by_area = {row["area_type"]: row for row in rows if row["standard_id"] == standard_id}
        first = by_area["rural"]
        count = int(first["indicator_count"])
        own = indicators.get(standard_id) or (DEPRIVATION_COLUMNS if count == 12 else qd59)
        if len(own) != count:
            raise ValueError(f"{standard_id}: {len(own)} indicators, the seed says {count}")
        standards.append(
            Standard(
                standard_id=standard_id,
                rule_type=first["rule_type"],
                first_review_year=int(first["first_review_year"]),
                last_review_year=int(first["last_review_year"]),
                rural=Lines(*(_optional_int(by_area["rural"][f]) for f in _LINE_FIELDS)),
                urban=Lines(*(_optional_int(by_area["urban"][f]) for f in _LINE_FIELDS)),
                indicators=tuple(sorted(own, key=MARK_COLUMNS.index)),
            )
        )
    return tuple(standards)


_LINE_FIELDS = ("income_line", "upper_income_line", "middle_line")


def standard_for_year(review_year: int) -> Standard:
    """The standard a review year is classified under (a year no standard covers is an error)."""
    for standard in poverty_standards():
        if standard.first_review_year <= review_year <= standard.last_review_year:
            return standard
    raise ValueError(f"no poverty standard in the seeds covers review year {review_year}")


def _income_scale(urban: np.ndarray) -> np.ndarray:
    scale = next(s for s in poverty_standards() if s.standard_id == _INCOME_SCALE_STANDARD)
    return np.where(urban, scale.urban.income, scale.rural.income)


@dataclass(frozen=True)
class Scale:
    """How much to generate: which pre-2025 provinces, and what share of their households.

    ``full_export_year`` makes that review year list every resident household (the ``stress``
    scale), the way a province exports its whole household register rather than the assessed.
    """

    name: str
    provinces: tuple[str, ...] | None
    household_fraction: float
    full_export_year: int | None = None
    years: tuple[int, ...] = (2021, 2022, 2023, 2024, 2025)
    """Review years written when none are asked for."""


# The demo spans the whole plan: the 2021 baseline, the 2025 reorganisation and two reviews under
# Decree 351's lines (2026 sets the 2026-2030 baseline, 2027 gives the first year-on-year fall),
# so every target of both periods has data. The tiny scale keeps five years: tests stay fast.
DEMO_YEARS = tuple(range(2021, 2028))

SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", DEMO_PROVINCES, 0.01),
    "demo": Scale("demo", DEMO_PROVINCES, 0.10, years=DEMO_YEARS),
    "province": Scale("province", DEMO_PROVINCES, 1.0),
    "national": Scale("national", None, 1.0),
    "stress": Scale("stress", None, 1.0, full_export_year=2024),
}


# --------------------------------------------------------------------------------------------
# Province parameters: households (thousands), poor rate 2022 (%), ethnic-minority share, region.
# Rough, published-like orders of magnitude for a realistic synthetic sample, not statistics.
# --------------------------------------------------------------------------------------------

_PROVINCES: dict[str, tuple[int, float, float, str]] = {
    "01": (2450, 0.3, 0.02, "lowland"),
    "02": (190, 34.5, 0.87, "ha_giang"),
    "04": (130, 30.8, 0.94, "north"),
    "06": (85, 19.8, 0.88, "north"),
    "08": (215, 13.8, 0.54, "tuyen_quang"),
    "10": (180, 17.6, 0.65, "north"),
    "11": (135, 33.0, 0.82, "northwest"),
    "12": (100, 30.8, 0.85, "northwest"),
    "14": (290, 22.0, 0.83, "northwest"),
    "15": (215, 12.1, 0.55, "north"),
    "17": (250, 11.0, 0.73, "muong"),
    "19": (370, 4.4, 0.27, "north"),
    "20": (205, 13.2, 0.83, "north"),
    "22": (380, 0.6, 0.12, "north"),
    "24": (560, 3.9, 0.13, "north"),
    "25": (430, 5.0, 0.15, "muong"),
    "26": (330, 1.7, 0.03, "lowland"),
    "27": (420, 1.1, 0.01, "lowland"),
    "30": (580, 1.7, 0.01, "lowland"),
    "31": (650, 0.9, 0.01, "lowland"),
    "33": (380, 1.7, 0.01, "lowland"),
    "34": (600, 2.2, 0.01, "lowland"),
    "35": (280, 2.2, 0.01, "lowland"),
    "36": (600, 2.2, 0.01, "lowland"),
    "37": (320, 2.8, 0.02, "muong"),
    "38": (1050, 5.5, 0.16, "north_central"),
    "40": (930, 6.6, 0.14, "north_central"),
    "42": (380, 4.4, 0.01, "lowland"),
    "44": (250, 6.6, 0.03, "central"),
    "45": (175, 8.2, 0.12, "central"),
    "46": (310, 3.9, 0.04, "central"),
    "48": (340, 0.6, 0.01, "lowland"),
    "49": (430, 6.6, 0.08, "central"),
    "51": (400, 7.7, 0.11, "central"),
    "52": (450, 4.4, 0.03, "highlands"),
    "54": (260, 5.5, 0.05, "highlands"),
    "56": (350, 3.3, 0.06, "south_central"),
    "58": (165, 6.6, 0.22, "south_central"),
    "60": (340, 2.8, 0.05, "south_central"),
    "62": (150, 17.6, 0.53, "highlands"),
    "64": (420, 11.0, 0.46, "highlands"),
    "66": (520, 7.7, 0.33, "highlands"),
    "67": (180, 8.8, 0.31, "highlands"),
    "68": (360, 3.3, 0.24, "highlands"),
    "70": (290, 2.2, 0.20, "southeast"),
    "72": (350, 0.9, 0.02, "southeast"),
    "74": (950, 0.1, 0.01, "southeast"),
    "75": (920, 0.7, 0.06, "southeast"),
    "77": (360, 0.9, 0.03, "southeast"),
    "79": (2700, 0.2, 0.05, "southeast"),
    "80": (500, 1.1, 0.01, "mekong"),
    "82": (540, 2.2, 0.01, "mekong"),
    "83": (420, 3.3, 0.01, "mekong"),
    "84": (290, 3.9, 0.32, "mekong"),
    "86": (310, 1.7, 0.03, "mekong"),
    "87": (490, 2.2, 0.01, "mekong"),
    "89": (600, 3.3, 0.05, "mekong"),
    "91": (480, 2.2, 0.14, "mekong"),
    "92": (380, 1.1, 0.03, "mekong"),
    "93": (210, 3.9, 0.03, "mekong"),
    "94": (330, 5.5, 0.36, "mekong"),
    "95": (250, 3.3, 0.09, "mekong"),
    "96": (340, 3.9, 0.03, "mekong"),
}
# The table's households sum to ~28.5 M; scaled so the 2023 total is ~27.8 M as published.
_HOUSEHOLD_CALIBRATION = 0.965
_HOUSEHOLD_GROWTH = 0.005  # resident households per year
# 2025 special zones with no pre-2025 commune (island districts had none): residents only.
# Hoàng Sa has no resident households, so it has no commune_totals row.
_ISLAND_HOUSEHOLDS_2025 = {"11948": 300, "19742": 150, "21548": 6000, "26732": 3000}
_MOUNTAIN_REGIONS = {"ha_giang", "tuyen_quang", "north", "northwest", "muong", "highlands"}

# Region III (extremely difficult) communes of Decision 861/QĐ-TTg where the count is known;
# elsewhere the poorest rural communes are listed by rate.
_DBKK_2021 = {
    "02": 133, "04": 126, "14": 126, "11": 94, "20": 88,
    "10": 70, "06": 67, "15": 59, "08": 50, "24": 28,
}  # fmt: skip
# Share of the 2021 list still region III in each review year (new-rural communes leave it).
# Reviews before 2021 use the 2021 list in full: the sample does not model the earlier list of
# Decision 582/QĐ-TTg (2017-2020).
_DBKK_KEPT = {2021: 1.0, 2022: 1.0, 2023: 0.85, 2024: 0.7, 2025: 0.55}
_DIFFICULT_VILLAGES_KEPT = {
    2021: 1.0, 2022: 0.95, 2023: 0.75, 2024: 0.6, 2025: 0.45, 2026: 0.35, 2027: 0.25,
}  # fmt: skip
# From 2025 a new commune is extremely difficult when this share of its households lived in
# communes that were so in 2024; the share rises as communes leave the list.
_DBKK_HOUSEHOLD_SHARE_2025_ON = {2025: 0.6, 2026: 0.75, 2027: 0.9}

_ETHNIC_MIX: dict[str, dict[str, float]] = {
    "ha_giang": {
        "Mông": 37, "Tày": 26, "Dao": 17, "Nùng": 10, "Giáy": 3, "La Chí": 2,
        "Lô Lô": 1, "Hoa": 1, "Pu Péo": 1, "Pà Thẻn": 1, "Cờ Lao": 1,
    },
    "tuyen_quang": {
        "Tày": 47, "Dao": 21, "Sán Chay": 15, "Mông": 5, "Nùng": 4, "Sán Dìu": 4,
        "Hoa": 2, "Pà Thẻn": 1,
    },
    "north": {"Tày": 30, "Nùng": 20, "Mông": 20, "Dao": 15, "Thái": 5, "Sán Chay": 5, "Giáy": 3,
              "Hoa": 2},
    "northwest": {"Thái": 45, "Mông": 30, "Dao": 8, "Khơ Mú": 6, "Hà Nhì": 4, "Mường": 4,
                  "Giáy": 3},
    "muong": {"Mường": 80, "Thái": 10, "Dao": 5, "Tày": 5},
    "north_central": {"Thái": 50, "Mường": 25, "Khơ Mú": 10, "Mông": 10, "Bru-Vân Kiều": 5},
    "central": {"Cơ Tu": 25, "Hrê": 25, "Bru-Vân Kiều": 20, "Xơ Đăng": 15, "Co": 15},
    "highlands": {"Gia Rai": 30, "Ê Đê": 25, "Ba Na": 15, "Xơ Đăng": 10, "M'Nông": 8,
                  "Cơ Ho": 7, "Tày": 3, "Nùng": 2},
    "south_central": {"Chăm": 50, "Raglai": 40, "Cơ Ho": 10},
    "southeast": {"Hoa": 40, "Xtiêng": 25, "Khmer": 20, "Tày": 8, "Nùng": 7},
    "mekong": {"Khmer": 85, "Hoa": 12, "Chăm": 3},
    "lowland": {"Mường": 35, "Tày": 25, "Hoa": 20, "Nùng": 10, "Dao": 10},
}  # fmt: skip

# Name parts per naming tradition: surnames with weights, middle names and given names by sex.
_NAME_FAMILIES: dict[str, dict[str, object]] = {
    "kinh": {
        "surname": {"Nguyễn": 31, "Trần": 11, "Lê": 9.5, "Phạm": 7, "Hoàng": 5, "Huỳnh": 4,
                    "Phan": 4.5, "Vũ": 3.9, "Võ": 3, "Đặng": 2.1, "Bùi": 2, "Đỗ": 1.4, "Hồ": 1.3,
                    "Ngô": 1.3, "Dương": 1, "Lý": 0.5, "Đinh": 1, "Trương": 1, "Lương": 0.8,
                    "Mai": 0.6, "Đào": 0.7, "Cao": 0.5, "Tạ": 0.3, "Quách": 0.3},
        "middle_m": {"Văn": 50, "Đức": 10, "Hữu": 8, "Minh": 8, "Quang": 6, "Công": 6, "Xuân": 5,
                     "Ngọc": 4, "Thanh": 4, "Đình": 6},
        "middle_f": {"Thị": 80, "Thu": 4, "Ngọc": 4, "Thanh": 4, "Hồng": 4, "Kim": 4},
        "given_m": ["Hùng", "Dũng", "Tuấn", "Minh", "Hải", "Long", "Nam", "Thắng", "Sơn", "Cường",
                    "Bình", "Phúc", "Tài", "Quân", "Hiếu", "Thành", "Trung", "Hòa", "Tùng",
                    "Khánh", "Lâm", "Đạt", "Toàn", "Hưng", "Vinh", "Chiến", "Tiến", "Lợi", "Hậu"],
        "given_f": ["Lan", "Hoa", "Hương", "Mai", "Hạnh", "Thu", "Linh", "Nga", "Hằng", "Dung",
                    "Nhung", "Huyền", "Thảo", "Trang", "Yến", "Loan", "Phương", "Liên", "Thủy",
                    "Hà", "Vân", "Oanh", "Xuân", "Hiền", "Nhàn", "Tuyết"],
    },
    "tay": {
        "surname": {"Hoàng": 15, "Nông": 12, "Ma": 6, "Lục": 4, "Triệu": 5, "Hà": 8, "Lương": 6,
                    "Vi": 4, "Đinh": 4, "Chu": 3, "Bế": 4, "Lường": 5, "Lò": 6, "Quàng": 3,
                    "Cầm": 3, "Sầm": 2, "La": 2},
        "middle_m": {"Văn": 70, "Đức": 10, "Thanh": 5, "Xuân": 5, "Minh": 5},
        "middle_f": {"Thị": 90, "Thu": 5, "Hồng": 5},
        "given_m": ["Pấu", "Thắng", "Sơn", "Hùng", "Chiến", "Lực", "Nhất", "Khiêm", "Páo", "Tiến",
                    "Dũng", "Quý", "Toán", "Kiên", "Hoan", "Lâm"],
        "given_f": ["Slao", "Hoa", "Liên", "Lan", "Mai", "Nhung", "Thơm", "Hằng", "Duyên", "Xuân",
                    "Hiên", "Lả", "Nọi", "Hiền"],
    },
    "mong": {
        "surname": {"Giàng": 18, "Vàng": 16, "Sùng": 12, "Lù": 8, "Thào": 10, "Hầu": 6, "Má": 5,
                    "Lầu": 5, "Ly": 6, "Mua": 5, "Vừ": 5, "Cứ": 3},
        "middle_m": {"A": 30, "Mí": 15, "Seo": 15, "Chứ": 10, "Văn": 25, "Sính": 5},
        "middle_f": {"Thị": 85, "Mỷ": 15},
        "given_m": ["Páo", "Chứ", "Sình", "Dình", "Pó", "Chính", "Sử", "Lử", "Tủa", "Dế", "Vư",
                    "Súa", "Khai", "Lồng", "Sèo", "Nhà", "Tráng", "Mua"],
        "given_f": ["Mỷ", "Dính", "Dợ", "Chá", "Pằng", "Sua", "Dủa", "Mỉ", "Chơ", "Xía", "Mai",
                    "Lan"],
    },
    "dao": {
        "surname": {"Triệu": 25, "Bàn": 20, "Đặng": 15, "Lý": 12, "Phùng": 8, "Chảo": 8,
                    "Tẩn": 6, "Hoàng": 3},
        "middle_m": {"Văn": 55, "Tiến": 10, "Kim": 10, "Sinh": 10, "Phúc": 15},
        "middle_f": {"Thị": 85, "Mùi": 15},
        "given_m": ["Chàn", "Phin", "Quẩy", "Sơn", "Vần", "Hiển", "Thành", "Tiến", "Lưu", "Quý",
                    "Minh", "Phúc", "Dùn", "Kiềm"],
        "given_f": ["Mẩy", "Nhất", "Chài", "Dín", "Lan", "Mai", "Phấy", "Hoa", "Xuân", "Liên"],
    },
    "highland": {
        "surname": {"Ksor": 15, "Rơ Châm": 10, "Siu": 12, "Nay": 10, "Rơ Mah": 10, "Kpă": 8,
                    "Niê": 10, "Mlô": 6, "Êban": 6, "Byă": 5, "Đinh": 8},
        "middle_m": {"Y": 70, "A": 30},
        "middle_f": {"H'": 70, "Thị": 30},
        "given_m": ["Blik", "Đen", "Thơ", "Phôn", "Kriu", "Nhi", "Wơn", "Blơng", "Djuin", "Sú"],
        "given_f": ["Linh", "Hiên", "Lan", "Bia", "Nga", "Xuân", "Mai", "Prang", "Rin", "Jit"],
    },
    "khmer": {
        "surname": {"Thạch": 25, "Sơn": 20, "Kim": 12, "Danh": 15, "Lâm": 8, "Lý": 8, "Châu": 6},
        "middle_m": {"Văn": 40, "Sà": 15, "Sô": 15, "Ngọc": 15, "Minh": 15},
        "middle_f": {"Thị": 70, "Sa": 15, "Sà": 15},
        "given_m": ["Phanh", "Sóc", "Ra", "Na", "Rươne", "Khiêm", "Sang", "Hên", "Thol", "Vươl"],
        "given_f": ["Ra", "Chanh", "Phol", "Ry", "Mai", "Thu", "Kha", "Dên", "Sóc", "Linh"],
    },
}  # fmt: skip
_NAME_FAMILY_OF = {
    "Mông": "mong",
    "Dao": "dao",
    **dict.fromkeys(
        ["Tày", "Nùng", "Thái", "Giáy", "Sán Chay", "Sán Dìu", "Khơ Mú", "Pu Péo", "La Chí",
         "Lô Lô", "Cờ Lao", "Hà Nhì", "Pà Thẻn"], "tay"),
    **dict.fromkeys(
        ["Gia Rai", "Ê Đê", "Ba Na", "Xơ Đăng", "M'Nông", "Cơ Ho", "Hrê", "Cơ Tu", "Raglai",
         "Xtiêng", "Bru-Vân Kiều", "Co"], "highland"),
    **dict.fromkeys(["Khmer", "Chăm"], "khmer"),
}  # fmt: skip
_MOUNTAIN_VILLAGES = (
    "Nà Khoang", "Bản Mồ", "Khuổi Hon", "Lũng Cú", "Phìn Hồ", "Sán Sả Hồ", "Tả Lủng", "Xín Chải",
    "Lùng Tám", "Mã Pì Lèng", "Nà Lầu", "Pác Bó", "Bản Váng", "Làng Chang", "Nặm Đăm", "Thèn Pả",
    "Khâu Vai", "Cốc Pàng", "Pải Lủng", "Sủng Là", "Lao Chải", "Ngòi Lường", "Bản Péo", "Nậm Ty",
    "Đồng Tâm", "Tân Lập", "Làng Mới", "Bản Tàng", "Nà Chang", "Vằng Luông", "Cao Bành", "Kéo Nọi",
)  # fmt: skip

# Relative prevalence of each deprivation among poor households (information assets, housing and
# sanitation common; health insurance rare because poor households are insured by the state).
# In ``MARK_COLUMNS`` order: the 12 of Decree 07, then Decision 59's access to health services.
_DEPRIVATION_WEIGHTS = np.array([0.6, 0.9, 0.7, 0.25, 1.0, 0.35, 1.0, 0.8, 0.9, 1.4, 0.4, 1.1, 0.5])

_RHO = 0.9  # year-to-year persistence of a household's standing
_INCOME_SIGMA = 0.6  # spread of log income within a commune
_ABSENT_SHARE = 0.03  # eligible households not reassessed in a year
_MISMATCH_SHARE = 0.015  # reported class differs from the Decree 07 computation
_SCREENED_CEILING = 1.6  # screened-in households above the middle band reach this × line


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


def _norm_ppf(p: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).

    numpy has no ``ndtri`` and scipy is not a dependency of this module.
    """
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
         -30.66479806614716, 2.506628277459239)  # fmt: skip
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
         -13.28068155288572)  # fmt: skip
    c = (-7.784894002430293e-03, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
         4.374664141464968, 2.938163982698783)  # fmt: skip
    d = (7.784695709041462e-03, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    out = np.empty_like(p)
    low, high = p < 0.02425, p > 1 - 0.02425
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    for mask, sign in ((low, 1.0), (high, -1.0)):
        tail = p[mask] if sign > 0 else 1 - p[mask]
        t = np.sqrt(-2 * np.log(tail))
        out[mask] = sign * (
            (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5])
            / ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1)
        )
    return out


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF for a few thousand commune values (a loop per commune is cheap)."""
    dist = NormalDist()
    return np.array([dist.cdf(float(v)) for v in np.asarray(x).ravel()]).reshape(np.shape(x))


def _weighted_choice(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    """Indices into ``list(weights)`` drawn with the given weights."""
    w = np.array(list(weights.values()), dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())


# --------------------------------------------------------------------------------------------
# Communes: sizes, poverty trajectories, extremely difficult status, villages
# --------------------------------------------------------------------------------------------


@dataclass
class Communes:
    """Pre-2025 communes of the scale with everything decided per commune (index = row)."""

    code: np.ndarray  # str
    name: list[str]
    ctype: list[str]
    province: np.ndarray  # str
    district: np.ndarray  # str
    district_name: list[str]
    is_urban: np.ndarray
    households: np.ndarray  # resident households in the first year, at the scale's fraction
    poor_rate: dict[int, np.ndarray]
    low_z: dict[int, np.ndarray]  # quantile of the low-income share, per year
    poor_z: dict[int, np.ndarray]  # quantile of the poor share among the low-income
    pool_u: np.ndarray  # standing below which a household may ever be assessed
    minority_share: np.ndarray
    villages: np.ndarray
    village_offset: np.ndarray
    village_names: pa.Array
    dbkk: dict[int, np.ndarray]
    difficult_villages: dict[int, np.ndarray]
    new_index: np.ndarray  # index into NewCommunes of the default 2025 commune
    successors: dict[int, np.ndarray]  # split communes: every 2025 successor, the default first


@dataclass
class NewCommunes:
    code: np.ndarray
    name: list[str]
    province: np.ndarray
    province_name: list[str]
    is_urban: np.ndarray
    file_area: list[str]  # former district the 2025 export is grouped by


def _unit_frames() -> tuple[dict[str, list], dict[str, list], dict[str, list]]:
    tables = admin_unit_tables()
    units, mapping = tables.units, tables.mapping  # noqa: F841 (DuckDB replacement scan)
    with duckdb.connect() as con:
        old = con.sql(
            """
            select u.province_code, u.district_code, u.district_name, u.commune_code,
                   u.commune_name, u.commune_type, m.new_commune_code
            from units u
            join mapping m on m.old_commune_code = u.commune_code and m.is_default_new_commune
            where u.unit_version = 'pre2025'
            order by u.commune_code
            """
        ).to_arrow_table()
        new = con.sql(
            """
            select n.province_code, n.province_name, n.commune_code, n.commune_name,
                   n.commune_type,
                   (select o.district_name from mapping m
                    join units o on o.unit_version = 'pre2025'
                        and o.commune_code = m.old_commune_code
                    where m.new_commune_code = n.commune_code
                    order by m.is_default_new_commune desc, o.commune_code limit 1)
                   as file_area
            from units n where n.unit_version = '2025'
            order by n.commune_code
            """
        ).to_arrow_table()
        split = con.sql(
            """
            select old_commune_code, new_commune_code, is_default_new_commune from mapping
            where is_split order by old_commune_code, new_commune_code
            """
        ).to_arrow_table()
    return old.to_pydict(), new.to_pydict(), split.to_pydict()


def _screening_shift(year: int) -> float:
    """How far above the income scale's line (in standing units) the year's review screens.

    0 for Decree 07's own years; the pool is then exactly as calibrated.
    """
    standard = standard_for_year(year)
    scale = next(s for s in poverty_standards() if s.standard_id == _INCOME_SCALE_STANDARD)
    ratios = [
        (own.upper or own.income) / base.income
        for own, base in ((standard.rural, scale.rural), (standard.urban, scale.urban))
    ]
    return max(0.0, float(np.log(max(ratios))) / _INCOME_SIGMA)


def _years_from_2022(year: int) -> float:
    """Years of the rates' fall from 2022 (negative before). Before 2021 the fall is slowed:
    a rate extrapolated back at the Decree 07 pace would put more households under Decision
    59's far lower lines than were ever counted (Hà Giang about 20-25 % poor in 2019-2020)."""
    return year - 2022 if year >= 2021 else -1 - _PRE_2021_FALL * (2021 - year)


_PRE_2021_FALL = 0.3  # share of a year's fall per year before 2021, on the income scale


def build_communes(
    scale: Scale, years: Sequence[int], seed: int
) -> tuple[Communes, NewCommunes, dict[str, float]]:
    """Decide every commune's size and poverty path; also the 2025 share of split communes."""
    old, new, split = _unit_frames()
    provinces = set(scale.provinces) if scale.provinces else set(_PROVINCES)
    keep = [i for i, p in enumerate(old["province_code"]) if p in provinces]
    pick = {k: [v[i] for i in keep] for k, v in old.items()}
    n = len(keep)
    rng = np.random.default_rng([seed, 1])

    province = np.array(pick["province_code"])
    ctype = pick["commune_type"]
    is_ward = np.array([t == "Phường" for t in ctype])
    is_town = np.array([t == "Thị trấn" for t in ctype])
    is_urban = is_ward | is_town
    type_size = np.where(is_ward, 2.2, np.where(is_town, 1.4, 1.0))
    type_poverty = np.where(is_ward, 0.15, np.where(is_town, 0.45, 1.0))

    size_weight = type_size * rng.lognormal(0.0, 0.45, n)
    poverty_weight = type_poverty * rng.lognormal(0.0, 0.55, n)
    full_households = np.empty(n)
    poor_2022 = np.empty(n)
    minority = np.empty(n)
    for code in sorted(set(pick["province_code"])):
        rows = province == code
        total_k, rate_pct, minority_share, _region = _PROVINCES[code]
        total = total_k * 1000 * _HOUSEHOLD_CALIBRATION
        full_households[rows] = total * size_weight[rows] / size_weight[rows].sum()
        rate = rate_pct / 100
        w = full_households[rows]
        p = poverty_weight[rows] * rate * w.sum() / (w * poverty_weight[rows]).sum()
        for _ in range(3):  # clipping the poorest communes moves mass; renormalise
            p = np.clip(p, 0.0003, 0.8)
            p = np.clip(p * rate * w.sum() / (w * p).sum(), 0.0003, 0.8)
        poor_2022[rows] = p
        relative = np.sqrt(p / max(rate, 1e-6)) * np.where(is_ward[rows], 0.5, 1.0)
        minority[rows] = np.clip(minority_share * relative, 0.005, 0.98)
    full_households = np.clip(full_households, 150, 60_000)
    households = np.maximum(3, np.round(full_households * scale.household_fraction)).astype(
        np.int64
    )

    # Rates fall faster in proportion where poverty is already low (national ~4 → ~2 % while
    # Hà Giang falls ~3.5 points a year from a third).
    decay = 0.55 + 0.35 * np.minimum(1.0, poor_2022 / 0.35)
    poor_rate = {y: np.clip(poor_2022 * decay ** _years_from_2022(y), 0.0002, 0.85) for y in years}
    low_z, poor_z = {}, {}
    for y in years:
        share_poor = 0.47 + 0.8 * np.minimum(poor_rate[y], 0.4)  # poor among low-income
        low = np.clip(poor_rate[y] / share_poor / (1 - _ABSENT_SHARE), 1e-5, 0.97)
        low_z[y] = _norm_ppf(low)
        poor_z[y] = _norm_ppf(share_poor)
    # The pool must reach the highest income any year's review screens in, on the income scale:
    # a standard with higher lines (Decree 351) reaches further up than Decree 07's.
    top_z = np.max(np.stack([low_z[y] + _screening_shift(y) for y in years]), axis=0)
    margin = np.log(_SCREENED_CEILING) / _INCOME_SIGMA + 2.2 * np.sqrt(1 - _RHO**2)
    pool_u = (top_z + margin) / _RHO

    # Villages and region III status.
    villages = np.where(is_urban, rng.integers(6, 26, n), rng.integers(5, 21, n))
    base_rate = np.clip(poor_2022 / decay, 0.0002, 0.85)  # the 2021 list
    dbkk_2021 = np.zeros(n, dtype=bool)
    for code in sorted(set(pick["province_code"])):
        rows = np.flatnonzero((province == code) & ~is_urban)
        if code in _DBKK_2021:
            chosen = rows[np.argsort(-base_rate[rows], kind="stable")[: _DBKK_2021[code]]]
        else:
            chosen = rows[base_rate[rows] >= 0.2]  # Decision 33/2020: poor rate ≥ 20 %
        dbkk_2021[chosen] = True
    keep_score = base_rate * rng.uniform(0.7, 1.3, n)  # who leaves region III first
    dbkk, difficult_villages = {}, {}
    mountain = np.array([_PROVINCES[p][3] in _MOUNTAIN_REGIONS for p in province])
    base_villages = np.where(
        dbkk_2021,
        np.round(villages * rng.uniform(0.5, 1.0, n)),
        np.where(mountain & ~is_urban, rng.binomial(villages, np.clip(base_rate, 0, 0.3)), 0),
    ).astype(np.int64)
    village_keep = rng.uniform(0.85, 1.15, n)
    # Every pre-2025 year asked for, and 2021-2024 always: the 2025 list derives from 2024.
    for y in sorted({*range(2021, 2025), *(y for y in years if y < 2025)}):
        kept = _DBKK_KEPT.get(y, 1.0 if y < 2021 else 0.5)
        status = np.zeros(n, dtype=bool)
        for code in sorted(set(pick["province_code"])):
            rows = np.flatnonzero((province == code) & dbkk_2021)
            count = int(round(len(rows) * kept))
            status[rows[np.argsort(-keep_score[rows], kind="stable")[:count]]] = True
        dbkk[y] = status
        share = _DIFFICULT_VILLAGES_KEPT.get(y, 1.0 if y < 2021 else 0.4)
        difficult_villages[y] = np.minimum(
            base_villages, np.floor(base_villages * np.minimum(1.0, share * village_keep))
        ).astype(np.int64)

    offsets = np.concatenate([[0], np.cumsum(villages)[:-1]])
    names: list[str] = []
    for i in range(n):
        region = _PROVINCES[province[i]][3]
        if is_urban[i]:
            names.extend(f"Tổ dân phố {k + 1}" for k in range(villages[i]))
        elif region in _MOUNTAIN_REGIONS:
            start = int(pick["commune_code"][i]) % len(_MOUNTAIN_VILLAGES)
            names.extend(
                f"Thôn {_MOUNTAIN_VILLAGES[(start + k) % len(_MOUNTAIN_VILLAGES)]}"
                for k in range(villages[i])
            )
        elif region in ("mekong", "southeast"):
            names.extend(f"Ấp {k + 1}" for k in range(villages[i]))
        else:
            names.extend(f"Thôn {k + 1}" for k in range(villages[i]))

    new_codes = np.array(new["commune_code"])
    new_pos = {c: i for i, c in enumerate(new_codes)}
    new_index = np.array([new_pos[c] for c in pick["new_commune_code"]], dtype=np.int64)
    new_communes = NewCommunes(
        code=new_codes,
        name=new["commune_name"],
        province=np.array(new["province_code"]),
        province_name=new["province_name"],
        is_urban=np.array([t == "Phường" for t in new["commune_type"]]),
        file_area=[a or "" for a in new["file_area"]],
    )
    # A commune the reorganisation divided goes to its successors in equal parts (the mapping
    # gives no population shares): its households are spread over them from 2025 (see
    # ``simulate_province``) and so are its residents, so every successor has a denominator.
    default_of = dict(zip(pick["commune_code"], pick["new_commune_code"], strict=True))
    parts: dict[str, list[str]] = {}
    pairs = zip(split["old_commune_code"], split["new_commune_code"], strict=True)
    for old_code, new_code in pairs:
        if old_code in default_of:
            parts.setdefault(old_code, [default_of[old_code]])
            if new_code != default_of[old_code]:
                parts[old_code].append(new_code)
    orphan_share = {
        f"{old_code}>{new_code}": 1 / len(successors)
        for old_code, successors in sorted(parts.items())
        for new_code in successors[1:]
    }
    old_pos = {c: i for i, c in enumerate(pick["commune_code"])}
    split_successors = {
        old_pos[old_code]: np.array([new_pos[c] for c in successors], dtype=np.int64)
        for old_code, successors in parts.items()
        if len(successors) > 1
    }

    communes = Communes(
        code=np.array(pick["commune_code"]),
        name=pick["commune_name"],
        ctype=ctype,
        province=province,
        district=np.array(pick["district_code"]),
        district_name=pick["district_name"],
        is_urban=is_urban,
        households=households,
        poor_rate=poor_rate,
        low_z=low_z,
        poor_z=poor_z,
        pool_u=pool_u,
        minority_share=minority,
        villages=villages,
        village_offset=offsets,
        village_names=pa.array(names, pa.string()),
        dbkk=dbkk,
        difficult_villages=difficult_villages,
        new_index=new_index,
        successors=split_successors,
    )
    return communes, new_communes, orphan_share


# --------------------------------------------------------------------------------------------
# Households of one province
# --------------------------------------------------------------------------------------------


def _names(rng: np.random.Generator, family: np.ndarray, female: np.ndarray) -> pa.Array:
    """Head names ``Surname Middle Given`` in the naming tradition of each household."""
    n = len(family)
    surname = np.empty(n, dtype=object)
    middle = np.empty(n, dtype=object)
    given = np.empty(n, dtype=object)
    for key, parts in _NAME_FAMILIES.items():
        rows = family == key
        m = int(rows.sum())
        if not m:
            continue
        sur = list(parts["surname"])
        surname[rows] = np.array(sur, dtype=object)[_weighted_choice(rng, parts["surname"], m)]
        fem = female[rows]
        mid_m = np.array(list(parts["middle_m"]), dtype=object)[
            _weighted_choice(rng, parts["middle_m"], m)
        ]
        mid_f = np.array(list(parts["middle_f"]), dtype=object)[
            _weighted_choice(rng, parts["middle_f"], m)
        ]
        middle[rows] = np.where(fem, mid_f, mid_m)
        giv_m = np.array(parts["given_m"], dtype=object)[rng.integers(0, len(parts["given_m"]), m)]
        giv_f = np.array(parts["given_f"], dtype=object)[rng.integers(0, len(parts["given_f"]), m)]
        given[rows] = np.where(fem, giv_f, giv_m)
    return pc.binary_join_element_wise(
        pa.array(surname, pa.string()), pa.array(middle, pa.string()), pa.array(given, pa.string()),
        " ",
    )  # fmt: skip


@dataclass
class YearRows:
    """Typed rows of one province and review year (before formatting), plus the file key."""

    table: pa.Table
    file_key: np.ndarray  # district code (pre-2025) or former-district area (2025)


def simulate_province(
    code: str,
    communes: Communes,
    new: NewCommunes,
    years: Sequence[int],
    seed: int,
    full_export_year: int | None,
) -> dict[int, YearRows]:
    """Households of one pre-2025 province across the review years, assessed rows per year."""
    rng = np.random.default_rng([seed, 2, int(code)])
    cidx = np.flatnonzero(communes.province == code)
    pool_share = _norm_cdf(communes.pool_u[cidx])
    pool_size = np.minimum(
        np.ceil(pool_share * communes.households[cidx]).astype(np.int64), communes.households[cidx]
    )
    base = np.repeat(cidx, pool_size)
    # Households formed later (about 2 % a year) come on top of the base pool, so the base keeps
    # the calibrated rate; about 1.5 % a year leave for good (moved away, died out).
    years_arr = np.asarray(years)
    extra = rng.choice(len(base), size=int(round(0.02 * (len(years) - 1) * len(base))))
    origin = np.concatenate([base, base[extra]])
    n = len(origin)
    first_year = np.concatenate(
        [np.full(len(base), years[0]), years_arr[rng.integers(1, max(len(years), 2), len(extra))]]
    )
    first_year = np.minimum(first_year, years[-1])
    leave_year = np.where(
        rng.uniform(size=n) < 0.015 * len(years),
        years_arr[rng.integers(0, len(years), n)] + 1,
        9999,
    )
    leave_year = np.where(leave_year <= first_year, 9999, leave_year)
    share_of = np.zeros(len(communes.code))
    share_of[cidx] = pool_share
    # Standing u drawn from N(0,1) truncated to the pool: u = Φ⁻¹(U·Φ(u*)).
    u = _norm_ppf(rng.uniform(0, 1, n) * share_of[origin])
    deprivation_latent = rng.normal(0, 1, n)
    # Serials: per origin commune, households present from the start first.
    order = np.lexsort((rng.uniform(size=n), first_year, origin))
    sorted_origin = origin[order]
    serial = np.empty(n, dtype=np.int64)
    serial[order] = np.arange(n) - np.searchsorted(sorted_origin, sorted_origin, "left") + 1

    region = _PROVINCES[code][3]
    # Assessed households are poorer than their commune, so more often ethnic minorities.
    share = communes.minority_share[origin]
    minority_p = 1 / (1 + np.exp(-(np.log(share / (1 - share)) + 0.8)))
    is_minority = rng.uniform(size=n) < minority_p
    mix = _ETHNIC_MIX[region]
    groups = np.array(list(mix), dtype=object)
    ethnicity = np.where(
        is_minority, groups[_weighted_choice(rng, mix, n)], np.array("Kinh", dtype=object)
    )
    # The naming tradition follows the ethnicity (Hoa names read like Kinh ones).
    eth_codes = pa.array(ethnicity, pa.string()).dictionary_encode()
    family = np.array(
        [_NAME_FAMILY_OF.get(e, "kinh") for e in eth_codes.dictionary.to_pylist()], dtype=object
    )[eth_codes.indices.to_numpy()]
    female = rng.uniform(size=n) < np.where(u < -1.0, 0.28, 0.2)
    birth = rng.integers(1940, 2000, n)
    meritorious = rng.uniform(size=n) < 0.015
    social = rng.uniform(size=n) < np.where(u < -1.0, 0.12, 0.06)
    no_labour = rng.uniform(size=n) < np.where(social, 0.35, 0.04)
    base_size = np.where(
        social | no_labour, 1 + rng.poisson(0.8, n), 1 + rng.poisson(2.6 + 0.8 * is_minority, n)
    )
    base_size = np.clip(base_size, 1, 12)
    names = _names(rng, family, female)
    birth_place = "0" + code
    id_numbers = pc.binary_join_element_wise(
        pa.array(np.full(n, birth_place, dtype=object), pa.string()),
        pa.array(female.astype(np.int64).astype(str)),
        pc.utf8_lpad(pa.array((birth % 100).astype(str)), 2, "0"),
        pc.utf8_lpad(pa.array(rng.integers(0, 1_000_000, n).astype(str)), 6, "0"),
        "",
    )
    household_codes = pc.binary_join_element_wise(
        pa.array(communes.province[origin], pa.string()),
        pa.array(communes.code[origin], pa.string()),
        pc.utf8_lpad(pa.array(serial.astype(str)), 5, "0"),
        "",
    )
    household_codes = pc.utf8_replace_slice(household_codes, 7, 7, "-")
    ethnicity_arr = pa.array(ethnicity, pa.string())

    # Which successor a household of a divided commune lives in from 2025: its own stream, so
    # the draws of every other household stay as they were.
    split_draw = np.random.default_rng([seed, 6, int(code)]).uniform(size=n)
    current = origin.copy()
    village = (rng.uniform(size=n) * communes.villages[current]).astype(np.int64)
    size = base_size.copy()
    province_communes = cidx
    move_weights = communes.households[cidx] / communes.households[cidx].sum()
    out: dict[int, YearRows] = {}
    for y in years:
        if y != years[0]:
            movers = rng.uniform(size=n) < 0.004
            current = np.where(
                movers, province_communes[rng.choice(len(cidx), size=n, p=move_weights)], current
            )
            village = np.where(
                movers, (rng.uniform(size=n) * communes.villages[current]).astype(np.int64), village
            )
            size = np.clip(size + np.where(rng.uniform(size=n) < 0.05, rng.choice([-1, 1], n), 0),
                           1, 12)  # fmt: skip
        present = (first_year <= y) & (y < leave_year)
        standing = _RHO * u + np.sqrt(1 - _RHO**2) * rng.normal(0, 1, n)
        z = communes.low_z[y][current]
        new_idx = _successor(communes, current, split_draw) if y >= 2025 else None
        urban = new.is_urban[new_idx] if new_idx is not None else communes.is_urban[current]
        standard = standard_for_year(y)
        line, upper, middle = standard.lines(urban)
        income_scale = _income_scale(urban)
        income = np.round(income_scale * np.exp(_INCOME_SIGMA * (standing - z)) / 1000) * 1000
        # Incomes exactly on the line and on the next line up: the "≤" edge must be exercised.
        edge = middle if middle is not None else upper if upper is not None else 1.5 * line
        near_line = np.abs(income / line - 1) < 0.02
        near_edge = np.abs((income - edge) / line) < 0.02
        income = np.where(near_line & (rng.uniform(size=n) < 0.3), line, income)
        income = np.where(near_edge & (rng.uniform(size=n) < 0.3), edge, income)
        income = income.astype(np.int64)
        poor_score = 0.8 * deprivation_latent + 0.6 * rng.normal(0, 1, n)
        poor_cut = communes.poor_z[y][current] - np.where(meritorious, 1.5, 0.0)
        cls = _classify(standard, income, line, upper, middle, poor_score <= poor_cut)
        # The review looks at the band just above its lines, then screens a few households in.
        band_top = edge
        ceiling = _SCREENED_CEILING * (upper if upper is not None else line)
        keep = rng.uniform(size=n)
        in_band = (cls >= MIDDLE) & (income <= band_top)
        assessed = present & (
            ((cls <= NEAR_POOR) & (keep >= _ABSENT_SHARE))
            | (in_band & (keep < 0.7))
            | ((cls >= MIDDLE) & ~in_band & (income <= ceiling) & (keep < 0.25))
        )
        if y == full_export_year:
            assessed = present
        rows = np.flatnonzero(assessed)
        table = _year_table(
            rng, y, standard, rows, cls, income, size, current, new_idx, village, urban,
            communes, new, household_codes, names, id_numbers, female, ethnicity_arr,
            meritorious, social, no_labour,
        )  # fmt: skip
        if new_idx is not None:
            key = np.array(new.file_area, dtype=object)[new_idx[rows]]
        else:
            key = communes.district[current[rows]]
        out[y] = YearRows(table, key)
        if y == full_export_year:
            out[y] = _append_rest_of_register(rng, out[y], y, code, cidx, pool_share, communes, new)
    return out


def _successor(communes: Communes, current: np.ndarray, split_draw: np.ndarray) -> np.ndarray:
    """Each household's 2025 commune: the default successor of its commune, or for a divided
    commune one of its successors in equal parts (stable from one review to the next)."""
    new_idx = communes.new_index[current]
    for old, successors in communes.successors.items():
        rows = current == old
        if rows.any():
            pick = (split_draw[rows] * len(successors)).astype(np.int64)
            new_idx[rows] = successors[pick]
    return new_idx


def _classify(
    standard: Standard,
    income: np.ndarray,
    line: np.ndarray,
    upper: np.ndarray | None,
    middle: np.ndarray | None,
    deprived: np.ndarray,
) -> np.ndarray:
    """The class under the standard's rule; ``deprived`` says who has ≥ 3 deprivations.

    Decree 07 and 351: poor when income ≤ L and deprived, near-poor when income ≤ L otherwise,
    middle when L < income ≤ M (only where the standard has M). Decision 59: poor when
    income ≤ L, or L < income ≤ U and deprived; near-poor when L < income ≤ U otherwise.
    """
    if standard.rule_type == "qd59_upper_band":
        band = (income > line) & (income <= upper)
        poor = (income <= line) | (band & deprived)
        return np.where(poor, POOR, np.where(band, NEAR_POOR, NOT_POOR))
    low = income <= line
    above = np.where(income <= middle, MIDDLE, NOT_POOR) if middle is not None else NOT_POOR
    return np.where(low & deprived, POOR, np.where(low, NEAR_POOR, above))


def _year_table(
    rng: np.random.Generator,
    year: int,
    standard: Standard,
    rows: np.ndarray,
    cls: np.ndarray,
    income: np.ndarray,
    size: np.ndarray,
    current: np.ndarray,
    new_idx: np.ndarray | None,
    village: np.ndarray,
    urban: np.ndarray,
    communes: Communes,
    new: NewCommunes,
    household_codes: pa.Array,
    names: pa.Array,
    id_numbers: pa.Array,
    female: np.ndarray,
    ethnicity: pa.Array,
    meritorious: np.ndarray,
    social: np.ndarray,
    no_labour: np.ndarray,
) -> pa.Table:
    """Typed rows (codes as zero-padded text) of the assessed households of one year."""
    m = len(rows)
    c = cls[rows]
    cur = current[rows]
    # Deprivation count k among the standard's indicators, by class: ≥ 3 for the poor, < 3 for
    # the near-poor, anything above. (Decision 59's income-poor need no count; they get ≥ 3 too.)
    count = len(standard.indicators)
    k = np.where(
        c == POOR,
        3 + rng.binomial(count - 3, 0.15, m),
        np.where(
            c == NEAR_POOR, rng.choice(3, m, p=[0.25, 0.4, 0.35]), rng.binomial(count, 0.06, m)
        ),
    )
    # Which k indicators: Gumbel top-k with prevalence weights, vectorised over rows.
    own = [MARK_COLUMNS.index(name) for name in standard.indicators]
    keys = np.log(_DEPRIVATION_WEIGHTS[own])[None, :] + rng.gumbel(size=(m, count))
    ranks = np.argsort(np.argsort(-keys, axis=1), axis=1)
    marks = np.zeros((m, len(MARK_COLUMNS)), dtype=bool)
    marks[:, own] = ranks < k[:, None]
    others = [j for j in range(len(DEPRIVATION_COLUMNS)) if j not in own]
    if others:
        # Marks the export carries but the standard does not count: drawn on their own.
        marks[:, others] = rng.uniform(size=(m, len(others))) < 0.1
    reported = c.copy()
    flip = rng.uniform(size=m) < _MISMATCH_SHARE
    # A misreport moves one class; "middle" only where the standard has a middle line.
    has_middle = standard.rural.middle is not None
    moved = np.array([NEAR_POOR, POOR, NEAR_POOR, MIDDLE if has_middle else NEAR_POOR])
    reported = np.where(flip, moved[c], reported)

    if new_idx is not None:
        idx = new_idx[rows]
        province = pa.array(new.province[idx], pa.string())
        district = pa.nulls(m, pa.string())
        commune_code = pa.array(new.code[idx], pa.string())
        commune_name = pa.array(np.array(new.name, dtype=object)[idx], pa.string())
        urban_label = "Đô thị"
    else:
        province = pa.array(communes.province[cur], pa.string())
        district = pa.array(communes.district[cur], pa.string())
        commune_code = pa.array(communes.code[cur], pa.string())
        commune_name = pa.array(np.array(communes.name, dtype=object)[cur], pa.string())
        urban_label = "Thành thị"
    labels = pa.array(CLASS_LABELS, pa.string())
    columns = {
        "review_year": pa.array(np.full(m, year, dtype=np.int64)),
        "province_code": province,
        "district_code": district,
        "commune_code": commune_code,
        "commune_name": commune_name,
        "village": communes.village_names.take(
            pa.array(
                communes.village_offset[cur] + np.minimum(village[rows], communes.villages[cur] - 1)
            )
        ),
        "household_code": household_codes.take(pa.array(rows)),
        "head_name": names.take(pa.array(rows)),
        "head_id_number": id_numbers.take(pa.array(rows)),
        "head_sex": pa.array(np.where(female[rows], "Nữ", "Nam"), pa.string()),
        "ethnicity": ethnicity.take(pa.array(rows)),
        "household_size": pa.array(size[rows]),
        "area_type": pa.array(np.where(urban[rows], urban_label, "Nông thôn"), pa.string()),
        "income_per_capita": pa.array(income[rows]),
    }
    for j, name in enumerate(DEPRIVATION_COLUMNS):
        columns[name] = pa.array(marks[:, j])
    if HEALTH_ACCESS in standard.indicators:  # only exports under Decision 59 carry the column
        columns[HEALTH_ACCESS] = pa.array(marks[:, MARK_COLUMNS.index(HEALTH_ACCESS)])
    columns["meritorious_family"] = pa.array(meritorious[rows])
    columns["social_protection"] = pa.array(social[rows])
    columns["no_labour_capacity"] = pa.array(no_labour[rows])
    columns["reported_class"] = labels.take(pa.array(reported))
    return pa.table(columns)


def _append_rest_of_register(
    rng: np.random.Generator,
    rows: YearRows,
    year: int,
    code: str,
    cidx: np.ndarray,
    pool_share: np.ndarray,
    communes: Communes,
    new: NewCommunes,
) -> YearRows:
    """For a full-export year, add every resident household the pool did not simulate."""
    rest = communes.households[cidx] - np.minimum(
        np.ceil(pool_share * communes.households[cidx]).astype(np.int64), communes.households[cidx]
    )
    cur = np.repeat(cidx, rest)
    m = len(cur)
    if not m:
        return rows
    serial = np.arange(m) - np.repeat(np.concatenate([[0], np.cumsum(rest)[:-1]]), rest)
    serial = serial + np.repeat(communes.households[cidx] - rest, rest) + 1
    share = np.repeat(pool_share, rest)
    standing = _RHO * _norm_ppf(share + rng.uniform(size=m) * (1 - share)) + np.sqrt(
        1 - _RHO**2
    ) * rng.normal(size=m)
    new_idx = communes.new_index[cur] if year >= 2025 else None
    urban = new.is_urban[new_idx] if new_idx is not None else communes.is_urban[cur]
    standard = standard_for_year(year)
    scale = _income_scale(urban)
    z = communes.low_z[year][cur]
    income = np.round(scale * np.exp(_INCOME_SIGMA * (standing - z)) / 1000).astype(np.int64) * 1000
    cls = _classify(standard, income, *standard.lines(urban), np.zeros(m, dtype=bool))
    female = rng.uniform(size=m) < 0.2
    family = np.full(m, "kinh", dtype=object)
    codes = pc.utf8_replace_slice(
        pc.binary_join_element_wise(
            pa.array(communes.province[cur], pa.string()),
            pa.array(communes.code[cur], pa.string()),
            pc.utf8_lpad(pa.array(serial.astype(str)), 5, "0"),
            "",
        ),
        7,
        7,
        "-",
    )
    ids = pc.binary_join_element_wise(
        pa.array(np.full(m, "0" + code, dtype=object), pa.string()),
        pa.array(female.astype(np.int64).astype(str)),
        pc.utf8_lpad(pa.array(rng.integers(40, 100, m).astype(str)), 2, "0"),
        pc.utf8_lpad(pa.array(rng.integers(0, 1_000_000, m).astype(str)), 6, "0"),
        "",
    )
    everyone = np.arange(m)
    table = _year_table(
        rng, year, standard, everyone, cls, income, np.clip(1 + rng.poisson(2.5, m), 1, 12), cur,
        new_idx, (rng.uniform(size=m) * communes.villages[cur]).astype(np.int64), urban,
        communes, new,
        codes, _names(rng, family, female), ids, female,
        pa.array(np.full(m, "Kinh", dtype=object), pa.string()), rng.uniform(size=m) < 0.015,
        np.zeros(m, dtype=bool), np.zeros(m, dtype=bool),
    )  # fmt: skip
    if new_idx is not None:
        key = np.array(new.file_area, dtype=object)[new_idx]
    else:
        key = communes.district[cur]
    return YearRows(pa.concat_tables([rows.table, table]), np.concatenate([rows.file_key, key]))


# --------------------------------------------------------------------------------------------
# Denominators and difficult areas
# --------------------------------------------------------------------------------------------


@dataclass
class ReferenceYear:
    """One review year's ``commune_totals`` and ``difficult_areas`` rows (index = row)."""

    year: int
    codes: np.ndarray
    households: np.ndarray
    people: np.ndarray
    extremely_difficult: np.ndarray
    difficult_villages: np.ndarray
    villages: np.ndarray


def reference_years(
    communes: Communes,
    new: NewCommunes,
    orphan_share: dict[str, float],
    years: Sequence[int],
    seed: int,
    fraction: float,
    assessed: dict[int, dict[str, int]],
) -> list[ReferenceYear]:
    """Every resident household per commune, and the extremely difficult status, for each year.

    A commune's resident households never fall below the households assessed there that year:
    at small scales, households moving into a small commune could otherwise outnumber it.
    """
    rng = np.random.default_rng([seed, 4])
    n = len(communes.code)
    people_per_household = np.clip(
        3.3 + 0.9 * communes.minority_share + rng.normal(0, 0.15, n), 2.6, 5.5
    )
    # Orphan 2025 communes take a share of the split commune they came from.
    old_pos = {c: i for i, c in enumerate(communes.code)}
    new_pos = {c: i for i, c in enumerate(new.code)}
    orphan_rows = [
        (old_pos[o], new_pos[nw], share)
        for key, share in sorted(orphan_share.items())
        for o, nw in [key.split(">")]
        if o in old_pos
    ]
    out = []
    for y in years:
        growth = 1 + _HOUSEHOLD_GROWTH * (y - years[0])
        households = np.round(communes.households * growth).astype(np.int64)
        people = np.round(households * people_per_household).astype(np.int64)
        if y < 2025:
            codes, hh, pp = communes.code, households, people
            villages, difficult = communes.villages, communes.difficult_villages[y]
            dbkk = communes.dbkk[y]
        else:
            m = len(new.code)
            hh = np.zeros(m, dtype=np.int64)
            pp = np.zeros(m, dtype=np.int64)
            villages = np.zeros(m, dtype=np.int64)
            difficult = np.zeros(m, dtype=np.float64)
            dbkk_households = np.zeros(m)
            moved_hh, moved_pp = households.copy(), people.copy()
            for o, nw, share in orphan_rows:
                take_hh = int(round(households[o] * share))
                take_pp = int(round(people[o] * share))
                moved_hh[o] -= take_hh
                moved_pp[o] -= take_pp
                hh[nw] += take_hh
                pp[nw] += take_pp
                villages[nw] += 3
            np.add.at(hh, communes.new_index, moved_hh)
            np.add.at(pp, communes.new_index, moved_pp)
            np.add.at(villages, communes.new_index, communes.villages)
            last = communes.difficult_villages[2024]
            kept = _DIFFICULT_VILLAGES_KEPT.get(y, 0.2) / _DIFFICULT_VILLAGES_KEPT[2024]
            np.add.at(difficult, communes.new_index, last * kept)
            np.add.at(dbkk_households, communes.new_index, households * communes.dbkk[2024])
            in_scale = set(new.province[communes.new_index].tolist())
            for island, count in _ISLAND_HOUSEHOLDS_2025.items():
                j = new_pos[island]
                if new.province[j] in in_scale:
                    hh[j] = max(1, round(count * fraction))
                    pp[j] = round(hh[j] * 3.8)
                    villages[j] = 4
            present = hh > 0
            codes, hh, pp, villages = new.code[present], hh[present], pp[present], villages[present]
            difficult = np.floor(difficult[present]).astype(np.int64)
            share = dbkk_households[present] / hh
            dbkk = share >= _DBKK_HOUSEHOLD_SHARE_2025_ON.get(y, 0.95)
        floor = np.array([assessed[y].get(str(c), 0) for c in codes], dtype=np.int64)
        short = hh < floor
        if short.any():
            per_household = np.divide(pp, np.maximum(hh, 1))
            hh = np.where(short, floor + np.ceil(floor * 0.1).astype(np.int64), hh)
            pp = np.maximum(pp, np.round(hh * np.maximum(per_household, 2.6)).astype(np.int64))
        out.append(ReferenceYear(y, codes, hh, pp, dbkk, np.minimum(difficult, villages), villages))
    return out
