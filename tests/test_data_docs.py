"""Great Expectations Data Docs work offline: vendored assets, rendered in headless Chromium."""

from __future__ import annotations

from pathlib import Path

from browser import count, open_page
from built_warehouse import copy_warehouse

from orchestration.gate.data_docs import external_fetches
from orchestration.gate.validation import run_gate


def test_data_docs_render_with_styles_and_results_offline(
    tmp_path: Path, built_warehouse: Path
) -> None:
    warehouse = copy_warehouse(built_warehouse, tmp_path / "warehouse")
    site = warehouse.parent / "data_docs"
    result = run_gate(warehouse, build_id="b1", run_id="r1", data_docs_dir=site)
    assert result.data_docs_index == site / "index.html"
    pages = sorted(site.rglob("*.html"))
    validation_pages = sorted((site / "validations").rglob("*.html"))
    assert validation_pages
    for page in pages:
        assert external_fetches(page.read_text(encoding="utf-8")) == [], page

    with open_page(site / "index.html") as visit:
        page = visit.page
        page.screenshot(path=str(tmp_path / "data_docs_index.png"))
        assert visit.external() == [] and visit.failed == []
        assert visit.console_errors == []
        # Bootstrap's navbar is a flex box: the stylesheet applied.
        assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "flex"
        # bootstrap-table (jQuery) turned the results into rows, one per validation result.
        assert count(page, "table tr[data-index]") >= len(validation_pages)
        assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"')")
        assert "marts.commune_year" in page.inner_text("body")

    with open_page(validation_pages[0]) as visit:
        page = visit.page
        page.screenshot(path=str(tmp_path / "data_docs_validation.png"), full_page=True)
        assert visit.external() == [] and visit.failed == []
        assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "flex"
        assert count(page, "table tbody tr") > 0
        assert page.locator("img[src$='logo-long.png']").evaluate("img => img.naturalWidth") > 0
