"""What the survey quarantine guarantees of every loaded row, keyed by the ingest's reason code.

The ingest quarantines a survey row for each reason of ``ingest.rules._judge_survey_sql``; a row
it loads therefore satisfies that reason's postcondition. The quality gate re-checks each
postcondition on the staged households after dbt (``gate.validation.load_suites`` turns every
entry into a critical expectation named ``ingest_rule_<reason>``), so a loader or staging bug
that lets such a row through blocks the publish. The list sits in the base because both stages
read it: the ingest's promise, the gate's check. The rule has one owner: the ingest and this
list, which names the reason it re-checks; ``expectations/staged_households.json`` keeps only the
value rules the ingest does not apply (plausible ranges) and the classification's own checks.

``NO_POSTCONDITION`` names the survey reasons that leave nothing to re-check on a loaded row, and
why. ``tests/test_quality_gate.py`` checks that every reason the ingest gives is in exactly one of
the two and is documented in ``docs/architecture.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Postcondition:
    reason: str
    column: str
    description: str
    violations: str
    """SQL over ``{batch}`` (the staged households): the rows that break it, key columns first."""


_KEYS = "review_year, household_code"

SURVEY_POSTCONDITIONS: tuple[Postcondition, ...] = (
    Postcondition(
        "invalid_province_code",
        "province_code",
        "every loaded household has a 2-digit province code (leading zeros kept)",
        f"select {_KEYS}, province_code from {{batch}} "
        "where not coalesce(province_code glob '[0-9][0-9]', false)",
    ),
    Postcondition(
        "invalid_district_code",
        "district_code",
        "district code is 3 digits before 2025 and NULL from 2025 (no districts)",
        f"select {_KEYS}, district_code from {{batch}} "
        "where (unit_version = 'pre2025' "
        "and not coalesce(district_code glob '[0-9][0-9][0-9]', false)) "
        "or (unit_version = '2025' and district_code is not null)",
    ),
    Postcondition(
        "invalid_commune_code",
        "commune_code",
        "every (unit_version, commune_code) exists in reference.admin_units",
        "select h.review_year, h.household_code, h.unit_version, h.commune_code "
        "from {batch} as h "
        "anti join reference.admin_units as u "
        "on u.unit_version = h.unit_version and u.commune_code = h.commune_code",
    ),
    Postcondition(
        "missing_household_code",
        "household_code",
        "every loaded household has a household code",
        f"select {_KEYS} from {{batch}} where household_code is null",
    ),
    Postcondition(
        "duplicate_household",
        "review_year, household_code",
        "one row per (review_year, household_code)",
        "select review_year, household_code, count(*) as rows_for_household "
        "from {batch} group by review_year, household_code having count(*) > 1",
    ),
    Postcondition(
        "invalid_household_size",
        "household_size",
        "household size is a whole number of at least 1",
        f"select {_KEYS}, household_size from {{batch}} "
        "where household_size is null or household_size < 1",
    ),
    Postcondition(
        "invalid_income",
        "income_per_capita",
        "income per capita is a number of đồng, present and not negative",
        f"select {_KEYS}, income_per_capita from {{batch}} "
        "where income_per_capita is null or income_per_capita < 0",
    ),
    Postcondition(
        "invalid_area_type",
        "area_type",
        "area type is rural or urban",
        f"select {_KEYS}, area_type from {{batch}} "
        "where area_type is null or area_type not in ('rural', 'urban')",
    ),
    Postcondition(
        "invalid_head_sex",
        "head_sex",
        "head sex is male, female or empty",
        f"select {_KEYS}, head_sex from {{batch}} where head_sex not in ('male', 'female')",
    ),
    Postcondition(
        "invalid_reported_class",
        "reported_class",
        "the reported class is one of the four classes, or empty",
        f"select {_KEYS}, reported_class from {{batch}} "
        "where reported_class not in ('poor', 'near_poor', 'middle', 'not_poor')",
    ),
)

NO_POSTCONDITION: dict[str, str] = {
    "year_mismatch": "the row's year cell is not loaded: review_year comes from the folder",
    "unexpected_extra_fields": "cells beyond the header are not loaded",
    "invalid_flag_mark": "a flag loads as TRUE or FALSE: its column type is the guarantee",
    "invalid_deprivation_mark": (
        "a mark loads as TRUE or FALSE; the marks a household's standard needs are checked on "
        "the classification (deprivation_marks_present)"
    ),
}
