"""Make a Great Expectations Data Docs site work offline.

GX 1.24's page templates load Bootstrap, jQuery, bootstrap-table, the datepicker, Font Awesome
and the vega libraries from CDNs, and its logo from a web bucket: without a network the pages
render unstyled and the result tables stay empty (they are filled by bootstrap-table). After GX
builds the site, :func:`make_offline` copies the vendored distribution files of those packages
(``data_docs_assets/``, with their licenses) into ``<site>/static/vendor/`` and rewrites every
page to load them by a relative path, so the site also works when the folder is moved or opened
straight from disk. Subresource-integrity and crossorigin attributes go with the CDN URLs: a
``file://`` page cannot load a script with ``crossorigin`` set. The vega scripts only serve
profiling charts, which the gate's pages do not draw, so their tags are removed.

Links that a person clicks (to the GX documentation) stay: they request nothing by themselves.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ASSETS_DIR = Path(__file__).with_name("data_docs_assets")
VENDOR_DIR = Path("static") / "vendor"
LOGO = Path("static") / "images" / "logo-long.png"

# (pattern of the CDN URL, the vendored file relative to the site's static/vendor/)
REPLACEMENTS: tuple[tuple[str, str | None], ...] = (
    (
        r"https://maxcdn\.bootstrapcdn\.com/bootstrap/4\.3\.1/css/bootstrap\.min\.css",
        "bootstrap/bootstrap.min.css",
    ),
    (
        r"https://stackpath\.bootstrapcdn\.com/bootstrap/4\.3\.1/js/bootstrap\.min\.js",
        "bootstrap/bootstrap.min.js",
    ),
    (
        r"https://unpkg\.com/bootstrap-table@1\.19\.[01]/dist/bootstrap-table\.min\.css",
        "bootstrap-table/bootstrap-table.min.css",
    ),
    (
        r"https://unpkg\.com/bootstrap-table@1\.19\.[01]/dist/bootstrap-table\.min\.js",
        "bootstrap-table/bootstrap-table.min.js",
    ),
    (
        r"https://unpkg\.com/bootstrap-table@1\.19\.[01]/dist/extensions/filter-control/"
        r"bootstrap-table-filter-control(?:\.min)?\.css",
        "bootstrap-table/bootstrap-table-filter-control.min.css",
    ),
    (
        r"https://unpkg\.com/bootstrap-table@1\.19\.[01]/dist/extensions/filter-control/"
        r"bootstrap-table-filter-control\.min\.js",
        "bootstrap-table/bootstrap-table-filter-control.min.js",
    ),
    (
        r"https://cdnjs\.cloudflare\.com/ajax/libs/bootstrap-datepicker/1\.9\.0/css/"
        r"bootstrap-datepicker\.min\.css",
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    ),
    (
        r"https://cdnjs\.cloudflare\.com/ajax/libs/bootstrap-datepicker/1\.9\.0/js/"
        r"bootstrap-datepicker\.min\.js",
        "bootstrap-datepicker/bootstrap-datepicker.min.js",
    ),
    (
        r"https://cdn\.jsdelivr\.net/npm/@forevolve/bootstrap-dark@1\.1\.0/dist/css/"
        r"bootstrap-prefers-dark\.css",
        "bootstrap-dark/bootstrap-prefers-dark.min.css",
    ),
    (
        r"https://cdnjs\.cloudflare\.com/ajax/libs/font-awesome/6\.6\.0/css/all\.min\.css",
        "fontawesome/css/all.min.css",
    ),
    (r"https://code\.jquery\.com/jquery-3\.7\.1\.min\.js", "jquery/jquery.min.js"),
    (
        r"https://cdnjs\.cloudflare\.com/ajax/libs/popper\.js/1\.12\.9/umd/popper\.min\.js",
        "popper/popper.min.js",
    ),
)
VEGA_TAG = re.compile(
    r'<script src="https://cdn\.jsdelivr\.net/npm/vega(?:-lite|-embed)?@\d+"></script>\s*'
)
LOGO_URL = re.compile(
    r"https://great-expectations-web-assets\.s3\.[a-z0-9-]+\.amazonaws\.com/[\w.-]+\.png(?:\?[^\"')]*)?"
)
SRI = re.compile(r'\s+(?:integrity="[^"]*"|crossorigin="[^"]*")')
# What a page would still fetch by itself: script/img/link-stylesheet sources and CSS url()s.
FETCHED_URL = re.compile(
    r"""<(?:script|img|link)\b[^>]*?\b(?:src|href)=["'](https?://[^"']+)["']|url\(\s*['"]?(https?://[^'")]+)"""
)


@dataclass(frozen=True)
class OfflineSite:
    index: Path
    pages: int
    remaining_external: tuple[str, ...]


def _relative(target: Path, page: Path, site_dir: Path) -> str:
    return Path(os.path.relpath(site_dir / target, page.parent)).as_posix()


def _rewrite(text: str, page: Path, site_dir: Path) -> str:
    text = VEGA_TAG.sub("", text)
    for pattern, vendored in REPLACEMENTS:
        local = _relative(VENDOR_DIR / vendored, page, site_dir)
        text = re.sub(rf'(["\']){pattern}\1', lambda m, local=local: f"{m[1]}{local}{m[1]}", text)
    text = LOGO_URL.sub(_relative(LOGO, page, site_dir), text)
    # Integrity hashes pinned the CDN copies; the tags now point at local files.
    return re.sub(
        r"<(script|link)\b[^>]*>",
        lambda m: SRI.sub("", m[0]) if "https://" not in m[0] else m[0],
        text,
    )


def external_fetches(text: str) -> list[str]:
    """URLs outside the site that a page would request by itself (not links one clicks)."""
    return [a or b for a, b in FETCHED_URL.findall(text)]


def make_offline(site_dir: Path) -> OfflineSite:
    """Vendor the CDN assets into ``site_dir`` and point every page at them."""
    site_dir = Path(site_dir)
    vendor = site_dir / VENDOR_DIR
    if vendor.exists():
        shutil.rmtree(vendor)
    shutil.copytree(ASSETS_DIR, vendor, ignore=shutil.ignore_patterns("README.md"))
    remaining: set[str] = set()
    pages = 0
    for page in sorted(site_dir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        rewritten = _rewrite(text, page, site_dir)
        if rewritten != text:
            page.write_text(rewritten, encoding="utf-8")
        remaining.update(external_fetches(rewritten))
        pages += 1
    return OfflineSite(
        index=site_dir / "index.html", pages=pages, remaining_external=tuple(sorted(remaining))
    )


def build_site(context: Any, data_docs_dir: Path) -> Path:
    """The gate's Data Docs site, rendered from the results in the GX context, made offline."""
    data_docs_dir.mkdir(parents=True, exist_ok=True)
    context.add_data_docs_site(
        site_name="quality_gate",
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(data_docs_dir.resolve()),
            },
        },
    )
    context.build_data_docs(site_names=["quality_gate"])
    return make_offline(data_docs_dir).index
