"""Synthetic annual poverty-review exports, shaped like the real ones (the input contract).

Why a generator and not a checked-in sample: real exports identify people and never go into git,
yet every stage of the pipeline must meet the problems real files have (title rows, lost leading
zeros, dotted incomes, re-sent files, bad rows) and real magnitudes (Hà Giang's ~31 % poor
against Tuyên Quang's far lower rate, a national rate near 4 % → 2 %). So this package writes a
complete ``data/raw/`` tree from a seed: same seed, scale and years, same bytes.

- ``standards``: the poverty standards of the dbt seeds, and a household's class under each;
- ``communes``: communes, their poverty paths, 2025 successors and resident totals;
- ``population``: the households, simulated across the review years;
- ``mess``: the defects a data office really sends, injected only when ``messy=True`` and
  recorded in ``SampleSummary.expected_mess`` (the manifest tests read);
- ``writers``: the CSV and XLSX files in each office's style, the reference files, re-sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.compute as pc

from orchestration.sample.communes import (
    DEMO_PROVINCES,
    DEMO_YEARS,
    SCALES,
    Scale,
    build_communes,
    reference_years,
)
from orchestration.sample.mess import BAD_ROW_KINDS, SampleSummary, structural_mess_years
from orchestration.sample.population import simulate_province
from orchestration.sample.standards import (
    CLASS_LABELS,
    NoStandardError,
    poverty_standards,
    standard_for_year,
)
from orchestration.sample.writers import (
    slugify,
    survey_files_for_year,
    write_corrected_resend,
    write_group_year,
    write_reference_files,
)

__all__ = [
    "CLASS_LABELS",
    "DEMO_PROVINCES",
    "DEMO_YEARS",
    "SCALES",
    "NoStandardError",
    "SampleSummary",
    "Scale",
    "generate_sample",
    "poverty_standards",
    "standard_for_year",
    "write_corrected_resend",
]


def generate_sample(
    raw_dir: Path,
    *,
    scale: str | Scale = "demo",
    seed: int = 2025,
    years: Sequence[int] | None = None,
    messy: bool = True,
) -> SampleSummary:
    """Write a synthetic ``data/raw`` tree (the input contract) and describe what was written.

    ``years`` defaults to the scale's (2021-2027 for ``demo``, 2021-2025 otherwise); every year
    must be covered by a poverty standard of the seeds, and each is classified under its own.
    ``raw_dir`` should be empty: files of an earlier run with other settings are not removed
    (this function never deletes anything it did not just write). Same seed, scale and years →
    same bytes.
    """
    scale = SCALES[scale] if isinstance(scale, str) else scale
    years = tuple(sorted(set(years if years is not None else scale.years)))
    for year in years:
        standard_for_year(year)  # a year no standard covers stops here, before any file
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    summary = SampleSummary(raw_dir=raw_dir, scale=scale.name, seed=seed, years=years,
                            messy=messy)  # fmt: skip
    summary.rows = {"survey": {}, "commune_totals": {}, "difficult_areas": {}}
    summary.expected_mess = {
        "bad_rows": [],
        "bad_files": [],
        "identical_resends": [],
        "hidden_sheets": [],
        "pii_header_variants": [],
        "formats": {
            "bom": [], "no_bom": [], "crlf": [], "xlsx": [], "xlsx_blank_rows": [],
            "dropped_zeros": [], "dotted_income": [], "header_variants": [],
            "reordered_columns": [], "mark_styles": {"x": [], "X": [], "1": []},
            "formulas_with_value": [],
        },
    }  # fmt: skip
    communes, new, orphan_share = build_communes(scale, years, seed)

    groups: dict[str, list[str]] = {}
    for code in sorted(set(communes.province)):
        first = np.flatnonzero(communes.province == code)[0]
        groups.setdefault(str(new.province[communes.new_index[first]]), []).append(code)
    mess_group = next((g for g, olds in groups.items() if "02" in olds), min(groups))
    kinds_by_year: dict[int, list[str]] = {y: [] for y in years}
    for i, kind in enumerate(BAD_ROW_KINDS):
        kinds_by_year[years[i % len(years)]].append(kind)
    if 2025 in kinds_by_year:
        kinds_by_year[2025].append("invalid_commune_code")
    missing_column_year = 2023 if 2023 in years else years[len(years) // 2]
    structural_year = structural_mess_years(years)
    codes_2025 = set(new.code.tolist())
    district_names = dict(zip(communes.district, communes.district_name, strict=True))
    assessed: dict[int, dict[str, int]] = {y: {} for y in years}
    assessed_minority: dict[int, dict[str, int]] = {y: {} for y in years}

    for group in sorted(groups):
        olds = groups[group]
        sims = {
            p: simulate_province(p, communes, new, years, seed, scale.full_export_year)
            for p in olds
        }
        province_name = new.province_name[int(np.flatnonzero(new.province == group)[0])]
        province_slug = slugify(province_name.replace("Thành phố ", "").replace("Tỉnh ", ""))
        old_code = next(
            (c for c in communes.code[np.isin(communes.province, olds)] if c not in codes_2025),
            None,
        )
        for y in years:
            if y >= 2025:
                relname = {
                    area: (f"{province_slug}_{group}_kv_{slugify(area) or 'khac'}.csv", area)
                    for area in set(new.file_area)
                }
            else:
                relname = {
                    d: (f"{slugify(name)}_{d}.csv", name) for d, name in district_names.items()
                }
            for p in olds:
                counts = pc.value_counts(sims[p][y].table.column("commune_code").combine_chunks())
                for item in counts.to_pylist():
                    code = item["values"]
                    assessed[y][code] = assessed[y].get(code, 0) + item["counts"]
                table = sims[p][y].table
                minority_rows = table.filter(pc.not_equal(table.column("ethnicity"), "Kinh"))
                counts = pc.value_counts(minority_rows.column("commune_code").combine_chunks())
                for item in counts.to_pylist():
                    code = item["values"]
                    assessed_minority[y][code] = assessed_minority[y].get(code, 0) + item["counts"]
            plans = survey_files_for_year([sims[p][y] for p in olds], y, relname)
            write_group_year(
                raw_dir, plans, y, seed, messy, group == mess_group, kinds_by_year[y],
                y == missing_column_year, old_code if y >= 2025 else None, summary,
                frozenset(kind for kind, year in structural_year.items() if year == y),
            )  # fmt: skip
        del sims

    references = reference_years(
        communes,
        new,
        orphan_share,
        years,
        seed,
        scale.household_fraction,
        assessed,
        assessed_minority,
    )
    write_reference_files(raw_dir, references, summary)
    mess = summary.expected_mess
    for y in years:
        skipped = sum(r["rows"] for r in mess["identical_resends"] if r["review_year"] == y)
        skipped += sum(f["rows"] for f in mess["bad_files"] if f["review_year"] == y)
        bad = len({(r["file"], r["row"]) for r in mess["bad_rows"] if r["review_year"] == y})
        summary.expected_loaded_rows[y] = summary.rows["survey"].get(y, 0) - skipped - bad
    summary.files.sort()
    return summary
