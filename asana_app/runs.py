"""One run of the source, as the CLI makes it: a killed run's load finished first, merges
checked before anything is written, and the rows each table received counted.

dlt's `run` does these steps in one call; the CLI takes them one by one so that the extract and
normalize can run in a forked child (`fetch_once`) and the load in the parent (docs/configuration.md,
memory settings), and so that a lakehouse run can keep one row per key (`asana_app.lakehouse`).
"""

import csv
import os
from typing import Any, Dict, List, Optional, Tuple

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.common.storages import FileStorage
from dlt.common.storages.load_package import PackageStorage

from asana_app.destinations import fastest_file_format
from asana_app.lakehouse import check_merges, prepare_iceberg_catalog, run_without_repeated_rows
from asana_app.packages import prune_loaded_packages


def run_once(
    pipeline: dlt.Pipeline,
    source: Any,
    resources: Optional[List[str]],
    full_refresh: bool,
    table_format: Optional[str] = None,
) -> Tuple[LoadInfo, Dict[str, int]]:
    """Extracts, normalizes and loads one run of the source, after finishing a killed run's load;
    a run that could not merge is refused before anything is written.

    Returns:
        dlt's load info and the rows this run loaded per table."""
    if table_format:  # Delta/Iceberg's upsert needs each key once per load
        source = _checked(pipeline, source, resources, table_format)
        run = run_without_repeated_rows(pipeline, source, **_extract_args(pipeline, full_refresh, table_format))
        prune_loaded_packages(pipeline)
        return run
    loaded = fetch_once(pipeline, source, resources, full_refresh)
    return load_package(pipeline, loaded), loaded


# Loads up to this many rows into DuckDB over one connection held open for the whole load.
SMALL_LOAD_ROWS = 100_000


def load_package(pipeline: dlt.Pipeline, rows: Dict[str, int]) -> LoadInfo:
    """dlt's load step, then the oldest loaded packages deleted (`asana_app.packages`); a small
    load into DuckDB holds one connection open throughout.

    Why: with one load job at a time (`destinations.DUCKDB_LOAD_JOBS`), dlt closes the database
    after each table's job, and DuckDB checkpoints on every close: an incremental run's load of a
    few rows in forty tables took 2.7 s, 0.8 s over one connection (the bench's incremental run:
    11.9 s to 8.5 s wall, for 65 MB more peak memory, DuckDB's cache kept between jobs). A large
    load closes it after each job as before: held open, 96 MB of DuckDB memory ran out at 100k tasks.

    Args:
        rows: The rows per table the normalized package holds (`fetch_once`).
    """
    if pipeline.destination.destination_type.endswith(".duckdb") and sum(rows.values()) <= SMALL_LOAD_ROWS:
        with pipeline.sql_client():  # the load's jobs borrow this connection instead of reopening the file
            info = pipeline.load()
    else:
        info = pipeline.load()
    prune_loaded_packages(pipeline)
    return info


def fetch_once(pipeline: dlt.Pipeline, source: Any, resources: Optional[List[str]], full_refresh: bool) -> Dict[str, int]:
    """The steps of `run_once` before the load: what dlt's `run` does up to it (state restored
    from the destination, extract, normalize), so the load can run in another process.

    Returns:
        the rows per table the normalized package holds."""
    source = _checked(pipeline, source, resources, None)
    pipeline.sync_destination()  # as `run` does first: a fresh machine resumes from the destination's state
    pipeline.extract(source, **_extract_args(pipeline, full_refresh, None))
    normalized = pipeline.normalize()
    return {**(dict(normalized.row_counts) if normalized else {}), **csv_rows(pipeline)}


def csv_rows(pipeline: dlt.Pipeline) -> Dict[str, int]:
    """Rows per table in the normalized packages' csv files, counted from the files.

    Why: dlt 1.31's csv writer counts each row's fields, not its rows (`CsvWriter.write_data`:
    `items_count += sum(len(row) for row in items)`), so on Postgres, which the CLI loads with
    csv, the normalize info said 18,903 tasks where 662 loaded.
    """
    counted: Dict[str, int] = {}
    for load_id in pipeline.list_normalized_load_packages():
        for job in pipeline.get_load_package_info(load_id).jobs.get("new_jobs", []):
            if job.job_file_info.file_format != "csv":
                continue
            with FileStorage.open_zipsafe_ro(job.file_path, "r", encoding="utf-8", newline="") as handle:
                records = sum(1 for _ in csv.reader(handle)) - 1  # less the header
            table = job.job_file_info.table_name
            counted[table] = counted.get(table, 0) + max(records, 0)
    return counted


def _checked(pipeline: dlt.Pipeline, source: Any, resources: Optional[List[str]], table_format: Optional[str]) -> Any:
    """The source cut to `resources`, once it is known to merge, with a killed run's load finished."""
    if resources:
        source = source.with_resources(*resources)
    check_merges(pipeline, source, table_format)
    prepare_iceberg_catalog(pipeline, table_format)
    finish_earlier_run(pipeline)
    return source


def _extract_args(pipeline: dlt.Pipeline, full_refresh: bool, table_format: Optional[str]) -> Dict[str, Any]:
    return {
        "refresh": "drop_sources" if full_refresh else None,
        "loader_file_format": fastest_file_format(pipeline),
        "table_format": table_format,
    }


def finish_earlier_run(pipeline: dlt.Pipeline) -> None:
    """Completes what a killed run left, so this run's changes still load in this invocation.

    dlt's `run` given pending packages loads only those and drops this run's data, so the
    changes would wait for another run. A package whose load never began loads as it is; one
    killed mid-load has jobs that may or may not have reached the destination, and loading them
    again duplicates rows, so it is aborted (dlt restores the state of the last complete load)
    and this run's extraction fetches its data again. An extracted package that a kill left half
    deleted is dropped first (`drop_half_deleted_packages`).
    """
    dropped = drop_half_deleted_packages(pipeline)
    if dropped:
        print(f"Dropped {len(dropped)} extracted package(s) an earlier run was killed deleting: its data is in the"
              " normalized package(s).")
    if not pipeline.has_pending_data:
        return
    packages = [pipeline.get_load_package_info(load_id) for load_id in pipeline.list_normalized_load_packages()]
    if any(package.jobs.get("started_jobs") for package in packages):
        print("Finishing the earlier, interrupted run first: it was killed mid-load, so this run loads its data again.")
        pipeline.abort_packages()
    else:
        print("Finishing the earlier, interrupted run first: loading the data it had already fetched.")
        pipeline.normalize()
        pipeline.load()


def drop_half_deleted_packages(pipeline: dlt.Pipeline) -> List[str]:
    """Deletes the extracted packages a run killed inside dlt's normalize commit left behind.

    Why: dlt's normalize commits a package by renaming its normalized copy into the load
    storage, then deletes the extracted copy file by file (it logs "do not kill this process").
    Killed in between (SIGKILL, the OOM killer, a reboot), the extracted copy stays with some of
    its files gone, often its `new_jobs` folder, and every later run's normalize fails on it
    (FileNotFoundError: .../new_jobs): follow mode and every scheduled run stayed stuck. Its data
    is in the normalized package, which loads as any other. An extracted package with no
    normalized copy is only ever incomplete when a deletion of it was killed: dlt deletes empty
    packages and aborted ones, never one it still needs.

    Returns:
        The load ids deleted.
    """
    extracted = pipeline.list_extracted_load_packages()
    if not extracted:
        return []
    storage = pipeline._get_normalize_storage().extracted_packages  # dlt has no public call for one package
    committed = set(pipeline.list_normalized_load_packages()) | set(pipeline.list_completed_load_packages())
    dropped = []
    for load_id in extracted:
        folder = storage.get_package_path(load_id)
        complete = storage.storage.has_folder(os.path.join(folder, PackageStorage.NEW_JOBS_FOLDER)) and storage.storage.has_file(
            os.path.join(folder, PackageStorage.SCHEMA_FILE_NAME)
        )
        if load_id in committed or not complete:
            storage.delete_package(load_id)
            dropped.append(load_id)
    return dropped
