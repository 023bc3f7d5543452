"""`delta`: a full load into Delta tables on local disk against the same load into DuckDB."""

from typing import List

from bench.bounds import full_load_bound
from bench.results import Row, Target
from bench.scenarios.harness import Bench
from bench.scenarios.sizes import size_label


def run(bench: Bench) -> List[Row]:
    """A full load into Delta tables on local disk against the same load into DuckDB.

    Same account, same child process setup, every resource, no quota: the ratios are the
    cost of the lakehouse (parquet files plus Delta commits and merges) over one DuckDB file.
    """
    s = bench.sizes
    bench.log(f"delta: {size_label(s.tasks)} tasks into DuckDB, then into Delta (filesystem)")
    with bench.simulator(s.tasks, s.projects) as sim:
        bound = full_load_bound(sim.store, None)
        duck = bench.source_run(sim, bench.workdir("delta-duckdb"), 0, bound, None, "parquet")
        delta = bench.source_run(sim, bench.workdir("delta"), 0, bound, None, "parquet", table_format="delta")
    duck_row = bench.fill(Row("delta:duckdb"), duck)
    delta_row = bench.fill(Row("delta:delta"), delta)
    wall_x = delta_row.wall_s / duck_row.wall_s if delta_row.wall_s and duck_row.wall_s else None
    rss_x = delta_row.peak_rss_mb / duck_row.peak_rss_mb if delta_row.peak_rss_mb and duck_row.peak_rss_mb else None
    same = (delta.outcome.result or {}).get("rows") == (duck.outcome.result or {}).get("rows")
    delta_row.notes.append(
        f"vs DuckDB: wall {wall_x or 0:.2f}x, peak RSS {rss_x or 0:.2f}x;"
        f" {'same' if same else 'DIFFERENT'} per-table row counts"
    )
    delta_row.targets = [Target("wall vs duckdb", wall_x, 1.5), Target("RSS vs duckdb", rss_x, 1.5)]
    return [duck_row, delta_row]
