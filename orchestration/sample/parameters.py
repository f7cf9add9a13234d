"""The sample's parameters: each province's size and poverty level, how households persist and
spread, and how the extremely difficult lists shrink.

``PROVINCES``: households (thousands), poor rate 2022 (%), ethnic-minority share, region. Rough,
published-like orders of magnitude for a realistic synthetic sample, not statistics. The commune
builder (``communes.py``) and the household simulation (``population.py``) both read them.
"""

from __future__ import annotations

PROVINCES: dict[str, tuple[int, float, float, str]] = {
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
HOUSEHOLD_CALIBRATION = 0.965
HOUSEHOLD_GROWTH = 0.005  # resident households per year
# 2025 special zones with no pre-2025 commune (island districts had none): residents only.
# Hoàng Sa has no resident households, so it has no commune_totals row.
ISLAND_HOUSEHOLDS_2025 = {"11948": 300, "19742": 150, "21548": 6000, "26732": 3000}
MOUNTAIN_REGIONS = {"ha_giang", "tuyen_quang", "north", "northwest", "muong", "highlands"}

# Region III (extremely difficult) communes of Decision 861/QĐ-TTg where the count is known;
# elsewhere the poorest rural communes are listed by rate.
DBKK_2021 = {
    "02": 133, "04": 126, "14": 126, "11": 94, "20": 88,
    "10": 70, "06": 67, "15": 59, "08": 50, "24": 28,
}  # fmt: skip
# Share of the 2021 list still region III in each review year (new-rural communes leave it).
# Reviews before 2021 use the 2021 list in full: the sample does not model the earlier list of
# Decision 582/QĐ-TTg (2017-2020).
DBKK_KEPT = {2021: 1.0, 2022: 1.0, 2023: 0.85, 2024: 0.7, 2025: 0.55}
DIFFICULT_VILLAGES_KEPT = {
    2021: 1.0, 2022: 0.95, 2023: 0.75, 2024: 0.6, 2025: 0.45, 2026: 0.35, 2027: 0.25,
}  # fmt: skip
# From 2025 a new commune is extremely difficult when this share of its households lived in
# communes that were so in 2024; the share rises as communes leave the list.
DBKK_HOUSEHOLD_SHARE_2025_ON = {2025: 0.6, 2026: 0.75, 2027: 0.9}

MOUNTAIN_VILLAGES = (
    "Nà Khoang", "Bản Mồ", "Khuổi Hon", "Lũng Cú", "Phìn Hồ", "Sán Sả Hồ", "Tả Lủng", "Xín Chải",
    "Lùng Tám", "Mã Pì Lèng", "Nà Lầu", "Pác Bó", "Bản Váng", "Làng Chang", "Nặm Đăm", "Thèn Pả",
    "Khâu Vai", "Cốc Pàng", "Pải Lủng", "Sủng Là", "Lao Chải", "Ngòi Lường", "Bản Péo", "Nậm Ty",
    "Đồng Tâm", "Tân Lập", "Làng Mới", "Bản Tàng", "Nà Chang", "Vằng Luông", "Cao Bành", "Kéo Nọi",
)  # fmt: skip

RHO = 0.9  # year-to-year persistence of a household's standing
INCOME_SIGMA = 0.6  # spread of log income within a commune
# Households of the lists a review fails to assess again: 1 % a year (every household on
# the list must be reviewed, Decision 24/2021/QĐ-TTg, so a real review leaves few), and in a few
# communes of each province one badly done review leaves 10-20 % (population.py).
ABSENT_SHARE = 0.01
SCREENED_CEILING = 1.6  # screened-in households above the middle band reach this × line
