"""Administrative units as reference data, from the `vietnamadminunits` package (MIT).

Two unit versions exist: ``pre2025`` (63 provinces, districts, ~10,035 communes; reviews up to
2024) and ``2025`` (34 provinces, 3,321 communes, no districts; reviews from 2025 on). Most 2025
communes reuse the code of one old commune, so a commune code is only meaningful together with its
unit version: every table here carries ``unit_version`` and is keyed on it.

The package ships the unit lists in SQLite and the old-to-new mapping as JSON keyed by
accent-free names; this module turns both into code-keyed tables.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sqlite3
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa

PRE_2025 = "pre2025"
V2025 = "2025"
FIRST_REVIEW_YEAR_ON_2025_UNITS = 2025


def unit_version_for_year(review_year: int) -> str:
    """The unit version a review year is reported on (the reorganisation took effect 2025-07-01)."""
    return V2025 if review_year >= FIRST_REVIEW_YEAR_ON_2025_UNITS else PRE_2025


def _nfc(text: str | None) -> str | None:
    return unicodedata.normalize("NFC", text) if text is not None else None


def _package_data(name: str) -> Path:
    """A data file of the installed package, found without importing it: its ``__init__`` loads
    the address parsers' dictionaries (0.3-0.7 s of every run), which are not used here."""
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the vietnamadminunits package is not installed")
    return Path(spec.submodule_search_locations[0]) / "data" / name


@dataclass(frozen=True)
class AdminUnitTables:
    units: pa.Table
    mapping: pa.Table


@cache
def admin_unit_tables() -> AdminUnitTables:
    """Both unit lists in one table and the old-to-new commune mapping, as Arrow tables."""
    database = _package_data("dataset.db").as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(database, uri=True)) as sqlite:
        legacy = sqlite.execute(
            """
            select provinceCode, province, districtCode, district, wardCode, ward, wardType,
                   provinceKey, districtKey, wardKey
            from admin_units_legacy where wardCode is not null
            """
        ).fetchall()
        current = sqlite.execute(
            """
            select provinceCode, province, wardCode, ward, wardType, wardAreaKm2,
                   provinceKey, wardKey
            from admin_units where wardCode is not null
            """
        ).fetchall()

    columns: dict[str, list] = {
        name: []
        for name in (
            "unit_version",
            "province_code",
            "province_name",
            "district_code",
            "district_name",
            "commune_code",
            "commune_name",
            "commune_type",
            "area_km2",
        )
    }

    def add(version, province_code, province, district_code, district, code, name, kind, area):
        columns["unit_version"].append(version)
        columns["province_code"].append(province_code)
        columns["province_name"].append(_nfc(province))
        columns["district_code"].append(district_code)
        columns["district_name"].append(_nfc(district))
        columns["commune_code"].append(code)
        columns["commune_name"].append(_nfc(name))
        columns["commune_type"].append(_nfc(kind))
        columns["area_km2"].append(area)

    legacy_code_by_key: dict[str, str] = {}
    for pcode, province, dcode, district, code, name, kind, pkey, dkey, wkey in legacy:
        add(PRE_2025, pcode, province, dcode, district, code, name, kind, None)
        legacy_code_by_key[f"{pkey}_{dkey}_{wkey}"] = code
    current_code_by_key: dict[tuple[str, str], str] = {}
    for pcode, province, code, name, kind, area, pkey, wkey in current:
        add(V2025, pcode, province, None, None, code, name, kind, area)
        current_code_by_key[(pkey, wkey)] = code

    with _package_data("converter_2025.json").open(encoding="utf-8") as handle:
        converter = json.load(handle)

    mapping: dict[str, list] = {
        "old_commune_code": [],
        "new_commune_code": [],
        "is_split": [],
        "is_default_new_commune": [],
        "new_commune_area_km2": [],
    }
    for new_province_key, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_ward_key, old_keys in wards.items():
            new_code = current_code_by_key.get((new_province_key, new_ward_key))
            for old_key in old_keys:
                old_code = legacy_code_by_key.get(old_key)
                if new_code and old_code:
                    mapping["old_commune_code"].append(old_code)
                    mapping["new_commune_code"].append(new_code)
                    mapping["is_split"].append(False)
                    mapping["is_default_new_commune"].append(True)
                    mapping["new_commune_area_km2"].append(None)
    for new_province_key, old_wards in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        for old_key, targets in old_wards.items():
            old_code = legacy_code_by_key.get(old_key)
            for target in targets:
                new_code = current_code_by_key.get((new_province_key, target["newWardKey"]))
                if new_code and old_code:
                    mapping["old_commune_code"].append(old_code)
                    mapping["new_commune_code"].append(new_code)
                    mapping["is_split"].append(True)
                    mapping["is_default_new_commune"].append(bool(target["isDefaultNewWard"]))
                    mapping["new_commune_area_km2"].append(target.get("newWardAreaKm2"))

    return AdminUnitTables(
        units=pa.table(columns, schema=_UNITS_SCHEMA), mapping=pa.table(mapping, schema=_MAP_SCHEMA)
    )


_UNITS_SCHEMA = pa.schema(
    [
        ("unit_version", pa.string()),
        ("province_code", pa.string()),
        ("province_name", pa.string()),
        ("district_code", pa.string()),
        ("district_name", pa.string()),
        ("commune_code", pa.string()),
        ("commune_name", pa.string()),
        ("commune_type", pa.string()),
        ("area_km2", pa.float64()),
    ]
)
_MAP_SCHEMA = pa.schema(
    [
        ("old_commune_code", pa.string()),
        ("new_commune_code", pa.string()),
        ("is_split", pa.bool_()),
        ("is_default_new_commune", pa.bool_()),
        ("new_commune_area_km2", pa.float64()),
    ]
)


def load_admin_units(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """(Re)create ``reference.admin_units`` and ``reference.admin_unit_mapping``; return counts."""
    tables = admin_unit_tables()
    con.execute("create schema if not exists reference")
    units, mapping = tables.units, tables.mapping  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute("create or replace table reference.admin_units as select * from units")
    con.execute(
        "create or replace table reference.admin_unit_mapping as "
        "select distinct * from mapping order by old_commune_code, new_commune_code"
    )
    return {"admin_units": tables.units.num_rows, "admin_unit_mapping": mapping.num_rows}
