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


EXPORT_HEADERS: Mapping[str, tuple[tuple[str, str], ...]] = {
    # (canonical name, the header the contract writes), in the contract's column order. The one
    # list of export headers: the ingest matches against it (with the variants below), and the
    # sample generator, the benchmarks and the test fixtures write files with it.
    "survey": (
        ("review_year", "Năm rà soát"),
        ("province_code", "Mã tỉnh"),
        ("district_code", "Mã huyện"),
        ("commune_code", "Mã xã"),
        ("commune_name", "Tên xã"),
        ("village", "Thôn/Tổ"),
        ("household_code", "Mã hộ"),
        ("head_name", "Họ tên chủ hộ"),
        ("head_id_number", "Số định danh chủ hộ"),
        ("head_sex", "Giới tính chủ hộ"),
        ("ethnicity", "Dân tộc"),
        ("household_size", "Số nhân khẩu"),
        ("area_type", "Khu vực"),
        ("income_per_capita", "Thu nhập BQ (đồng/người/tháng)"),
        ("d_employment", "TH việc làm"),
        ("d_dependents", "TH người phụ thuộc"),
        ("d_nutrition", "TH dinh dưỡng"),
        ("d_health_insurance", "TH bảo hiểm y tế"),
        ("d_adult_education", "TH trình độ giáo dục người lớn"),
        ("d_child_schooling", "TH tình trạng đi học trẻ em"),
        ("d_housing_quality", "TH chất lượng nhà ở"),
        ("d_housing_area", "TH diện tích nhà ở"),
        ("d_water", "TH nguồn nước sinh hoạt"),
        ("d_sanitation", "TH nhà tiêu hợp vệ sinh"),
        ("d_telecom", "TH dịch vụ viễn thông"),
        ("d_information_assets", "TH phương tiện tiếp cận thông tin"),
        ("meritorious_family", "Hộ người có công"),
        ("social_protection", "Hộ bảo trợ xã hội"),
        ("no_labour_capacity", "Hộ không có khả năng lao động"),
        ("reported_class", "Kết quả phân loại"),
    ),
    "commune_totals": (
        ("review_year", "Năm"),
        ("commune_code", "Mã xã"),
        ("total_households", "Tổng số hộ"),
        ("total_population", "Tổng số nhân khẩu"),
    ),
    "difficult_areas": (
        ("review_year", "Năm"),
        ("commune_code", "Mã xã"),
        ("extremely_difficult", "Xã ĐBKK"),
        ("difficult_villages", "Số thôn ĐBKK"),
        ("total_villages", "Tổng số thôn"),
    ),
}

QD59_HEALTH_ACCESS: tuple[str, str] = ("d_health_access", "TH tiếp cận dịch vụ y tế")
"""The deprivation mark of Decision 59/2015 that Decree 07 dropped; exports of review years under
QD59_2015 carry it (after the 12 marks), later ones do not. Matched in every year; required and
loaded only in the years of that standard (``orchestration.ingest.registry``)."""

OPTIONAL_HEADERS: Mapping[str, tuple[tuple[str, str], ...]] = {
    # Columns an export may carry (version 3 of the input format): read and stored when present,
    # NULL (unknown, never "not deprived" or 0) when the file lacks them; nothing requires them.
    "survey": (
        # The indicators press summaries of Decree 351/2025 report as new for 2027-2030; not
        # counted in a standard's deprivations until the seed lists them as verified.
        ("d_digital_services", "TH sử dụng dịch vụ số"),
        ("d_internet_access", "TH tiếp cận internet"),
        ("d_waste_collection", "TH thu gom rác thải"),
    ),
    "commune_totals": (("total_ethnic_minority_households", "Tổng số hộ DTTS"),),
    "difficult_areas": (),
}
ND351_OPTIONAL_COLUMNS = tuple(name for name, _ in OPTIONAL_HEADERS["survey"])
"""The optional deprivation marks of Decree 351/2025 (survey exports)."""

HEADER_VARIANTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    # Other headers that offices write for the same column (the contract lists the personal-data
    # variants); matched like the main header.
    "survey": (
        # The unit suffix is often dropped or re-typed; the short form is unambiguous.
        ("income_per_capita", "Thu nhập BQ"),
        ("head_name", "Họ và tên chủ hộ"),
        ("head_name", "Tên chủ hộ"),
        ("head_id_number", "Số CCCD"),
        ("head_id_number", "CCCD chủ hộ"),
        ("head_id_number", "Số định danh cá nhân"),
        ("head_id_number", "Số CMND/CCCD"),
    ),
    "commune_totals": (),
    "difficult_areas": (),
}


def export_header(dataset: str, canonical: str) -> str:
    """The header the contract writes for a canonical column."""
    if canonical == QD59_HEALTH_ACCESS[0]:
        return QD59_HEALTH_ACCESS[1]
    return dict((*EXPORT_HEADERS[dataset], *OPTIONAL_HEADERS[dataset]))[canonical]


def _table(dataset: str) -> dict[str, str]:
    pairs = (*EXPORT_HEADERS[dataset], *OPTIONAL_HEADERS[dataset], *HEADER_VARIANTS[dataset])
    if dataset == "survey":
        pairs = (*pairs, QD59_HEALTH_ACCESS)
    return {normalise_header(header): canonical for canonical, header in pairs}


SURVEY_HEADERS = _table("survey")
COMMUNE_TOTALS_HEADERS = _table("commune_totals")
DIFFICULT_AREAS_HEADERS = _table("difficult_areas")

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


@dataclass(frozen=True)
class HeaderMatch:
    """How a file's header cells map to canonical columns.

    ``positions`` maps a canonical name to its 0-based column; ``originals`` holds every header
    cell as written (NFC, trimmed), in file order, for the quarantine's raw record;
    ``duplicates`` names the canonical columns that more than one header cell matched (the file
    is then quarantined whole: which of the two columns holds the truth is unknowable).
    """

    positions: dict[str, int]
    originals: tuple[str, ...]
    duplicates: tuple[str, ...] = ()

    def missing(self, required: Iterable[str]) -> list[str]:
        return [name for name in required if name not in self.positions]


def match_headers(cells: Iterable[object], dataset: str) -> HeaderMatch:
    """Match a header row; a canonical column matched twice is listed in ``duplicates``."""
    table = HEADERS_BY_DATASET[dataset]
    positions: dict[str, int] = {}
    duplicates: list[str] = []
    originals: list[str] = []
    for index, cell in enumerate(cells):
        text = "" if cell is None else unicodedata.normalize("NFC", str(cell))
        originals.append(text.replace("\ufeff", "").strip())
        canonical = table.get(normalise_header(text))
        if canonical is None:
            continue
        if canonical in positions:
            duplicates.append(canonical)
        else:
            positions[canonical] = index
    return HeaderMatch(
        positions=positions, originals=tuple(originals), duplicates=tuple(dict.fromkeys(duplicates))
    )
