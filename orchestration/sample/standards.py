"""Poverty standards as the dbt seeds state them, and the class a household gets under each.

The generator never writes a line or an indicator list of its own: a new standard in the seeds
is a new standard in the sample.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

import numpy as np

from orchestration.base.headers import DEPRIVATION_COLUMNS, QD59_HEALTH_ACCESS
from orchestration.base.settings import DBT_PROJECT_DIR

CLASS_LABELS = ("Hộ nghèo", "Hộ cận nghèo", "Hộ có mức sống trung bình", "Hộ không nghèo")
POOR, NEAR_POOR, MIDDLE, NOT_POOR = range(4)
HEALTH_ACCESS = QD59_HEALTH_ACCESS[0]
MARK_COLUMNS = (*DEPRIVATION_COLUMNS, HEALTH_ACCESS)
"""Every deprivation mark the simulation draws: the 12 of Decree 07, then QD59's health access."""

_SEEDS = DBT_PROJECT_DIR / "seeds"
# Incomes are drawn on the scale of the Decree 07 lines, the standard of the published figures
# the rates are calibrated to; each review year is then classified with its own standard's lines,
# so a new standard moves the rates the way a new line does (up under Decree 351's higher lines,
# down under Decision 59's lower ones).
INCOME_SCALE_STANDARD = "ND07_2021"


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
                # Only the indicators counted in k (an unverified one reported as new is not).
                if row.get("counted_in_standard", "true").strip().lower() == "false":
                    continue
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


class NoStandardError(ValueError):
    """A review year that no poverty standard of the seeds covers."""


def standard_for_year(review_year: int) -> Standard:
    """The standard a review year is classified under (a year no standard covers is an error)."""
    for standard in poverty_standards():
        if standard.first_review_year <= review_year <= standard.last_review_year:
            return standard
    raise NoStandardError(f"no poverty standard in the seeds covers review year {review_year}")


def income_scale(urban: np.ndarray) -> np.ndarray:
    scale = next(s for s in poverty_standards() if s.standard_id == INCOME_SCALE_STANDARD)
    return np.where(urban, scale.urban.income, scale.rural.income)


def classify(
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
    income ≤ L, or L < income ≤ U and deprived; near-poor when L < income ≤ U otherwise; middle
    when U < income ≤ M.
    """
    if standard.rule_type == "qd59_upper_band":
        band = (income > line) & (income <= upper)
        poor = (income <= line) | (band & deprived)
        # Art. 2: the middle living standard, above U up to M.
        above = (
            np.where((income > upper) & (income <= middle), MIDDLE, NOT_POOR)
            if middle is not None
            else NOT_POOR
        )
        return np.where(poor, POOR, np.where(band, NEAR_POOR, above))
    low = income <= line
    above = np.where(income <= middle, MIDDLE, NOT_POOR) if middle is not None else NOT_POOR
    return np.where(low & deprived, POOR, np.where(low, NEAR_POOR, above))
