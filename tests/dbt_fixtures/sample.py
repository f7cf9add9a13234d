"""A small synthetic province worked out by hand: Hà Giang's communes over reviews 2023-2026.

Pre-2025 units: province 02, district 024 (communes 00688, 00691) and district 026 (00715,
00718; 00718 has no assessed household). From 2025: province 08, where 00688 (split, default new
commune 00691) and 00691 form 00691, and 00715 and 00718 form 00715.

Decree 07 lines (rural / urban): L = 1,500,000 / 2,000,000, middle line 2,250,000 / 3,000,000.
Decree 351 from review 2026: rural L = 2,200,000.

| household | 2023 | 2024 | 2025 | 2026 |
|---|---|---|---|---|
| H1 (00688, Tày, female head) | poor (on L, k=3) | middle: exited | poor in 00691: returned | - |
| H2 (00688) | near-poor (on L, k=2) | poor: newly poor | absent: not reassessed | - |
| H3 (00688) | middle (L + 1, k=5) | middle | absent | - |
| H4 (00688, meritorious) | poor | poor | poor (00691) | poor (00691) |
| H5 (00688) | middle (on the middle line) | absent | absent | - |
| H6 (00688, approved middle) | not poor by rule (middle line + 1): mismatch | absent | absent | - |
| H7 (00691, urban) | poor (on urban L, k=3) | middle: exited | poor: returned | - |
| H8 (00691, urban) | poor | absent: not reassessed | absent | - |
| H9 (00715) | poor | near-poor: exited | poor: returned | - |
| H10 (00715) | near-poor | poor: newly poor | near-poor: exited | - |
| H11 (00715) | - | poor: newly poor | poor | - |
| H12 (00715) | - | - | poor (on L, k=3): newly poor | - |
| H13 (00715) | - | - | - | 1,800,000 with k=3: poor under ND351 |
"""

from __future__ import annotations

from dbt_fixtures.warehouse import household

HA_GIANG_CITY_A = ("02", "024", "00688")
HA_GIANG_CITY_B = ("02", "024", "00691")
LUNG_CU = ("02", "026", "00715")
MA_LE = ("02", "026", "00718")
NEW_HA_GIANG_2 = ("08", None, "00691")
NEW_LUNG_CU = ("08", None, "00715")


def year_2023() -> dict[str, list]:
    return {
        "households": [
            household(
                2023,
                HA_GIANG_CITY_A,
                "H1",
                1_500_000,
                3,
                ethnicity="Tày",
                head_sex="female",
                reported_class="poor",
            ),
            household(2023, HA_GIANG_CITY_A, "H2", 1_500_000, 2, reported_class="near_poor"),
            household(2023, HA_GIANG_CITY_A, "H3", 1_500_001, 5, reported_class="middle"),
            household(2023, HA_GIANG_CITY_A, "H4", 1_000_000, 4, meritorious=True),
            household(2023, HA_GIANG_CITY_A, "H5", 2_250_000, 0, reported_class="middle"),
            # Not poor by rule, approved middle: the official class is middle (a mismatch).
            household(2023, HA_GIANG_CITY_A, "H6", 2_250_001, 0, reported_class="middle"),
            household(2023, HA_GIANG_CITY_B, "H7", 2_000_000, 3, area_type="urban"),
            household(2023, HA_GIANG_CITY_B, "H8", 1_900_000, 3, area_type="urban"),
            household(2023, LUNG_CU, "H9", 1_200_000, 3, ethnicity="Mông"),
            household(2023, LUNG_CU, "H10", 1_400_000, 1, ethnicity="Mông"),
        ],
        "commune_totals": [
            ("00688", 100, 400),
            ("00691", 50, 200),
            ("00715", 80, 350),
            ("00718", 40, 160),
        ],
        "difficult_areas": [("00715", True, 3, 5), ("00718", False, 1, 4)],
    }


def year_2024() -> dict[str, list]:
    return {
        "households": [
            household(
                2024, HA_GIANG_CITY_A, "H1", 1_600_000, 3, ethnicity="Tày", head_sex="female"
            ),
            household(2024, HA_GIANG_CITY_A, "H2", 1_400_000, 3),
            household(2024, HA_GIANG_CITY_A, "H3", 1_500_001, 5),
            household(2024, HA_GIANG_CITY_A, "H4", 1_000_000, 4, meritorious=True),
            household(2024, HA_GIANG_CITY_B, "H7", 2_100_000, 3, area_type="urban"),
            household(2024, LUNG_CU, "H9", 1_200_000, 2, ethnicity="Mông"),
            household(2024, LUNG_CU, "H10", 1_400_000, 3, ethnicity="Mông"),
            household(2024, LUNG_CU, "H11", 1_000_000, 3, ethnicity="Mông"),
        ],
        "commune_totals": [
            ("00688", 100, 400),
            ("00691", 50, 200),
            ("00715", 80, 350),
            ("00718", 40, 160),
        ],
        "difficult_areas": [("00715", True, 2, 5), ("00718", False, 1, 4)],
    }


def year_2025() -> dict[str, list]:
    return {
        "households": [
            household(2025, NEW_HA_GIANG_2, "H1", 1_000_000, 3, ethnicity="Tày", head_sex="female"),
            household(2025, NEW_HA_GIANG_2, "H4", 1_000_000, 4, meritorious=True),
            household(2025, NEW_HA_GIANG_2, "H7", 2_000_000, 3, area_type="urban"),
            household(2025, NEW_LUNG_CU, "H9", 1_200_000, 3, ethnicity="Mông"),
            household(2025, NEW_LUNG_CU, "H10", 1_400_000, 2, ethnicity="Mông"),
            household(2025, NEW_LUNG_CU, "H11", 1_000_000, 3, ethnicity="Mông"),
            household(2025, NEW_LUNG_CU, "H12", 1_500_000, 3, ethnicity="Mông"),
        ],
        "commune_totals": [("00691", 150, 600), ("00715", 120, 510)],
        "difficult_areas": [("00715", True, 2, 9)],
    }


def year_2026() -> dict[str, list]:
    return {
        "households": [
            household(2026, NEW_HA_GIANG_2, "H4", 1_000_000, 4, meritorious=True),
            household(2026, NEW_LUNG_CU, "H13", 1_800_000, 3, ethnicity="Mông"),
        ],
        "commune_totals": [("00691", 150, 600), ("00715", 120, 510)],
        "difficult_areas": [("00715", True, 1, 9)],
    }


YEARS = {2023: year_2023, 2024: year_2024, 2025: year_2025, 2026: year_2026}
