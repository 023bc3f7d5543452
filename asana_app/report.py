"""What the CLI prints after a load: dlt's load info, then per table the rows this run loaded
beside the rows now in the dataset, so an incremental run shows at a glance that only the
changes travelled."""

import os
from typing import Any, Dict, Tuple

import dlt
from dlt.common.pipeline import LoadInfo

from asana_app.interpreter import python_command, with_scripts_on_path


def table_counts(pipeline: dlt.Pipeline) -> Dict[str, int]:
    """Rows per data table in the destination, child tables included."""
    schema = pipeline.default_schema
    counts: Dict[str, int] = {}
    with pipeline.sql_client() as client:
        for table in sorted(schema.data_table_names(seen_data_only=True)):
            rows = client.execute_sql(f"SELECT count(*) FROM {client.make_qualified_table_name(table)}")
            counts[table] = int(rows[0][0])
    return counts


def report(pipeline: dlt.Pipeline, run: Tuple[LoadInfo, Dict[str, int]], title: str) -> LoadInfo:
    """Prints the load info, the rows this run loaded, and the rows now in each table."""
    info, loaded = run
    print(f"\n== {title}")
    print(info)
    totals = table_counts(pipeline)
    width = max([len(t) for t in totals] + [5])
    print(f"\n{'table'.ljust(width)}  {'loaded now':>10}  {'in dataset':>10}")
    for table, total in totals.items():
        print(f"{table.ljust(width)}  {loaded.get(table, 0):>10}  {total:>10}")
    return info


def data_location(pipeline: dlt.Pipeline, info: Any) -> str:
    """Where a load went, for the CLI's last line: a DuckDB file, a bucket, a masked database URL,
    and the pipeline's dataset (dlt's load info names none when the run had nothing to load)."""
    where = getattr(info, "destination_displayable_credentials", None) or info.destination_name
    return f"{where}, dataset {pipeline.dataset_name}"


def explore_command(pipeline: dlt.Pipeline) -> str:
    """`dlt pipeline <name> show` for this pipeline, runnable as printed from any shell.

    This interpreter rather than a `dlt` on PATH (cron's PATH has none, and another checkout's
    may come first), the pipeline's own folder (`--pipelines-dir`: without it dlt opens the
    pipeline of that name in its default folder), and the interpreter's scripts on PATH, since
    `show` starts `marimo` by name.
    """
    pipelines_dir = os.path.abspath(pipeline.pipelines_dir)
    command = python_command("-m", "dlt", "pipeline", "--pipelines-dir", pipelines_dir, pipeline.pipeline_name, "show")
    return with_scripts_on_path(command)


def closing_line(pipeline: dlt.Pipeline, info: Any) -> str:
    """A successful run's last line: where the data went, and the command to explore it (a run
    read from a log file ends with this, or with its `error:` line)."""
    return f"Loaded into {data_location(pipeline, info)}. Explore it: {explore_command(pipeline)}"
