"""A hand-written set of review exports (2021, 2024, 2025, 2026) across the 2025 reorganisation.

Two old provinces merge: Hải Dương (30) and Hải Phòng (31) became Hải Phòng (31) on 2025-07-01.
The communes are real (national statistics office codes, checked in ``tests/test_territory.py``
against the vietnamadminunits package):

pre2025                                       → 2025 (province 31)
  A 10843 Xã Liên Mạc,   province 30, dist 294 → N1 10843 Xã Hà Nam
  B 10798 Xã Hòa Bình,   province 30, dist 293 → divided: N1, N2, N3 (a third each)
  C 11890 Xã Hòa Bình,   province 31, dist 316 → divided: N1, N2, N3 (a third each)
  D 10804 Xã Đồng Cẩm,   province 30, dist 293 → N2 10804 Xã Kim Thành
  E 11911 Xã Trấn Dương, province 31, dist 316 → N3 11911 Xã Nguyễn Bỉnh Khiêm
N1 and N2 have predecessors in both old provinces, so both old territories are apportioned in the
2025 reviews. (The reference mapping lists further predecessors of N1, N2 and N3 that this
fixture never loads: they have no totals in 2024, so their backward weight is 0.)

Commune totals (households): 2021 A 30, B 90, C 90, D 40, E 10 (E has no survey row: not
reported); 2024 A 30, B 90, C 90, D 40; 2025 and 2026 N1 90, N2 100, N3 70.

Crosswalk, weights from review 2024 (the last on pre-2025 units):
  forward: A→N1 1; B→N1,N2,N3 1/3 each; C→N1,N2,N3 1/3 each; D→N2 1; E→N3 1.
  backward: N1 ← A 30, B 30, C 30 (= total × forward weight) → 1/3 each;
            N2 ← B 30, C 30, D 40 → 0.3, 0.3, 0.4;
            N3 ← B 30, C 30, E 0 → 0.5, 0.5, 0.
  So in a 2025 review the old territory pre2025:30 holds 2/3 of N1 (A + B), 0.7 of N2 (B + D),
  0.5 of N3 (B); pre2025:31 holds 1/3 of N1, 0.3 of N2, 0.5 of N3.

Households: P = poor (income 1,000,000 with 3 deprivations, poor under every standard),
N = not poor (income 5,000,000, no deprivation). Four people each.

code  2021  2024  2025   2026   notes
h01   A P   A P   N1 P   N1 N   own code: A is a predecessor of N1
h02   A P   A N   -      -
h03   B P   B P   N1 N   N1 N
h04   B P   B P   N2 P   N2 P   meritorious family; own code → B
h05   B P   B N   N3 N   N3 N   own code → B
h06   C P   C P   N2 N   N2 N   own code → C
h07   C N   C N   N3 N   N3 N   own code → C
h08   D P   D P   N2 P   N2 N   own code → D
h09   D N   D N   N3 P   N3 P   moved: D is not a predecessor of N3 → weights (B 0.5, C 0.5)
h10   -     -     N1 P   N1 P   new: weights (A, B, C 1/3 each)
h11   -     -     N2 N   N2 N   new: weights (B 0.3, C 0.3, D 0.4)
h12   -     -     N3 N   N3 N   new: weights (B 0.5, C 0.5)

2026 deprivations of the poor: h10 water sanitation housing_quality; h04 sanitation
adult_education nutrition; h09 telecom information_assets employment.

Extremely difficult (ĐBKK) communes and their ĐBKK villages: 2021 B (4 villages), C (3), A has 1
village but is not ĐBKK; 2024 B (2), C not ĐBKK (1 village); 2025 none ĐBKK, villages N1 1, N3 2;
2026 N3 ĐBKK (1 village).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fixtures.raw_exports import SURVEY_HEADERS
from hand_worked_fixture import Commune

YEARS = (2021, 2024, 2025, 2026)
COMMUNE_TOTALS_HEADERS = ["Năm", "Mã xã", "Tổng số hộ", "Tổng số nhân khẩu"]
DIFFICULT_AREAS_HEADERS = ["Năm", "Mã xã", "Xã ĐBKK", "Số thôn ĐBKK", "Tổng số thôn"]
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


A = Commune("30", "294", "10843", "Xã Liên Mạc")
B = Commune("30", "293", "10798", "Xã Hòa Bình")
C = Commune("31", "316", "11890", "Xã Hòa Bình")
D = Commune("30", "293", "10804", "Xã Đồng Cẩm")
E = Commune("31", "316", "11911", "Xã Trấn Dương")
N1 = Commune("31", "", "10843", "Xã Hà Nam")
N2 = Commune("31", "", "10804", "Xã Kim Thành")
N3 = Commune("31", "", "11911", "Xã Nguyễn Bỉnh Khiêm")
PRE2025_COMMUNES = (A, B, C, D, E)
COMMUNES_2025 = (N1, N2, N3)
# (old, new) pairs of the reference mapping among the fixture's communes.
EXPECTED_PAIRS = {
    ("10843", "10843"),
    ("10798", "10843"),
    ("10798", "10804"),
    ("10798", "11911"),
    ("11890", "10843"),
    ("11890", "10804"),
    ("11890", "11911"),
    ("10804", "10804"),
    ("11911", "11911"),
}

POOR_DEPRIVED = "water sanitation housing_quality"
DEPRIVED_2026 = {
    "h10": "water sanitation housing_quality",
    "h04": "sanitation adult_education nutrition",
    "h09": "telecom information_assets employment",
}
MERITORIOUS = {"h04"}

# review year → household code → (commune, is_poor)
HOUSEHOLDS: dict[int, dict[str, tuple[Commune, bool]]] = {
    2021: {
        "h01": (A, True),
        "h02": (A, True),
        "h03": (B, True),
        "h04": (B, True),
        "h05": (B, True),
        "h06": (C, True),
        "h07": (C, False),
        "h08": (D, True),
        "h09": (D, False),
    },
    2024: {
        "h01": (A, True),
        "h02": (A, False),
        "h03": (B, True),
        "h04": (B, True),
        "h05": (B, False),
        "h06": (C, True),
        "h07": (C, False),
        "h08": (D, True),
        "h09": (D, False),
    },
    2025: {
        "h01": (N1, True),
        "h03": (N1, False),
        "h10": (N1, True),
        "h04": (N2, True),
        "h06": (N2, False),
        "h08": (N2, True),
        "h11": (N2, False),
        "h07": (N3, False),
        "h09": (N3, True),
        "h12": (N3, False),
        "h05": (N3, False),
    },
    2026: {
        "h01": (N1, False),
        "h03": (N1, False),
        "h10": (N1, True),
        "h04": (N2, True),
        "h06": (N2, False),
        "h08": (N2, False),
        "h11": (N2, False),
        "h07": (N3, False),
        "h09": (N3, True),
        "h12": (N3, False),
        "h05": (N3, False),
    },
}
COMMUNE_TOTALS = {
    2021: [(A, 30), (B, 90), (C, 90), (D, 40), (E, 10)],
    2024: [(A, 30), (B, 90), (C, 90), (D, 40)],
    2025: [(N1, 90), (N2, 100), (N3, 70)],
    2026: [(N1, 90), (N2, 100), (N3, 70)],
}
# (commune, extremely difficult, difficult villages, total villages)
DIFFICULT_AREAS = {
    2021: [(A, False, 1, 5), (B, True, 4, 6), (C, True, 3, 9), (D, False, 0, 4)],
    2024: [(A, False, 0, 5), (B, True, 2, 6), (C, False, 1, 9), (D, False, 0, 4)],
    2025: [(N1, False, 1, 12), (N2, False, 0, 10), (N3, False, 2, 9)],
    2026: [(N1, False, 0, 12), (N2, False, 0, 10), (N3, True, 1, 9)],
}


def _write_csv(path: Path, headers: list[str], rows: list[list[object]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))


def _survey_row(year: int, code: str, commune: Commune, is_poor: bool) -> list[object]:
    deprived: set[str] = set()
    if is_poor:
        deprived = set((DEPRIVED_2026[code] if year == 2026 else POOR_DEPRIVED).split())
    number = int(code[1:])
    cells = {
        "Năm rà soát": year,
        "Mã tỉnh": commune.province_code,
        "Mã huyện": commune.district_code,
        "Mã xã": commune.commune_code,
        "Tên xã": commune.name,
        "Thôn/Tổ": "Thôn 1",
        "Mã hộ": code.upper(),
        "Họ tên chủ hộ": f"Chủ Hộ Mẫu {number:03d}",
        "Số định danh chủ hộ": f"0310{number:08d}",
        "Giới tính chủ hộ": "Nam",
        "Dân tộc": "Kinh",
        "Số nhân khẩu": 4,
        "Khu vực": "Nông thôn",
        "Thu nhập BQ (đồng/người/tháng)": 1_000_000 if is_poor else 5_000_000,
        **{
            header: ("x" if name in deprived else "")
            for name, header in DEPRIVATION_HEADERS.items()
        },
        "Hộ người có công": "x" if code in MERITORIOUS else "",
        "Hộ bảo trợ xã hội": "",
        "Hộ không có khả năng lao động": "",
        "Kết quả phân loại": "Hộ nghèo" if is_poor else "Hộ không nghèo",
    }
    return [cells.get(header, "") for header in SURVEY_HEADERS]


def write_raw_exports(raw_dir: Path) -> Path:
    """Write the four reviews in the input contract's layout, one survey file per commune."""
    for year in YEARS:
        by_file: dict[str, list[list[object]]] = {}
        for code, (commune, is_poor) in HOUSEHOLDS[year].items():
            by_file.setdefault(f"xa_{commune.commune_code}.csv", []).append(
                _survey_row(year, code, commune, is_poor)
            )
        for name, rows in by_file.items():
            _write_csv(raw_dir / "survey" / str(year) / name, SURVEY_HEADERS, rows)
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
