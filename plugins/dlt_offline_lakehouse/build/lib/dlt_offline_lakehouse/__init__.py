"""Reads Delta and Iceberg tables back offline: DuckDB scans the tables' live parquet files.

Why: dlt's `pipeline.dataset()`, `sql_client()` and so `dlt pipeline show` read a lakehouse
through DuckDB's `delta` / `iceberg` extensions, which DuckDB 2.0 downloads at run time (no
package ships them for 2.0), so every read fails without network. The table formats' own
libraries (deltalake, pyiceberg) already know which parquet files make up the current version
of a table; DuckDB reads parquet natively. So when an extension is not installed, the view dlt
builds over `delta_scan(...)` / `iceberg_scan(...)` is rebuilt over `read_parquet([...])` of
exactly those files, and object storage is reached through dlt's own fsspec client instead of
DuckDB's (also downloaded) httpfs. Measured in bench/ (`--scenario delta`) and the README.

With network, or with the extensions installed, nothing changes: dlt's scanners are used.

Installed as a dlt plugin (entry point group `dlt`), so dlt imports it, and so enables it, in
every process: a script, the CLI, and the dashboard of `dlt pipeline <name> show`.
"""

import re
from typing import Any, Callable, List, Optional, Tuple

from dlt.destinations.impl.filesystem.sql_client import FilesystemSqlClient

_SCAN = re.compile(r"\b(delta_scan|iceberg_scan)\('[^']*'[^)]*\)")
_PATCHED = "_asana_offline_reads"


def _installed(conn: Any, extension: str) -> bool:
    rows = conn.execute(
        "SELECT installed FROM duckdb_extensions() WHERE extension_name = ?", [extension]
    ).fetchall()
    return bool(rows and rows[0][0])


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


enable_offline_reads()
