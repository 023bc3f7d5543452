"""Where the CLI loads: DuckDB with a bounded budget, the pipeline, and the fastest file format.

DuckDB's defaults (80% of the machine's RAM, a thread per core, twenty load jobs at once) made a
100k-task load peak at 1.4 GB; the settings here keep it to what the load needs (docs/configuration.md,
memory settings). The bench loads through the same `duckdb_destination`, so it measures
what a user's run uses.
"""

import sys
from typing import Any, Dict, Optional

import dlt

# DuckDB's defaults are 80% of the machine's RAM and one thread per core: a 100k-task load then
# peaked at 1.4 GB, most of it DuckDB's during the load step. With DuckDB 1.4.4, 96 MB and one
# thread (and one load job at a time, below) load 100k tasks with their stories; the load step
# then peaks ~100 MB above normalize, and DuckDB spills the rest to `<file>.tmp`. 64 MB fails at
# 100k tasks ("failed to pin block" committing a 20k-row stories file), 128 MB peaked 35 MB higher.
# Insertion order does not matter to merge tables and keeping it costs memory. Entries under
# `[destination.duckdb.credentials] global_config` in secrets.toml (or the matching environment
# variable) win over these; dlt refuses credentials keys in config.toml.
DUCKDB_SETTINGS: Dict[str, Any] = {"memory_limit": "96MB", "threads": 1, "preserve_insertion_order": False}
# dlt's loader runs up to 20 load jobs at once, each in its own DuckDB transaction: with DuckDB
# 1.4 their uncommitted rows shared the budget and a 20k-task load failed on them ("failed to pin
# block", retried) and peaked 80 MB higher at 2k tasks. The price: dlt's pool closes the database
# after each job, so each table's job checkpoints and reopens it (2k tasks: load step 2.7 s with an
# idle connection held open, 10 s without; but held open, 96 MB ran out of memory at 100k tasks).
DUCKDB_LOAD_JOBS = "sequential"


def duckdb_destination(database: Optional[str] = None) -> Any:
    """DuckDB with a bounded memory and thread budget (`DUCKDB_SETTINGS`) unless configured.

    Args:
        database: The DuckDB file; None keeps dlt's default, `<pipeline name>.duckdb`.
    """
    configured = dlt.secrets.get("destination.duckdb.credentials.global_config", dict)
    credentials: Dict[str, Any] = {"global_config": {**DUCKDB_SETTINGS, **(configured or {})}}
    if database:
        credentials["database"] = database
    return dlt.destinations.duckdb(credentials=credentials, loader_parallelism_strategy=DUCKDB_LOAD_JOBS)


def make_pipeline(
    name: str, destination: Any, dataset: str, progress: str, pipelines_dir: Optional[str] = None
) -> dlt.Pipeline:
    """One pipeline per name; dlt's progress collector shows requests, pages and rows as they come."""
    if progress == "auto":
        progress = "bar" if sys.stderr.isatty() else "log"
    collector: Any = {"bar": dlt.progress.tqdm, "log": lambda: dlt.progress.log(10.0, sys.stderr)}.get(progress)
    if destination == "duckdb":
        destination = duckdb_destination()
    return dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=pipelines_dir,
        destination=destination,
        dataset_name=dataset,
        progress=collector() if collector else None,
    )


def fastest_file_format(pipeline: dlt.Pipeline) -> Optional[str]:
    """Parquet where the destination takes it: on DuckDB it loads ~20x faster than SQL inserts
    and keeps peak memory ~10x lower (bench/, `--scenario formats`). On Postgres, csv: dlt loads
    it with COPY streamed from the file, where its default insert_values held statements of up
    to 16 MB in each of 20 load threads (3 GB at 100k tasks); its parquet needs the ADBC driver."""
    supported = pipeline.destination.capabilities().supported_loader_file_formats or []
    if pipeline.destination.destination_type.endswith(".postgres") and "csv" in supported:
        return "csv"
    return "parquet" if "parquet" in supported else None
