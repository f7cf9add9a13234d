"""Communes of the sample: their sizes, poverty paths, villages, extremely difficult status,
their 2025 successors, and each year's resident totals (the ``commune_totals`` denominators).

Every commune gets a resident household count and a poor rate for 2022 from its province's
level (``PROVINCES``, rough published-like figures) and its type (wards far below remote
communes). Rates fall each year, faster in proportion where poverty is already low, which is how
the national rate drops much faster than Hà Giang's. The rates are those of the income scale
(Decree 07's lines); each review year's own standard then classifies (see ``standards``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import duckdb
import numpy as np
import pyarrow as pa

from orchestration.base.admin_units import admin_unit_tables, corrected_mapping
from orchestration.base.settings import DBT_PROJECT_DIR
from orchestration.sample.parameters import (
    ABSENT_SHARE,
    DBKK_2021,
    DBKK_HOUSEHOLD_SHARE_2025_ON,
    DBKK_KEPT,
    DIFFICULT_VILLAGES_KEPT,
    HOUSEHOLD_CALIBRATION,
    HOUSEHOLD_GROWTH,
    INCOME_SIGMA,
    ISLAND_HOUSEHOLDS_2025,
    MOUNTAIN_REGIONS,
    MOUNTAIN_VILLAGES,
    PROVINCES,
    RHO,
    SCREENED_CEILING,
)
from orchestration.sample.standards import (
    INCOME_SCALE_STANDARD,
    poverty_standards,
    standard_for_year,
)

DEMO_PROVINCES = ("02", "08")
APPORTIONED_PROVINCE = "06"
"""Bắc Kạn, in the demo only: the seed crosswalk_corrections gives its Xã Yên Thịnh (02044) a
second successor in Tuyên Quang (a documented stand-in: the package has no cross-province link
its checks keep), so the demo publishes `apportioned` territories."""
CROSSWALK_CORRECTIONS = DBT_PROJECT_DIR / "seeds" / "crosswalk_corrections.csv"


@dataclass(frozen=True)
class Scale:
    """How much to generate: which pre-2025 provinces, and what share of their households.

    ``full_export_year`` makes that review year list every resident household (the ``stress``
    scale), the way a province exports its whole household register rather than the assessed.
    """

    name: str
    provinces: tuple[str, ...] | None
    household_fraction: float
    full_export_year: int | None = None
    years: tuple[int, ...] = (2021, 2022, 2023, 2024, 2025)
    """Review years written when none are asked for."""


# The demo spans the whole plan: the 2021 baseline, the 2025 reorganisation and two reviews under
# Decree 351's lines (2026 sets the 2026-2030 baseline, 2027 gives the first year-on-year fall),
# so every target of both periods has data. The tiny scale keeps five years: tests stay fast.
DEMO_YEARS = tuple(range(2021, 2028))

SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", DEMO_PROVINCES, 0.01),
    "demo": Scale("demo", (*DEMO_PROVINCES, APPORTIONED_PROVINCE), 0.10, years=DEMO_YEARS),
    "province": Scale("province", DEMO_PROVINCES, 1.0),
    "national": Scale("national", None, 1.0),
    "stress": Scale("stress", None, 1.0, full_export_year=2024),
}


# --------------------------------------------------------------------------------------------
# Small vectorised helpers
# --------------------------------------------------------------------------------------------


def norm_ppf(p: np.ndarray) -> np.ndarray:
    """Inverse standard normal CDF (Acklam's rational approximation, |error| < 1.2e-9).

    numpy has no ``ndtri`` and scipy is not a dependency of this module.
    """
    a = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690,
         -30.66479806614716, 2.506628277459239)  # fmt: skip
    b = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972,
         -13.28068155288572)  # fmt: skip
    c = (-7.784894002430293e-03, -0.3223964580411365, -2.400758277161838, -2.549732539343734,
         4.374664141464968, 2.938163982698783)  # fmt: skip
    d = (7.784695709041462e-03, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    out = np.empty_like(p)
    low, high = p < 0.02425, p > 1 - 0.02425
    mid = ~(low | high)
    q = p[mid] - 0.5
    r = q * q
    out[mid] = (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
    )
    for mask, sign in ((low, 1.0), (high, -1.0)):
        tail = p[mask] if sign > 0 else 1 - p[mask]
        t = np.sqrt(-2 * np.log(tail))
        out[mask] = sign * (
            (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t + c[5])
            / ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1)
        )
    return out


def norm_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF for a few thousand commune values (a loop per commune is cheap)."""
    dist = NormalDist()
    return np.array([dist.cdf(float(v)) for v in np.asarray(x).ravel()]).reshape(np.shape(x))


# --------------------------------------------------------------------------------------------
# Communes: sizes, poverty trajectories, extremely difficult status, villages
# --------------------------------------------------------------------------------------------


@dataclass
class Communes:
    """Pre-2025 communes of the scale with everything decided per commune (index = row)."""

    code: np.ndarray  # str
    name: list[str]
    ctype: list[str]
    province: np.ndarray  # str
    district: np.ndarray  # str
    district_name: list[str]
    is_urban: np.ndarray
    households: np.ndarray  # resident households in the first year, at the scale's fraction
    poor_rate: dict[int, np.ndarray]
    low_z: dict[int, np.ndarray]  # quantile of the low-income share, per year
    poor_z: dict[int, np.ndarray]  # quantile of the poor share among the low-income
    pool_u: np.ndarray  # standing below which a household may ever be assessed
    minority_share: np.ndarray
    villages: np.ndarray
    village_offset: np.ndarray
    village_names: pa.Array
    dbkk: dict[int, np.ndarray]
    difficult_villages: dict[int, np.ndarray]
    new_index: np.ndarray  # index into NewCommunes of the default 2025 commune
    successors: dict[int, np.ndarray]  # split communes: every 2025 successor, the default first


@dataclass
class NewCommunes:
    code: np.ndarray
    name: list[str]
    province: np.ndarray
    province_name: list[str]
    is_urban: np.ndarray
    file_area: list[str]  # former district the 2025 export is grouped by


def _unit_frames() -> tuple[dict[str, list], dict[str, list], dict[str, list]]:
    # The mapping as the warehouse's crosswalk uses it: the package's, after the seed
    # crosswalk_corrections (its demo stand-in gives the demo a 2025 commune of two provinces).
    units = admin_unit_tables().units  # noqa: F841 (DuckDB replacement scan)
    mapping = corrected_mapping(CROSSWALK_CORRECTIONS)  # noqa: F841
    with duckdb.connect() as con:
        old = con.sql(
            """
            select u.province_code, u.district_code, u.district_name, u.commune_code,
                   u.commune_name, u.commune_type, m.new_commune_code
            from units u
            join mapping m on m.old_commune_code = u.commune_code and m.is_default_new_commune
            where u.unit_version = 'pre2025'
            order by u.commune_code
            """
        ).to_arrow_table()
        new = con.sql(
            """
            select n.province_code, n.province_name, n.commune_code, n.commune_name,
                   n.commune_type,
                   (select o.district_name from mapping m
                    join units o on o.unit_version = 'pre2025'
                        and o.commune_code = m.old_commune_code
                    where m.new_commune_code = n.commune_code
                    order by m.is_default_new_commune desc, o.commune_code limit 1)
                   as file_area
            from units n where n.unit_version = '2025'
            order by n.commune_code
            """
        ).to_arrow_table()
        split = con.sql(
            """
            select old_commune_code, new_commune_code, is_default_new_commune from mapping
            where is_split order by old_commune_code, new_commune_code
            """
        ).to_arrow_table()
    return old.to_pydict(), new.to_pydict(), split.to_pydict()


def _screening_shift(year: int) -> float:
    """How far above the income scale's line (in standing units) the year's review screens.

    0 for Decree 07's own years; the pool is then exactly as calibrated.
    """
    standard = standard_for_year(year)
    scale = next(s for s in poverty_standards() if s.standard_id == INCOME_SCALE_STANDARD)
    ratios = [
        (own.upper or own.income) / base.income
        for own, base in ((standard.rural, scale.rural), (standard.urban, scale.urban))
    ]
    return max(0.0, float(np.log(max(ratios))) / INCOME_SIGMA)


def _years_from_2022(year: int) -> float:
    """Years of the rates' fall from 2022 (negative before). Before 2021 the fall is slowed:
    a rate extrapolated back at the Decree 07 pace would put more households under Decision
    59's far lower lines than were ever counted (Hà Giang about 20-25 % poor in 2019-2020)."""
    return year - 2022 if year >= 2021 else -1 - _PRE_2021_FALL * (2021 - year)


_PRE_2021_FALL = 0.3  # share of a year's fall per year before 2021, on the income scale


def build_communes(
    scale: Scale, years: Sequence[int], seed: int
) -> tuple[Communes, NewCommunes, dict[str, float]]:
    """Decide every commune's size and poverty path; also the 2025 share of split communes."""
    old, new, split = _unit_frames()
    provinces = set(scale.provinces) if scale.provinces else set(PROVINCES)
    keep = [i for i, p in enumerate(old["province_code"]) if p in provinces]
    pick = {k: [v[i] for i in keep] for k, v in old.items()}
    n = len(keep)
    rng = np.random.default_rng([seed, 1])

    province = np.array(pick["province_code"])
    ctype = pick["commune_type"]
    is_ward = np.array([t == "Phường" for t in ctype])
    is_town = np.array([t == "Thị trấn" for t in ctype])
    is_urban = is_ward | is_town
    type_size = np.where(is_ward, 2.2, np.where(is_town, 1.4, 1.0))
    type_poverty = np.where(is_ward, 0.15, np.where(is_town, 0.45, 1.0))

    size_weight = type_size * rng.lognormal(0.0, 0.45, n)
    poverty_weight = type_poverty * rng.lognormal(0.0, 0.55, n)
    full_households = np.empty(n)
    poor_2022 = np.empty(n)
    minority = np.empty(n)
    for code in sorted(set(pick["province_code"])):
        rows = province == code
        total_k, rate_pct, minority_share, _region = PROVINCES[code]
        total = total_k * 1000 * HOUSEHOLD_CALIBRATION
        full_households[rows] = total * size_weight[rows] / size_weight[rows].sum()
        rate = rate_pct / 100
        w = full_households[rows]
        p = poverty_weight[rows] * rate * w.sum() / (w * poverty_weight[rows]).sum()
        for _ in range(3):  # clipping the poorest communes moves mass; renormalise
            p = np.clip(p, 0.0003, 0.8)
            p = np.clip(p * rate * w.sum() / (w * p).sum(), 0.0003, 0.8)
        poor_2022[rows] = p
        relative = np.sqrt(p / max(rate, 1e-6)) * np.where(is_ward[rows], 0.5, 1.0)
        minority[rows] = np.clip(minority_share * relative, 0.005, 0.98)
    full_households = np.clip(full_households, 150, 60_000)
    households = np.maximum(3, np.round(full_households * scale.household_fraction)).astype(
        np.int64
    )

    # Rates fall faster in proportion where poverty is already low (national ~4 → ~2 % while
    # Hà Giang falls ~3.5 points a year from a third).
    decay = 0.55 + 0.35 * np.minimum(1.0, poor_2022 / 0.35)
    poor_rate = {y: np.clip(poor_2022 * decay ** _years_from_2022(y), 0.0002, 0.85) for y in years}
    low_z, poor_z = {}, {}
    for y in years:
        share_poor = 0.47 + 0.8 * np.minimum(poor_rate[y], 0.4)  # poor among low-income
        low = np.clip(poor_rate[y] / share_poor / (1 - ABSENT_SHARE), 1e-5, 0.97)
        low_z[y] = norm_ppf(low)
        poor_z[y] = norm_ppf(share_poor)
    # The pool must reach the highest income any year's review screens in, on the income scale:
    # a standard with higher lines (Decree 351) reaches further up than Decree 07's.
    top_z = np.max(np.stack([low_z[y] + _screening_shift(y) for y in years]), axis=0)
    margin = np.log(SCREENED_CEILING) / INCOME_SIGMA + 2.2 * np.sqrt(1 - RHO**2)
    pool_u = (top_z + margin) / RHO

    # Villages and region III status.
    villages = np.where(is_urban, rng.integers(6, 26, n), rng.integers(5, 21, n))
    base_rate = np.clip(poor_2022 / decay, 0.0002, 0.85)  # the 2021 list
    dbkk_2021 = np.zeros(n, dtype=bool)
    for code in sorted(set(pick["province_code"])):
        rows = np.flatnonzero((province == code) & ~is_urban)
        if code in DBKK_2021:
            chosen = rows[np.argsort(-base_rate[rows], kind="stable")[: DBKK_2021[code]]]
        else:
            chosen = rows[base_rate[rows] >= 0.2]  # Decision 33/2020: poor rate ≥ 20 %
        dbkk_2021[chosen] = True
    keep_score = base_rate * rng.uniform(0.7, 1.3, n)  # who leaves region III first
    dbkk, difficult_villages = {}, {}
    mountain = np.array([PROVINCES[p][3] in MOUNTAIN_REGIONS for p in province])
    base_villages = np.where(
        dbkk_2021,
        np.round(villages * rng.uniform(0.5, 1.0, n)),
        np.where(mountain & ~is_urban, rng.binomial(villages, np.clip(base_rate, 0, 0.3)), 0),
    ).astype(np.int64)
    village_keep = rng.uniform(0.85, 1.15, n)
    # Every pre-2025 year asked for, and 2021-2024 always: the 2025 list derives from 2024.
    for y in sorted({*range(2021, 2025), *(y for y in years if y < 2025)}):
        kept = DBKK_KEPT.get(y, 1.0 if y < 2021 else 0.5)
        status = np.zeros(n, dtype=bool)
        for code in sorted(set(pick["province_code"])):
            rows = np.flatnonzero((province == code) & dbkk_2021)
            count = int(round(len(rows) * kept))
            status[rows[np.argsort(-keep_score[rows], kind="stable")[:count]]] = True
        dbkk[y] = status
        share = DIFFICULT_VILLAGES_KEPT.get(y, 1.0 if y < 2021 else 0.4)
        difficult_villages[y] = np.minimum(
            base_villages, np.floor(base_villages * np.minimum(1.0, share * village_keep))
        ).astype(np.int64)

    offsets = np.concatenate([[0], np.cumsum(villages)[:-1]])
    names: list[str] = []
    for i in range(n):
        region = PROVINCES[province[i]][3]
        if is_urban[i]:
            names.extend(f"Tổ dân phố {k + 1}" for k in range(villages[i]))
        elif region in MOUNTAIN_REGIONS:
            start = int(pick["commune_code"][i]) % len(MOUNTAIN_VILLAGES)
            names.extend(
                f"Thôn {MOUNTAIN_VILLAGES[(start + k) % len(MOUNTAIN_VILLAGES)]}"
                for k in range(villages[i])
            )
        elif region in ("mekong", "southeast"):
            names.extend(f"Ấp {k + 1}" for k in range(villages[i]))
        else:
            names.extend(f"Thôn {k + 1}" for k in range(villages[i]))

    new_codes = np.array(new["commune_code"])
    new_pos = {c: i for i, c in enumerate(new_codes)}
    new_index = np.array([new_pos[c] for c in pick["new_commune_code"]], dtype=np.int64)
    new_communes = NewCommunes(
        code=new_codes,
        name=new["commune_name"],
        province=np.array(new["province_code"]),
        province_name=new["province_name"],
        is_urban=np.array([t == "Phường" for t in new["commune_type"]]),
        file_area=[a or "" for a in new["file_area"]],
    )
    # A commune the reorganisation divided goes to its successors in equal parts (the mapping
    # gives no population shares): its households are spread over them from 2025 (see
    # ``simulate_province``) and so are its residents, so every successor has a denominator.
    default_of = dict(zip(pick["commune_code"], pick["new_commune_code"], strict=True))
    parts: dict[str, list[str]] = {}
    pairs = zip(split["old_commune_code"], split["new_commune_code"], strict=True)
    for old_code, new_code in pairs:
        if old_code in default_of:
            parts.setdefault(old_code, [default_of[old_code]])
            if new_code != default_of[old_code]:
                parts[old_code].append(new_code)
    orphan_share = {
        f"{old_code}>{new_code}": 1 / len(successors)
        for old_code, successors in sorted(parts.items())
        for new_code in successors[1:]
    }
    old_pos = {c: i for i, c in enumerate(pick["commune_code"])}
    split_successors = {
        old_pos[old_code]: np.array([new_pos[c] for c in successors], dtype=np.int64)
        for old_code, successors in parts.items()
        if len(successors) > 1
    }

    communes = Communes(
        code=np.array(pick["commune_code"]),
        name=pick["commune_name"],
        ctype=ctype,
        province=province,
        district=np.array(pick["district_code"]),
        district_name=pick["district_name"],
        is_urban=is_urban,
        households=households,
        poor_rate=poor_rate,
        low_z=low_z,
        poor_z=poor_z,
        pool_u=pool_u,
        minority_share=minority,
        villages=villages,
        village_offset=offsets,
        village_names=pa.array(names, pa.string()),
        dbkk=dbkk,
        difficult_villages=difficult_villages,
        new_index=new_index,
        successors=split_successors,
    )
    return communes, new_communes, orphan_share


# --------------------------------------------------------------------------------------------
# Denominators and difficult areas
# --------------------------------------------------------------------------------------------


@dataclass
class ReferenceYear:
    """One review year's ``commune_totals`` and ``difficult_areas`` rows (index = row)."""

    year: int
    codes: np.ndarray
    households: np.ndarray
    people: np.ndarray
    extremely_difficult: np.ndarray
    difficult_villages: np.ndarray
    villages: np.ndarray
    # Resident ethnic-minority households (Tổng số hộ DTTS); -1 where the commune's totals leave
    # the optional cell empty (most communes give it, not all).
    ethnic_minority_households: np.ndarray | None = None


def reference_years(
    communes: Communes,
    new: NewCommunes,
    orphan_share: dict[str, float],
    years: Sequence[int],
    seed: int,
    fraction: float,
    assessed: dict[int, dict[str, int]],
    assessed_minority: dict[int, dict[str, int]],
) -> list[ReferenceYear]:
    """Every resident household per commune, and the extremely difficult status, for each year.

    A commune's resident households never fall below the households assessed there that year:
    at small scales, households moving into a small commune could otherwise outnumber it. Its
    ethnic-minority households likewise never fall below the ethnic-minority households assessed
    there (the review over-samples them, so a share of the total can be too few).
    """
    rng = np.random.default_rng([seed, 4])
    n = len(communes.code)
    people_per_household = np.clip(
        3.3 + 0.9 * communes.minority_share + rng.normal(0, 0.15, n), 2.6, 5.5
    )
    # Orphan 2025 communes take a share of the split commune they came from.
    old_pos = {c: i for i, c in enumerate(communes.code)}
    new_pos = {c: i for i, c in enumerate(new.code)}
    orphan_rows = [
        (old_pos[o], new_pos[nw], share)
        for key, share in sorted(orphan_share.items())
        for o, nw in [key.split(">")]
        if o in old_pos
    ]
    out = []
    for y in years:
        growth = 1 + HOUSEHOLD_GROWTH * (y - years[0])
        households = np.round(communes.households * growth).astype(np.int64)
        people = np.round(households * people_per_household).astype(np.int64)
        minority_hh = households * communes.minority_share
        if y < 2025:
            codes, hh, pp = communes.code, households, people
            villages, difficult = communes.villages, communes.difficult_villages[y]
            dbkk = communes.dbkk[y]
            mh = minority_hh
        else:
            m = len(new.code)
            hh = np.zeros(m, dtype=np.int64)
            pp = np.zeros(m, dtype=np.int64)
            villages = np.zeros(m, dtype=np.int64)
            difficult = np.zeros(m, dtype=np.float64)
            dbkk_households = np.zeros(m)
            moved_hh, moved_pp = households.copy(), people.copy()
            for o, nw, share in orphan_rows:
                take_hh = int(round(households[o] * share))
                take_pp = int(round(people[o] * share))
                moved_hh[o] -= take_hh
                moved_pp[o] -= take_pp
                hh[nw] += take_hh
                pp[nw] += take_pp
                villages[nw] += 3
            np.add.at(hh, communes.new_index, moved_hh)
            np.add.at(pp, communes.new_index, moved_pp)
            np.add.at(villages, communes.new_index, communes.villages)
            last = communes.difficult_villages[2024]
            kept = DIFFICULT_VILLAGES_KEPT.get(y, 0.2) / DIFFICULT_VILLAGES_KEPT[2024]
            np.add.at(difficult, communes.new_index, last * kept)
            np.add.at(dbkk_households, communes.new_index, households * communes.dbkk[2024])
            mh = np.zeros(m)
            np.add.at(mh, communes.new_index, minority_hh)
            in_scale = set(new.province[communes.new_index].tolist())
            for island, count in ISLAND_HOUSEHOLDS_2025.items():
                j = new_pos[island]
                if new.province[j] in in_scale:
                    hh[j] = max(1, round(count * fraction))
                    pp[j] = round(hh[j] * 3.8)
                    villages[j] = 4
            present = hh > 0
            codes, hh, pp, villages = new.code[present], hh[present], pp[present], villages[present]
            mh = mh[present]
            difficult = np.floor(difficult[present]).astype(np.int64)
            share = dbkk_households[present] / hh
            dbkk = share >= DBKK_HOUSEHOLD_SHARE_2025_ON.get(y, 0.95)
        floor = np.array([assessed[y].get(str(c), 0) for c in codes], dtype=np.int64)
        short = hh < floor
        if short.any():
            per_household = np.divide(pp, np.maximum(hh, 1))
            hh = np.where(short, floor + np.ceil(floor * 0.1).astype(np.int64), hh)
            pp = np.maximum(pp, np.round(hh * np.maximum(per_household, 2.6)).astype(np.int64))
        # About one commune in ten leaves the optional ethnic-minority total empty (its own
        # stream, so every other draw stays as it was).
        given = np.random.default_rng([seed, 8, y]).uniform(size=len(codes)) >= 0.1
        minority_floor = np.array(
            [assessed_minority[y].get(str(c), 0) for c in codes], dtype=np.int64
        )
        minority_total = np.minimum(np.maximum(np.round(mh), minority_floor), hh)
        minority = np.where(given, minority_total, -1).astype(np.int64)
        out.append(
            ReferenceYear(
                y, codes, hh, pp, dbkk, np.minimum(difficult, villages), villages, minority
            )
        )
    return out
