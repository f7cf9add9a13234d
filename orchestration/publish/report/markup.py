"""How the report writes: Vietnamese numbers and alphabetical order, bilingual labels, table
cells.

The helpers with a leading underscore are the report package's own (its sections use them);
``vi_number``, ``vi_count`` and ``vietnamese_sort_key`` are for anyone.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

STATUS_LABELS = {
    "achieved": ("Đạt", "achieved", "#1a7f37"),
    "missed": ("Không đạt", "missed", "#b42318"),
    "on_track": ("Đúng tiến độ", "on track", "#1a7f37"),
    "off_track": ("Chậm tiến độ", "off track", "#b54708"),
    "provisional": ("Tạm tính", "provisional", "#475467"),
    "not_measurable": ("Không đo được", "not measurable", "#475467"),
}


METHOD_LABELS = {
    "native": "số liệu gốc / native",
    "mapped": "quy đổi theo đơn vị mới / mapped",
    "apportioned": "phân bổ / apportioned",
}


NOT_AVAILABLE = "Không có trong bản dựng này / not available in this build"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def vi_number(value: float | int | None, digits: int = 2) -> str:
    """A number as Vietnamese text writes it: points between thousands, a comma before the
    decimals (1.234,5), no trailing zeros; a whole number without decimals."""
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def vi_count(value: float | int | None) -> str:
    """A count as an integer (17, not 17,00); a weighted count carried across the 2025
    reorganisation keeps its decimals."""
    if isinstance(value, float) and abs(value - round(value)) < 0.005:
        value = int(round(value))
    return vi_number(value)


_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxy"


_MODIFIERS = {"\u0306": "ă", "\u0302": "^", "\u031b": "+"}


_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def vietnamese_sort_key(text: str | None) -> tuple:
    """Vietnamese alphabetical order: letters first (a < ă < â < b … d < đ …), tones second
    (none, huyền, hỏi, ngã, sắc, nặng), so "Bạch" sorts before "Bình" (code points put it
    after)."""
    letters: list[int] = []
    tones: list[int] = []
    for char in (text or "").lower():
        base, *marks = unicodedata.normalize("NFD", char)
        tone = next((_TONES[m] for m in marks if m in _TONES), 0)
        modifier = next((_MODIFIERS[m] for m in marks if m in _MODIFIERS), "")
        letter = {
            ("a", "ă"): "ă",
            ("a", "^"): "â",
            ("e", "^"): "ê",
            ("o", "^"): "ô",
            ("o", "+"): "ơ",
            ("u", "+"): "ư",
        }.get((base, modifier), base)
        index = _LETTERS.find(letter)
        letters.append(index if index >= 0 else 100 + ord(letter))
        tones.append(tone)
    return tuple(letters), tuple(tones)


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float | int) and not isinstance(value, bool):
        return vi_number(value, digits)
    return _e(value)


def _bi(vi: str, en: str) -> str:
    return f'{_e(vi)} <span class="en">/ {_e(en)}</span>'


def _table(headers: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    head = "".join(f"<th>{_bi(vi, en)}</th>" for vi, en in headers)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(value: Any, digits: int = 2) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{_num(value, digits)}</td>'
    return f"<td>{_e(value) if value is not None else '—'}</td>"


def _year(value: Any) -> str:
    return f"<td>{_e(value) if value is not None else '—'}</td>"


def _status(status: str | None) -> str:
    vi, en, colour = STATUS_LABELS.get(status or "", (status or "—", status or "—", "#475467"))
    return (
        f'<td data-status="{_e(status)}"><span class="status" style="background:{colour}">'
        f'{_e(vi)}</span> <span class="en">{_e(en)}</span></td>'
    )


def _na() -> str:
    return f'<p class="na">{NOT_AVAILABLE}</p>'
