"""`python -m bench.publish`: the committed results and docs/performance.md come from the bench's
own results files, figures as recorded, never typed by hand."""

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bench import publish

REPO = Path(__file__).resolve().parents[2]


def _results(date: str, commit: str, rows: List[Dict[str, Any]], sizes: str = "full") -> Dict[str, Any]:
    header = {
        "date": date, "machine": "2 cores, 8.0 GB RAM, Linux", "load_average": [0.4, 0.3, 0.2], "commit": commit,
        "command": "python -m bench.run --scenario cpu --scenario memory", "python": "3.11.7", "dlt": "1.31.0",
        "sizes": sizes,
    }
    return {"header": header, "rows": rows}


def _row(name: str, requests: int, wall_s: float, rss: float, verdict: str, **extra: Any) -> Dict[str, Any]:
    return {
        "scenario": name, "requests": requests, "bound": requests - 2, "throttled_429": 1, "wall_s": wall_s,
        "floor_s": 100.5, "rows_per_s": 12345.6, "peak_rss_mb": rss, "error": None,
        "targets": [{"name": "RSS", "figure": rss, "limit": 400.0, "at_most": True, "unit": "MB", "met": rss <= 400}],
        "notes": [f"steps of {name}: extract 1.0 s"], "details": {},
        "request_ratio": requests / (requests - 2), "time_ratio": wall_s / 100.5, "verdict": verdict, **extra,
    }


def _publish(tmp_path: Path, *results: Dict[str, Any], extra: List[str] = ()) -> str:
    paths = []
    for i, data in enumerate(results):
        path = tmp_path / f"latest-{i}.json"
        path.write_text(json.dumps(data))
        paths.append(str(path))
    store, markdown = tmp_path / "results.json", tmp_path / "performance.md"
    assert publish.main([*paths, *extra, "--store", str(store), "--markdown", str(markdown)]) == 0
    return markdown.read_text()


def test_the_page_holds_the_figures_of_the_results_file(tmp_path: Path) -> None:
    page = _publish(tmp_path, _results("2027-01-02T10:00:00+00:00", "abc123def456", [
        _row("cpu", 155174, 122.9, 339.2, "met: rows/s vs floor 0.839x>=0.8x"),
        _row("memory@10k", 15526, 77.0, 406.4, "-"),
    ]))
    assert "| `cpu` | 155,174 | 155,172 | 1.000 | 1 | 122.9 | 100.5 | 1.22 | 12,346 | 339 | met: rows/s vs floor 0.839x>=0.8x | 1 |" in page
    assert "| `memory@10k` | 15,526 | 15,524 | 1.000 | 1 | 77 | 100.5 | 0.77 | 12,346 | 406 | - | 1 |" in page
    assert "2027-01-02T10:00:00+00:00" in page and "abc123def456" in page and "2 cores, 8.0 GB RAM, Linux" in page
    assert "`python -m bench.run --scenario cpu --scenario memory`" in page and "0.4, 0.3, 0.2" in page
    assert "Goals: RSS <= 400 MB." in page
    assert "  - steps of cpu: extract 1.0 s" in page
    assert page.index("## cpu") < page.index("## memory")  # the bench's order of scenarios
    assert "Rows/s of the source against plain dlt" in page  # described by bench/scenarios/cpu.py
    assert "smoke" not in page


def test_a_newer_run_replaces_its_rows_and_keeps_the_others(tmp_path: Path) -> None:
    first = _results("2027-01-02T10:00:00+00:00", "aaaa", [_row("cpu", 100, 150.0, 300.0, "-"), _row("latency", 50, 9.0, 250.0, "-")])
    second = _results("2027-02-03T10:00:00+00:00", "bbbb", [_row("cpu", 90, 140.0, 310.0, "-")])
    page = _publish(tmp_path, first, second)
    stored = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert stored["cpu"]["run"]["commit"] == "bbbb" and stored["cpu"]["row"]["requests"] == 90
    assert stored["latency"]["run"]["commit"] == "aaaa"
    assert "| `cpu` | 90 |" in page and "| `latency` | 50 |" in page and "| `cpu` | 100 |" not in page
    # An older file published later does not overwrite a newer row.
    _publish(tmp_path, first)
    assert json.loads((tmp_path / "results.json").read_text())["rows"]["cpu"]["run"]["commit"] == "bbbb"


def test_smoke_runs_need_allow_quick_and_are_labelled(tmp_path: Path) -> None:
    quick = _results("2027-01-02T10:00:00+00:00", "cccc", [_row("cpu", 700, 3.0, 200.0, "-")], sizes="quick")
    path = tmp_path / "latest-quick.json"
    path.write_text(json.dumps(quick))
    with pytest.raises(SystemExit):
        publish.main([str(path), "--store", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "p.md")])
    page = _publish(tmp_path, quick, extra=["--allow-quick"])
    assert "smoke run, not a measurement" in page and "| 1 (smoke) |" in page


def test_drop_removes_a_scenario(tmp_path: Path) -> None:
    _publish(tmp_path, _results("2027-01-02T10:00:00+00:00", "dddd", [
        _row("big-org:polling:idle", 600, 11.0, 300.0, "-"), _row("cpu", 100, 150.0, 300.0, "-")]))
    page = _publish(tmp_path, extra=["--render-only", "--drop", "big-org"])
    assert "big-org" not in page.split("## Runs")[1] and "| `cpu` | 100 |" in page


def test_the_committed_page_is_what_the_committed_results_generate() -> None:
    store = publish.load_store(REPO / "docs" / "performance" / "results.json")
    assert (REPO / "docs" / "performance.md").read_text() == publish.render(store)
