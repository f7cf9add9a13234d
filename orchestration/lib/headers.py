"""Header matching for the review exports: the file's header text → the contract's canonical name.

The exports are typed by hand in commune offices and re-saved by several tools, so the same header
arrives with stray spaces, in capitals, or with decomposed Vietnamese accents (macOS and some web
forms write NFD). Headers are therefore compared after NFC normalisation, trimming, collapsing
inner whitespace and case-folding; column order is free. A header the contract does not know is
kept (its cells go into the quarantine's raw record) but not loaded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_SPACES = re.compile(r"\s+")

DEPRIVATION_COLUMNS = (
    "d_employment",
    "d_dependents",
    "d_nutrition",
    "d_health_insurance",
    "d_adult_education",
    "d_child_schooling",
    "d_housing_quality",
    "d_housing_area",
    "d_water",
    "d_sanitation",
    "d_telecom",
    "d_information_assets",
)
FLAG_COLUMNS = ("meritorious_family", "social_protection", "no_labour_capacity")


def normalise_header(text: object) -> str:
    """The comparable form of a header cell: NFC, trimmed, inner whitespace collapsed, casefolded.

    NFC is applied again after case-folding because folding can decompose some characters.
    """
    value = "" if text is None else str(text)
    value = unicodedata.normalize("NFC", value).replace("\ufeff", "")
    value = _SPACES.sub(" ", value).strip().casefold()
    return unicodedata.normalize("NFC", value)


def _table(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {normalise_header(header): canonical for header, canonical in pairs}


SURVEY_HEADERS = _table(
    [
        ("Năm rà soát", "review_year"),
        ("Mã tỉnh", "province_code"),
        ("Mã huyện", "district_code"),
        ("Mã xã", "commune_code"),
        ("Tên xã", "commune_name"),
        ("Thôn/Tổ", "village"),
        ("Mã hộ", "household_code"),
        ("Họ tên chủ hộ", "head_name"),
        ("Số định danh chủ hộ", "head_id_number"),
        ("Giới tính chủ hộ", "head_sex"),
        ("Dân tộc", "ethnicity"),
        ("Số nhân khẩu", "household_size"),
        ("Khu vực", "area_type"),
        ("Thu nhập BQ (đồng/người/tháng)", "income_per_capita"),
        # The unit suffix is often dropped or re-typed; the short form is unambiguous.
        ("Thu nhập BQ", "income_per_capita"),
        ("TH việc làm", "d_employment"),
        ("TH người phụ thuộc", "d_dependents"),
        ("TH dinh dưỡng", "d_nutrition"),
        ("TH bảo hiểm y tế", "d_health_insurance"),
        ("TH trình độ giáo dục người lớn", "d_adult_education"),
        ("TH tình trạng đi học trẻ em", "d_child_schooling"),
        ("TH chất lượng nhà ở", "d_housing_quality"),
        ("TH diện tích nhà ở", "d_housing_area"),
        ("TH nguồn nước sinh hoạt", "d_water"),
        ("TH nhà tiêu hợp vệ sinh", "d_sanitation"),
        ("TH dịch vụ viễn thông", "d_telecom"),
        ("TH phương tiện tiếp cận thông tin", "d_information_assets"),
        ("Hộ người có công", "meritorious_family"),
        ("Hộ bảo trợ xã hội", "social_protection"),
        ("Hộ không có khả năng lao động", "no_labour_capacity"),
        ("Kết quả phân loại", "reported_class"),
    ]
)
COMMUNE_TOTALS_HEADERS = _table(
    [
        ("Năm", "review_year"),
        ("Mã xã", "commune_code"),
        ("Tổng số hộ", "total_households"),
        ("Tổng số nhân khẩu", "total_population"),
    ]
)
DIFFICULT_AREAS_HEADERS = _table(
    [
        ("Năm", "review_year"),
        ("Mã xã", "commune_code"),
        ("Xã ĐBKK", "extremely_difficult"),
        ("Số thôn ĐBKK", "difficult_villages"),
        ("Tổng số thôn", "total_villages"),
    ]
)

HEADERS_BY_DATASET: Mapping[str, Mapping[str, str]] = {
    "survey": SURVEY_HEADERS,
    "commune_totals": COMMUNE_TOTALS_HEADERS,
    "difficult_areas": DIFFICULT_AREAS_HEADERS,
}

HEADER_ROW_MARKER = normalise_header("Mã hộ")
"""An XLSX survey sheet's header row is the first row holding this cell (contract)."""


def canonical_columns(dataset: str) -> tuple[str, ...]:
    """Every canonical column of a dataset, in contract order, without duplicates."""
    return tuple(dict.fromkeys(HEADERS_BY_DATASET[dataset].values()))


def required_columns(dataset: str, review_year: int) -> tuple[str, ...]:
    """Columns without which no row of the file can be loaded (see ``orchestration.lib.ingest``)."""
    if dataset == "survey":
        base = (
            "review_year",
            "province_code",
            "commune_code",
            "household_code",
            "household_size",
            "area_type",
            "income_per_capita",
            *DEPRIVATION_COLUMNS,
        )
        if review_year < 2025:
            return (*base[:2], "district_code", *base[2:])
        return base
    if dataset == "commune_totals":
        return ("review_year", "commune_code", "total_households", "total_population")
    if dataset == "difficult_areas":
        return ("review_year", "commune_code", "extremely_difficult")
    raise ValueError(f"unknown dataset {dataset!r}")


@dataclass(frozen=True)
class HeaderMatch:
    """How a file's header cells map to canonical columns.

    ``positions`` maps a canonical name to its 0-based column; ``originals`` holds every header
    cell as written (NFC, trimmed), in file order, for the quarantine's raw record.
    """

    positions: dict[str, int]
    originals: tuple[str, ...]

    def missing(self, required: Iterable[str]) -> list[str]:
        return [name for name in required if name not in self.positions]


def match_headers(cells: Iterable[object], dataset: str) -> HeaderMatch:
    """Match a header row; when a header repeats, its first occurrence is the one loaded."""
    table = HEADERS_BY_DATASET[dataset]
    positions: dict[str, int] = {}
    originals: list[str] = []
    for index, cell in enumerate(cells):
        text = "" if cell is None else unicodedata.normalize("NFC", str(cell))
        originals.append(text.replace("\ufeff", "").strip())
        canonical = table.get(normalise_header(text))
        if canonical is not None and canonical not in positions:
            positions[canonical] = index
    return HeaderMatch(positions=positions, originals=tuple(originals))
