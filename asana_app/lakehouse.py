"""Checks that keep a lakehouse (or any destination) an exact mirror, before anything is written.

dlt quietly appends when a destination cannot merge a `merge` table (plain parquet files on
the filesystem destination, for one): every later run would then duplicate the changed tasks
and stories. These checks turn that into one clear error that names the fix, raised before the
run extracts a single page, and prepare the one shared thing parallel load jobs would race on
(an Iceberg SQL catalog). The run into Delta/Iceberg that the CLI, the orchestrators and the
bench share (`mirror_run`) does what dlt's `run` leaves undone there: one row per key, new
Iceberg columns taken safely, nested rows a task lost deleted.
"""

from importlib.util import find_spec
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

import dlt
from dlt.common.destination import Destination
from dlt.common.pipeline import LoadInfo
from dlt.common.destination.utils import resolve_merge_strategy

TABLE_FORMATS = ("delta", "iceberg")
EXTRAS_HINT = "pip install -r requirements-lakehouse.txt"
# The package each table format needs, beside dlt's filesystem destination.
_FORMAT_PACKAGES = {"delta": "deltalake", "iceberg": "pyiceberg"}


class LakehouseConfigError(ValueError):
    """A destination / table format combination that would not keep the mirror exact."""


def check_table_format(destination: Any, table_format: Optional[str]) -> None:
    """Fails fast when the destination cannot write `table_format` or its package is missing.

    Args:
        destination: a dlt destination (name or instance), as `dlt.pipeline` takes it.
        table_format: `delta`, `iceberg` or None (the destination's native tables).

    Raises:
        LakehouseConfigError: with the flag or install command that fixes it.
    """
    if not table_format:
        return
    dest = Destination.from_reference(destination)
    supported = dest.capabilities().supported_table_formats or []
    if table_format not in supported:
        raise LakehouseConfigError(
            f"destination {dest.destination_name} does not write {table_format} tables: "
            f"use --destination filesystem with a bucket_url (a local folder or s3://...), "
            f"or drop --table-format"
        )
    package = _FORMAT_PACKAGES[table_format]
    # Only the filesystem destination writes the tables itself; warehouses (Athena, ...) do it server-side.
    if dest.destination_name == "filesystem" and find_spec(package) is None:
        raise LakehouseConfigError(
            f"--table-format {table_format} needs the {package} package, not installed here: {EXTRAS_HINT}"
        )


def check_merges(pipeline: dlt.Pipeline, source: Any, table_format: Optional[str]) -> None:
    """Refuses a run in which dlt would fall back from `merge` to `append` for any table.

    Why: the fallback is only a warning, and the tables it hits (tasks, stories) are exactly the
    ones whose changed rows arrive again on every run, so the mirror would fill with duplicates.

    Raises:
        LakehouseConfigError: naming the tables and the fix (a table format, or another destination).
    """
    caps = pipeline.destination.capabilities()
    cannot: List[str] = []
    for name, resource in source.selected_resources.items():
        if resource.has_dynamic_table_name:  # follow mode's tables listed whole: replace, never merge
            continue
        table = resource.compute_table_schema()
        if table.get("write_disposition") != "merge":
            continue
        table = {**table, "name": name}
        if table_format:
            table["table_format"] = table_format
        if resolve_merge_strategy({name: table}, table, caps) is None:
            cannot.append(name)
    if not cannot:
        return
    tables = ", ".join(cannot)
    if "delta" in (caps.supported_table_formats or []) and not table_format:
        fix = "add --table-format delta (or iceberg), " + EXTRAS_HINT
    else:
        fix = "choose a destination that merges (duckdb, postgres, ...) or --destination filesystem --table-format delta"
    raise LakehouseConfigError(
        f"destination {pipeline.destination.destination_name} cannot merge {tables} "
        f"(dlt would append duplicates on every run): {fix}"
    )


def prepare_iceberg_catalog(pipeline: dlt.Pipeline, table_format: Optional[str]) -> None:
    """Creates the Iceberg catalog's tables and the dataset's namespaces once, before loading.

    Why: dlt's load jobs run in parallel and each opens the catalog; on a fresh persistent SQL
    catalog (SQLite) they all try to create its tables and the namespace at the same moment and
    fail with `already exists` / `UNIQUE constraint failed` until dlt retries them.
    """
    if table_format != "iceberg" or pipeline.destination.destination_name != "filesystem":
        return
    from dlt.common.libs.pyiceberg import get_catalog, is_ephemeral_catalog
    from dlt.destinations.impl.filesystem.configuration import FilesystemDestinationClientConfiguration
    from pyiceberg.exceptions import NamespaceAlreadyExistsError

    catalog = get_catalog()  # from [iceberg_catalog] config; creating it creates its tables
    if is_ephemeral_catalog(catalog):
        return  # dlt's in-memory fallback lives and dies with each client: nothing to share
    layout = FilesystemDestinationClientConfiguration().staging_dataset_name_layout
    staging = layout % pipeline.dataset_name if "%s" in layout else layout
    for namespace in (pipeline.dataset_name, staging):
        try:
            catalog.create_namespace(namespace)
        except NamespaceAlreadyExistsError:
            pass


def source_options(table_format: Optional[str]) -> Dict[str, Any]:
    """`asana_source` arguments a table format needs: soft deletes on Delta/Iceberg.

    Why: dlt cannot apply the `hard_delete` hint to a table with nested tables under `upsert`,
    so deleted tasks and stories stay, marked `is_deleted` and `deleted_at` (as the CLI does).
    """
    return {"deletes": "soft"} if table_format else {}


def mirror_run(pipeline: dlt.Pipeline, source: Any, table_format: Optional[str], **run_args: Any) -> LoadInfo:
    """One scheduled run that keeps any destination an exact mirror: what the orchestrators call.

    The CLI's checks (a destination that cannot merge fails before anything is fetched; an
    Iceberg SQL catalog prepared once), then dlt's `run` on a database, or on Delta/Iceberg the
    CLI's own run (`run_without_repeated_rows`: one row per key, new Iceberg columns, orphaned
    nested rows deleted), which dlt's `run` would not do.
    """
    check_table_format(pipeline.destination, table_format)
    check_merges(pipeline, source, table_format)
    prepare_iceberg_catalog(pipeline, table_format)
    if not table_format:
        return pipeline.run(source, **run_args)
    info, _ = run_without_repeated_rows(pipeline, source, table_format=table_format, **run_args)
    return info


def run_without_repeated_rows(pipeline: dlt.Pipeline, source: Any, **extract_args: Any) -> Tuple[LoadInfo, Dict[str, int]]:
    """One run into Delta/Iceberg: extract, normalize, keep one row per key, (Iceberg) add the
    new columns, load, delete orphaned nested rows.

    Why: Delta and Iceberg merge with dlt's `upsert`, which needs every key once per load
    (deltalake stops with "MERGE matched a target row with multiple source rows"), while the
    source may pass a task through twice in one run: again, when its stories changed after
    another project's listing had already yielded it, so that the `stories` transformer sees it
    (changes.py). DuckDB's and Postgres' `delete-insert` merge keeps one copy; `upsert` does
    not. dlt's `run` does the same steps, with no place between normalize and load (see
    `evolve_iceberg_tables` and `delete_orphaned_nested_rows` for the other two).

    Returns:
        dlt's load info, and the rows loaded per table.
    """
    pipeline.sync_destination()  # as `run` does first: a fresh machine resumes from the lake's state
    pipeline.extract(source, **extract_args)
    pipeline.normalize()
    rows, ids = drop_repeated_rows(pipeline)
    table_format = extract_args.get("table_format")
    if table_format == "iceberg":
        evolve_iceberg_tables(pipeline)
    info = pipeline.load()
    if table_format in TABLE_FORMATS:
        delete_orphaned_nested_rows(pipeline, ids, table_format)
    return info, rows


def _package_files(pipeline: dlt.Pipeline) -> Iterator[Dict[str, List[str]]]:
    """The files of each normalized load package, by table: what dlt's load jobs will read."""
    for load_id in pipeline.list_normalized_load_packages():
        files: Dict[str, List[str]] = {}
        for job in pipeline.get_load_package_info(load_id).jobs.get("new_jobs", []):
            files.setdefault(job.job_file_info.table_name, []).append(job.file_path)
        yield files


def drop_repeated_rows(pipeline: dlt.Pipeline) -> Tuple[Dict[str, int], Dict[str, Set[str]]]:
    """Keeps the last row per key of every merge table in the normalized packages (parquet).

    The key is the primary key of a root table and `_dlt_id` of a nested one (derived from the
    root's key under `upsert`, so a repeated task repeats its nested rows with the same ids).

    Returns:
        rows per table that will load, and the `_dlt_id`s per merge table.
    """
    import pyarrow.parquet as pq
    from dlt.common.schema.utils import get_columns_names_with_prop, get_write_disposition, is_nested_table

    schema = pipeline.default_schema
    kept: Dict[str, int] = {}
    ids: Dict[str, Set[str]] = {}
    for files in _package_files(pipeline):
        for table, paths in files.items():
            table_schema = schema.tables.get(table)
            parquet = all(p.endswith(".parquet") for p in paths)
            merge = table_schema is not None and get_write_disposition(schema.tables, table) == "merge"
            nested = merge and is_nested_table(table_schema)
            keys = ["_dlt_id"] if nested else get_columns_names_with_prop(table_schema, "primary_key") if merge else []
            if not parquet:
                continue
            seen: Set[Tuple[Any, ...]] = set()
            for path in sorted(paths, reverse=True):  # the last copy wins, as the newest read
                data = pq.read_table(path)
                if not keys:
                    kept[table] = kept.get(table, 0) + data.num_rows
                    continue
                mask = [False] * data.num_rows
                values = list(zip(*(data.column(k).to_pylist() for k in keys)))
                for i in range(data.num_rows - 1, -1, -1):
                    if values[i] not in seen:
                        seen.add(values[i])
                        mask[i] = True
                if not all(mask):
                    data = data.filter(mask)
                    pq.write_table(data, path)
                kept[table] = kept.get(table, 0) + data.num_rows
                ids.setdefault(table, set()).update(data.column("_dlt_id").to_pylist())
    return kept, ids


def evolve_iceberg_tables(pipeline: dlt.Pipeline) -> None:
    """Adds the columns this load brings to each Iceberg merge table, under a snapshot, before dlt loads.

    Why: dlt 1.31's Iceberg merge adds new columns (`union_by_name`), then calls pyiceberg's
    `upsert` (0.12), which reads the stored rows a batch matches through a scan pinned to the
    branch head; a pinned scan projects the head *snapshot's* schema, and a schema change makes no
    snapshot. So the matched rows come back without the new columns and the upsert stops with
    "Target schema's field names are not matching the table's field names" (apache/iceberg-python
    #2467, #3105, open). Any later run can add a column: Asana omits a reference's `name` or
    `resource_type` until one is set, and gains fields. Here dlt's own evolution (its client's
    `load_open_table` with the load's Arrow schema, as its load job does) runs first, then an
    empty append commits a snapshot under the new schema, so the upsert's scan projects every
    column. No rows change; only tables whose head snapshot is older than their schema get one.
    """
    import pyarrow.dataset
    from dlt.common.destination.exceptions import DestinationUndefinedEntity
    from dlt.common.schema.utils import get_write_disposition

    schema = pipeline.default_schema
    with pipeline.destination_client() as client:
        for files in _package_files(pipeline):
            for table, paths in files.items():
                if table not in schema.tables or get_write_disposition(schema.tables, table) != "merge":
                    continue
                if not all(p.endswith(".parquet") for p in paths):
                    continue
                try:  # the schema dlt's load job reads: a dataset over the same files
                    iceberg = client.load_open_table(  # type: ignore[attr-defined]
                        "iceberg", table, schema=pyarrow.dataset.dataset(paths).schema
                    )
                except DestinationUndefinedEntity:
                    continue  # a new table: dlt's job creates it in this load's schema
                head = iceberg.metadata.current_snapshot()
                if head is not None and head.schema_id != iceberg.schema().schema_id:
                    iceberg.append(iceberg.schema().as_arrow().empty_table())


def delete_orphaned_nested_rows(pipeline: dlt.Pipeline, loaded_ids: Dict[str, Set[str]], table_format: str) -> None:
    """Deletes the nested rows of the tasks (stories, ...) just loaded that their new version lacks.

    Why: dlt's Delta and Iceberg `upsert` update and insert nested rows but never delete one, so
    a task removed from a project, untagged or unfollowed would keep its old `tasks__projects`
    (`tasks__tags`, ...) row; SQL destinations' merge replaces them. After the load, so a failed
    load deletes nothing.
    """
    from dlt.common.schema.utils import get_write_disposition, is_nested_table
    from dlt.common.destination.exceptions import DestinationUndefinedEntity

    schema = pipeline.default_schema
    tables = schema.data_table_names(seen_data_only=True)
    roots: Set[str] = set()
    for table in tables:
        if not is_nested_table(schema.tables[table]) and get_write_disposition(schema.tables, table) == "merge":
            roots |= loaded_ids.get(table, set())
    if not roots:
        return
    with pipeline.destination_client() as client:
        for table in tables:
            if not is_nested_table(schema.tables[table]) or get_write_disposition(schema.tables, table) != "merge":
                continue
            try:
                open_table = client.load_open_table(table_format, table)  # type: ignore[attr-defined]
            except DestinationUndefinedEntity:
                continue
            keep = loaded_ids.get(table, set())
            if table_format == "delta":
                stored = open_table.to_pyarrow_table(columns=["_dlt_id", "_dlt_root_id"]).to_pydict()
            else:
                stored = open_table.scan(selected_fields=("_dlt_id", "_dlt_root_id")).to_arrow().to_pydict()
            orphans = [i for i, root in zip(stored["_dlt_id"], stored["_dlt_root_id"]) if root in roots and i not in keep]
            if not orphans:
                continue
            if table_format == "delta":
                open_table.delete("_dlt_id IN (" + ", ".join("'" + i.replace("'", "''") + "'" for i in orphans) + ")")
            else:
                from pyiceberg.expressions import In

                open_table.delete(In("_dlt_id", orphans))
