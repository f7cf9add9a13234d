"""Households of the sample, simulated province by province across the review years.

- Households carry a persistent latent standing ``u ~ N(0, 1)``; each year
  ``s = ρ·u + √(1-ρ²)·ε`` and the income is ``L·exp(σ·(s − z))`` where ``L`` is the income
  scale's line and ``z`` the commune-year's low-income quantile: a household is below the line
  exactly when ``s ≤ z``, so rates are calibrated while households exit, fall back and newly fall
  into poverty naturally. Only the low tail of ``u`` (the households a review could ever screen
  in) is simulated, drawn from the truncated normal; the ``stress`` scale adds the rest for its
  one full-export year.
- Among low-income households the deprivation count (≥ 3 → poor) follows a second persistent
  latent, so the same households tend to stay poor rather than near-poor.
- Each review year is classified under its own standard (``standards.classify``), with the
  deprivation marks drawn among that standard's indicators.
- The survey lists assessed households only: poor and near-poor, most of the band above and a
  few screened-in households higher still.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestration.base.headers import DEPRIVATION_COLUMNS
from orchestration.sample.communes import Communes, NewCommunes, norm_cdf, norm_ppf
from orchestration.sample.parameters import (
    ABSENT_SHARE,
    INCOME_SIGMA,
    PROVINCES,
    RHO,
    SCREENED_CEILING,
)
from orchestration.sample.standards import (
    CLASS_LABELS,
    HEALTH_ACCESS,
    MARK_COLUMNS,
    MIDDLE,
    NEAR_POOR,
    POOR,
    Standard,
    classify,
    income_scale,
    standard_for_year,
)

_ETHNIC_MIX: dict[str, dict[str, float]] = {
    "ha_giang": {
        "Mông": 37, "Tày": 26, "Dao": 17, "Nùng": 10, "Giáy": 3, "La Chí": 2,
        "Lô Lô": 1, "Hoa": 1, "Pu Péo": 1, "Pà Thẻn": 1, "Cờ Lao": 1,
    },
    "tuyen_quang": {
        "Tày": 47, "Dao": 21, "Sán Chay": 15, "Mông": 5, "Nùng": 4, "Sán Dìu": 4,
        "Hoa": 2, "Pà Thẻn": 1,
    },
    "north": {"Tày": 30, "Nùng": 20, "Mông": 20, "Dao": 15, "Thái": 5, "Sán Chay": 5, "Giáy": 3,
              "Hoa": 2},
    "northwest": {"Thái": 45, "Mông": 30, "Dao": 8, "Khơ Mú": 6, "Hà Nhì": 4, "Mường": 4,
                  "Giáy": 3},
    "muong": {"Mường": 80, "Thái": 10, "Dao": 5, "Tày": 5},
    "north_central": {"Thái": 50, "Mường": 25, "Khơ Mú": 10, "Mông": 10, "Bru-Vân Kiều": 5},
    "central": {"Cơ Tu": 25, "Hrê": 25, "Bru-Vân Kiều": 20, "Xơ Đăng": 15, "Co": 15},
    "highlands": {"Gia Rai": 30, "Ê Đê": 25, "Ba Na": 15, "Xơ Đăng": 10, "M'Nông": 8,
                  "Cơ Ho": 7, "Tày": 3, "Nùng": 2},
    "south_central": {"Chăm": 50, "Raglai": 40, "Cơ Ho": 10},
    "southeast": {"Hoa": 40, "Xtiêng": 25, "Khmer": 20, "Tày": 8, "Nùng": 7},
    "mekong": {"Khmer": 85, "Hoa": 12, "Chăm": 3},
    "lowland": {"Mường": 35, "Tày": 25, "Hoa": 20, "Nùng": 10, "Dao": 10},
}  # fmt: skip

# Name parts per naming tradition: surnames with weights, middle names and given names by sex.
_NAME_FAMILIES: dict[str, dict[str, object]] = {
    "kinh": {
        "surname": {"Nguyễn": 31, "Trần": 11, "Lê": 9.5, "Phạm": 7, "Hoàng": 5, "Huỳnh": 4,
                    "Phan": 4.5, "Vũ": 3.9, "Võ": 3, "Đặng": 2.1, "Bùi": 2, "Đỗ": 1.4, "Hồ": 1.3,
                    "Ngô": 1.3, "Dương": 1, "Lý": 0.5, "Đinh": 1, "Trương": 1, "Lương": 0.8,
                    "Mai": 0.6, "Đào": 0.7, "Cao": 0.5, "Tạ": 0.3, "Quách": 0.3},
        "middle_m": {"Văn": 50, "Đức": 10, "Hữu": 8, "Minh": 8, "Quang": 6, "Công": 6, "Xuân": 5,
                     "Ngọc": 4, "Thanh": 4, "Đình": 6},
        "middle_f": {"Thị": 80, "Thu": 4, "Ngọc": 4, "Thanh": 4, "Hồng": 4, "Kim": 4},
        "given_m": ["Hùng", "Dũng", "Tuấn", "Minh", "Hải", "Long", "Nam", "Thắng", "Sơn", "Cường",
                    "Bình", "Phúc", "Tài", "Quân", "Hiếu", "Thành", "Trung", "Hòa", "Tùng",
                    "Khánh", "Lâm", "Đạt", "Toàn", "Hưng", "Vinh", "Chiến", "Tiến", "Lợi", "Hậu"],
        "given_f": ["Lan", "Hoa", "Hương", "Mai", "Hạnh", "Thu", "Linh", "Nga", "Hằng", "Dung",
                    "Nhung", "Huyền", "Thảo", "Trang", "Yến", "Loan", "Phương", "Liên", "Thủy",
                    "Hà", "Vân", "Oanh", "Xuân", "Hiền", "Nhàn", "Tuyết"],
    },
    "tay": {
        "surname": {"Hoàng": 15, "Nông": 12, "Ma": 6, "Lục": 4, "Triệu": 5, "Hà": 8, "Lương": 6,
                    "Vi": 4, "Đinh": 4, "Chu": 3, "Bế": 4, "Lường": 5, "Lò": 6, "Quàng": 3,
                    "Cầm": 3, "Sầm": 2, "La": 2},
        "middle_m": {"Văn": 70, "Đức": 10, "Thanh": 5, "Xuân": 5, "Minh": 5},
        "middle_f": {"Thị": 90, "Thu": 5, "Hồng": 5},
        "given_m": ["Pấu", "Thắng", "Sơn", "Hùng", "Chiến", "Lực", "Nhất", "Khiêm", "Páo", "Tiến",
                    "Dũng", "Quý", "Toán", "Kiên", "Hoan", "Lâm"],
        "given_f": ["Slao", "Hoa", "Liên", "Lan", "Mai", "Nhung", "Thơm", "Hằng", "Duyên", "Xuân",
                    "Hiên", "Lả", "Nọi", "Hiền"],
    },
    "mong": {
        "surname": {"Giàng": 18, "Vàng": 16, "Sùng": 12, "Lù": 8, "Thào": 10, "Hầu": 6, "Má": 5,
                    "Lầu": 5, "Ly": 6, "Mua": 5, "Vừ": 5, "Cứ": 3},
        "middle_m": {"A": 30, "Mí": 15, "Seo": 15, "Chứ": 10, "Văn": 25, "Sính": 5},
        "middle_f": {"Thị": 85, "Mỷ": 15},
        "given_m": ["Páo", "Chứ", "Sình", "Dình", "Pó", "Chính", "Sử", "Lử", "Tủa", "Dế", "Vư",
                    "Súa", "Khai", "Lồng", "Sèo", "Nhà", "Tráng", "Mua"],
        "given_f": ["Mỷ", "Dính", "Dợ", "Chá", "Pằng", "Sua", "Dủa", "Mỉ", "Chơ", "Xía", "Mai",
                    "Lan"],
    },
    "dao": {
        "surname": {"Triệu": 25, "Bàn": 20, "Đặng": 15, "Lý": 12, "Phùng": 8, "Chảo": 8,
                    "Tẩn": 6, "Hoàng": 3},
        "middle_m": {"Văn": 55, "Tiến": 10, "Kim": 10, "Sinh": 10, "Phúc": 15},
        "middle_f": {"Thị": 85, "Mùi": 15},
        "given_m": ["Chàn", "Phin", "Quẩy", "Sơn", "Vần", "Hiển", "Thành", "Tiến", "Lưu", "Quý",
                    "Minh", "Phúc", "Dùn", "Kiềm"],
        "given_f": ["Mẩy", "Nhất", "Chài", "Dín", "Lan", "Mai", "Phấy", "Hoa", "Xuân", "Liên"],
    },
    "highland": {
        "surname": {"Ksor": 15, "Rơ Châm": 10, "Siu": 12, "Nay": 10, "Rơ Mah": 10, "Kpă": 8,
                    "Niê": 10, "Mlô": 6, "Êban": 6, "Byă": 5, "Đinh": 8},
        "middle_m": {"Y": 70, "A": 30},
        "middle_f": {"H'": 70, "Thị": 30},
        "given_m": ["Blik", "Đen", "Thơ", "Phôn", "Kriu", "Nhi", "Wơn", "Blơng", "Djuin", "Sú"],
        "given_f": ["Linh", "Hiên", "Lan", "Bia", "Nga", "Xuân", "Mai", "Prang", "Rin", "Jit"],
    },
    "khmer": {
        "surname": {"Thạch": 25, "Sơn": 20, "Kim": 12, "Danh": 15, "Lâm": 8, "Lý": 8, "Châu": 6},
        "middle_m": {"Văn": 40, "Sà": 15, "Sô": 15, "Ngọc": 15, "Minh": 15},
        "middle_f": {"Thị": 70, "Sa": 15, "Sà": 15},
        "given_m": ["Phanh", "Sóc", "Ra", "Na", "Rươne", "Khiêm", "Sang", "Hên", "Thol", "Vươl"],
        "given_f": ["Ra", "Chanh", "Phol", "Ry", "Mai", "Thu", "Kha", "Dên", "Sóc", "Linh"],
    },
}  # fmt: skip
_NAME_FAMILY_OF = {
    "Mông": "mong",
    "Dao": "dao",
    **dict.fromkeys(
        ["Tày", "Nùng", "Thái", "Giáy", "Sán Chay", "Sán Dìu", "Khơ Mú", "Pu Péo", "La Chí",
         "Lô Lô", "Cờ Lao", "Hà Nhì", "Pà Thẻn"], "tay"),
    **dict.fromkeys(
        ["Gia Rai", "Ê Đê", "Ba Na", "Xơ Đăng", "M'Nông", "Cơ Ho", "Hrê", "Cơ Tu", "Raglai",
         "Xtiêng", "Bru-Vân Kiều", "Co"], "highland"),
    **dict.fromkeys(["Khmer", "Chăm"], "khmer"),
}  # fmt: skip
# Relative prevalence of each deprivation among poor households (information assets, housing and
# sanitation common; health insurance rare because poor households are insured by the state).
# In ``MARK_COLUMNS`` order: the 12 of Decree 07, then Decision 59's access to health services.
_DEPRIVATION_WEIGHTS = np.array([0.6, 0.9, 0.7, 0.25, 1.0, 0.35, 1.0, 0.8, 0.9, 1.4, 0.4, 1.1, 0.5])

# Under Decision 59 only households between its two lines need 3 deprivations to be poor; fewer
# of them have 3 than of Decree 07's low-income households, so the near-poor are about half as
# many as the poor, as in the 2016-2020 reviews (without it the band was three-quarters poor).
_QD59_BAND_SHIFT = 0.8
# The approved class (Kết quả phân loại) differs from the class by rule for 1.5 % of the assessed
# households, one class up or down: poor by rule approved near-poor, near-poor approved poor,
# middle approved near-poor, not poor approved middle (or near-poor without a middle line). 0.4 %
# leave it empty (the rule stands in).
_MISMATCH_SHARE = 0.015
_EMPTY_CLASS_SHARE = 0.004
# Badly done reviews: in two communes of each province, one review year leaves this share of the
# listed households unassessed instead of ABSENT_SHARE.
_BAD_REVIEW_COMMUNES = 2
_LEAVE_SHARE = 0.007
_BAD_REVIEW_ABSENT_SHARE = (0.10, 0.20)


def _weighted_choice(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    """Indices into ``list(weights)`` drawn with the given weights."""
    w = np.array(list(weights.values()), dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())


# --------------------------------------------------------------------------------------------
# Households of one province
# --------------------------------------------------------------------------------------------


def _names(rng: np.random.Generator, family: np.ndarray, female: np.ndarray) -> pa.Array:
    """Head names ``Surname Middle Given`` in the naming tradition of each household."""
    n = len(family)
    surname = np.empty(n, dtype=object)
    middle = np.empty(n, dtype=object)
    given = np.empty(n, dtype=object)
    for key, parts in _NAME_FAMILIES.items():
        rows = family == key
        m = int(rows.sum())
        if not m:
            continue
        sur = list(parts["surname"])
        surname[rows] = np.array(sur, dtype=object)[_weighted_choice(rng, parts["surname"], m)]
        fem = female[rows]
        mid_m = np.array(list(parts["middle_m"]), dtype=object)[
            _weighted_choice(rng, parts["middle_m"], m)
        ]
        mid_f = np.array(list(parts["middle_f"]), dtype=object)[
            _weighted_choice(rng, parts["middle_f"], m)
        ]
        middle[rows] = np.where(fem, mid_f, mid_m)
        giv_m = np.array(parts["given_m"], dtype=object)[rng.integers(0, len(parts["given_m"]), m)]
        giv_f = np.array(parts["given_f"], dtype=object)[rng.integers(0, len(parts["given_f"]), m)]
        given[rows] = np.where(fem, giv_f, giv_m)
    return pc.binary_join_element_wise(
        pa.array(surname, pa.string()), pa.array(middle, pa.string()), pa.array(given, pa.string()),
        " ",
    )  # fmt: skip


@dataclass
class YearRows:
    """Typed rows of one province and review year (before formatting), plus the file key."""

    table: pa.Table
    file_key: np.ndarray  # district code (pre-2025) or former-district area (2025)


def simulate_province(
    code: str,
    communes: Communes,
    new: NewCommunes,
    years: Sequence[int],
    seed: int,
    full_export_year: int | None,
) -> dict[int, YearRows]:
    """Households of one pre-2025 province across the review years, assessed rows per year."""
    rng = np.random.default_rng([seed, 2, int(code)])
    cidx = np.flatnonzero(communes.province == code)
    pool_share = norm_cdf(communes.pool_u[cidx])
    pool_size = np.minimum(
        np.ceil(pool_share * communes.households[cidx]).astype(np.int64), communes.households[cidx]
    )
    base = np.repeat(cidx, pool_size)
    # Households formed later (about 2 % a year) come on top of the base pool, so the base keeps
    # the calibrated rate; about 0.7 % a year leave for good (moved away, died out: a listed one
    # is then missing from the next review, as ABSENT_SHARE's are).
    years_arr = np.asarray(years)
    extra = rng.choice(len(base), size=int(round(0.02 * (len(years) - 1) * len(base))))
    origin = np.concatenate([base, base[extra]])
    n = len(origin)
    first_year = np.concatenate(
        [np.full(len(base), years[0]), years_arr[rng.integers(1, max(len(years), 2), len(extra))]]
    )
    first_year = np.minimum(first_year, years[-1])
    leave_year = np.where(
        rng.uniform(size=n) < _LEAVE_SHARE * len(years),
        years_arr[rng.integers(0, len(years), n)] + 1,
        9999,
    )
    leave_year = np.where(leave_year <= first_year, 9999, leave_year)
    share_of = np.zeros(len(communes.code))
    share_of[cidx] = pool_share
    # Standing u drawn from N(0,1) truncated to the pool: u = Φ⁻¹(U·Φ(u*)).
    u = norm_ppf(rng.uniform(0, 1, n) * share_of[origin])
    deprivation_latent = rng.normal(0, 1, n)
    # Serials: per origin commune, households present from the start first.
    order = np.lexsort((rng.uniform(size=n), first_year, origin))
    sorted_origin = origin[order]
    serial = np.empty(n, dtype=np.int64)
    serial[order] = np.arange(n) - np.searchsorted(sorted_origin, sorted_origin, "left") + 1

    region = PROVINCES[code][3]
    # Assessed households are poorer than their commune, so more often ethnic minorities.
    share = communes.minority_share[origin]
    minority_p = 1 / (1 + np.exp(-(np.log(share / (1 - share)) + 0.8)))
    is_minority = rng.uniform(size=n) < minority_p
    mix = _ETHNIC_MIX[region]
    groups = np.array(list(mix), dtype=object)
    ethnicity = np.where(
        is_minority, groups[_weighted_choice(rng, mix, n)], np.array("Kinh", dtype=object)
    )
    # The naming tradition follows the ethnicity (Hoa names read like Kinh ones).
    eth_codes = pa.array(ethnicity, pa.string()).dictionary_encode()
    family = np.array(
        [_NAME_FAMILY_OF.get(e, "kinh") for e in eth_codes.dictionary.to_pylist()], dtype=object
    )[eth_codes.indices.to_numpy()]
    female = rng.uniform(size=n) < np.where(u < -1.0, 0.28, 0.2)
    birth = rng.integers(1940, 2000, n)
    meritorious = rng.uniform(size=n) < 0.015
    social = rng.uniform(size=n) < np.where(u < -1.0, 0.12, 0.06)
    no_labour = rng.uniform(size=n) < np.where(social, 0.35, 0.04)
    base_size = np.where(
        social | no_labour, 1 + rng.poisson(0.8, n), 1 + rng.poisson(2.6 + 0.8 * is_minority, n)
    )
    base_size = np.clip(base_size, 1, 12)
    names = _names(rng, family, female)
    birth_place = "0" + code
    id_numbers = pc.binary_join_element_wise(
        pa.array(np.full(n, birth_place, dtype=object), pa.string()),
        pa.array(female.astype(np.int64).astype(str)),
        pc.utf8_lpad(pa.array((birth % 100).astype(str)), 2, "0"),
        pc.utf8_lpad(pa.array(rng.integers(0, 1_000_000, n).astype(str)), 6, "0"),
        "",
    )
    household_codes = pc.binary_join_element_wise(
        pa.array(communes.province[origin], pa.string()),
        pa.array(communes.code[origin], pa.string()),
        pc.utf8_lpad(pa.array(serial.astype(str)), 5, "0"),
        "",
    )
    household_codes = pc.utf8_replace_slice(household_codes, 7, 7, "-")
    ethnicity_arr = pa.array(ethnicity, pa.string())

    # Which successor a household of a divided commune lives in from 2025: its own stream, so
    # the draws of every other household stay as they were.
    split_draw = np.random.default_rng([seed, 6, int(code)]).uniform(size=n)
    current = origin.copy()
    village = (rng.uniform(size=n) * communes.villages[current]).astype(np.int64)
    size = base_size.copy()
    province_communes = cidx
    move_weights = communes.households[cidx] / communes.households[cidx].sum()
    # Which communes review badly, in which year and how badly: their own stream, so the other
    # draws stay as they were.
    bad_rng = np.random.default_rng([seed, 10, int(code)])
    bad_communes = bad_rng.choice(cidx, size=min(_BAD_REVIEW_COMMUNES, len(cidx)), replace=False)
    bad_years = years_arr[bad_rng.integers(1, max(len(years), 2), len(bad_communes))]
    bad_shares = bad_rng.uniform(*_BAD_REVIEW_ABSENT_SHARE, len(bad_communes))
    out: dict[int, YearRows] = {}
    # The previous review's poor and near-poor list: every household on it is reviewed again
    # (Decision 24/2021/QĐ-TTg), whatever its income now, but for the absent share.
    listed = np.zeros(n, dtype=bool)
    for y in years:
        if y != years[0]:
            movers = rng.uniform(size=n) < 0.004
            current = np.where(
                movers, province_communes[rng.choice(len(cidx), size=n, p=move_weights)], current
            )
            village = np.where(
                movers, (rng.uniform(size=n) * communes.villages[current]).astype(np.int64), village
            )
            size = np.clip(size + np.where(rng.uniform(size=n) < 0.05, rng.choice([-1, 1], n), 0),
                           1, 12)  # fmt: skip
        present = (first_year <= y) & (y < leave_year)
        standing = RHO * u + np.sqrt(1 - RHO**2) * rng.normal(0, 1, n)
        z = communes.low_z[y][current]
        new_idx = _successor(communes, current, split_draw) if y >= 2025 else None
        urban = new.is_urban[new_idx] if new_idx is not None else communes.is_urban[current]
        standard = standard_for_year(y)
        line, upper, middle = standard.lines(urban)
        scale_line = income_scale(urban)
        income = np.round(scale_line * np.exp(INCOME_SIGMA * (standing - z)) / 1000) * 1000
        # Incomes exactly on the line and on the next line up: the "≤" edge must be exercised.
        edge = middle if middle is not None else upper if upper is not None else 1.5 * line
        near_line = np.abs(income / line - 1) < 0.02
        near_edge = np.abs((income - edge) / line) < 0.02
        income = np.where(near_line & (rng.uniform(size=n) < 0.3), line, income)
        income = np.where(near_edge & (rng.uniform(size=n) < 0.3), edge, income)
        income = income.astype(np.int64)
        poor_score = 0.8 * deprivation_latent + 0.6 * rng.normal(0, 1, n)
        poor_cut = communes.poor_z[y][current] - np.where(meritorious, 1.5, 0.0)
        if standard.rule_type == "qd59_upper_band":
            poor_cut = poor_cut - _QD59_BAND_SHIFT
        cls = classify(standard, income, line, upper, middle, poor_score <= poor_cut)
        # The review looks at the band just above its lines, then screens a few households in.
        band_top = edge
        ceiling = SCREENED_CEILING * (upper if upper is not None else line)
        keep = rng.uniform(size=n)
        in_band = (cls >= MIDDLE) & (income <= band_top)
        absent_share = np.full(n, ABSENT_SHARE)
        for commune, year, share in zip(bad_communes, bad_years, bad_shares, strict=True):
            if year == y:
                absent_share = np.where(current == commune, share, absent_share)
        assessed = present & (
            (((cls <= NEAR_POOR) | listed) & (keep >= absent_share))
            | (in_band & (keep < 0.7))
            | ((cls >= MIDDLE) & ~in_band & (income <= ceiling) & (keep < 0.25))
        )
        if y == full_export_year:
            assessed = present
        listed = assessed & (cls <= NEAR_POOR)
        rows = np.flatnonzero(assessed)
        table = _year_table(
            rng, y, standard, rows, cls, income, size, current, new_idx, village, urban,
            communes, new, household_codes, names, id_numbers, female, ethnicity_arr,
            meritorious, social, no_labour,
        )  # fmt: skip
        if new_idx is not None:
            key = np.array(new.file_area, dtype=object)[new_idx[rows]]
        else:
            key = communes.district[current[rows]]
        out[y] = YearRows(table, key)
        if y == full_export_year:
            out[y] = _append_rest_of_register(rng, out[y], y, code, cidx, pool_share, communes, new)
    return out


def _successor(communes: Communes, current: np.ndarray, split_draw: np.ndarray) -> np.ndarray:
    """Each household's 2025 commune: the default successor of its commune, or for a divided
    commune one of its successors in equal parts (stable from one review to the next)."""
    new_idx = communes.new_index[current]
    divided = [old for old in np.unique(current) if old in communes.successors]
    for old in divided:
        successors = communes.successors[old]
        rows = current == old
        pick = (split_draw[rows] * len(successors)).astype(np.int64)
        new_idx[rows] = successors[pick]
    return new_idx


def _year_table(
    rng: np.random.Generator,
    year: int,
    standard: Standard,
    rows: np.ndarray,
    cls: np.ndarray,
    income: np.ndarray,
    size: np.ndarray,
    current: np.ndarray,
    new_idx: np.ndarray | None,
    village: np.ndarray,
    urban: np.ndarray,
    communes: Communes,
    new: NewCommunes,
    household_codes: pa.Array,
    names: pa.Array,
    id_numbers: pa.Array,
    female: np.ndarray,
    ethnicity: pa.Array,
    meritorious: np.ndarray,
    social: np.ndarray,
    no_labour: np.ndarray,
) -> pa.Table:
    """Typed rows (codes as zero-padded text) of the assessed households of one year."""
    m = len(rows)
    c = cls[rows]
    cur = current[rows]
    # Deprivation count k among the standard's indicators, by class: ≥ 3 for the poor, < 3 for
    # the near-poor, anything above. (Decision 59's income-poor need no count; they get ≥ 3 too.)
    count = len(standard.indicators)
    k = np.where(
        c == POOR,
        3 + rng.binomial(count - 3, 0.15, m),
        np.where(
            c == NEAR_POOR, rng.choice(3, m, p=[0.25, 0.4, 0.35]), rng.binomial(count, 0.06, m)
        ),
    )
    # Which k indicators: Gumbel top-k with prevalence weights, vectorised over rows.
    own = [MARK_COLUMNS.index(name) for name in standard.indicators]
    keys = np.log(_DEPRIVATION_WEIGHTS[own])[None, :] + rng.gumbel(size=(m, count))
    ranks = np.argsort(np.argsort(-keys, axis=1), axis=1)
    marks = np.zeros((m, len(MARK_COLUMNS)), dtype=bool)
    marks[:, own] = ranks < k[:, None]
    others = [j for j in range(len(DEPRIVATION_COLUMNS)) if j not in own]
    if others:
        # Marks the export carries but the standard does not count: drawn on their own.
        marks[:, others] = rng.uniform(size=(m, len(others))) < 0.1
    reported = c.copy()
    flip = rng.uniform(size=m) < _MISMATCH_SHARE
    # A misreport moves one class; "middle" only where the standard has a middle line.
    has_middle = standard.rural.middle is not None
    moved = np.array([NEAR_POOR, POOR, NEAR_POOR, MIDDLE if has_middle else NEAR_POOR])
    reported = np.where(flip, moved[c], reported)
    # An empty approved class: the label after the four (an empty cell).
    reported = np.where(rng.uniform(size=m) < _EMPTY_CLASS_SHARE, len(CLASS_LABELS), reported)

    if new_idx is not None:
        idx = new_idx[rows]
        province = pa.array(new.province[idx], pa.string())
        district = pa.nulls(m, pa.string())
        commune_code = pa.array(new.code[idx], pa.string())
        commune_name = pa.array(np.array(new.name, dtype=object)[idx], pa.string())
        urban_label = "Đô thị"
    else:
        province = pa.array(communes.province[cur], pa.string())
        district = pa.array(communes.district[cur], pa.string())
        commune_code = pa.array(communes.code[cur], pa.string())
        commune_name = pa.array(np.array(communes.name, dtype=object)[cur], pa.string())
        urban_label = "Thành thị"
    labels = pa.array([*CLASS_LABELS, None], pa.string())
    columns = {
        "review_year": pa.array(np.full(m, year, dtype=np.int64)),
        "province_code": province,
        "district_code": district,
        "commune_code": commune_code,
        "commune_name": commune_name,
        "village": communes.village_names.take(
            pa.array(
                communes.village_offset[cur] + np.minimum(village[rows], communes.villages[cur] - 1)
            )
        ),
        "household_code": household_codes.take(pa.array(rows)),
        "head_name": names.take(pa.array(rows)),
        "head_id_number": id_numbers.take(pa.array(rows)),
        "head_sex": pa.array(np.where(female[rows], "Nữ", "Nam"), pa.string()),
        "ethnicity": ethnicity.take(pa.array(rows)),
        "household_size": pa.array(size[rows]),
        "area_type": pa.array(np.where(urban[rows], urban_label, "Nông thôn"), pa.string()),
        "income_per_capita": pa.array(income[rows]),
    }
    for j, name in enumerate(DEPRIVATION_COLUMNS):
        columns[name] = pa.array(marks[:, j])
    if HEALTH_ACCESS in standard.indicators:  # only exports under Decision 59 carry the column
        columns[HEALTH_ACCESS] = pa.array(marks[:, MARK_COLUMNS.index(HEALTH_ACCESS)])
    columns["meritorious_family"] = pa.array(meritorious[rows])
    columns["social_protection"] = pa.array(social[rows])
    columns["no_labour_capacity"] = pa.array(no_labour[rows])
    columns["reported_class"] = labels.take(pa.array(reported))
    return pa.table(columns)


def _append_rest_of_register(
    rng: np.random.Generator,
    rows: YearRows,
    year: int,
    code: str,
    cidx: np.ndarray,
    pool_share: np.ndarray,
    communes: Communes,
    new: NewCommunes,
) -> YearRows:
    """For a full-export year, add every resident household the pool did not simulate."""
    rest = communes.households[cidx] - np.minimum(
        np.ceil(pool_share * communes.households[cidx]).astype(np.int64), communes.households[cidx]
    )
    cur = np.repeat(cidx, rest)
    m = len(cur)
    if not m:
        return rows
    serial = np.arange(m) - np.repeat(np.concatenate([[0], np.cumsum(rest)[:-1]]), rest)
    serial = serial + np.repeat(communes.households[cidx] - rest, rest) + 1
    share = np.repeat(pool_share, rest)
    standing = RHO * norm_ppf(share + rng.uniform(size=m) * (1 - share)) + np.sqrt(
        1 - RHO**2
    ) * rng.normal(size=m)
    new_idx = communes.new_index[cur] if year >= 2025 else None
    urban = new.is_urban[new_idx] if new_idx is not None else communes.is_urban[cur]
    standard = standard_for_year(year)
    scale = income_scale(urban)
    z = communes.low_z[year][cur]
    income = np.round(scale * np.exp(INCOME_SIGMA * (standing - z)) / 1000).astype(np.int64) * 1000
    cls = classify(standard, income, *standard.lines(urban), np.zeros(m, dtype=bool))
    female = rng.uniform(size=m) < 0.2
    family = np.full(m, "kinh", dtype=object)
    codes = pc.utf8_replace_slice(
        pc.binary_join_element_wise(
            pa.array(communes.province[cur], pa.string()),
            pa.array(communes.code[cur], pa.string()),
            pc.utf8_lpad(pa.array(serial.astype(str)), 5, "0"),
            "",
        ),
        7,
        7,
        "-",
    )
    ids = pc.binary_join_element_wise(
        pa.array(np.full(m, "0" + code, dtype=object), pa.string()),
        pa.array(female.astype(np.int64).astype(str)),
        pc.utf8_lpad(pa.array(rng.integers(40, 100, m).astype(str)), 2, "0"),
        pc.utf8_lpad(pa.array(rng.integers(0, 1_000_000, m).astype(str)), 6, "0"),
        "",
    )
    everyone = np.arange(m)
    table = _year_table(
        rng, year, standard, everyone, cls, income, np.clip(1 + rng.poisson(2.5, m), 1, 12), cur,
        new_idx, (rng.uniform(size=m) * communes.villages[cur]).astype(np.int64), urban,
        communes, new,
        codes, _names(rng, family, female), ids, female,
        pa.array(np.full(m, "Kinh", dtype=object), pa.string()), rng.uniform(size=m) < 0.015,
        np.zeros(m, dtype=bool), np.zeros(m, dtype=bool),
    )  # fmt: skip
    if new_idx is not None:
        key = np.array(new.file_area, dtype=object)[new_idx]
    else:
        key = communes.district[cur]
    return YearRows(pa.concat_tables([rows.table, table]), np.concatenate([rows.file_key, key]))
