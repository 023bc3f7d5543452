"""Reads Delta and Iceberg tables back offline, with DuckDB's own scanners where it can.

Why: dlt's `pipeline.dataset()`, `sql_client()` and so `dlt pipeline show` read a lakehouse
through DuckDB's `delta` / `iceberg` extensions (and `httpfs` for object storage), which DuckDB
downloads from its own server at run time: every read fails without network.

1. PyPI's `duckdb-ext-delta`, `-iceberg`, `-httpfs`, `-avro` (requirements-lakehouse.txt) ship
   those extensions for DuckDB 1.4.4 as a local extension repository
   (`duckdb_ext/extensions/v1.4.4/<platform>/`). On import this plugin installs the missing ones
   from there into DuckDB's extension directory (`INSTALL delta FROM '<that folder>'`, what
   DuckDB itself does after a download), once per machine. From then on every DuckDB in the
   environment autoloads them: dlt's datasets, the dashboard, dbt-duckdb, the duckdb CLI.
2. Where an extension is still not installed (another DuckDB version than the packages', an
   extension directory that cannot be written), the view dlt builds over `delta_scan(...)` /
   `iceberg_scan(...)` is rebuilt over `read_parquet([...])` of exactly the parquet files of the
   table's current version, as deltalake / pyiceberg list them, and object storage is reached
   through dlt's own fsspec client instead of DuckDB's httpfs.

Installed as a dlt plugin (entry point group `dlt`), so dlt imports it, and so enables it, in
every process: a script, the CLI, and the dashboard of `dlt pipeline <name> show`.
"""

import logging
import os
import re
from importlib.util import find_spec
from typing import Any, Callable, List, Optional, Tuple

import duckdb
from dlt.destinations.impl.filesystem.sql_client import FilesystemSqlClient

# What dlt's lakehouse reads need: the table formats, object storage, and the Avro manifests
# of Iceberg. Each comes from the duckdb-ext-<name> package, when installed.
EXTENSIONS = ("delta", "iceberg", "httpfs", "avro")
_log = logging.getLogger(__name__)

_SCAN = re.compile(r"\b(delta_scan|iceberg_scan)\('[^']*'[^)]*\)")
_PATCHED = "_asana_offline_reads"


def _installed(conn: Any, extension: str) -> bool:
    rows = conn.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = ?", [extension]
    ).fetchall()
    return bool(rows and rows[0][0])


def packaged_repository() -> Optional[str]:
    """The local extension repository the duckdb-ext-* packages form, if any is installed."""
    spec = find_spec("duckdb_ext")
    for root in (spec.submodule_search_locations or []) if spec else []:
        repository = os.path.join(root, "extensions")
        if os.path.isdir(os.path.join(repository, f"v{duckdb.__version__}")):
            return repository
    return None


def install_packaged_extensions() -> List[str]:
    """Installs the packaged extensions DuckDB lacks into its extension directory (idempotent).

    Why at import: the dashboard of `dlt pipeline show` and dbt-duckdb open their own DuckDB
    connections, which no dlt setting reaches; an installed extension is autoloaded by all of
    them. Costs one in-memory connection (a few ms) when nothing is missing.

    Returns:
        the extensions installed now. Never raises: on failure the parquet fallback below reads.
    """
    repository = packaged_repository()
    if repository is None:
        return []
    try:
        conn = duckdb.connect(":memory:")
        try:
            platform = conn.execute("PRAGMA platform").fetchone()[0]
            folder = os.path.join(repository, f"v{duckdb.__version__}", platform)
            missing = [e for e in EXTENSIONS if not _installed(conn, e)
                       and os.path.isfile(os.path.join(folder, f"{e}.duckdb_extension"))]
            for extension in missing:
                conn.execute(f"INSTALL {extension} FROM '{repository}'")
            return missing
        finally:
            conn.close()
    except duckdb.Error as exc:  # e.g. a read-only home: fall back, say why once
        _log.warning("DuckDB extensions not installed from %s (%s); reading lakehouse tables through their parquet files", repository, exc)
        return []


def _live_files(client: FilesystemSqlClient, table_format: str, table_name: str) -> List[str]:
    """The parquet files of the table's current version, as the format's own library lists them."""
    table = client.remote_client.load_open_table(table_format, table_name)
    if table_format == "delta":
        return list(table.file_uris())
    tasks = list(table.scan().plan_files())
    if any(task.delete_files for task in tasks):
        raise NotImplementedError(
            f"Iceberg table {table_name} has delete files; reading it needs DuckDB's iceberg extension"
        )
    return [task.file.file_path for task in tasks]


def _empty_select(client: FilesystemSqlClient, table_schema: Any) -> str:
    """A typed, row-less stand-in for a table whose current version has no files."""
    mapper = client.capabilities.get_type_mapper()
    cols = [
        f"CAST(NULL AS {mapper.to_destination_type(c, table_schema)}) AS {client.escape_column_name(c['name'])}"
        for c in table_schema.get("columns", {}).values()
    ]
    return f"(SELECT {', '.join(cols) or '1 AS _empty'} WHERE false)"


def _wrap_view_select(original: Callable[..., Optional[Tuple[str, str]]]) -> Callable[..., Optional[Tuple[str, str]]]:
    def create_view_select(self: FilesystemSqlClient, table_schema: Any, schema: Any = None) -> Optional[Tuple[str, str]]:
        result = original(self, table_schema, schema)
        table_format = table_schema.get("table_format")
        if result is None or table_format not in ("delta", "iceberg") or _installed(self._conn, table_format):
            return result
        location, select_sql = result
        files = _live_files(self, table_format, table_schema["name"])
        if not files:
            scan = _empty_select(self, table_schema)
        else:
            quoted = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            scan = f"read_parquet([{quoted}], union_by_name=true)"
        return location, _SCAN.sub(lambda _m: scan, select_sql, count=1)

    return create_view_select


def _wrap_create_secret(original: Callable[..., bool]) -> Callable[..., bool]:
    def create_secret(self: FilesystemSqlClient, scope: str, credentials: Any, secret_name: str = None, persist_secrets: bool = False) -> bool:
        protocol = self.remote_client.config.protocol
        if protocol != "file" and not _installed(self._conn, "httpfs"):
            # Object storage through dlt's own fsspec client: DuckDB's httpfs would be downloaded.
            self._register_filesystem(self.remote_client.fs_client, protocol)
            return True
        return original(self, scope, credentials, secret_name=secret_name, persist_secrets=persist_secrets)

    return create_secret


def enable_offline_reads() -> None:
    """Makes dlt's filesystem datasets read Delta/Iceberg without DuckDB extensions (idempotent)."""
    if getattr(FilesystemSqlClient, _PATCHED, False):
        return
    FilesystemSqlClient.create_view_select = _wrap_view_select(FilesystemSqlClient.create_view_select)  # type: ignore[method-assign]
    FilesystemSqlClient.create_secret = _wrap_create_secret(FilesystemSqlClient.create_secret)  # type: ignore[method-assign]
    setattr(FilesystemSqlClient, _PATCHED, True)


install_packaged_extensions()
enable_offline_reads()
