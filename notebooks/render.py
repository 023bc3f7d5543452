"""Exports the charts notebook to static HTML and renders that in headless Chromium.

    python -m notebooks.render --db .demo/asana_demo.duckdb --html asana_charts.html --png docs/notebook.png

A marimo export loads marimo's frontend from its CDN; here every such request is answered
from the copy inside the installed `marimo` package, so rendering needs no network (and the
HTML file is exactly what `marimo export html` wrote). Each chart comes back with its title
and the accessible labels of its data marks (vega writes one per bar, line and box), which
say what the chart shows without looking at pixels.
"""

from __future__ import annotations

import argparse
import mimetypes
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "asana_charts.py"
CHROMIUM = os.environ.get("ASANA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
CHART_COUNT = 5


@dataclass
class Chart:
    """One rendered chart: its title and one label per data mark ("open tasks: 3; assignee: Ana")."""

    title: str
    marks: List[str]


def export_html(out: Path, notebook_args: Sequence[str]) -> Path:
    """Runs `marimo export html` on the notebook (outputs only, no code)."""
    cmd = [sys.executable, "-m", "marimo", "export", "html", "--no-include-code", "-f", str(NOTEBOOK), "-o", str(out),
           "--", *notebook_args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"marimo export failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}")
    return out


def _serve_marimo_assets(route: Any) -> None:
    static = Path(__import__("marimo").__file__).parent / "_static"
    url = route.request.url
    relative = url.split("/dist/", 1)[1].split("?")[0] if "/dist/" in url else ""
    path = static / relative
    if relative and path.is_file():
        route.fulfill(path=str(path), content_type=mimetypes.guess_type(str(path))[0] or "application/octet-stream")
    else:
        route.abort()  # nothing else may leave the machine


def render(html: Path, png: Optional[Path] = None, timeout_ms: int = 90_000) -> List[Chart]:
    """Opens the exported HTML offline and returns its charts (after all have drawn)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1800})
            page.route(lambda url: not url.startswith("file:"), _serve_marimo_assets)
            page.goto(html.resolve().as_uri())
            # Locators reach into marimo's shadow DOM, where the charts are.
            page.locator("svg.marks .role-title-text").nth(CHART_COUNT - 1).wait_for(timeout=timeout_ms)
            charts = []
            for svg in page.locator("svg.marks").all():
                title = svg.locator(".role-title-text")
                marks = svg.locator(".mark-rect path, .mark-line path")
                charts.append(Chart(title.first.text_content() or "" if title.count() else "",
                                    [m.get_attribute("aria-label") or "" for m in marks.all()]))
            if png is not None:
                png.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(png), full_page=True)
            return charts
        finally:
            browser.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Export the charts notebook and render it headless.")
    parser.add_argument("--db", default=str(ROOT / ".demo" / "asana_demo.duckdb"), help="DuckDB file with the models")
    parser.add_argument("--schema", default="asana_data_analytics", help="schema of the models")
    parser.add_argument("--html", default="asana_charts.html", help="where the static export goes")
    parser.add_argument("--png", default=None, help="also save a screenshot here")
    args = parser.parse_args(argv)
    db = Path(args.db).resolve()
    shown = db.relative_to(ROOT) if db.is_relative_to(ROOT) else db  # the notebook runs in ROOT
    html = export_html(Path(args.html).resolve(), ["--db", str(shown), "--schema", args.schema])
    for chart in render(html, Path(args.png) if args.png else None):
        print(f"{chart.title}: {len(chart.marks)} marks")
    print(f"wrote {html}" + (f" and {args.png}" if args.png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
