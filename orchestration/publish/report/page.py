"""The report's page: its sections in order, the style, the file and ``make report``."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from orchestration.publish.report.charts import Chart
from orchestration.publish.report.markup import _bi, _e
from orchestration.publish.report.published import _Published
from orchestration.publish.report.sections import (
    _access_section,
    _build_section,
    _changes_section,
    _communes_section,
    _completeness_section,
    _difficult_section,
    _rates_section,
)
from orchestration.publish.report.targets import _cards_section, _plans_section

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;
color:#101828;background:#f9fafb;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px} h2{font-size:1.25rem;margin:32px 0 8px;
border-bottom:2px solid #d0d5dd;padding-bottom:4px} h3{font-size:1.05rem;margin:20px 0 6px}
.en{color:#475467;font-weight:normal;font-size:.9em}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0;font-size:.92rem}
th,td{border:1px solid #e4e7ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7} td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:.85rem}
.na{color:#667085;font-style:italic} figure{margin:8px 0;background:#fff;padding:8px;
border:1px solid #e4e7ec;overflow-x:auto} figcaption{font-size:.85rem;color:#475467}
.meta{color:#475467;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(255px,1fr));gap:10px}
.card{background:#fff;border:1px solid #d0d5dd;border-left:6px solid var(--c);border-radius:6px;
padding:8px 10px;font-size:.86rem} .card h4{margin:0 0 4px;font-size:.92rem}
.card .big{font-size:1.15rem;font-weight:600} .card .why{color:#b54708;font-size:.8rem}
.card svg{display:block;margin-top:4px} details{margin:8px 0} summary{cursor:pointer}
"""


def render_report(published_path: Path) -> tuple[str, list[Chart]]:
    """The report's HTML for the published file at ``published_path``, and its charts."""
    db = _Published(Path(published_path))
    try:
        build_id, build_html = _build_section(db)
        rates_html, rates_charts = _rates_section(db)
        access_html, access_chart = _access_section(db)
        history = (
            "<details data-history><summary>"
            + _bi("Toàn bộ lịch sử đánh giá chỉ tiêu", "the full target history")
            + f"</summary>{_plans_section(db)}</details>"
        )
        sections = [
            (("Chỉ tiêu kế hoạch", "plan targets"), "cards", _cards_section(db)),
            (("Tỷ lệ hộ nghèo, cận nghèo theo năm", "poverty rates"), "rates", rates_html),
            (
                ("Thay đổi so với lần công bố trước", "changes since the previous publish"),
                "changes",
                _changes_section(db),
            ),
            (
                ("Mức độ đầy đủ của số liệu", "completeness"),
                "completeness",
                _completeness_section(db),
            ),
            (("Bản dựng", "the build"), "build", build_html),
            (
                ("Xã, thôn đặc biệt khó khăn", "extremely difficult communes and villages"),
                "difficult",
                _difficult_section(db),
            ),
            (("Tiếp cận dịch vụ theo chỉ số", "access by indicator"), "access", access_html),
            (("Xã cần chú ý", "communes to watch"), "watch", _communes_section(db)),
            (("Lịch sử chỉ tiêu", "target history"), "history", history),
        ]
    finally:
        db.close()
    body = "".join(
        f'<section data-section="{key}"><h2>{_bi(vi, en)}</h2>{content}</section>'
        for (vi, en), key, content in sections
    )
    page = (
        '<!DOCTYPE html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Báo cáo giảm nghèo / Poverty-reduction report — {_e(build_id)}</title>"
        f"<style>{STYLE}</style></head><body><main>"
        f"<h1>{_bi('Báo cáo thực hiện mục tiêu giảm nghèo', 'poverty-reduction plan report')}</h1>"
        f'<p class="meta" data-build="{_e(build_id)}">Bản dựng / build {_e(build_id)}</p>'
        f"{body}</main></body></html>"
    )
    charts = [*rates_charts, *([access_chart] if access_chart is not None else [])]
    return page, charts


def write_report(published_path: Path, destination: Path) -> Path:
    """Write the report of ``published_path`` to ``destination`` (a temp file, then a rename)."""
    page, _ = render_report(published_path)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".publishing-report-", suffix=".tmp", dir=destination.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as writer:
            writer.write(page)
            writer.flush()
            os.fsync(writer.fileno())
        os.chmod(name, 0o644)
        os.replace(name, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
    return destination


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m orchestration.publish.report WAREHOUSE_DIR``: rebuild the report, open
    nothing."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m orchestration.publish.report", description=main.__doc__
    )
    parser.add_argument("warehouse_dir", type=Path, help="the folder of published.duckdb")
    args = parser.parse_args(argv)
    published = args.warehouse_dir / "published.duckdb"
    if not published.is_file():
        parser.error(f"{published} does not exist: run `poverty-warehouse run` first")
    print(write_report(published, args.warehouse_dir / "report" / "index.html"))
    return 0
