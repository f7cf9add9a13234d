"""Typing and quarantine rules, as DuckDB SQL over the staged text cells.

A staged row carries its cells as ``c0…cN`` (text, NULL when empty) and ``_line_problem``, the
reason a reader found in the line itself (``malformed_quoting``, ``missing_fields``,
``unexpected_extra_fields``, ``control_characters``, ``formula_without_value``,
``date_in_number_column``). ``typed_columns`` types each cell while the file is read (one
parallel pass); ``judge_sql`` then adds the verdicts that need the reference units or the whole
year (codes, duplicates) and lists every reason of a row in a fixed order. A line whose quoting
is broken has no trustworthy cells: it is quarantined with that one reason.

``raw_records_sql`` rebuilds a quarantined row's raw text with personal data masked: the name
column is dropped, the id column is its keyed hash, and every cell under an unrecognised or
missing header, and every cell that looks like an id number (9 to 12 digits), is replaced by its
keyed hash (``orchestration.base.pii``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from orchestration.base.headers import (
    DEPRIVATION_COLUMNS,
    FLAG_COLUMNS,
    ND351_OPTIONAL_COLUMNS,
    HeaderMatch,
)
from orchestration.base.pii import hmac_sql
from orchestration.ingest.registry import dataset as dataset_entry
from orchestration.ingest.registry import uses_health_access

# Whitespace a spreadsheet leaves around values, including the no-break space.
_WHITESPACE = "' \t\r\n' || chr(160) || chr(65279)"
# Text made only of these characters is already NFC, so nfc_normalize (utf8proc, ~3x the cost of
# this RE2 test) can be skipped: they are all starters (combining class 0) that never compose
# with a neighbour and are their own NFC, checked for every character and every pair of them
# against DuckDB's nfc_normalize. U+0000 is left out (DuckDB's NFC treats it specially). The
# range covers ASCII, Latin-1, Latin Extended-A/B and Latin Extended Additional, i.e. all of
# precomposed Vietnamese; anything else (decomposed accents included) is normalised as before.
_NFC_STABLE = r"'[\x{1}-\x{2ff}\x{1e00}-\x{1eff}]*'"
# Text that is NFC-stable (as above) and starts and ends with a visible character (not a control,
# a space or the no-break space) is already clean: trimming it changes nothing. One RE2 test
# recognises it; trimming a custom character set costs 3-4x that on every cell.
_STABLE_VISIBLE = r"[\x{21}-\x{9f}\x{a1}-\x{2ff}\x{1e00}-\x{1eff}]"
_ALREADY_CLEAN = (
    f"'{_STABLE_VISIBLE}([\\x{{1}}-\\x{{2ff}}\\x{{1e00}}-\\x{{1eff}}]*{_STABLE_VISIBLE})?'"
)
# The marks a cell may hold as written (SQL literals): "0", not deprived as an empty cell is, and
# the three that mark a deprivation or a flag.
_FALSE_MARK = "'0'"
_TRUE_MARKS = "'x', 'X', '1'"
_MACROS = [
    # Free text: NFC and every kind of surrounding whitespace removed.
    f"""create or replace temp macro _clean(x) as
        case when regexp_full_match(x, {_ALREADY_CLEAN}) then x else nullif(trim(
            case when regexp_full_match(x, {_NFC_STABLE}) then x else nfc_normalize(x) end,
            {_WHITESPACE}), '') end""",
    # Codes, numbers and marks: only spaces are trimmed, as NFC and the wider trim cost 5x more
    # on a million rows; a code padded with a tab or a no-break space is quarantined, visibly.
    "create or replace temp macro _trimmed(x) as nullif(trim(x), '')",
    # A line whose quoting is broken: its cells cannot be trusted, so it gets that reason alone.
    "create or replace temp macro _is_malformed(p) as coalesce(contains(p, 'malformed'), false)",
    # A code of up to n digits, left-padded (spreadsheets drop leading zeros); NULL if not digits.
    """create or replace temp macro _code(x, n) as
        case when regexp_full_match(x, '[0-9]{1,' || n || '}') then lpad(x, n, '0') end""",
    # A whole number, possibly with dots grouping thousands (1.500.000).
    """create or replace temp macro _count(x) as
        case when regexp_full_match(x, '[0-9]{1,3}(\\.[0-9]{3})+')
             then try_cast(replace(x, '.', '') as BIGINT)
             when regexp_full_match(x, '[0-9]{1,18}') then x::BIGINT end""",
    # An amount: as _count, or any other plain decimal number rounded to a whole đồng.
    """create or replace temp macro _amount(x) as
        case when regexp_full_match(x, '[0-9]{1,3}(\\.[0-9]{3})+')
             then try_cast(replace(x, '.', '') as BIGINT)
             when regexp_full_match(x, '[0-9]{1,18}(\\.[0-9]+)?')
             then try_cast(round(x::DOUBLE) as BIGINT) end""",
    # TRUE/FALSE for an accepted mark, NULL for anything else (an empty cell is FALSE).
    f"create or replace temp macro _mark(x) as case when x is null or x = {_FALSE_MARK} "
    f"then false when x in ({_TRUE_MARKS}) then true end",
]


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# A typed column's expression names the text cells it reads as @name (the reader's cell
# expressions, or NULL for a column the file lacks).
_CELL = re.compile(r"@(\w+)")


def typed_columns(dataset: str, review_year: int) -> list[tuple[str, str, str]]:
    """(name, type, expression) of the typed stage: the raw table's columns (typed as the
    registry says) and the row-local verdicts, ``_line_problem`` last."""
    types = dict(dataset_entry(dataset).columns)
    return [
        (name, types.get(name, kind), expression)
        for name, kind, expression in _typed_columns(dataset, review_year)
    ] + [("_line_problem", "VARCHAR", "@_line_problem")]


def _typed_columns(dataset: str, review_year: int) -> list[tuple[str, str, str]]:
    """(name, type, expression) of the typed stage; the checks that need joins or the whole year
    (reference codes, duplicates) are judged afterwards over these columns."""
    extra = ("_has_extra_fields", "BOOLEAN", "@_has_extra_fields")
    # The two per-commune datasets clean every cell; the survey only trims codes and numbers.
    commune = [
        ("_year_mismatch", "BOOLEAN", f"_clean(@review_year) is distinct from '{review_year}'"),
        ("commune_code", "VARCHAR", "_code(_clean(@commune_code), 5)"),
    ]
    if dataset == "commune_totals":
        return [
            *commune,
            ("total_households", "BIGINT", "_count(_clean(@total_households))"),
            ("total_population", "BIGINT", "_count(_clean(@total_population))"),
            (
                "total_ethnic_minority_households",
                "BIGINT",
                "_count(_clean(@total_ethnic_minority_households))",
            ),
            (
                "_ethnic_minority_given",
                "BOOLEAN",
                "_clean(@total_ethnic_minority_households) is not null",
            ),
            extra,
        ]
    if dataset == "difficult_areas":
        return [
            *commune,
            ("is_extremely_difficult", "BOOLEAN", "_mark(_clean(@extremely_difficult))"),
            (
                "difficult_villages",
                "INTEGER",
                "case when _clean(@difficult_villages) is null then 0 "
                "when regexp_full_match(_clean(@difficult_villages), '[0-9]{1,9}') "
                "then _clean(@difficult_villages)::INTEGER end",
            ),
            (
                "total_villages",
                "INTEGER",
                "case when regexp_full_match(_clean(@total_villages), '[0-9]{1,9}') "
                "then _clean(@total_villages)::INTEGER end",
            ),
            ("_total_villages_given", "BOOLEAN", "_clean(@total_villages) is not null"),
            extra,
        ]
    shortcut = {
        column: _exact_first(f"@{column}", spellings, rule)
        for column, (spellings, rule) in SHORTCUTS.items()
    }
    head_sex, reported = shortcut["head_sex"], shortcut["reported_class"]
    size = "_trimmed(@household_size)"
    # d_health_access is a mark of Decision 59/2015 only: NULL in the years of later standards.
    health_access = uses_health_access(review_year)
    marks = (*DEPRIVATION_COLUMNS, "d_health_access") if health_access else DEPRIVATION_COLUMNS
    return [
        ("_year_mismatch", "BOOLEAN", f"_trimmed(@review_year) is distinct from '{review_year}'"),
        ("province_code", "VARCHAR", _code_cell("@province_code", 2)),
        (
            "district_code",
            "VARCHAR",
            _code_cell("@district_code", 3) if review_year < 2025 else "NULL",
        ),
        ("_district_given", "BOOLEAN", "_trimmed(@district_code) is not null"),
        ("commune_code", "VARCHAR", _code_cell("@commune_code", 5)),
        ("commune_name", "VARCHAR", "_clean(@commune_name)"),
        ("village", "VARCHAR", "_clean(@village)"),
        ("household_code", "VARCHAR", "_clean(@household_code)"),
        ("head_id_hash", "VARCHAR", "@head_id_hash"),
        ("head_sex", "VARCHAR", head_sex),
        ("_bad_head_sex", "BOOLEAN", _unreadable("head_sex")),
        ("ethnicity", "VARCHAR", "_clean(@ethnicity)"),
        (
            "household_size",
            "INTEGER",
            f"case when regexp_full_match({size}, '[0-9]{{1,9}}') then {size}::INTEGER end",
        ),
        ("area_type", "VARCHAR", shortcut["area_type"]),
        (
            "income_per_capita",
            "BIGINT",
            # Plain digits, the common case, skip the trim and the thousands-separator test.
            "case when regexp_full_match(@income_per_capita, '[0-9]{1,18}') "
            "then @income_per_capita::BIGINT else _amount(_trimmed(@income_per_capita)) end",
        ),
        *((name, "BOOLEAN", f"_mark(_trimmed(@{name}))") for name in DEPRIVATION_COLUMNS),
        (
            "d_health_access",
            "BOOLEAN",
            "_mark(_trimmed(@d_health_access))" if health_access else "NULL",
        ),
        # Optional marks (Decree 351/2025): NULL where the file has no such column, so that an
        # absent column is never read as "not deprived".
        *(
            (name, "BOOLEAN", f"case when @{name}__present then _mark(_trimmed(@{name})) end")
            for name in ND351_OPTIONAL_COLUMNS
        ),
        ("_bad_marks", "BOOLEAN", _bad_marks((*marks, *ND351_OPTIONAL_COLUMNS))),
        *((f"is_{name}", "BOOLEAN", f"_mark(_trimmed(@{name}))") for name in FLAG_COLUMNS),
        ("_bad_flags", "BOOLEAN", _bad_marks(FLAG_COLUMNS)),
        ("reported_class", "VARCHAR", reported),
        ("_bad_reported_class", "BOOLEAN", _unreadable("reported_class")),
        extra,
    ]


# The spellings an export writes for the common values of three columns, each with the value
# the column's general rule (trim, NFC, lower case) gives it, and that rule; ``_exact_first``
# tests these whole cells before the rule.
SHORTCUTS = {
    "head_sex": (
        {"Nam": "male", "Nữ": "female"},
        "case lower(_clean(@head_sex)) when 'nam' then 'male' when 'nữ' then 'female' end",
    ),
    "reported_class": (
        {
            "Hộ nghèo": "poor",
            "Hộ cận nghèo": "near_poor",
            "Hộ có mức sống trung bình": "middle",
            "Hộ không nghèo": "not_poor",
        },
        "case regexp_replace(lower(_clean(@reported_class)), '^hộ\\s+', '') "
        "when 'nghèo' then 'poor' when 'cận nghèo' then 'near_poor' "
        "when 'có mức sống trung bình' then 'middle' when 'không nghèo' then 'not_poor' end",
    ),
    "area_type": (
        {"Nông thôn": "rural", "Thành thị": "urban"},
        "case lower(_clean(@area_type)) when 'nông thôn' then 'rural' "
        "when 'thành thị' then 'urban' when 'đô thị' then 'urban' end",
    ),
}


def _exact_first(cell: str, spellings: dict[str, str], general: str) -> str:
    """``general`` with a shortcut: a cell that is exactly one of the common ``spellings`` gets
    its value without being trimmed, normalised and lower-cased, the costly part of typing a
    row (the general rule gives the same value, as a test checks)."""
    whens = " ".join(f"when {_sql_text(text)} then {_sql_text(v)}" for text, v in spellings.items())
    return f"case {cell} {whens} else {general} end"


def _unreadable(column: str) -> str:
    """A cell of a ``SHORTCUTS`` column that is given but that its general rule cannot read; a
    cell that is exactly one of the common spellings is readable without evaluating the rule."""
    spellings, rule = SHORTCUTS[column]
    common = ", ".join(_sql_text(text) for text in spellings)
    return (
        f"case when @{column} in ({common}) then false "
        f"else ({rule}) is null and _clean(@{column}) is not null end"
    )


def _code_cell(cell: str, digits: int) -> str:
    """``_code(_trimmed(cell), digits)``, with a shortcut: a cell of exactly ``digits`` digits
    (nearly every cell of a code column) is its own code, without the trim and the padding."""
    return (
        f"case when regexp_full_match({cell}, '[0-9]{{{digits}}}') then {cell} "
        f"else _code(_trimmed({cell}), {digits}) end"
    )


def _bad_marks(names: tuple[str, ...] | list[str]) -> str:
    """A cell that is neither empty nor an accepted mark, in any of the named columns.

    A row whose named cells are all empty or written exactly as an accepted mark (nearly every
    row) is decided by one comparison per cell; only the others are trimmed and tested by
    ``_mark`` cell by cell, the general rule (four to five times the cost on a national year).
    """
    accepted = f"({_FALSE_MARK}, {_TRUE_MARKS})"
    exact = " and ".join(f"(@{n} is null or @{n} in {accepted})" for n in names)
    general = " or ".join(
        f"(_mark(_trimmed(@{n})) is null and _trimmed(@{n}) is not null)" for n in names
    )
    return f"case when {exact} then false else {general} end"


def _judge_survey_sql(review_year: int) -> str:
    """``_bad``: the survey rows with at least one reason, judged over the typed stage.

    Row-local verdicts were typed while the file was read (``_typed_columns``); this adds the
    ones that need the reference units or the whole year (duplicates), and lists every reason
    in a fixed order.
    """
    if review_year < 2025:
        # A district must exist in the row's province, or anywhere when the province is wrong
        # (that row is flagged for its province; the district is judged on its own).
        district_bad = """district_code is null
            or (province_ok and not district_in_province)
            or (not province_ok and not district_any)"""
        commune_district_bad = "or (not district_bad and unit_district_code <> district_code)"
    else:
        district_bad = "_district_given"
        commune_district_bad = ""
    return f"""
    create or replace temp table _bad as
    with units as (
        select province_code, district_code, commune_code
        from reference.admin_units where unit_version = $unit_version
    ),
    provinces as (select distinct province_code from units),
    districts as (
        select distinct province_code, district_code from units where district_code is not null
    ),
    district_codes as (select distinct district_code from districts),
    -- An aggregate, not a window: a window would carry every column of every row through it.
    duplicates as (
        select household_code from _rows
        where household_code is not null and not _is_malformed(_line_problem)
        group by all having count(*) > 1
    ),
    joined as (
        select
            t._file_index, t.source_sheet, t.source_row, t._year_mismatch, t.province_code,
            t.district_code, t._district_given, t.commune_code, t.household_code,
            t.household_size, t.income_per_capita, t._bad_marks, t._bad_flags, t.area_type,
            t._bad_head_sex, t._bad_reported_class, t._has_extra_fields, t._line_problem,
            p.province_code is not null as province_ok,
            d.district_code is not null as district_in_province,
            dc.district_code is not null as district_any,
            u.commune_code is not null as commune_exists,
            u.province_code as unit_province_code,
            u.district_code as unit_district_code,
            dup.household_code is not null as is_duplicate
        from _rows t
        left join provinces p on p.province_code = t.province_code
        left join districts d
            on d.province_code = t.province_code and d.district_code = t.district_code
        left join district_codes dc on dc.district_code = t.district_code
        left join units u on u.commune_code = t.commune_code
        left join duplicates dup on dup.household_code = t.household_code
    ),
    judged as (
        select *, coalesce({district_bad}, true) as district_bad from joined
    ),
    reasoned as (
        select
            _file_index, source_sheet, source_row,
            case when _is_malformed(_line_problem) then _line_problem else concat_ws(',',
                nullif(_line_problem, ''),
                case when _year_mismatch then 'year_mismatch' end,
                case when province_code is null or not province_ok
                     then 'invalid_province_code' end,
                case when district_bad then 'invalid_district_code' end,
                case when commune_code is null or not commune_exists
                          or (province_ok and unit_province_code <> province_code)
                          {commune_district_bad}
                     then 'invalid_commune_code' end,
                case when household_code is null then 'missing_household_code' end,
                case when is_duplicate then 'duplicate_household' end,
                case when household_size is null or household_size < 1
                     then 'invalid_household_size' end,
                case when income_per_capita is null then 'invalid_income' end,
                case when _bad_marks then 'invalid_deprivation_mark' end,
                case when _bad_flags then 'invalid_flag_mark' end,
                case when area_type is null then 'invalid_area_type' end,
                case when _bad_head_sex then 'invalid_head_sex' end,
                case when _bad_reported_class then 'invalid_reported_class' end,
                case when _has_extra_fields
                          and not contains(coalesce(_line_problem, ''), 'unexpected_extra_fields')
                     then 'unexpected_extra_fields' end
            ) end as reasons
        from judged
    )
    select * from reasoned where reasons <> ''
    """


def _judge_commune_sql(reasons: str) -> str:
    """``_bad`` for the two per-commune datasets: ``reasons`` adds to the shared commune checks."""
    return f"""
    create or replace temp table _bad as
    with judged as (
        select
            t.*,
            exists (select 1 from reference.admin_units u where u.unit_version = $unit_version
                    and u.commune_code = t.commune_code) as commune_exists,
            count(*) over (partition by t.commune_code) as commune_rows
        from _rows t
    ),
    reasoned as (
        select
            _file_index, source_sheet, source_row,
            case when _is_malformed(_line_problem) then _line_problem else concat_ws(',',
                nullif(_line_problem, ''),
                case when _year_mismatch then 'year_mismatch' end,
                case when commune_code is null or not commune_exists
                     then 'invalid_commune_code' end,
                case when commune_code is not null and commune_rows > 1
                     then 'duplicate_commune' end,
                {reasons},
                case when _has_extra_fields
                          and not contains(coalesce(_line_problem, ''), 'unexpected_extra_fields')
                     then 'unexpected_extra_fields' end
            ) end as reasons
        from judged
    )
    select * from reasoned where reasons <> ''
    """


def _judge_commune_totals_sql(review_year: int) -> str:
    return _judge_commune_sql(
        """case when coalesce(total_households, 0) < 1 then 'invalid_total_households' end,
        case when coalesce(total_population, 0) < 1 then 'invalid_total_population' end,
        case when (_ethnic_minority_given and total_ethnic_minority_households is null)
                  or total_ethnic_minority_households > total_households
             then 'invalid_ethnic_minority_households' end"""
    )


def _judge_difficult_areas_sql(review_year: int) -> str:
    return _judge_commune_sql(
        """case when is_extremely_difficult is null then 'invalid_flag_mark' end,
        case when difficult_villages is null
                  or (_total_villages_given and total_villages is null)
                  or difficult_villages > total_villages
             then 'invalid_village_count' end"""
    )


JUDGE_SQL = {
    "survey": _judge_survey_sql,
    "commune_totals": _judge_commune_totals_sql,
    "difficult_areas": _judge_difficult_areas_sql,
}


class RecordLayout(NamedTuple):
    """How a quarantined row of a file's layout becomes its masked record (``raw_records_sql``):
    the JSON object of the header's cells, picked from the row's lists of cell treatments; the
    header's width (every cell beyond it is hashed); the 1-based positions of the recognised
    columns kept as typed, and of the cells under an unrecognised or empty header, hashed."""

    header: str
    width: int
    keep_at: tuple[int, ...]
    hash_at: tuple[int, ...]


def raw_record_layout(match: HeaderMatch) -> RecordLayout:
    """A file's header as its quarantined rows' records read it.

    A recognised column keeps its text unless it looks like an id number; the id column is its
    hash (``head_id_hash``); the name column is left out; a cell under an unrecognised or empty
    header is its hash, and so is every cell beyond the header (a long row), listed under
    ``(no header)``.
    """
    width = len(match.originals)
    loaded = {position: name for name, position in match.positions.items()}
    pairs, keep_at, hash_at = [], [], []
    for position in range(width):
        name = loaded.get(position)
        label = match.originals[position] or f"(no header, column {position + 1})"
        if name == "head_name":
            continue
        if name == "head_id_number":
            value = "s.head_id_hash"
        elif name is not None:
            keep_at.append(position + 1)
            value = f"s._kept_cells[{position + 1}]"
        else:
            hash_at.append(position + 1)
            value = f"s._hashed_cells[{position + 1}]"
        pairs.append(f"{_sql_text(label)}, {value}")
    header = f"json_object({', '.join(pairs)})" if pairs else "json_object()"
    return RecordLayout(header, width, tuple(keep_at), tuple(hash_at))


def raw_records_sql(rows: str, layouts: dict[RecordLayout, list[int]], max_cell_chars: int) -> str:
    """The query ``rows`` (``_file_index``, ``_cells`` and ``head_id_hash`` among its columns),
    with the row's masked ``raw_record`` added (and working columns named ``_...``): the JSON of
    the file's header → cell text (``raw_record_layout``, by the layout of the file
    ``_file_index``), with the cells beyond the header under ``(no header)``. A cell longer than
    ``max_cell_chars`` (its row is ``cell_too_long``) keeps only its beginning and its length,
    so that the quarantine never stores what the limit refused.

    Each cell's treatments are computed once per row, in two lists, only where its layout uses
    them, and each layout's record only picks from the lists: the statement stays small however
    many and wide the layouts are, so DuckDB plans it quickly (``docs/performance.md``).
    """

    def by_layout(value: Callable[[RecordLayout], object]) -> str:
        branches = " ".join(
            f"when _file_index in ({', '.join(map(str, files))}) then {value(layout)}"
            for layout, files in layouts.items()
        )
        return f"case {branches} end"

    cell = "nullif(x, '')"
    kept = (
        f"case when length({cell}) > {max_cell_chars} then left({cell}, 200) || "
        f"'… (' || length({cell}) || ' characters)' else {_masked(cell)} end"
    )
    return f"""
        select *,
               coalesce(json_merge_patch(_header, json_object('(no header)', _beyond)), _header)
                   as raw_record
        from (
            select *,
                   {by_layout(lambda layout: layout.header)} as _header,
                   case when len(s._cells) > s._width then s._hashed_cells[s._width + 1:] end
                       as _beyond
            from (
                select *,
                       list_transform(_cells, lambda x, i: case when list_contains(_keep_at, i)
                           then {kept} end) as _kept_cells,
                       list_transform(_cells, lambda x, i: case when i > _width
                           or list_contains(_hash_at, i) then {_hashed(cell)} end) as _hashed_cells
                from (
                    select *,
                           {by_layout(lambda layout: layout.width)} as _width,
                           {by_layout(lambda layout: _int_list(layout.keep_at))} as _keep_at,
                           {by_layout(lambda layout: _int_list(layout.hash_at))} as _hash_at
                    from ({rows})
                )
            ) s
        ) s
    """


def _int_list(values: tuple[int, ...]) -> str:
    return f"[{', '.join(map(str, values))}]::INTEGER[]"


def _hashed(cell: str) -> str:
    """The keyed hash of a non-empty cell (NULL for an empty one)."""
    return f"case when nullif(trim({cell}), '') is not null then {hmac_sql(f'trim({cell})')} end"


def _masked(cell: str) -> str:
    """A cell as typed, or its keyed hash when it looks like an id number (9 to 12 digits)."""
    return (
        f"case when regexp_full_match({cell}, '\\s*[0-9]{{9,12}}\\s*') "
        f"then {hmac_sql(f'trim({cell})')} else {cell} end"
    )
