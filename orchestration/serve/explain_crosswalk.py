"""Say when a territory's harmonised figures rest on a suspect or corrected crosswalk link.

``poverty-warehouse explain --territory pre2025:30`` answers from the published file alone
(``crosswalk_links``, ``territory_year``). A pre-2025 territory is measured in the reviews on 2025
units through the links from its communes; a 2025 territory in the earlier reviews through the
links into its communes. Those links are listed when the crosswalk uses one that its checks find
suspect (far, name collision, cross-province) or when a correction added, removed or replaced one:
the figures of the other unit version rest on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.base.warehouse_connection import connect

_LINK_COLUMNS = (
    "old_commune_code",
    "old_commune_name",
    "old_district_name",
    "old_province_code",
    "new_commune_code",
    "new_commune_name",
    "new_province_code",
    "in_crosswalk",
    "correction_action",
    "correction_basis",
    "correction_source",
    "distance_km",
    "package_status",
    "package_reasons",
    "status",
    "reasons",
    "forward_weight",
    "backward_weight",
)


@dataclass
class CrosswalkExplanation:
    territory: str
    links_checked: int
    measured_years: list[int] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)

    @property
    def suspect(self) -> list[dict[str, Any]]:
        return [link for link in self.links if link["in_crosswalk"] and link["status"] == "suspect"]

    @property
    def corrected(self) -> list[dict[str, Any]]:
        return [link for link in self.links if link["correction_action"]]

    def to_text(self) -> str:
        years = ", ".join(str(year) for year in self.measured_years) or "none loaded"
        head = (
            f"crosswalk: territory {self.territory} is measured in the reviews of the other unit "
            f"version ({years}) through {self.links_checked} links of the crosswalk"
        )
        if not self.links:
            return head + "; none of them is suspect or corrected.\n"
        lines = [
            head + f"; {len(self.suspect)} suspect and {len(self.corrected)} corrected "
            "(its figures there rest on them):"
        ]
        for link in self.links:
            lines.append(
                f"  {link['old_commune_code']} {link['old_commune_name']} "
                f"({link['old_district_name']}, {link['old_province_code']}) → "
                f"{link['new_commune_code']} {link['new_commune_name']} "
                f"({link['new_province_code']}), {link['distance_km']} km: {_state(link)}"
            )
        return "\n".join(lines) + "\n"


def _state(link: dict[str, Any]) -> str:
    parts = []
    if link["in_crosswalk"]:
        weights = (
            f"forward {_share(link['forward_weight'])}, backward {_share(link['backward_weight'])}"
        )
        if link["status"] == "suspect":
            parts.append(f"SUSPECT ({link['reasons']}), used with weights {weights}")
        else:
            parts.append(f"ok, used with weights {weights}")
    else:
        parts.append(
            f"not used (the package lists it: {link['package_status']}, {link['package_reasons']})"
        )
    if link["correction_action"]:
        parts.append(
            f"corrected: {link['correction_action']} ({link['correction_basis']}: "
            f"{link['correction_source']})"
        )
    return "; ".join(parts)


def _share(value: Any) -> str:
    return "NULL" if value is None else f"{float(value):.4g}"


def explain_territory_crosswalk(published_path: Path, territory: str) -> CrosswalkExplanation:
    """The links a territory's figures of the other unit version rest on, when any is suspect
    or corrected. ``territory`` is ``pre2025:PP`` or ``2025:PP``."""
    version, _, province = territory.partition(":")
    if version not in ("pre2025", "2025") or not province:
        raise ValueError(f"territory {territory!r} is not of the form pre2025:02 or 2025:08")
    side = "old" if version == "pre2025" else "new"
    with connect(published_path, read_only=True) as con:
        tables = {
            row[0] for row in con.execute("select table_name from duckdb_tables()").fetchall()
        }
        if "crosswalk_links" not in tables:
            raise ValueError("the published file has no crosswalk_links: run a new build first")
        links_checked = con.execute(
            f"select count(*) from crosswalk_links where in_crosswalk and {side}_province_code = ?",
            [province],
        ).fetchone()[0]
        cursor = con.execute(
            f"select {', '.join(_LINK_COLUMNS)} from crosswalk_links "
            f"where {side}_province_code = ? "
            "and ((in_crosswalk and status = 'suspect') or correction_action is not null) "
            "order by old_commune_code, new_commune_code",
            [province],
        )
        links = [dict(zip(_LINK_COLUMNS, row, strict=True)) for row in cursor.fetchall()]
        measured = [
            row[0]
            for row in con.execute(
                "select review_year from territory_year "
                "where territory = ? and review_unit_version != territory_unit_version "
                "order by review_year",
                [territory],
            ).fetchall()
        ]
    return CrosswalkExplanation(territory, links_checked, measured, links)
