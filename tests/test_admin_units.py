"""The reference units made from the unit package, kept between runs and read back.

Making the tables reads the package's SQLite file and JSON mapping row by row; every run's first
step needs them, so they are kept in ``.cache/reference`` under a fingerprint of what they are
made from (``orchestration.base.admin_units.cached_admin_unit_tables``).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.feather as feather


def test_the_reference_units_read_back_from_their_cache_are_the_ones_made(tmp_path, monkeypatch):
    """The first run makes the tables from the package and keeps them; a later one reads them
    back (without making them) and gets the same tables."""
    from orchestration.base import admin_units

    made = admin_units._build_admin_unit_tables()
    first = admin_units.cached_admin_unit_tables(tmp_path)
    assert first.units.equals(made.units) and first.mapping.equals(made.mapping)
    key = admin_units.source_fingerprint()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"admin-unit-mapping-{key}.arrow",
        f"admin-units-{key}.arrow",
    ]

    def not_again() -> None:
        raise AssertionError("the tables were made again")

    monkeypatch.setattr(admin_units, "_build_admin_unit_tables", not_again)
    again = admin_units.cached_admin_unit_tables(tmp_path)
    assert again.units.equals(made.units) and again.mapping.equals(made.mapping)


def test_a_damaged_stale_or_unwritable_reference_cache_only_costs_the_making(tmp_path):
    """A cache file that cannot be read is made again and rewritten, one of another fingerprint
    goes, and a cache folder that cannot be made still gives the tables."""
    from orchestration.base import admin_units

    made = admin_units._build_admin_unit_tables()
    key = admin_units.source_fingerprint()
    units_file = tmp_path / f"admin-units-{key}.arrow"
    units_file.write_bytes(b"not an Arrow file")
    stale = tmp_path / "admin-units-0000000000000000.arrow"
    stale.write_bytes(b"an older package's")
    tables = admin_units.cached_admin_unit_tables(tmp_path)
    assert tables.units.equals(made.units) and tables.mapping.equals(made.mapping)
    assert not stale.exists()
    assert feather.read_table(units_file).equals(made.units)

    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    tables = admin_units.cached_admin_unit_tables(blocked / "reference")
    assert tables.units.equals(made.units) and tables.mapping.equals(made.mapping)


def test_the_reference_cache_key_follows_the_package_files_and_the_code(tmp_path, monkeypatch):
    """Another version of either data file of the package, or of the code making the tables,
    is another key: a cache never outlives what it was made from."""
    from orchestration.base import admin_units

    key = admin_units.source_fingerprint()
    copies = {}
    for name in ("dataset.db", "converter_2025.json"):
        copies[name] = tmp_path / name
        copies[name].write_bytes(admin_units._package_data(name).read_bytes())
    monkeypatch.setattr(admin_units, "_package_data", lambda name: copies[name])
    assert admin_units.source_fingerprint() == key
    for name in ("dataset.db", "converter_2025.json"):
        original = copies[name].read_bytes()
        copies[name].write_bytes(original + b" ")
        assert admin_units.source_fingerprint() != key, name
        copies[name].write_bytes(original)
    code = tmp_path / "admin_units.py"
    code.write_text(Path(admin_units.__file__).read_text(encoding="utf-8") + "\n")
    monkeypatch.setattr(admin_units, "__file__", str(code))
    assert admin_units.source_fingerprint() != key
