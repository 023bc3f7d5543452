"""Dagster: one asset per Asana table, wired as the source feeds them, loaded daily.

`dagster dev -f orchestrate/dagster_defs.py` (from the repository root, after
`pip install -r requirements.txt -r requirements-dagster.txt`). The destination is dlt's:
`ASANA_DLT_DESTINATION` (default duckdb, file `asana.duckdb`) plus the usual `DESTINATION__*`
config; the token comes from `.dlt/secrets.toml` or `SOURCES__ASANA_DLT__ACCESS_TOKEN`.
"""

import os
from typing import Any, Iterator

import dlt
from dagster import AssetExecutionContext, AssetKey, AssetSpec, Definitions, ScheduleDefinition, define_asset_job
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from asana_dlt import asana_source
from asana_dlt.lakehouse import check_merges, prepare_iceberg_catalog

ASSET_PREFIX = "asana"


class AsanaTranslator(DagsterDltTranslator):
    """Asset keys `asana/<table>`, each depending on the resource that feeds it.

    Why: dagster-dlt's default hangs every transformer off one outside key named after the
    root resource, so the UI shows eight unrelated assets; ours shows workspaces -> projects
    -> tasks -> stories, the order in which Asana is actually read.
    """

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        resource = data.resource
        pipe = resource._pipe  # dlt exposes a transformer's feeding resource only on its pipe
        deps = [AssetKey([ASSET_PREFIX, pipe.parent.name])] if pipe.has_parent else []
        return spec.replace_attributes(key=AssetKey([ASSET_PREFIX, resource.name]), deps=deps, group_name="asana")


def make_pipeline() -> dlt.Pipeline:
    """The same pipeline the CLI runs, so a Dagster run and a CLI run continue each other's state."""
    return dlt.pipeline(
        pipeline_name="asana",
        destination=os.environ.get("ASANA_DLT_DESTINATION", "duckdb"),
        dataset_name=os.environ.get("ASANA_DLT_DATASET", "asana_data"),
    )


# The graph of resources is all Dagster needs at import time; the token resolves when a run starts.
_shape = asana_source(access_token="resolved-when-the-run-starts")


@dlt_assets(
    dlt_source=_shape,
    dlt_pipeline=make_pipeline(),
    name="asana",
    dagster_dlt_translator=AsanaTranslator(),
)
def asana_assets(context: AssetExecutionContext, dlt: DagsterDltResource) -> Iterator[Any]:
    """Loads what changed since the last run; row counts land on each asset's materialization."""
    table_format = os.environ.get("ASANA_DLT_TABLE_FORMAT") or None
    source = asana_source()
    pipeline = make_pipeline()
    check_merges(pipeline, source, table_format)
    prepare_iceberg_catalog(pipeline, table_format)
    yield from dlt.run(
        context=context,
        dlt_source=source,
        dlt_pipeline=pipeline,
        dagster_dlt_translator=AsanaTranslator(),
        table_format=table_format,
    ).fetch_row_count()


asana_daily = ScheduleDefinition(
    job=define_asset_job("asana_daily", selection=[asana_assets]),
    cron_schedule="0 6 * * *",
    execution_timezone="UTC",
)

defs = Definitions(assets=[asana_assets], schedules=[asana_daily], resources={"dlt": DagsterDltResource()})
