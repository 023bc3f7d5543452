"""Checks that keep a lakehouse (or any destination) an exact mirror, before anything is written.

dlt quietly appends when a destination cannot merge a `merge` table (plain parquet files on
the filesystem destination, for one): every later run would then duplicate the changed tasks
and stories. These checks turn that into one clear error that names the fix, raised before the
run extracts a single page, and prepare the one shared thing parallel load jobs would race on
(an Iceberg SQL catalog).
"""

from importlib.util import find_spec
from typing import Any, List, Optional

import dlt
from dlt.common.destination import Destination
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


def data_location(info: Any) -> str:
    """Where a load went, for the CLI's last line: a DuckDB file, a bucket, a masked database URL."""
    where = getattr(info, "destination_displayable_credentials", None) or info.destination_name
    return f"{where}, dataset {info.dataset_name}"
