"""The three datasets of the raw directory, described once.

Everything that differs between the survey, the commune totals and the difficult areas is here:
the raw table, the layout on disk (a folder of files per review year, or one ``<year>.csv``),
the headers with their variants (``orchestration.base.headers``), the columns required in a given
review year, and the typed columns with their SQL types. The raw DDL, the insert column lists,
the test fixtures' raw tables and the Dagster ingest assets and their row-balance checks are all
generated from it; the SQL typing and quarantine rules live in ``rules.py``, keyed by the same
dataset names.

Which review years exist at all, and which of them are under Decision 59/2015 (the only standard
whose exports carry ``TH tiếp cận dịch vụ y tế``), is read from the dbt seed
``poverty_standards.csv`` (columns standard_id, first_review_year, last_review_year), so a new
standard needs no code change here.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestration.base.headers import (
    DEPRIVATION_COLUMNS,
    FLAG_COLUMNS,
    HEADERS_BY_DATASET,
    ND351_OPTIONAL_COLUMNS,
    QD59_HEALTH_ACCESS,
)

STANDARDS_SEED = (
    Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "poverty_standards.csv"
)
HEALTH_ACCESS_STANDARD = "QD59_2015"
YEAR_FOLDER = "year_folder"
YEAR_FILE = "year_file"


@dataclass(frozen=True)
class Standard:
    standard_id: str
    first_review_year: int
    last_review_year: int

    def covers(self, review_year: int) -> bool:
        return self.first_review_year <= review_year <= self.last_review_year


@cache
def poverty_standards(seed: Path = STANDARDS_SEED) -> tuple[Standard, ...]:
    """One entry per standard of the seed (the seed has a row per standard and area type)."""
    found: dict[str, Standard] = {}
    with seed.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            found.setdefault(
                row["standard_id"],
                Standard(
                    row["standard_id"],
                    int(row["first_review_year"]),
                    int(row["last_review_year"]),
                ),
            )
    return tuple(found.values())


def standard_for_year(review_year: int) -> str | None:
    """The standard whose review years include ``review_year``, or None."""
    return next((s.standard_id for s in poverty_standards() if s.covers(review_year)), None)


def uses_health_access(review_year: int) -> bool:
    """Whether exports of this review year carry d_health_access (Decision 59/2015 years)."""
    return standard_for_year(review_year) == HEALTH_ACCESS_STANDARD


@dataclass(frozen=True)
class Dataset:
    """One dataset of the raw directory.

    ``columns`` are the typed columns of its raw table, after ``review_year`` and
    ``unit_version`` and before the lineage columns; ``required`` the canonical columns every
    file must have, ``required_in`` those required only in some review years.
    """

    name: str
    raw_table: str
    layout: str
    extensions: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    required: tuple[str, ...]
    required_in: tuple[tuple[str, Callable[[int], bool]], ...]
    description: str

    @property
    def headers(self) -> Mapping[str, str]:
        """Normalised header text (main headers and variants) → canonical column."""
        return HEADERS_BY_DATASET[self.name]

    @property
    def asset_name(self) -> str:
        return self.raw_table.replace(".", "_")

    def required_columns(self, review_year: int) -> tuple[str, ...]:
        """Canonical columns without which no row of a file of that year can be loaded."""
        return (
            *self.required,
            *(name for name, applies in self.required_in if applies(review_year)),
        )

    def raw_columns(self) -> tuple[tuple[str, str], ...]:
        """Every column of the raw table, with its SQL type, in table order."""
        return (
            ("review_year", "INTEGER"),
            ("unit_version", "VARCHAR"),
            *self.columns,
            *LINEAGE_COLUMNS,
        )


LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source_file", "VARCHAR"),
    ("source_sheet", "VARCHAR"),
    ("source_row", "INTEGER"),
    ("source_sha256", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("loaded_at", "TIMESTAMP"),
)

_SURVEY = Dataset(
    name="survey",
    raw_table="raw.survey_households",
    layout=YEAR_FOLDER,
    extensions=(".csv", ".xlsx"),
    columns=(
        ("province_code", "VARCHAR"),
        ("district_code", "VARCHAR"),
        ("commune_code", "VARCHAR"),
        ("commune_name", "VARCHAR"),
        ("village", "VARCHAR"),
        ("household_code", "VARCHAR"),
        ("head_id_hash", "VARCHAR"),
        ("head_sex", "VARCHAR"),
        ("ethnicity", "VARCHAR"),
        ("household_size", "INTEGER"),
        ("area_type", "VARCHAR"),
        ("income_per_capita", "BIGINT"),
        *((name, "BOOLEAN") for name in DEPRIVATION_COLUMNS),
        (QD59_HEALTH_ACCESS[0], "BOOLEAN"),
        *((f"is_{name}", "BOOLEAN") for name in FLAG_COLUMNS),
        ("reported_class", "VARCHAR"),
        *((name, "BOOLEAN") for name in ND351_OPTIONAL_COLUMNS),
    ),
    required=(
        "review_year",
        "province_code",
        "commune_code",
        "household_code",
        "household_size",
        "area_type",
        "income_per_capita",
        *DEPRIVATION_COLUMNS,
    ),
    required_in=(
        # Districts were abolished on 2025-07-01: reviews from 2025 on leave the column empty.
        ("district_code", lambda year: year < 2025),
        (QD59_HEALTH_ACCESS[0], uses_health_access),
    ),
    description=(
        "Assessed households of each review (Phiếu B exports), one row per household per review "
        "year, typed and validated; bad rows go to audit.quarantine with every reason."
    ),
)
_COMMUNE_TOTALS = Dataset(
    name="commune_totals",
    raw_table="raw.commune_totals",
    layout=YEAR_FILE,
    extensions=(".csv",),
    columns=(
        ("commune_code", "VARCHAR"),
        ("total_households", "BIGINT"),
        ("total_population", "BIGINT"),
        ("total_ethnic_minority_households", "BIGINT"),
    ),
    required=("review_year", "commune_code", "total_households", "total_population"),
    required_in=(),
    description="Resident households and people per commune and review year (the denominators).",
)
_DIFFICULT_AREAS = Dataset(
    name="difficult_areas",
    raw_table="raw.difficult_areas",
    layout=YEAR_FILE,
    extensions=(".csv",),
    columns=(
        ("commune_code", "VARCHAR"),
        ("is_extremely_difficult", "BOOLEAN"),
        ("difficult_villages", "INTEGER"),
        ("total_villages", "INTEGER"),
    ),
    required=("review_year", "commune_code", "extremely_difficult"),
    required_in=(),
    description="Extremely difficult (ĐBKK) status and village counts per commune and year.",
)

REGISTRY: Mapping[str, Dataset] = {d.name: d for d in (_SURVEY, _COMMUNE_TOTALS, _DIFFICULT_AREAS)}
DATASETS = tuple(REGISTRY)
RAW_TABLES: Mapping[str, str] = {name: d.raw_table for name, d in REGISTRY.items()}


def dataset(name: str) -> Dataset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}") from None


AUDIT_COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "audit.quarantine": (
        ("review_year", "INTEGER"),
        ("dataset", "VARCHAR"),
        ("source_file", "VARCHAR"),
        ("source_sheet", "VARCHAR"),
        ("source_row", "INTEGER"),
        ("reasons", "VARCHAR[]"),
        ("raw_record", "JSON"),
        ("source_sha256", "VARCHAR"),
        ("run_id", "VARCHAR"),
        ("quarantined_at", "TIMESTAMP"),
    ),
    # lines is counted from the bytes (a CSV) or the sheet (an XLSX), independently of the
    # parser; title_lines (header and form titles) and blank_lines come from the reader, so that
    # lines = title_lines + blank_lines + rows_read can be checked.
    "audit.source_files": (
        ("review_year", "INTEGER"),
        ("dataset", "VARCHAR"),
        ("file_name", "VARCHAR"),
        ("sha256", "VARCHAR"),
        ("size_bytes", "BIGINT"),
        ("rows_read", "BIGINT"),
        ("rows_loaded", "BIGINT"),
        ("rows_quarantined", "BIGINT"),
        ("status", "VARCHAR"),
        ("status_reason", "VARCHAR"),
        ("run_id", "VARCHAR"),
        ("first_seen_at", "TIMESTAMP"),
        ("last_seen_at", "TIMESTAMP"),
        ("lines", "BIGINT"),
        ("title_lines", "BIGINT"),
        ("blank_lines", "BIGINT"),
    ),
    # One row per dataset and review year the ingest wrote: the digest of what its rows were
    # made from besides its files (orchestration/ingest/inputs.py), and the run that wrote them.
    "audit.ingested_years": (
        ("review_year", "INTEGER"),
        ("dataset", "VARCHAR"),
        ("inputs_sha256", "VARCHAR"),
        ("run_id", "VARCHAR"),
        ("loaded_at", "TIMESTAMP"),
    ),
    # One row per file of a year the ingest wrote whose bytes it could vouch for by the file's
    # identity on the file system (device, inode, size, mtime and ctime in ns) when it hashed
    # them: a later run takes that sha256 for a file with the same identity instead of reading
    # it (orchestration/ingest/inputs.py, keep_unchanged_year).
    "audit.file_identities": (
        ("review_year", "INTEGER"),
        ("dataset", "VARCHAR"),
        ("file_name", "VARCHAR"),
        ("sha256", "VARCHAR"),
        ("device", "UBIGINT"),
        ("inode", "UBIGINT"),
        ("size_bytes", "BIGINT"),
        ("mtime_ns", "BIGINT"),
        ("ctime_ns", "BIGINT"),
    ),
}


# Stored without compression: every value is distinct or nearly so (a keyed hash, a household
# code), so DuckDB's dictionary and FSST analysis of each row group costs more write time than
# it saves space on these two columns. See docs/performance.md.
UNCOMPRESSED_COLUMNS = frozenset({"household_code", "head_id_hash"})


def _create(table: str, columns: tuple[tuple[str, str], ...]) -> list[str]:
    body = ", ".join(
        f"{name} {kind}"
        + (" USING COMPRESSION uncompressed" if name in UNCOMPRESSED_COLUMNS else "")
        for name, kind in columns
    )
    # An existing warehouse gets the columns added since it was created (at the end).
    return [
        f"create table if not exists {table} ({body})",
        *(f"alter table {table} add column if not exists {name} {kind}" for name, kind in columns),
    ]


_TABLES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    *((d.raw_table, d.raw_columns()) for d in REGISTRY.values()),
    *AUDIT_COLUMNS.items(),
)

DDL: list[str] = [
    "create schema if not exists raw",
    "create schema if not exists audit",
    *(s for table, columns in _TABLES for s in _create(table, columns)),
]
"""Statements creating the raw and audit tables (idempotent; they never drop a column)."""

TABLE_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    (table, name) for table, columns in _TABLES for name, _ in columns
)
"""Every ``(schema.table, column)`` the DDL makes: a warehouse holding them all needs no DDL."""

RAW_COLUMNS: Mapping[str, list[str]] = {
    name: ["$review_year", "$unit_version", *(column for column, _ in d.columns)]
    for name, d in REGISTRY.items()
}
"""The values inserted into each raw table before its lineage: ``$`` marks a parameter, other
names a typed column of the stage."""
