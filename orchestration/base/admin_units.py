"""Administrative units as reference data, from the `vietnamadminunits` package (MIT).

Two unit versions exist: ``pre2025`` (63 provinces, districts, ~10,035 communes; reviews up to
2024) and ``2025`` (34 provinces, 3,321 communes, no districts; reviews from 2025 on). Most 2025
communes reuse the code of one old commune, so a commune code is only meaningful together with its
unit version: every table here carries ``unit_version`` and is keyed on it.

The package ships the unit lists in SQLite and the old-to-new mapping as JSON keyed by
accent-free names; this module turns both into code-keyed tables. Each commune keeps the
package's centroid (``wardLat``/``wardLon``) and its accent-free name key (``wardKey``): the
crosswalk's checks (dbt model ``int_crosswalk_links_checked``) measure every old-to-new link with
them, because the mapping, keyed by names, joins some communes to a namesake's successors.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib.util
import json
import math
import os
import sqlite3
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.feather as feather

from orchestration.base.settings import REFERENCE_CACHE_DIR

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
    return cached_admin_unit_tables(REFERENCE_CACHE_DIR)


def source_fingerprint() -> str:
    """What the tables are made from: the package's two data files and this module's code."""
    digest = hashlib.sha256()
    for path in (_package_data("dataset.db"), _package_data("converter_2025.json"), Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cached_admin_unit_tables(cache_dir: Path) -> AdminUnitTables:
    """The tables as kept in ``cache_dir`` for their :func:`source_fingerprint`, made and kept
    there when missing or unreadable.

    Making them reads the package's SQLite file and JSON mapping row by row in Python (0.25-0.3 s
    of every run's first step); reading them back takes a few milliseconds. A cache that cannot be
    read is made again; one that cannot be written is skipped (the tables are still returned).
    """
    key = source_fingerprint()
    units_path = cache_dir / f"admin-units-{key}.arrow"
    mapping_path = cache_dir / f"admin-unit-mapping-{key}.arrow"
    try:
        units, mapping = feather.read_table(units_path), feather.read_table(mapping_path)
        if units.schema.equals(_UNITS_SCHEMA) and mapping.schema.equals(_MAP_SCHEMA):
            return AdminUnitTables(units=units, mapping=mapping)
    except (OSError, pa.ArrowInvalid):
        pass
    tables = _build_admin_unit_tables()
    with contextlib.suppress(OSError):
        cache_dir.mkdir(parents=True, exist_ok=True)
        for path, table in ((units_path, tables.units), (mapping_path, tables.mapping)):
            # Written whole under another name, then renamed: a run or test worker reading
            # meanwhile finds the whole file or none.
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            feather.write_feather(table, partial, compression="uncompressed")
            os.replace(partial, path)
        for stale in cache_dir.glob("admin-unit*.arrow"):
            if stale not in (units_path, mapping_path):
                stale.unlink(missing_ok=True)
    return tables


def _build_admin_unit_tables() -> AdminUnitTables:
    """The tables made from the package's files."""
    database = _package_data("dataset.db").as_uri() + "?mode=ro"
    with contextlib.closing(sqlite3.connect(database, uri=True)) as sqlite:
        legacy = sqlite.execute(
            """
            select provinceCode, province, districtCode, district, wardCode, ward, wardType,
                   provinceKey, districtKey, wardKey, wardLat, wardLon
            from admin_units_legacy where wardCode is not null
            """
        ).fetchall()
        current = sqlite.execute(
            """
            select provinceCode, province, wardCode, ward, wardType, wardAreaKm2,
                   provinceKey, wardKey, wardLat, wardLon
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
            "name_key",
            "latitude",
            "longitude",
        )
    }

    def add(version, province_code, province, district_code, district, code, name, kind, *rest):
        columns["unit_version"].append(version)
        columns["province_code"].append(province_code)
        columns["province_name"].append(_nfc(province))
        columns["district_code"].append(district_code)
        columns["district_name"].append(_nfc(district))
        columns["commune_code"].append(code)
        columns["commune_name"].append(_nfc(name))
        columns["commune_type"].append(_nfc(kind))
        for column, value in zip(
            ("area_km2", "name_key", "latitude", "longitude"), rest, strict=True
        ):
            columns[column].append(value)

    legacy_code_by_key: dict[str, str] = {}
    for pcode, province, dcode, district, code, name, kind, pkey, dkey, wkey, lat, lon in legacy:
        add(PRE_2025, pcode, province, dcode, district, code, name, kind, None, wkey, lat, lon)
        legacy_code_by_key[f"{pkey}_{dkey}_{wkey}"] = code
    current_code_by_key: dict[tuple[str, str], str] = {}
    for pcode, province, code, name, kind, area, pkey, wkey, lat, lon in current:
        add(V2025, pcode, province, None, None, code, name, kind, area, wkey, lat, lon)
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
        ("name_key", pa.string()),
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
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


FAR_LINK_KM = 15.0
"""A link whose two centroids lie further apart than this (and whose old commune lies this far
from every other predecessor of the 2025 commune) is ``far``. The same number is the dbt var
``crosswalk_far_link_km``; docs/rules.md gives the distribution it was chosen from."""


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, Earth radius 6,371 km), as the dbt model computes it."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_chord = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(half_chord))


@dataclass(frozen=True)
class CoordinateCorrection:
    old_commune_code: str
    new_commune_code: str
    distance_km: float
    nearest_namesake_code: str
    nearest_namesake_km: float


def coordinate_corrections(far_km: float = FAR_LINK_KM) -> list[CoordinateCorrection]:
    """The ``remove`` rows the package's own coordinates justify, for the seed
    ``crosswalk_corrections`` (rows of basis ``coordinates``).

    A name collision is two old communes with one name key, in different districts, that the
    package lists as divided into a common 2025 commune. Each common successor stays with the
    namesake within ``far_km`` of it when every other namesake lies further than ``far_km``; the
    others' links to it are removed. A group is left as it is (its links stay suspect) when a
    successor has no such single nearest namesake or a namesake would be left without any.
    """
    tables = admin_unit_tables()
    units = tables.units.to_pylist()
    old = {u["commune_code"]: u for u in units if u["unit_version"] == PRE_2025}
    new = {u["commune_code"]: u for u in units if u["unit_version"] == V2025}
    successors: dict[str, set[str]] = {}
    for link in tables.mapping.to_pylist():
        if link["is_split"]:
            successors.setdefault(link["old_commune_code"], set()).add(link["new_commune_code"])
    by_key: dict[str, list[str]] = {}
    for code in sorted(successors):
        by_key.setdefault(old[code]["name_key"], []).append(code)

    def km(old_code: str, new_code: str) -> float:
        o, n = old[old_code], new[new_code]
        return _distance_km(o["latitude"], o["longitude"], n["latitude"], n["longitude"])

    corrections: list[CoordinateCorrection] = []
    for namesakes in by_key.values():
        shared = {
            target
            for a in namesakes
            for b in namesakes
            if a < b and old[a]["district_code"] != old[b]["district_code"]
            for target in successors[a] & successors[b]
        }
        if not shared:
            continue
        removals: list[CoordinateCorrection] = []
        resolved = True
        for target in sorted(shared):
            listing = sorted(
                (km(code, target), code) for code in namesakes if target in successors[code]
            )
            (nearest_km, nearest), others = listing[0], listing[1:]
            if nearest_km > far_km or any(other_km <= far_km for other_km, _ in others):
                resolved = False
                break
            removals += [
                CoordinateCorrection(code, target, round(d, 1), nearest, round(nearest_km, 1))
                for d, code in others
            ]
        removed = {(r.old_commune_code, r.new_commune_code) for r in removals}
        if resolved and all(
            any((code, target) not in removed for target in successors[code]) for code in namesakes
        ):
            corrections += removals
    return sorted(corrections, key=lambda c: (c.old_commune_code, c.new_commune_code))


def corrected_mapping(corrections_csv: Path) -> pa.Table:
    """The package's mapping after a corrections file in the seed's format (old_commune_code,
    new_commune_code, action ``remove``/``add``/``replace``), as the dbt model
    ``int_crosswalk_links_checked`` applies it: for the synthetic sample, whose households must
    live where the warehouse's crosswalk puts them. ``is_split`` is recounted; an old commune whose
    default successor was removed takes its first remaining one (by code) as default."""
    with corrections_csv.open(encoding="utf-8", newline="") as handle:
        corrections = list(csv.DictReader(handle))
    action = {(r["old_commune_code"], r["new_commune_code"]): r["action"] for r in corrections}
    replaced = {r["old_commune_code"] for r in corrections if r["action"] == "replace"}
    links: dict[tuple[str, str], dict] = {}
    for link in admin_unit_tables().mapping.to_pylist():
        key = (link["old_commune_code"], link["new_commune_code"])
        kept = action.get(key) in ("add", "replace") or (
            action.get(key) != "remove" and key[0] not in replaced
        )
        if kept:
            links[key] = link
    for (old, new), kind in action.items():
        if kind in ("add", "replace") and (old, new) not in links:
            links[(old, new)] = {
                "old_commune_code": old,
                "new_commune_code": new,
                "is_split": True,
                "is_default_new_commune": False,
                "new_commune_area_km2": None,
            }
    by_old: dict[str, list[dict]] = {}
    for key in sorted(links):
        by_old.setdefault(key[0], []).append(links[key])
    rows = []
    for successors in by_old.values():
        has_default = any(link["is_default_new_commune"] for link in successors)
        for position, link in enumerate(successors):
            rows.append(
                link
                | {
                    "is_split": len(successors) > 1,
                    "is_default_new_commune": link["is_default_new_commune"]
                    or (not has_default and position == 0),
                }
            )
    return pa.Table.from_pylist(rows, schema=_MAP_SCHEMA)
