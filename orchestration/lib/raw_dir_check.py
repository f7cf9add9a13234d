"""The raw directory's layout, checked before anything is written (exit 2 when it is unusable).

The input contract's rules, in short: under ``survey/`` only folders named with four digits (the
review years); under ``commune_totals/`` and ``difficult_areas/`` only files named
``<year>.csv``; every review year found must be covered by a poverty standard of the seed
``poverty_standards.csv``. Hidden entries (``.…``) and Excel lock files (``~$…``) are skipped,
and symbolic links are never followed (the ingest lists them as ``ignored``), so they are not
judged here. Anything else under the raw directory is not the pipeline's.

Used by ``poverty-warehouse run`` when ``orchestration.lib.ingest`` offers no
``validate_raw_dir`` of its own. No Dagster import.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from orchestration.settings import DBT_PROJECT_DIR

YEAR_NAME = re.compile(r"^\d{4}$")
YEAR_FILE = re.compile(r"^\d{4}\.csv$")
STANDARDS_SEED = DBT_PROJECT_DIR / "seeds" / "poverty_standards.csv"


class RawLayoutError(ValueError):
    """A folder or file name, or a review year, the pipeline cannot use."""


def _skipped(path: Path) -> bool:
    return path.name.startswith((".", "~$")) or path.is_symlink()


def covered_years(seed: Path = STANDARDS_SEED) -> set[int]:
    """The review years some poverty standard covers (by the seed's column names)."""
    years: set[int] = set()
    with seed.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            years.update(range(int(row["first_review_year"]), int(row["last_review_year"]) + 1))
    return years


def check_raw_dir(raw_dir: Path, seed: Path = STANDARDS_SEED) -> list[int]:
    """The review years of ``raw_dir``; :class:`RawLayoutError` naming the first bad entry."""
    raw_dir = Path(raw_dir)
    years: set[int] = set()
    survey = raw_dir / "survey"
    if survey.is_dir() and not survey.is_symlink():
        for entry in sorted(survey.iterdir()):
            if _skipped(entry):
                continue
            if not entry.is_dir():
                raise RawLayoutError(
                    f"{entry}: a file directly under survey/; survey files go in a year folder "
                    "(survey/<year>/)"
                )
            if not YEAR_NAME.match(entry.name):
                raise RawLayoutError(
                    f"{entry}: a survey folder must be named with the review year's four digits "
                    f"(got {entry.name!r})"
                )
            years.add(int(entry.name))
    for dataset in ("commune_totals", "difficult_areas"):
        folder = raw_dir / dataset
        if not folder.is_dir() or folder.is_symlink():
            continue
        for entry in sorted(folder.iterdir()):
            if _skipped(entry):
                continue
            if not (entry.is_file() and YEAR_FILE.match(entry.name)):
                raise RawLayoutError(
                    f"{entry}: {dataset}/ holds only files named <year>.csv (got {entry.name!r})"
                )
            years.add(int(entry.name[:4]))
    uncovered = sorted(years - covered_years(seed))
    if uncovered:
        raise RawLayoutError(
            f"review year(s) {', '.join(map(str, uncovered))} under {raw_dir}: no poverty "
            f"standard covers them (dbt_project/seeds/{seed.name})"
        )
    return sorted(years)
